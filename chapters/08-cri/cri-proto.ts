/**
 * The CRI's messages, as this server reads and writes them. api.proto (beside this file) is
 * the workshop's subset of kubernetes/cri-api's runtime.v1: the same package, services,
 * method and message names and field numbers, so a real client (crictl, kubelet) speaks to it.
 *
 * @grpc/proto-loader reads the .proto at run time (no code generation): `keepCase` keeps the
 * field names as written (pod_sandbox_id, not podSandboxId), `longs: String` gives every int64
 * as a string (a nanosecond timestamp, 1.7e18, is past what a JS number holds exactly),
 * `enums: String` gives enum values by name ("CONTAINER_RUNNING"), `defaults` fills absent
 * fields with their zero value, as Go's generated code does.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'api.proto');
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface CriServices {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

/** The two services of runtime.v1, for a server (addService) or a client (new ...(address, credentials)). */
export function loadCri(): CriServices {
  const definition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);
  const v1 = (grpc.loadPackageDefinition(definition).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return { RuntimeService: v1.RuntimeService as grpc.ServiceClientConstructor, ImageService: v1.ImageService as grpc.ServiceClientConstructor };
}

/** int64 nanoseconds since the epoch, from an ISO date (the manager's records keep those). */
export function nanoseconds(iso: string | undefined): string {
  if (!iso) return '0';
  return (BigInt(Date.parse(iso)) * 1_000_000n).toString();
}

// ----- the messages this server uses (fields as in api.proto; int64 as strings) -----

export type Labels = Record<string, string>;

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface NamespaceOption {
  network: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  pid: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  ipc: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  target_id: string;
}

export interface LinuxContainerResources {
  cpu_period: string;
  cpu_quota: string;
  cpu_shares: string;
  memory_limit_in_bytes: string;
  oom_score_adj: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata | null;
  hostname: string;
  log_directory: string;
  dns_config: { servers: string[]; searches: string[]; options: string[] } | null;
  port_mappings: PortMapping[];
  labels: Labels;
  annotations: Labels;
  linux: {
    cgroup_parent: string;
    security_context: { namespace_options: NamespaceOption | null; privileged: boolean } | null;
    sysctls: Labels;
    resources: LinuxContainerResources | null;
  } | null;
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number } | null;
  image: { image: string } | null;
  command: string[];
  args: string[];
  working_dir: string;
  envs: { key: string; value: string }[];
  mounts: { container_path: string; host_path: string; readonly: boolean }[];
  labels: Labels;
  annotations: Labels;
  log_path: string;
  stdin: boolean;
  stdin_once: boolean;
  tty: boolean;
  linux: { resources: LinuxContainerResources | null; security_context: { run_as_user: { value: string } | null } | null } | null;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
