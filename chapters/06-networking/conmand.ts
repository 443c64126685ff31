/**
 * conmand with images and networks: chapter 04's daemon, its Manager given the image store
 * (chapter 05) and CNI networks (container-network.ts). Same options as chapter 04's; the
 * network settings come from the environment (CONMAN_CNI_CONF_DIR... see container-network.ts).
 */
import './with-network.ts';
import '#lower/04-manager/conmand.ts';
