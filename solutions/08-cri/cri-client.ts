/**
 * A CRI client, as crictl and kubelet are: one gRPC channel to the runtime's unix socket
 * (conmand's: unix:///run/conman/cri.sock), the two services of runtime.v1 from api.proto, and
 * a deadline on every call (Infinity: none). crictl.ts uses it, and chapter 09's agent, for
 * which it is the only way to touch containers.
 *
 * How real kubelet differs: the same (pkg/kubelet/cri/remote): one connection, a 2 min
 * deadline per call (longer for a pull), and it calls Version first to learn that the
 * runtime speaks v1. It also checks the runtime's Status every few seconds, and stops
 * starting pods while RuntimeReady is false; we find out at the next call that fails.
 */
import * as grpc from '@grpc/grpc-js';
import { loadCri } from './cri-proto.ts';

export type Reply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A failed call: its method, and gRPC's code and the server's words. */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: grpc.status, readonly details: string) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
  }
  /** Nobody answers on the socket (not started yet, restarting, a wrong path). */
  get unavailable(): boolean {
    return this.code === grpc.status.UNAVAILABLE;
  }
}

export interface Cri {
  endpoint: string;
  runtime(method: string, request?: object, deadlineMs?: number): Promise<Reply>;
  image(method: string, request?: object, deadlineMs?: number): Promise<Reply>;
  close(): void;
}

/** "unix:///run/x.sock" or a plain path. */
export function socketOf(endpoint: string): string {
  return endpoint.replace(/^unix:\/\//, '');
}

export function connectCri(endpoint: string, defaultDeadlineMs: number): Cri {
  const services = loadCri();
  const address = `unix://${socketOf(endpoint)}`;
  // Reconnect soon after the runtime comes back (grpc-js backs off to 2 min by default).
  const options = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 };
  const clients = {
    runtime: new services.RuntimeService(address, grpc.credentials.createInsecure(), options),
    image: new services.ImageService(address, grpc.credentials.createInsecure(), options),
  };
  const rpc = (client: grpc.Client) => (method: string, request: object = {}, deadlineMs = defaultDeadlineMs) =>
    new Promise<Reply>((resolve, reject) => {
      const call = (client as unknown as Record<string, (r: object, o: object, cb: (e: grpc.ServiceError | null, r: Reply) => void) => void>)[method];
      const options = Number.isFinite(deadlineMs) ? { deadline: Date.now() + deadlineMs } : {};
      call.call(client, request, options, (error, reply) => (error ? reject(new CriError(method, error.code, error.details)) : resolve(reply)));
    });
  return {
    endpoint,
    runtime: rpc(clients.runtime),
    image: rpc(clients.image),
    close: () => {
      clients.runtime.close();
      clients.image.close();
    },
  };
}
