/**
 * The container commands of chapter 06's conman (run, ps, rm...): chapter 04's conman, its
 * --no-daemon Manager given images and networks (with-network.ts).
 */
import './with-network.ts';
import '#lower/04-manager/conman.ts';
