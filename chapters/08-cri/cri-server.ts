/**
 * The CRI endpoint: a gRPC server on a unix socket, serving runtime.v1's RuntimeService and
 * ImageService (api.proto) over the manager. This is what kubelet's
 * `--container-runtime-endpoint unix:///...` and `crictl --runtime-endpoint` talk to: cri-o's
 * /var/run/crio/crio.sock, containerd's /run/containerd/containerd.sock.
 *
 * The socket is root's only (mode 0600, set through the umask before bind, as chapter 04's
 * API socket); a socket left by a dead server is replaced, one that answers is refused. A
 * method this server does not register answers UNIMPLEMENTED (gRPC's own rule), so a client
 * learns what is missing instead of hanging.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Manager } from '#lower/04-manager/manager.ts';
import type { Pods } from '#lower/07-pods/pods.ts';
import { imageStoreWithRegistries } from './cri-images.ts';
import { loadCri } from './cri-proto.ts';
import { CriStore } from './cri-store.ts';
import { toGrpcError } from './grpc-errors.ts';
import { ImageService } from './image-service.ts';
import { RuntimeService } from './runtime-service.ts';
import { StreamingServer } from './streaming.ts';

type Handler = (request: Record<string, unknown>) => Promise<object> | object;

/** grpc-js's unary handler from an async function: its result or its error, as a gRPC status. */
function unary(name: string, handler: Handler): grpc.handleUnaryCall<Record<string, unknown>, object> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (reply) => callback(null, reply),
        (error: unknown) => {
          const status = statusOf(error);
          if (status.code === grpc.status.UNKNOWN) console.error(`conmand: CRI ${name}: ${status.details}`);
          callback(status);
        },
      );
  };
}

/** The gRPC status of a handler's error; should the mapping itself throw (an unfinished toGrpcError), UNKNOWN with both messages. */
function statusOf(error: unknown): Partial<grpc.ServiceError> {
  try {
    return toGrpcError(error);
  } catch (mapping) {
    const details = `${(mapping as Error).message} (while mapping: ${(error as Error)?.message ?? String(error)})`;
    return Object.assign(new Error(details), { code: grpc.status.UNKNOWN, details });
  }
}

function unaryAll(handlers: Record<string, Handler>): grpc.UntypedServiceImplementation {
  return Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [name, unary(name, handler)]));
}

/** Is a server answering on this socket? (Else a file there is a dead one's, and can go.) */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
}

export interface CriServer {
  socket: string;
  close(): Promise<void>;
}

export async function serveCri(manager: Manager, options: { root: string; socket: string }): Promise<CriServer> {
  const pods = manager.podProvider as Pods | undefined;
  if (!pods) throw new Error('the CRI needs pods: chapter 08\'s conmand registers chapter 07\'s');
  const images = new ImageService(imageStoreWithRegistries(options.root));
  const streaming = new StreamingServer();
  await streaming.listen();
  const runtime = new RuntimeService(manager, pods, new CriStore(options.root), images, streaming);
  const { RuntimeService: runtimeDefinition, ImageService: imageDefinition } = loadCri();

  const server = new grpc.Server();
  server.addService(
    runtimeDefinition.service,
    unaryAll({
      Version: () => runtime.version(),
      Status: () => runtime.status(),
      RuntimeConfig: () => runtime.runtimeConfig(),
      RunPodSandbox: (r) => runtime.runPodSandbox(r),
      StopPodSandbox: (r) => runtime.stopPodSandbox(r),
      RemovePodSandbox: (r) => runtime.removePodSandbox(r),
      PodSandboxStatus: (r) => runtime.podSandboxStatus(r),
      ListPodSandbox: (r) => runtime.listPodSandbox(r),
      CreateContainer: (r) => runtime.createContainer(r),
      StartContainer: (r) => runtime.startContainer(r),
      StopContainer: (r) => runtime.stopContainer(r),
      RemoveContainer: (r) => runtime.removeContainer(r),
      ListContainers: (r) => runtime.listContainers(r),
      ContainerStatus: (r) => runtime.containerStatus(r),
      ExecSync: (r) => runtime.execSync(r),
      UpdateContainerResources: (r) => runtime.updateContainerResources(r),
      ReopenContainerLog: (r) => runtime.reopenContainerLog(r),
      UpdateRuntimeConfig: () => ({}), // (kubelet sends the node's pod CIDR; conman's CNI config is its own)
      Exec: (r) => runtime.exec(r),
      Attach: (r) => runtime.attach(r),
      PortForward: (r) => runtime.portForward(r),
      ContainerStats: (r) => runtime.containerStatsOne(r),
      ListContainerStats: (r) => runtime.listContainerStats(r),
      PodSandboxStats: (r) => runtime.podSandboxStats(r),
      ListPodSandboxStats: (r) => runtime.listPodSandboxStats(r),
    }),
  );
  server.addService(
    imageDefinition.service,
    unaryAll({
      PullImage: (r) => images.pullImage(r),
      ListImages: (r) => images.listImages(r),
      ImageStatus: (r) => images.imageStatus(r),
      RemoveImage: (r) => images.removeImage(r),
      ImageFsInfo: () => images.imageFsInfo(),
    }),
  );

  fs.mkdirSync(path.dirname(options.socket), { recursive: true, mode: 0o755 });
  if (fs.existsSync(options.socket)) {
    if (await answers(options.socket)) throw new Error(`something already serves ${options.socket}: stop it, or give conmand another --cri-socket`);
    fs.rmSync(options.socket, { force: true });
  }
  const umask = process.umask(0o177); // the socket is born 0600: no instant in which anyone may connect
  try {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix://${options.socket}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
  } catch (error) {
    await streaming.close();
    throw error;
  } finally {
    process.umask(umask);
  }
  return {
    socket: options.socket,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await streaming.close();
      fs.rmSync(options.socket, { force: true });
    },
  };
}
