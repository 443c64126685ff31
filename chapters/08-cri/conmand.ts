/**
 * conmand with a CRI endpoint: chapter 07's daemon (images, networks, pods), serving
 * runtime.v1 over gRPC on --cri-socket (default RUN_ROOT/cri.sock) beside its own API.
 * Same options as chapter 04's, plus --cri-socket.
 */
import './with-cri.ts';
import '#lower/04-manager/conmand.ts';
