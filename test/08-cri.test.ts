/**
 * Chapter 08 checks: the CRI endpoint, through a real gRPC client on its unix socket, as
 * crictl and kubelet call it. A real registry (Debian's docker-registry) serves busybox; the
 * sandbox is a chapter 07 pod with its infra (catatonit) on a real CNI bridge of this run,
 * its port mapped by portmap; traffic goes only to 127.0.0.1. The client loads the
 * reference api.proto, whatever the learner's server does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { pushBusyboxImage } from '../lib/harness/busybox-image.ts';
import { caught } from '../lib/harness/caught.ts';
import { conmanWorld, type ConmanWorld } from '../lib/harness/conman-world.ts';
import { codeOf, criClient, type CriReply } from '../lib/harness/cri-client.ts';
import { spdyExec, spdyForward } from '../lib/harness/spdy-client.ts';
import { eventually } from '../lib/harness/eventually.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget } from '../lib/harness/target.ts';
import { freePort, startRegistry, type RegistryServer } from '../lib/host/registry-server.ts';
import { startTokenServer, type TokenServer } from '../lib/host/token-server.ts';
import { removeCgroupTree } from '../lib/host/cgroups.ts';
import { scaled } from '../lib/slow.ts';

const hostRun = useHostRun();
let registry: RegistryServer;
let image: string;
/** A registry that wants credentials (a token server's), for PullImage's auth. */
let privateRegistry: RegistryServer;
let tokens: TokenServer;

/** A world of chapter 08: conmand with its CRI socket, a network of this run, the test registry. */
function criWorld(name: string): { w: ConmanWorld; socket: string } {
  const network = hostRun().network(name);
  const w = conmanWorld(hostRun(), '08-cri', name, {
    CONMAN_CNI_CONF_DIR: path.join(hostRun().dir, name, 'net.d'),
    CONMAN_CNI_PATH: '/usr/lib/cni',
    CONMAN_DEFAULT_NETWORK: network.name,
    CONMAN_DEFAULT_BRIDGE: network.bridge,
    CONMAN_DEFAULT_SUBNET: network.subnet,
    CONMAN_INSECURE_REGISTRIES: `${registry.host},${privateRegistry.host}`,
  });
  return { w, socket: path.join(w.runRoot, 'cri.sock') };
}

type Reply = CriReply;

/** A stream URL as kubectl exec opens it (WebSocket, v5.channel.k8s.io): send `input` and end it; collect stdout, stderr and the Status. */
function channelSession(url: string, input: string, size?: { Width: number; Height: number }): Promise<{ stdout: string; stderr: string; status: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
    const out = { stdout: '', stderr: '', status: undefined as unknown };
    ws.on('open', () => {
      if (size) ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify(size))])); // kubectl's first message with a terminal
      if (input) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(input)]));
      ws.send(Buffer.from([255, 0])); // v5: no more stdin
    });
    ws.on('message', (data: Buffer) => {
      if (data[0] === 1) out.stdout += data.subarray(1).toString();
      else if (data[0] === 2) out.stderr += data.subarray(1).toString();
      else if (data[0] === 3) out.status = JSON.parse(data.subarray(1).toString());
    });
    ws.on('error', reject);
    ws.on('close', () => resolve(out));
  });
}

/** One request through a PortForward URL (portforward.k8s.io: channel 0 data, 1 errors, each first carrying the port). */
function forwardedRequest(url: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['portforward.k8s.io']);
    let response = Buffer.alloc(0);
    let portSeen = false;
    ws.on('open', () => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(request)])));
    ws.on('message', (data: Buffer) => {
      if (data[0] === 1 && data.length > 3) reject(new Error(data.subarray(3).toString()));
      if (data[0] !== 0) return;
      const payload = portSeen ? data.subarray(1) : data.subarray(3); // the first frame starts with the port
      portSeen = true;
      response = Buffer.concat([response, payload]);
    });
    ws.on('error', reject);
    ws.on('close', () => resolve(response.toString()));
  });
}

type SandboxConfig = typeof import('../solutions/08-cri/sandbox-config.ts');
type ContainerSpec = typeof import('../solutions/08-cri/container-spec.ts');
type SecurityContextModule = typeof import('../solutions/08-cri/security-context.ts');
type ExecSync = typeof import('../solutions/08-cri/exec-sync.ts');
type GrpcErrors = typeof import('../solutions/08-cri/grpc-errors.ts');
type ContainerStatus = typeof import('../solutions/08-cri/container-status.ts');

describe('the pieces, each alone', () => {
  test('podRequestOf: a PodSandboxConfig as a pod create request (name, hostname, ports, DNS, namespaces shared or the host\'s, limits); TARGET refused', async () => {
    const { podRequestOf, podNameOf } = await importTarget<SandboxConfig>('08-cri/sandbox-config.ts');
    const metadata = { name: 'web', namespace: 'default', uid: 'c0ffee00-1234-5678', attempt: 2 };
    const base = { metadata, hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {}, linux: null };
    expect(podNameOf(metadata)).toMatch(/^k8s_web_default_[0-9a-f]{12}_2$/);
    expect(podNameOf({ ...metadata, uid: 'c0ffee00-9999' }), 'the whole uid counts, not its start').not.toBe(podNameOf(metadata));
    expect(
      podRequestOf({
        ...base,
        hostname: 'web-0',
        dns_config: { servers: ['10.0.0.10'], searches: [], options: [] },
        port_mappings: [
          { protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' },
          { protocol: 'UDP', container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
          { protocol: 'TCP', container_port: 9090, host_port: 0, host_ip: '' },
        ],
        linux: { cgroup_parent: '', sysctls: {}, security_context: { privileged: false, namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', target_id: '' } }, resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '0', memory_limit_in_bytes: '67108864', oom_score_adj: '0' } },
      }),
      'the conmand request of a pod with a hostname, DNS, ports (a host port 0 is no mapping), shared namespaces and limits',
    ).toEqual({ name: podNameOf(metadata), hostname: 'web-0', publish: ['8080:80/tcp', '127.0.0.1:5353:53/udp'], dns: ['10.0.0.10'], share: ['network', 'ipc', 'uts', 'pid'], cpus: 0.5, memory: 67108864 });
    const halfPeriod = podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, security_context: null, resources: { cpu_period: '50000', cpu_quota: '100000', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0' } } });
    expect(halfPeriod.cpus, 'quota / period: 100000 µs of every 50000 is 2 CPUs').toBe(2);
    expect(halfPeriod.memory, 'no memory limit asked').toBeUndefined();
    expect(await caught(Promise.resolve().then(() => podRequestOf({ ...base, metadata: null }))), 'a sandbox without a name, said so').toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/name/) });
    const hostNetwork = podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, resources: null, security_context: { privileged: false, namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD', target_id: '' } } } });
    expect(hostNetwork).toMatchObject({ network: 'host', share: ['network', 'ipc', 'uts'] });
    expect(hostNetwork.host, 'nothing of the host\'s but its network').toBeUndefined();
    expect(hostNetwork.publish, 'no ports to map on the host\'s own network').toBeUndefined();
    const hostIpcPid = podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, resources: null, security_context: { privileged: false, namespace_options: { network: 'POD', pid: 'NODE', ipc: 'NODE', target_id: '' } } } });
    expect(hostIpcPid, 'hostIPC and hostPID: the host\'s, not shared').toMatchObject({ share: ['network', 'uts'], host: ['ipc', 'pid'] });
    expect(podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, resources: null, security_context: { privileged: false, namespace_options: { network: 'POD', pid: 'NODE', ipc: 'POD', target_id: '' } } } }), 'hostPID alone').toMatchObject({ share: ['network', 'ipc', 'uts'], host: ['pid'] });
    const target = await caught(Promise.resolve().then(() => podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, resources: null, security_context: { privileged: false, namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'abc' } } } })));
    expect(target, 'TARGET is for containers').toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const options = (namespace_options: object) => ({ ...base, linux: { cgroup_parent: '', sysctls: {}, resources: null, security_context: { privileged: false, namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: 'abc', ...namespace_options } } } }) as never;
    for (const type of ['network', 'ipc']) {
      expect(await caught(Promise.resolve().then(() => podRequestOf(options({ [type]: 'TARGET' })))), `${type} TARGET is refused too`).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    }
    expect(podRequestOf(base), 'nothing asked: the name, no ports, the usual namespaces shared, and no other key at all (no hostname, dns, host, cpus or memory)').toStrictEqual({ name: podNameOf(metadata), publish: [], share: ['network', 'ipc', 'uts'] });
    const noProtocol = podRequestOf({ ...base, port_mappings: [{ protocol: '', container_port: 80, host_port: 8081, host_ip: '' }, { protocol: 'TCP', container_port: 81, host_port: 1, host_ip: '' }] } as never);
    expect(noProtocol.publish, 'no protocol given: TCP, the CRI\'s zero value; host port 1 is a port').toEqual(['8081:80/tcp', '1:81/tcp']);
    const quotaOnly = podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, security_context: null, resources: { cpu_period: '100000', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0' } } });
    expect('cpus' in quotaOnly, 'a period without a quota is no CPU limit').toBe(false);
    const periodOnly = podRequestOf({ ...base, linux: { cgroup_parent: '', sysctls: {}, security_context: null, resources: { cpu_period: '0', cpu_quota: '50000', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0' } } });
    expect('cpus' in periodOnly, 'a quota without a period is no CPU limit').toBe(false);
  });

  test('securityEditor: user, group and supplemental groups, read-only rootfs, no_new_privs, capabilities dropped then added in every set, privileged, masked paths; what cannot be done refused before any edit', async () => {
    const { securityEditor, ALL_CAPABILITIES } = await importTarget<SecurityContextModule>('08-cri/security-context.ts');
    const { generateConfig } = await import('#lower/01-bundle/config.ts');
    const { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } = await import('#lib/oci-spec.ts');
    const edited = (security: object) => {
      const spec = generateConfig({ args: ['sh'] });
      securityEditor(security as never)(spec);
      return spec;
    };
    const spec = edited({ run_as_user: { value: '1000' }, run_as_group: { value: '100' }, supplemental_groups: ['5', '6'], readonly_rootfs: true, no_new_privs: true, capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['net_bind_service', 'CAP_CHOWN'] } });
    expect(spec.process.user).toEqual({ uid: 1000, gid: 100, additionalGids: [5, 6] });
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.noNewPrivileges).toBe(true);
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      expect(spec.process.capabilities?.[set]?.slice().sort(), `${set}: drop ALL, then add two`).toEqual(['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);
    }
    const dropOne = edited({ capabilities: { drop_capabilities: ['NET_RAW'], add_capabilities: ['SYS_TIME'] } });
    expect(dropOne.process.capabilities?.bounding?.slice().sort(), 'the defaults, less NET_RAW, plus SYS_TIME').toEqual([...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW'), 'CAP_SYS_TIME'].sort());
    const privileged = edited({ privileged: true, capabilities: { drop_capabilities: ['ALL'] } });
    expect(privileged.process.capabilities?.bounding, 'privileged: every capability, whatever is dropped').toContain('CAP_SYS_ADMIN');
    expect(privileged.process.capabilities?.effective).toContain('CAP_SYS_ADMIN');
    expect([privileged.linux.maskedPaths, privileged.linux.readonlyPaths], 'privileged: /proc and /sys as they are').toEqual([[], []]);
    const plain = edited({ masked_paths: ['/proc/kcore'], readonly_paths: ['/proc/sys'] });
    expect([plain.linux.maskedPaths, plain.linux.readonlyPaths]).toEqual([['/proc/kcore'], ['/proc/sys']]);
    expect(plain.process.capabilities?.bounding?.slice().sort(), 'nothing dropped, nothing added: the defaults').toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(plain.process.user, 'no user asked: the image\'s (root here)').toMatchObject({ uid: 0, gid: 0 });
    expect(plain.root.readonly).toBe(false);
    expect(plain.process.noNewPrivileges, 'no_new_privs not asked: false, the CRI\'s default (chapter 01\'s is true)').toBe(false);
    expect(edited({}).linux.maskedPaths, 'no masked paths given: the defaults stay').toEqual(DEFAULT_MASKED_PATHS);
    expect(edited({}).linux.readonlyPaths, 'no read-only paths given: the defaults stay').toEqual(DEFAULT_READONLY_PATHS);
    // Over gRPC an absent list arrives as [] (the loader's defaults): it must not unmask /proc/kcore and the rest.
    expect(edited({ masked_paths: [], readonly_paths: [] }).linux.maskedPaths, 'masked_paths: [] (absent, as gRPC delivers it): the defaults stay').toEqual(DEFAULT_MASKED_PATHS);
    expect(edited({ masked_paths: [], readonly_paths: [] }).linux.readonlyPaths, 'readonly_paths: [] (absent, as gRPC delivers it): the defaults stay').toEqual(DEFAULT_READONLY_PATHS);
    expect(edited({}).process.user, 'no supplemental groups asked: no additionalGids key').toEqual({ uid: 0, gid: 0 });
    expect(edited({ run_as_user: { value: '1' }, supplemental_groups: ['7'] }).process.user.additionalGids, 'one supplemental group is a list of one').toEqual([7]);
    expect(edited({ run_as_username: 'www-data', run_as_group: { value: '33' } }).process.user.gid, 'a group with a user name (looked up later) is fine').toBe(33);
    const everything = edited({ capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['ALL'] } });
    expect(everything.process.capabilities?.permitted?.slice().sort(), 'add ALL: every capability the kernel has').toEqual([...ALL_CAPABILITIES].sort());
    // Drop from what the spec had, not from the defaults: an earlier edit (or a narrower image) stays narrower.
    const narrow = generateConfig({ args: ['sh'] });
    narrow.process.capabilities = { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_CHOWN', 'CAP_KILL'], permitted: ['CAP_CHOWN', 'CAP_KILL'] };
    securityEditor({ capabilities: { drop_capabilities: ['KILL'] } })(narrow);
    expect(narrow.process.capabilities.bounding, 'the spec\'s own set, less KILL').toEqual(['CAP_CHOWN']);
    const none = generateConfig({ args: ['sh'] });
    delete (none.process as { capabilities?: unknown }).capabilities;
    securityEditor({ capabilities: { drop_capabilities: ['NET_RAW'] } })(none);
    expect(none.process.capabilities?.bounding?.slice().sort(), 'a spec with no capabilities yet: the defaults, less NET_RAW').toEqual(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW').sort());
    const refusals: [object, RegExp][] = [
      [{ capabilities: { add_capabilities: ['NO_SUCH'] } }, /CAP_NO_SUCH/],
      [{ capabilities: { drop_capabilities: ['CAP_NOPE'] } }, /CAP_NOPE/],
      [{ seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } }, /Localhost/],
      [{ run_as_user: { value: '-1' } }, /run_as_user/],
      [{ run_as_group: { value: '100' } }, /run_as_group/],
      [{ run_as_user: { value: '1' }, run_as_group: { value: 'wheel' } }, /run_as_group/],
      [{ run_as_user: { value: '1' }, supplemental_groups: ['5', '1.5'] }, /supplemental_groups/],
    ];
    for (const [bad, words] of refusals) {
      expect(await caught(Promise.resolve().then(() => securityEditor(bad as never))), `refused when asked, not when applied, naming the field: ${JSON.stringify(bad)}`).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(words) });
    }
  });

  test('specEditorFor: mounts (read-only, propagation, a missing host path made), devices, memory and CPU, oom_score_adj no lower than ours, the default seccomp filter; run_as_username looked up in the image', async () => {
    const { specEditorFor } = await importTarget<ContainerSpec>('08-cri/container-spec.ts');
    const { generateConfig } = await import('#lower/01-bundle/config.ts');
    const config = (linux: object | null, mounts: object[] = []) => ({ metadata: { name: 'c', attempt: 0 }, image: { image: 'x' }, command: [], args: [], working_dir: '', envs: [], mounts, labels: {}, annotations: {}, log_path: '', stdin: false, stdin_once: false, tty: false, linux }) as never;
    const volume = path.join(hostRun().dir, 'spec-volume');
    const spec = generateConfig({ args: ['sh'] });
    await specEditorFor(config({ resources: { memory_limit_in_bytes: '1048576', cpu_quota: '20000', cpu_period: '100000', cpu_shares: '512', oom_score_adj: '-998' } }, [{ container_path: '/data', host_path: volume, readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }]))(spec);
    expect(spec.mounts.find((m) => m.destination === '/data')).toEqual({ destination: '/data', type: 'bind', source: volume, options: ['rbind', 'rslave', 'ro'] });
    expect(fs.statSync(volume).isDirectory(), 'a missing host path is made').toBe(true);
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 1048576, swap: 1048576 }, cpu: { shares: 512, quota: 20000, period: 100000 } });
    expect(spec.process.noNewPrivileges, 'no security context: the CRI\'s default, false').toBe(false);
    expect(spec.process.oomScoreAdj, 'not below conmand\'s own (-998 needs CAP_SYS_RESOURCE)').toBe(Math.max(-998, Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'))));
    expect(await caught(Promise.resolve().then(() => specEditorFor(config(null, [{ container_path: 'data', host_path: volume, readonly: false }])))), 'a relative path').toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(await caught(Promise.resolve().then(() => specEditorFor(config(null, [{ container_path: '/data', host_path: '', readonly: false }])))), 'an image volume').toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    // Devices: the node's type and numbers from the host's, and a cgroup rule that lets it be used.
    const withDevice = generateConfig({ args: ['sh'] });
    await specEditorFor({ ...(config(null) as object), devices: [{ container_path: '/dev/mynull', host_path: '/dev/null', permissions: 'rw' }] } as never)(withDevice);
    expect(withDevice.linux.devices).toContainEqual(expect.objectContaining({ path: '/dev/mynull', type: 'c', major: 1, minor: 3 }));
    expect(withDevice.linux.resources?.devices).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
    expect(await caught(Promise.resolve().then(() => specEditorFor({ ...(config(null) as object), devices: [{ container_path: '/dev/x', host_path: '/etc/hostname', permissions: 'r' }] } as never))), 'a file that is no device').toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    // seccomp: the default filter for RuntimeDefault (also when no type is given: the enum's zero), none when unconfined or privileged.
    const { seccompFor } = await importTarget<ContainerSpec>('08-cri/container-spec.ts');
    const seccompOf = async (security: object) => seccompFor(security as never);
    expect((await seccompOf({ seccomp: { profile_type: 'RuntimeDefault' } }))?.syscalls?.[0]).toMatchObject({ action: 'SCMP_ACT_ERRNO', names: expect.arrayContaining(['mount', 'unshare', 'keyctl']) });
    expect(await seccompOf({ seccomp: {} }), 'no type: RuntimeDefault').toBeDefined();
    expect(await seccompOf({ seccomp_profile_path: 'runtime/default' }), 'the older field').toBeDefined();
    expect(await seccompOf({ seccomp: { profile_type: 'Unconfined' } })).toBeUndefined();
    expect(await seccompOf({ privileged: true, seccomp: { profile_type: 'RuntimeDefault' } }), 'privileged: no filter').toBeUndefined();
    // run_as_username: looked up in the image's own /etc/passwd, once its rootfs exists.
    const rootfs = path.join(hostRun().dir, 'spec-rootfs');
    fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n');
    fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nwww-data:x:33:\n');
    const { userNamed } = await importTarget<ContainerSpec>('08-cri/container-spec.ts');
    expect(await userNamed(rootfs, 'www-data')).toMatchObject({ uid: 33, gid: 33 });
    expect(await caught(userNamed(rootfs, 'nobody-here')), 'a name the image does not have').toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  test('toGrpcError: the manager\'s statuses as gRPC codes; a gRPC error passes through', async () => {
    const { toGrpcError, grpcError } = await importTarget<GrpcErrors>('08-cri/grpc-errors.ts');
    const withStatus = (status: number) => Object.assign(new Error(`status ${status}`), { status });
    // Compared by name: "409 → ALREADY_EXISTS" says more than "6".
    const codeName = (code: number | undefined) => (code === undefined ? 'no code' : (grpc.status[code] ?? String(code)));
    expect(Object.fromEntries([400, 404, 409, 429, 507].map((status) => [status, codeName(toGrpcError(withStatus(status)).code)])), 'each manager status as its gRPC code').toEqual({
      400: 'INVALID_ARGUMENT',
      404: 'NOT_FOUND',
      409: 'FAILED_PRECONDITION',
      429: 'RESOURCE_EXHAUSTED',
      507: 'RESOURCE_EXHAUSTED',
    });
    expect(toGrpcError(new Error('boom')), 'an error without a status: UNKNOWN, with its message').toMatchObject({ code: grpc.status.UNKNOWN, details: 'boom' });
    expect(toGrpcError('a plain string thrown'), 'a thrown value that is no Error: UNKNOWN, with the value in words').toMatchObject({ code: grpc.status.UNKNOWN, details: 'a plain string thrown' });
    expect(toGrpcError(Object.assign(new Error('gone'), { status: 404, details: 'from elsewhere' })), 'details without a gRPC code is no gRPC error: its status counts').toMatchObject({ code: grpc.status.NOT_FOUND, details: 'gone' });
    expect(toGrpcError(Object.assign(new Error('errno'), { code: 5 })), 'a numeric code without details is no gRPC error either').toMatchObject({ code: grpc.status.UNKNOWN, details: 'errno' });
    const deadline = grpcError(grpc.status.DEADLINE_EXCEEDED, 'too slow');
    expect(codeName(toGrpcError(deadline).code), 'a gRPC error passes through with its code').toBe('DEADLINE_EXCEEDED');
    expect(toGrpcError(deadline), 'and its details').toMatchObject({ details: 'too slow' });
  });

  test('runToEnd: ExecSync\'s output apart and the exit code; past the timeout, the process killed and DEADLINE_EXCEEDED; 0 is no timeout; no timer left behind', async () => {
    const { runToEnd } = await importTarget<ExecSync>('08-cri/exec-sync.ts');
    // A real process, as the manager's exec session gives it: its output, its exit, and a kill.
    const run = (script: string) => {
      const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = { value: false };
      const exit = new Promise<{ exitCode: number }>((resolve) => child.on('close', (code, signal) => resolve({ exitCode: code ?? (signal === 'SIGKILL' ? 137 : 128) })));
      const session = {
        onOutput: (listener: (stream: 'stdout' | 'stderr', chunk: Buffer) => void) => {
          child.stdout.on('data', (chunk: Buffer) => listener('stdout', chunk));
          child.stderr.on('data', (chunk: Buffer) => listener('stderr', chunk));
        },
        exit,
        close: () => (closed.value = true),
      };
      const kill = async () => void child.kill('SIGKILL');
      return { session, kill, closed, alive: () => child.exitCode === null && child.signalCode === null, exit };
    };

    /** A command that ends in time must not meet the deadline: if it does, say how a timeout in seconds goes wrong. */
    const inTime = <T>(promise: Promise<T>, what: string) =>
      promise.catch((error: Error) => {
        if (error.name === 'NotImplementedError') throw error;
        throw new Error(`${what} ended well within its timeout, yet runToEnd ended with: ${error.message} (timeoutSeconds is in seconds; setTimeout wants milliseconds)`);
      });
    const quick = run('echo out; echo err >&2; exit 3');
    let killedLater = false;
    expect(await inTime(runToEnd(quick.session, 1, async () => void (killedLater = true)), 'a command of a moment, given 1 s,'), 'its output apart and its exit code').toEqual({ stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n'), exit_code: 3 });
    expect(quick.closed.value, 'the session closed').toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(killedLater, 'no timer left behind: once the command has ended, its deadline must not kill anything (an exec id can be used again)').toBe(false);

    const slowButInTime = run('sleep 1.2; echo done');
    expect((await inTime(runToEnd(slowButInTime.session, 3, slowButInTime.kill), 'a command of 1.2 s, given 3 s,')).stdout.toString(), 'timeout is in seconds: 1.2 s is within 3').toBe('done\n');
    const unbounded = run('sleep 1.2; echo unbounded');
    expect((await inTime(runToEnd(unbounded.session, 0, unbounded.kill), 'a command of 1.2 s, given 0 (no bound),')).stdout.toString(), 'timeout 0: no bound at all').toBe('unbounded\n');

    const hung = run('echo started; exec sleep 30');
    const started = Date.now();
    const error = await caught(runToEnd(hung.session, 1, hung.kill));
    expect(error, 'past its timeout: DEADLINE_EXCEEDED').toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(Date.now() - started, 'the deadline is 1 s, not the command\'s 30').toBeLessThan(scaled(10_000));
    expect(hung.closed.value, 'the session closed').toBe(true);
    await Promise.race([hung.exit, new Promise((resolve) => setTimeout(resolve, scaled(5000)))]);
    expect(hung.alive(), 'the command killed, not left running in the container').toBe(false);
  });

  test('containerStateOf and exitReasonOf: the manager\'s statuses as CRI states; OOMKilled before the exit code, Completed, Error', async () => {
    const { containerStateOf, exitReasonOf } = await importTarget<ContainerStatus>('08-cri/container-status.ts');
    expect((['created', 'running', 'restarting', 'exited', 'unknown', 'removing'] as const).map(containerStateOf)).toEqual(['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN', 'CONTAINER_UNKNOWN']);
    const exited = (exitCode: number, oomKilled = false) => ({ status: 'exited' as const, exit: { exitCode, oomKilled, finishedAt: '' } });
    expect([exited(0), exited(1), exited(137, true), exited(0, true)].map(exitReasonOf)).toEqual(['Completed', 'Error', 'OOMKilled', 'OOMKilled']);
    expect(exitReasonOf({ status: 'running' })).toBe('');
  });
});

describe('the CRI endpoint, as crictl and kubelet call it', () => {
  // A registry for these checks only: the pieces above run without one.
  beforeAll(async () => {
    registry = await startRegistry(hostRun());
    image = `${registry.host}/test/busybox:1.36`;
    await pushBusyboxImage(path.join(hostRun().dir, 'umoci'), registry.host, [['oci', 'test/busybox:1.36']], ['--config.cmd', 'sh']);
    tokens = await startTokenServer(path.join(hostRun().dir, 'tokens'), { kubelet: 's3cret' });
    privateRegistry = await startRegistry(hostRun(), 'token-registry', { token: { realm: tokens.realm, service: 'conman-test-registry', issuer: 'conman-test', rootCertBundle: tokens.cert } });
    await pushBusyboxImage(path.join(hostRun().dir, 'umoci-private'), privateRegistry.host, [['oci', 'private/busybox:1']], ['--config.cmd', 'sh'], 'kubelet:s3cret');
  }, scaled(120_000));

  afterAll(async () => {
    await registry?.stop();
    await privateRegistry?.stop();
    await tokens?.close();
  });

  test('version, status, pull (with credentials too), runp (with a port), create, start, ps, exec (sync, with a timeout; streamed over WebSocket and SPDY, with a terminal), attach, port-forward, logs and their rotation, a security context and a mount, sysctls, stats, stop, rm, stopp, rmp; a conmand kill -9 in between changes nothing kubelet sees', async () => {
    const { w, socket } = criWorld('cri');
    await w.startDaemon();
    // crictl's own bound is 2 s (4 s for RunPodSandbox); ours waits for a slow machine, and a pull.
    const { call, close } = criClient(socket, scaled(60_000));
    try {
      expect((fs.statSync(socket).mode & 0o777).toString(8), 'the socket is root\'s only').toBe('600');
      // What every client asks first.
      const version = await call('RuntimeService/Version', { version: 'v1' });
      for (const field of ['version', 'runtime_name', 'runtime_version', 'runtime_api_version']) expect(version[field], field).not.toBe('');
      expect(version.runtime_api_version).toBe('v1');
      const status = await call('RuntimeService/Status');
      expect(status.status.conditions.map((c: Reply) => `${c.type}=${c.status}`).sort()).toEqual(['NetworkReady=true', 'RuntimeReady=true']);

      // Images: one id across every call, found by tag, id and repo digest.
      const pulled = await call('ImageService/PullImage', { image: { image } });
      expect(pulled.image_ref).toMatch(/^sha256:[a-f0-9]{64}$/);
      const byTag = (await call('ImageService/ImageStatus', { image: { image } })).image;
      expect(byTag.id).toBe(pulled.image_ref);
      expect(Number(byTag.size)).toBeGreaterThan(0);
      expect(byTag.repo_tags).toEqual([image]);
      expect((await call('ImageService/ImageStatus', { image: { image: pulled.image_ref } })).image.id, 'found by id').toBe(pulled.image_ref);
      expect((await call('ImageService/ImageStatus', { image: { image: byTag.repo_digests[0] } })).image.id, 'found by repo digest').toBe(pulled.image_ref);
      expect((await call('ImageService/ListImages')).images.map((i: Reply) => i.id)).toEqual([pulled.image_ref]);
      expect((await call('ImageService/ImageStatus', { image: { image: `${registry.host}/test/none:1` } })).image, 'an image not here: no status, no error').toBeNull();
      const fsInfo = await call('ImageService/ImageFsInfo');
      expect(Number(fsInfo.image_filesystems[0].used_bytes.value)).toBeGreaterThan(0);

      // A sandbox: a pod with its hostname and a host port; kubelet's metadata and labels kept.
      const hostPort = await freePort();
      const logDirectory = path.join(w.base, 'pods', 'default_web_1234');
      const sandboxConfig = {
        metadata: { name: 'web', namespace: 'default', uid: '1234-abcd', attempt: 0 },
        hostname: 'web-pod',
        log_directory: logDirectory,
        port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort }],
        labels: { app: 'web', 'io.kubernetes.pod.name': 'web' },
        annotations: { note: 'from the test' },
        linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
      };
      const { pod_sandbox_id: podId } = await call('RuntimeService/RunPodSandbox', { config: sandboxConfig });
      expect(await codeOf(call('RuntimeService/RunPodSandbox', { config: sandboxConfig })), 'the same pod and attempt again').toBe('ALREADY_EXISTS');
      const podStatus = (await call('RuntimeService/PodSandboxStatus', { pod_sandbox_id: podId })).status;
      expect(podStatus).toMatchObject({ id: podId, state: 'SANDBOX_READY', metadata: sandboxConfig.metadata, labels: sandboxConfig.labels, annotations: sandboxConfig.annotations });
      expect(podStatus.network.ip).toMatch(/^10\.231\.\d+\.\d+$/);

      // A container from the image: Kubernetes' command and args, its log where kubelet reads it.
      const containerConfig = (name: string, command: string[]) => ({
        metadata: { name, attempt: 0 },
        image: { image },
        command,
        envs: [{ key: 'GREETING', value: 'hello from cri' }],
        labels: { container: name },
        log_path: `${name}/0.log`,
      });
      const server = containerConfig('server', ['sh', '-c', 'echo "$GREETING"; exec httpd -f -p 80 -h /etc']);
      const { container_id: serverId } = await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: server, sandbox_config: sandboxConfig });
      expect((await call('RuntimeService/ContainerStatus', { container_id: serverId })).status.state).toBe('CONTAINER_CREATED');
      expect(await codeOf(call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: server, sandbox_config: sandboxConfig })), 'the same container and attempt again').toBe('ALREADY_EXISTS');
      await call('RuntimeService/StartContainer', { container_id: serverId });
      const running = await call('RuntimeService/ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' }, label_selector: { container: 'server' } } });
      expect(running.containers.map((c: Reply) => c.id)).toEqual([serverId]);
      expect(running.containers[0]).toMatchObject({ pod_sandbox_id: podId, image_ref: pulled.image_ref, metadata: { name: 'server', attempt: 0 } });
      // Served on the pod's port, through portmap, with the pod's hostname.
      const page = await eventually('the pod\'s port answers', () => fetch(`http://127.0.0.1:${hostPort}/hostname`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()).catch(() => undefined));
      expect(page.trim()).toBe('web-pod');
      // The CRI log, where kubelet reads it: "<time> stdout F <line>".
      const logFile = path.join(logDirectory, 'server/0.log');
      expect((await call('RuntimeService/ContainerStatus', { container_id: serverId })).status.log_path).toBe(logFile);
      await eventually('the greeting in the CRI log', () => /^\S+ stdout F hello from cri$/m.test(fs.readFileSync(logFile, 'utf8')));
      expect(fs.lstatSync(logFile).isFile(), 'written there by the shim: a file, not a link to elsewhere').toBe(true);

      // Log rotation, as kubelet does it: rename the file, ReopenContainerLog, a new file at the same place.
      const ticker = (await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: containerConfig('ticker', ['sh', '-c', 'while true; do echo tick; sleep 0.05; done']), sandbox_config: sandboxConfig })).container_id;
      await call('RuntimeService/StartContainer', { container_id: ticker });
      const tickerLog = path.join(logDirectory, 'ticker/0.log');
      const ticks = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').match(/ stdout F tick$/gm)?.length ?? 0 : 0);
      await eventually('ticks in the log', () => ticks(tickerLog) > 0);
      fs.renameSync(tickerLog, `${tickerLog}.1`);
      await call('RuntimeService/ReopenContainerLog', { container_id: ticker });
      await eventually('ticks in a new file at the same place', () => ticks(tickerLog) > 0);
      const rotated = ticks(`${tickerLog}.1`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ticks(`${tickerLog}.1`), 'nothing more written into the rotated file').toBe(rotated);
      await call('RuntimeService/StopContainer', { container_id: ticker, timeout: 0 });
      expect(await codeOf(call('RuntimeService/ReopenContainerLog', { container_id: ticker })), 'a stopped container\'s log is closed').toBe('FAILED_PRECONDITION');
      await call('RuntimeService/RemoveContainer', { container_id: ticker });

      const execed = await call('RuntimeService/ExecSync', { container_id: serverId, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeout: 10 });
      expect({ stdout: execed.stdout.toString(), stderr: execed.stderr.toString(), exit_code: execed.exit_code }).toEqual({ stdout: 'out\n', stderr: 'err\n', exit_code: 3 });
      expect(await codeOf(call('RuntimeService/ExecSync', { container_id: serverId, cmd: ['sleep', '30'], timeout: 1 })), 'past its timeout').toBe('DEADLINE_EXCEEDED');

      // An ephemeral debug container (kubectl debug --target=server): in the server's PID namespace.
      const debugConfig = { ...containerConfig('debug', ['sleep', '300']), linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: serverId } } } };
      const debugId = (await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: debugConfig, sandbox_config: sandboxConfig })).container_id;
      await call('RuntimeService/StartContainer', { container_id: debugId });
      expect((await call('RuntimeService/ExecSync', { container_id: debugId, cmd: ['sh', '-c', 'ps -o comm | grep -c httpd'], timeout: 10 })).stdout.toString().trim(), 'it sees its target\'s processes').toBe('1');
      await call('RuntimeService/StopContainer', { container_id: debugId, timeout: 0 });
      await call('RuntimeService/RemoveContainer', { container_id: debugId });

      // Exec over the streaming URL (kubectl exec -i): stdin in, stdout and stderr apart, the exit in a Status.
      const { url } = await call('RuntimeService/Exec', { container_id: serverId, cmd: ['sh', '-c', 'read line; echo "got $line"; echo oops >&2; exit 4'], stdin: true, stdout: true, stderr: true });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/\S+$/);
      expect(await channelSession(url, 'hello\n')).toEqual({
        stdout: 'got hello\n',
        stderr: 'oops\n',
        status: { metadata: {}, status: 'Failure', message: 'command terminated with non-zero exit code: 4', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '4' }] } },
      });
      expect(await caught(channelSession(url, '')), 'a URL serves once').toBeDefined();
      // kubectl exec -t: the terminal has the client's size before the command runs.
      const { url: ttyUrl } = await call('RuntimeService/Exec', { container_id: serverId, cmd: ['stty', 'size'], tty: true, stdout: true });
      expect((await channelSession(ttyUrl, '', { Width: 100, Height: 30 })).stdout.trim(), 'stty size, first thing').toBe('30 100');
      // The same over SPDY/3.1, as client-go's SPDY executor speaks it (crictl, critest, kubectl before 1.30).
      const { url: spdyUrl } = await call('RuntimeService/Exec', { container_id: serverId, cmd: ['sh', '-c', 'read line; echo "got $line"; echo oops >&2; exit 4'], stdin: true, stdout: true, stderr: true });
      expect(await spdyExec(spdyUrl, { stdin: true, input: 'hello\n' }), 'exec over SPDY').toEqual({
        stdout: 'got hello\n',
        stderr: 'oops\n',
        status: { metadata: {}, status: 'Failure', message: 'command terminated with non-zero exit code: 4', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '4' }] } },
      });
      const { url: spdyTty } = await call('RuntimeService/Exec', { container_id: serverId, cmd: ['stty', 'size'], tty: true, stdout: true });
      expect((await spdyExec(spdyTty, { tty: true, size: { Width: 100, Height: 30 } })).stdout.trim(), 'exec -t over SPDY: sized from the start').toBe('30 100');
      // Attach (kubectl attach -i): to a running container's own stdin and stdout, here over SPDY.
      const reader = (await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: { ...containerConfig('reader', ['sh', '-c', 'read line; echo "attached: $line"']), stdin: true }, sandbox_config: sandboxConfig })).container_id;
      await call('RuntimeService/StartContainer', { container_id: reader });
      const { url: attachUrl } = await call('RuntimeService/Attach', { container_id: reader, stdin: true, stdout: true, stderr: true });
      expect(await spdyExec(attachUrl, { stdin: true, input: 'hello\n' }), 'attach over SPDY: its input, its output, its end').toEqual({ stdout: 'attached: hello\n', stderr: '', status: { metadata: {}, status: 'Success' } });
      await call('RuntimeService/RemoveContainer', { container_id: reader });
      // PortForward: the pod's port 80, through a URL of the same server.
      const forward = await call('RuntimeService/PortForward', { pod_sandbox_id: podId, port: [80] });
      expect(await forwardedRequest(forward.url, 'GET /hostname HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.[01] 200 OK[\s\S]*\r\n\r\nweb-pod\n$/);
      // No port in the request (critest and kubectl send none): the client names it on the URL.
      const anyPort = await call('RuntimeService/PortForward', { pod_sandbox_id: podId });
      expect(await forwardedRequest(`${anyPort.url}?port=80`, 'GET /hostname HTTP/1.0\r\n\r\n')).toMatch(/\r\n\r\nweb-pod\n$/);
      const spdyPorts = await call('RuntimeService/PortForward', { pod_sandbox_id: podId });
      expect(await spdyForward(spdyPorts.url, 80, 'GET /hostname HTTP/1.0\r\n\r\n'), 'port-forward over SPDY: the port in the stream\'s headers').toMatch(/\r\n\r\nweb-pod\n$/);

      // A pod's securityContext and volumeMounts, as kubelet writes them into the config.
      const volume = path.join(w.base, 'volume');
      fs.mkdirSync(volume, { recursive: true });
      fs.writeFileSync(path.join(volume, 'data.txt'), 'from the host\n');
      const secure = {
        ...containerConfig('secure', ['sleep', '300']),
        mounts: [{ container_path: '/data', host_path: volume, readonly: true }],
        linux: {
          resources: { memory_limit_in_bytes: 64 * 1024 * 1024 },
          security_context: {
            run_as_user: { value: 1000 },
            run_as_group: { value: 1000 },
            supplemental_groups: [5],
            readonly_rootfs: true,
            no_new_privs: true,
            capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['NET_BIND_SERVICE'] },
            seccomp: { profile_type: 'RuntimeDefault' },
          },
        },
      };
      const { container_id: secureId } = await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: secure, sandbox_config: sandboxConfig });
      await call('RuntimeService/StartContainer', { container_id: secureId });
      const inSecure = async (script: string) => (await call('RuntimeService/ExecSync', { container_id: secureId, cmd: ['sh', '-c', script], timeout: 10 })).stdout.toString();
      expect(await inSecure('id -u; id -g; id -G')).toBe('1000\n1000\n1000 5\n');
      expect(await inSecure('cat /data/data.txt; touch /data/x 2>/dev/null || echo "volume: read-only"; touch /x 2>/dev/null || echo "rootfs: read-only"')).toBe('from the host\nvolume: read-only\nrootfs: read-only\n');
      expect(await inSecure('grep -E "^(NoNewPrivs|CapBnd|Seccomp):" /proc/self/status')).toBe('CapBnd:\t0000000000000400\nNoNewPrivs:\t1\nSeccomp:\t2\n');
      expect(await inSecure('unshare -m true 2>&1 || echo refused'), 'RuntimeDefault: the default filter refuses unshare').toMatch(/Operation not permitted[\s\S]*refused/);
      // What crictl inspect shows: its mounts and resources as asked; verbose, its PID and runtime spec.
      const inspected = await call('RuntimeService/ContainerStatus', { container_id: secureId, verbose: true });
      expect(inspected.status.mounts).toMatchObject([{ container_path: '/data', host_path: volume, readonly: true }]);
      expect(Number(inspected.status.resources.linux.memory_limit_in_bytes)).toBe(64 * 1024 * 1024);
      const verbose = JSON.parse(inspected.info.info);
      expect(verbose).toMatchObject({ sandboxID: podId, runtimeSpec: { root: { readonly: true }, process: { user: { uid: 1000 } } } });
      expect(fs.existsSync(`/proc/${verbose.pid}`), 'its PID, a live process').toBe(true);
      // Stats from the cgroups: the container's own, and the pod's with its containers.
      const containerStats = (await call('RuntimeService/ContainerStats', { container_id: secureId })).stats;
      expect(Number(containerStats.memory.working_set_bytes.value)).toBeGreaterThan(0);
      expect(Number(containerStats.memory.available_bytes.value), 'what is left of its 64 MiB').toBeLessThan(64 * 1024 * 1024);
      expect(Number(containerStats.cpu.usage_core_nano_seconds.value), 'the CPU its execs used').toBeGreaterThan(0);
      const podStats = (await call('RuntimeService/PodSandboxStats', { pod_sandbox_id: podId })).stats;
      expect(Number(podStats.linux.process.process_count.value), 'catatonit, httpd, sleep').toBeGreaterThanOrEqual(3);
      expect(podStats.linux.containers.map((c: Reply) => c.attributes.id).sort()).toEqual([serverId, secureId].sort());
      expect((await call('RuntimeService/ListContainerStats', { filter: { label_selector: { container: 'secure' } } })).stats.map((c: Reply) => c.attributes.id)).toEqual([secureId]);
      // New limits in place (kubelet's in-place resize): the cgroup says so at once.
      await call('RuntimeService/UpdateContainerResources', { container_id: secureId, linux: { memory_limit_in_bytes: 32 * 1024 * 1024 } });
      expect(Number((await call('RuntimeService/ContainerStats', { container_id: secureId })).stats.memory.available_bytes.value), 'what is left of its 32 MiB now').toBeLessThan(32 * 1024 * 1024);
      await call('RuntimeService/StopContainer', { container_id: secureId, timeout: 0 }); // (sleep as PID 1 ignores SIGTERM: straight to SIGKILL)
      expect(await codeOf(call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: { ...containerConfig('bad', ['true']), linux: { security_context: { capabilities: { add_capabilities: ['NO_SUCH_CAP'] } } } }, sandbox_config: sandboxConfig })), 'a capability that does not exist').toBe('INVALID_ARGUMENT');

      // kubelet restarts or conmand dies: what it lists is the same.
      const before = { pods: await call('RuntimeService/ListPodSandbox'), containers: await call('RuntimeService/ListContainers') };
      await w.stopDaemon('SIGKILL');
      await w.startDaemon();
      expect({ pods: await call('RuntimeService/ListPodSandbox'), containers: await call('RuntimeService/ListContainers') }).toEqual(before);

      // A container that ends by itself is Completed; the stopped server is Error: httpd is its
      // PID 1, which the kernel does not let SIGTERM kill, so SIGKILL after the timeout: 137.
      const done = await call('RuntimeService/CreateContainer', { pod_sandbox_id: podId, config: containerConfig('once', ['true']), sandbox_config: sandboxConfig });
      await call('RuntimeService/StartContainer', { container_id: done.container_id });
      const completed = await eventually('the one-shot container exited', async () => {
        const s = (await call('RuntimeService/ContainerStatus', { container_id: done.container_id })).status;
        return s.state === 'CONTAINER_EXITED' ? s : undefined;
      });
      expect(completed).toMatchObject({ exit_code: 0, reason: 'Completed' });
      await call('RuntimeService/StopContainer', { container_id: serverId, timeout: 1 });
      const stopped = (await call('RuntimeService/ContainerStatus', { container_id: serverId })).status;
      expect(stopped).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137, reason: 'Error' });
      expect(BigInt(stopped.finished_at)).toBeGreaterThan(BigInt(stopped.started_at));

      // A sandbox as critest sends it: no hostname (the pod's name, made one), a sysctl of the pod's namespaces.
      const bareConfig = { metadata: { name: 'bare', namespace: 'cri-test', uid: 'cri-test-uid-1', attempt: 0 }, dns_config: { servers: ['127.0.0.1'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5'] }, linux: { cgroup_parent: `${hostRun().cgroupParent}/kubepods/pod-bare`, sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80' }, security_context: { namespace_options: { network: 'POD', pid: 'NODE', ipc: 'NODE' } } } };
      const { pod_sandbox_id: bareId } = await call('RuntimeService/RunPodSandbox', { config: bareConfig });
      const probe = { ...containerConfig('probe', ['sleep', '300']), devices: [{ container_path: '/dev/cri-zero', host_path: '/dev/zero', permissions: 'r' }] };
      const { container_id: bareContainer } = await call('RuntimeService/CreateContainer', { pod_sandbox_id: bareId, config: probe, sandbox_config: bareConfig });
      await call('RuntimeService/StartContainer', { container_id: bareContainer });
      const seen = (await call('RuntimeService/ExecSync', { container_id: bareContainer, cmd: ['sh', '-c', 'hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; for ns in pid ipc net; do readlink /proc/self/ns/$ns; done'], timeout: 10 })).stdout.toString().split('\n');
      expect(seen[0]).toMatch(/^k8s-bare-cri-test-[0-9a-f]{12}-0$/);
      expect(seen[1], 'the pod\'s sysctl').toBe('80');
      expect(seen.slice(2, 4), 'hostPID and hostIPC: the host\'s namespaces').toEqual([fs.readlinkSync('/proc/self/ns/pid'), fs.readlinkSync('/proc/self/ns/ipc')]);
      expect(seen[4], 'but a network of its own').not.toBe(fs.readlinkSync('/proc/self/ns/net'));
      const resolv = (await call('RuntimeService/ExecSync', { container_id: bareContainer, cmd: ['cat', '/etc/resolv.conf'], timeout: 10 })).stdout.toString();
      expect(resolv.split('\n').filter((line: string) => /^(nameserver|search|options) /.test(line)), 'the pod\'s dns_config, whole').toEqual(['nameserver 127.0.0.1', 'search svc.cluster.local cluster.local', 'options ndots:5']);
      expect((await call('RuntimeService/ExecSync', { container_id: bareContainer, cmd: ['sh', '-c', 'head -c 3 /dev/cri-zero | od -An -tx1'], timeout: 10 })).stdout.toString().trim(), 'a device of the host\'s, by another name').toBe('00 00 00');
      const barePid = JSON.parse((await call('RuntimeService/ContainerStatus', { container_id: bareContainer, verbose: true })).info.info).pid;
      expect(fs.readFileSync(`/proc/${barePid}/cgroup`, 'utf8'), 'under kubelet\'s pod cgroup (cgroup_parent)').toContain(`${hostRun().cgroupParent}/kubepods/pod-bare/`);
      await call('RuntimeService/StopPodSandbox', { pod_sandbox_id: bareId });
      await call('RuntimeService/RemovePodSandbox', { pod_sandbox_id: bareId });
      await removeCgroupTree(`${hostRun().cgroupParent}/kubepods`.slice(1)); // (kubelet's own parent cgroup: kubelet removes it)

      // Errors as gRPC codes; every Stop and Remove of something gone is done, not an error.
      expect(await codeOf(call('RuntimeService/ContainerStatus', { container_id: 'no-such-container' }))).toBe('NOT_FOUND');
      expect(await codeOf(call('ImageService/RemoveImage', { image: { image: pulled.image_ref } })), 'an image in use').toBe('FAILED_PRECONDITION');
      await call('RuntimeService/RemoveContainer', { container_id: serverId });
      await call('RuntimeService/RemoveContainer', { container_id: serverId });
      await call('RuntimeService/StopPodSandbox', { pod_sandbox_id: podId });
      expect((await call('RuntimeService/PodSandboxStatus', { pod_sandbox_id: podId })).status.state).toBe('SANDBOX_NOTREADY');
      await call('RuntimeService/RemovePodSandbox', { pod_sandbox_id: podId });
      await call('RuntimeService/RemovePodSandbox', { pod_sandbox_id: podId });
      await call('RuntimeService/StopPodSandbox', { pod_sandbox_id: podId });
      expect((await call('RuntimeService/ListPodSandbox')).items).toEqual([]);
      expect((await call('RuntimeService/ListContainers')).containers, 'the pod\'s containers went with it').toEqual([]);
      await call('ImageService/RemoveImage', { image: { image: pulled.image_ref } });
      await call('ImageService/RemoveImage', { image: { image: pulled.image_ref } });
      expect((await call('ImageService/ListImages')).images).toEqual([]);

      // A private image: PullImage's auth, as kubelet passes a pod's imagePullSecrets.
      const privateImage = `${privateRegistry.host}/private/busybox:1`;
      expect(await codeOf(call('ImageService/PullImage', { image: { image: privateImage } })), 'no credentials').not.toBe('OK');
      const authed = await call('ImageService/PullImage', { image: { image: privateImage }, auth: { username: 'kubelet', password: 's3cret' } });
      expect((await call('ImageService/ImageStatus', { image: { image: privateImage } })).image.id).toBe(authed.image_ref);
      expect(tokens.seen.filter((s) => s.scope === 'repository:private/busybox:pull').map((s) => `${s.user} ${s.status}`), 'the token server saw kubelet\'s credentials').toContain('kubelet 200');
      expect(await codeOf(call('ImageService/PullImage', { image: { image: privateImage }, auth: { auth: Buffer.from('kubelet:wrong').toString('base64') } })), 'wrong credentials (docker\'s "auth" form)').not.toBe('OK');
      await call('ImageService/RemoveImage', { image: { image: authed.image_ref } });
    } finally {
      close();
      const pods = JSON.parse((await w.conman(['pod', 'ps', '--json'])).stdout || '[]') as { id: string }[];
      if (pods.length > 0) await w.conman(['pod', 'rm', '-f', ...pods.map((pod) => pod.id)]);
      await w.stopDaemon();
    }
    expect(fs.existsSync(socket), 'conmand removes its CRI socket when it stops').toBe(false);
  }, scaled(240_000));
});
