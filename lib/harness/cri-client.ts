/**
 * A CRI client of the reference api.proto (solutions/08-cri/api.proto), as crictl is one:
 * call('RuntimeService/Version'), call('ImageService/PullImage', {...}). Chapter 08's checks
 * and bench/cri.ts drive a server through it, whatever the learner's server does.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { notImplementedIn } from '../not-implemented.ts';
import { REPO_ROOT } from '../paths.ts';

export type CriReply = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export type CriCall = (method: string, request?: object) => Promise<CriReply>;

/** `deadlineMs`: each call's bound (crictl's own is 2 s, 4 s for RunPodSandbox). */
export function criClient(socket: string, deadlineMs: number): { call: CriCall; close(): void } {
  const definition = protoLoader.loadSync(path.join(REPO_ROOT, 'solutions/08-cri/api.proto'), { keepCase: true, longs: String, enums: String, defaults: true });
  const v1 = (grpc.loadPackageDefinition(definition).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const clients = {
    RuntimeService: new (v1.RuntimeService as grpc.ServiceClientConstructor)(`unix://${socket}`, grpc.credentials.createInsecure()),
    ImageService: new (v1.ImageService as grpc.ServiceClientConstructor)(`unix://${socket}`, grpc.credentials.createInsecure()),
  };
  const call: CriCall = (method, request = {}) => {
    const [service, name] = method.split('/') as [keyof typeof clients, string];
    const client = clients[service] as unknown as Record<string, (r: object, o: object, cb: (e: grpc.ServiceError | null, r: CriReply) => void) => void>;
    const deadline = new Date(Date.now() + deadlineMs);
    return new Promise((resolve, reject) => client[name].call(client, request, { deadline }, (error, reply) => (error ? reject(error) : resolve(reply))));
  };
  return { call, close: () => Object.values(clients).forEach((client) => client.close()) };
}

/**
 * The gRPC code a call fails with ("NOT_FOUND"...), or "OK". A server's "not implemented yet"
 * (an unfinished exercise, whatever code it came with) is thrown, so the check says so.
 */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    const unfinished = notImplementedIn(String((error as Error)?.message ?? ''));
    if (unfinished) throw unfinished;
    return grpc.status[(error as grpc.ServiceError).code] ?? String(error);
  }
}
