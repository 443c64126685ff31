/**
 * The chapter ladder: one list that the workshop command, the checks and the book all read
 * (like rustlings' info.toml). A chapter is "available" once its solution and checks exist.
 * Hints live here, apart from the lessons, so a learner sees them only when asking.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SOLUTIONS_DIR, TEST_DIR } from './paths.ts';

export interface ChapterInfo {
  /** "01" */
  number: string;
  /** "01-bundle": the folder name in chapters/, solutions/ and test/ */
  folder: string;
  title: string;
  /** One line: what the learner builds. */
  builds: string;
  /** Exercise name (as in the EXERCISE(name) marker) -> hints, most gentle first. */
  hints: Record<string, string[]>;
  /**
   * Being written: its solution and checks may exist (the check file runs and passes on its
   * own), but the chapter stays out of the ladder (workshop list, check all, the book, the
   * suite's starter and lesson checks) until its lesson and starters are complete.
   */
  draft?: boolean;
}

export const CHAPTERS: ChapterInfo[] = [
  {
    number: '00',
    folder: '00-setup',
    title: 'Setup: the map of the stack',
    builds: 'workshop doctor, and a reader of /proc/PID/ns that tells which namespaces two processes share',
    hints: {
      'read-ns': [
        'await fs.readdir(`/proc/${pid}/ns`) gives the names (cgroup, ipc, mnt, net, pid, ...).',
        'await fs.readlink(`/proc/${pid}/ns/net`) gives "net:[4026531840]": store it under "net".',
        'Wrap both in try/catch and rethrow new Error(`no process ${pid}: ...`) when the code is ENOENT; any other code (EACCES) is not "no process": rethrow it with the path and the code.',
      ],
      'compare-ns': [
        'new Set([...a.keys(), ...b.keys()]) is every type either process has.',
        'A type is shared when a.get(type) === b.get(type) and neither is undefined. Sort both lists.',
      ],
    },
  },
  {
    number: '01',
    folder: '01-bundle',
    title: 'Bundle: a rootfs, a config.json and runc run',
    builds: 'a busybox rootfs, a typed config.json generator, and runc run in the foreground',
    hints: {
      rootfs: [
        'for (const dir of ROOTFS_DIRS) await fs.mkdir(path.join(rootfsDir, dir), { recursive: true, mode: 0o755 })',
        'fs.copyFile(busybox, path.join(rootfsDir, "bin/busybox")), then fs.chmod(..., 0o755).',
        'const { stdout } = await promisify(execFile)(busybox, ["--list"]); then fs.symlink("busybox", path.join(bin, name)) for each name.',
        'chmod tmp and var/tmp to 0o1777, chown home/learner to 1000:1000, and write the two files in etc/.',
      ],
      'config-process': [
        'Start from `runc spec` (run it in an empty folder and read config.json): the process part is the model.',
        'env is ["PATH=" + DEFAULT_PATH, "HOME=/root" (or /home/learner), ...Object.entries(options.env).map(...)].',
        'capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] }',
      ],
      'config-isolation': [
        'The mounts are exactly the ones `runc spec` prints, options too (the checks compare them), plus a tmpfs on /tmp (nosuid, nodev, mode=1777) for a read-only root.',
        'Copy the namespaces (options.namespaces ?? DEFAULT_NAMESPACES): a caller may change the spec afterwards.',
        'linux: { namespaces, cgroupsPath: options.cgroupsPath, maskedPaths: DEFAULT_MASKED_PATHS, readonlyPaths: DEFAULT_READONLY_PATHS }',
      ],
      'config-resources': [
        'memory: { limit: bytes, swap: bytes } -- swap counts memory + swap, so equal means no swap.',
        'pids: { limit: count }. Return {} when neither option is set.',
      ],
      run: [
        "const args = ['--root', stateRoot, '--log', logFile, '--log-format', 'json', 'run', '--bundle', bundleDir, options.id]",
        "execa(runtime, args, { reject: false, stdin: 'ignore', timeout }) never throws for a non-zero exit.",
        'After it returns, readRuntimeErrors(logFile): any error there means the runtime failed: throw new RuntimeError(runtime, errors.join("; "), command).',
      ],
    },
  },
  {
    number: '02',
    folder: '02-lifecycle',
    title: 'Lifecycle: create, start, exec, kill, delete, and a TTY',
    builds: 'a typed runc wrapper, detached containers and a PTY received over SCM_RIGHTS',
    hints: {
      create: [
        "const args = ['create', '--bundle', options.bundle]; add '--pid-file' and '--console-socket' when given, then the id last.",
        "this.invoke(args, { stdin: fdOption(stdio.stdin), stdout: fdOption(stdio.stdout), stderr: fdOption(stdio.stderr) })",
      ],
      state: ["const { stdout } = await this.invoke(['state', id]); return JSON.parse(stdout) as ContainerState;"],
      exec: [
        "Build ['exec', ...(--env K=V for each), ...(--cwd D), ...(--user U:G), id, ...options.args].",
        'this.invoke(args, { timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS }) resolves with { exitCode, stdout, stderr }: return them.',
      ],
      'console-socket': [
        "connection.on('readable', () => { const message = connection.read(0, 1); ... }) -- read(0, 1) asks for no data bytes and one descriptor.",
        'When message?.fds?.length, resolve(message.fds[0]) and connection.end(); remember you are done so a later event does nothing. When read(0, 1) returns null, call connection.read() once more: a stream emits \'end\' only after a read found nothing left.',
        "connection.on('end', ...) before an fd arrived: reject(new Error('... sent no terminal')).",
      ],
    },
  },
  {
    number: '03',
    folder: '03-shim',
    title: 'The shim: conman-shim',
    builds: 'a per-container daemon that holds stdio, logs, and records the exit status',
    hints: {
      'wait-status': [
        'const signal = status & 0x7f; when it is 0 the process exited, with code (status >> 8) & 0xff.',
        'Otherwise return { exitCode: 128 + signal, signal: signalName(signal) }.',
      ],
      reap: [
        'for (const child of childrenOf(process.pid)): skip those whose state is not "Z", and those whose pid is one of this.spawnedByNode.',
        'const raw = waitpidNoHang(child.pid); if it is undefined, someone else reaped it: skip.',
        "Decode it with decodeWaitStatus(raw), collect { pid, status } and this.emit('exit', pid, status).",
      ],
      'log-format': [
        'Concatenate this.pending[stream] and the chunk; then loop on data.indexOf(0x0a) (a newline byte).',
        "For each complete line: while it is longer than MAX_RECORD_BYTES, this.record(stream, 'P', first MAX bytes); then this.record(stream, 'F', rest).",
        'After the last newline, cut off P records while more than MAX_RECORD_BYTES remain, and keep the rest in this.pending[stream].',
      ],
      'exit-file': [
        'const temp = `${target}.${process.pid}.tmp`; open it with fs.openSync(temp, "w"), writeSync the JSON, fsyncSync, closeSync.',
        'fs.renameSync(temp, target): the name appears only once the content is complete.',
      ],
      control: [
        "switch (request.op) { case 'state': return { ok: true, ...api.state() }; case 'wait': return { ok: true, exit: await api.wait() }; ... }",
        "start: await api.start(). kill: the signal defaults to 'SIGTERM' and must be a string; resize: rows and cols positive integers (Number.isInteger); close-stdin: api.closeStdin().",
        'Wrap it all in try/catch: return { ok: false, error: error.message } -- and name the op in the default case.',
      ],
    },
  },
  {
    number: '04',
    folder: '04-manager',
    title: 'The manager: conmand and conman',
    builds: 'a Manager library, a daemon on a unix socket, and a CLI',
    hints: {
      serialize: [
        'const previous = this.tails.get(key) ?? Promise.resolve(); const result = previous.then(operation, operation); (run the operation whether the previous one succeeded or failed)',
        'The next operation must wait for this one even if it fails: store result.catch(() => {}) as the new tail.',
        'When the tail settles and is still the stored one (nobody queued after it), this.tails.delete(key). Return result.',
      ],
      'restart-policy': [
        'stoppedByUser first: a container someone stopped is never restarted.',
        "switch (policy.name): 'no' → false; 'always' → true; 'on-failure' → a non-zero exit code, and fewer restarts so far than policy.maxRetries (when it is set).",
      ],
      reconcile: [
        "First the record: 'removing' stays 'removing' whatever the shim shows.",
        "Then the evidence, strongest first: observed.exit → { status: 'exited', exit: observed.exit }; observed.shimAlive → { status: 'running' }.",
        "Neither: a record that said 'running' (or 'unknown') becomes 'unknown'; any other status stays as it was: { status: record.status }.",
      ],
      'validate-request': [
        'Not an object (null and arrays included): throw badRequest(`${what} must be a JSON object`).',
        'for (const key of Object.keys(body)) if (!Object.hasOwn(schema, key)) throw badRequest(`unknown field "${key}" in ${what} (known: ${Object.keys(schema).join(", ")})`). Not `key in schema`: "constructor" is in every object.',
        'for (const [key, rule] of Object.entries(schema)): missing and rule.required → "missing field"; present and !hasType(value, rule.type) → name the field and the type.',
      ],
      stop: [
        "const exited = shim.wait(); exited.catch(() => {}); await shim.kill(signal).catch(() => {}); -- ask for the exit before signalling, so it cannot be missed (the catch: a rejection nobody awaits yet would end the process). `signal` is SIGTERM unless an image says otherwise.",
        "Race exited against a timer of timeoutMs that resolves 'timeout'; clear the timer either way.",
        "On 'timeout': await shim.kill('SIGKILL').catch(() => {}) and return exited.",
      ],
    },
  },
  {
    number: '05',
    folder: '05-images',
    title: 'Images: pull, store, unpack',
    builds: 'a registry client, a content store, layer unpacking and overlay snapshots',
    hints: {
      'parse-reference': [
        'Cut in this order: the digest at "@" (input.indexOf), then the tag at a ":" that comes after the last "/" (rest.lastIndexOf(":") > rest.lastIndexOf("/")): an earlier ":" is a port.',
        'const parts = rest.split("/"); the first part is a host only when parts.length > 1 and it has "." or ":" or is "localhost": then registry = parts.shift()!.',
        'Check every part with COMPONENT, the tag with TAG, the digest with DIGEST (throw new ReferenceError(input, reason)); on docker.io a single part gets parts.unshift("library"); no tag and no digest: tag = DEFAULT_TAG.',
      ],
      'verify-digest': [
        'Two fields to keep up to date: this.hash (a sha256 Hash) and this.received (a byte count).',
        'Check before hashing: if (this.received + chunk.length > this.expected.size) throw new SizeMismatchError(this.expected.size, this.received + chunk.length, this.what).',
        'Then this.hash.update(chunk); this.received += chunk.length. finish() (given) does the rest.',
      ],
      'resolve-in-root': [
        'Keep two lists: pending = relative.split("/") without "" and "." (what is left to walk), resolved = [] (where you are: path.join(root, ...resolved)). ".." is resolved.pop(): popping an empty list stays at root.',
        'For each part: const stat = await fsp.lstat(path.join(root, ...resolved, part)).catch(() => undefined). A symlink that is not the last part (or followLast): const target = await fsp.readlink(...); if it starts with "/", resolved.length = 0; pending.unshift(...target parts); count it against MAX_SYMLINKS.',
        'A missing part that is not the last: mkdir it (mode 0o755, then chmod 0o755) with createParents, else throw an Error with code "ENOENT"; an existing non-folder on the way: throw new UnsafeLayerError(...). Otherwise resolved.push(part). Return path.join(root, ...resolved).',
      ],
      whiteout: [
        'this.stats.whiteouts++; dir = path.posix.dirname(relative); folder = await resolveInRoot(this.target, dir, { followLast: true }), and return when that throws with code "ENOENT" (nothing to delete).',
        'Opaque (basename === OPAQUE_WHITEOUT): for each child of fsp.readdir(folder), skip it when this.fromThisLayer.has(path.posix.join(dir, child)), else fsp.rm(path.join(folder, child), { recursive: true, force: true }).',
        'Otherwise the name is basename.slice(WHITEOUT_PREFIX.length): refuse "", ".", ".." and names with "/" (UnsafeLayerError), then fsp.rm(path.join(folder, name), { recursive: true, force: true }).',
      ],
      'image-command': [
        'Three lists: the entrypoint, the image\'s Cmd, and the command typed. Missing and null fields are [] (config.Cmd ?? []).',
        'With overrides.entrypoint set (even to ""): the entrypoint is [it] (or [] for "") and the image\'s Cmd is dropped.',
        'A non-empty overrides.command replaces the Cmd; args = [...entrypoint, ...cmd]; empty args: throw new NoCommandError().',
      ],
    },
  },
  {
    number: '06',
    folder: '06-networking',
    title: 'Networking: namespaces and CNI',
    builds: 'network namespaces, a CNI runtime (ADD/CHECK/DEL with prevResult and a result cache), conman run -p',
    hints: {
      'parse-publish': [
        'Cut the protocol first: const slash = spec.lastIndexOf("/"); protocol = slash === -1 ? "tcp" : spec.slice(slash + 1). Only "tcp" and "udp".',
        'The rest split(":") gives 2 parts (hostPort, containerPort) or 3 (hostIP first); anything else: throw new PublishError(`-p ${spec}: ...`) showing the form.',
        'Ports: /^\\d{1,5}$/ and 1..65535 (portNumber() does it and names the part); hostIP: net.isIPv4. Leave hostIP out of the result when it was not given.',
      ],
      'plugin-call': [
        'Always CNI_COMMAND and CNI_PATH (cniPath.join(path.delimiter)), and PATH (plugins run iptables); nothing else from process.env.',
        'With an attachment: CNI_CONTAINERID = containerId, CNI_NETNS = netns, CNI_IFNAME = ifname.',
        'CNI_ARGS = (attachment.args ?? []).map(([k, v]) => `${k}=${v}`).join(";") -- "" when there are none.',
      ],
      'plugin-stdin': [
        'return { ...plugin, cniVersion: list.cniVersion, name: list.name, ... } -- the list\'s version and name win over anything in the plugin object.',
        'prevResult only when there is one: ...(prevResult ? { prevResult } : {}).',
        'runtimeConfig: Object.entries(capabilities).filter(([name]) => plugin.capabilities?.[name] === true); add it only when that leaves something.',
      ],
      'add-chain': [
        'for (const [i, plugin] of list.plugins.entries()) { result = await execPlugin(plugin.type, pluginEnvironment("ADD", attachment, cniPath), pluginStdin(list, plugin, result, attachment.capabilities), cniPath); }',
        'Wrap the call in try/catch: on a failure, await deletePlugins(list, list.plugins.slice(0, i + 1), attachment, result, cniPath), then cache.remove() and rethrow the plugin\'s error.',
        'If the rollback fails too, keep the cache (a later DEL retries) and add its message to the error you rethrow.',
      ],
      'del-reverse': [
        'for (const plugin of [...plugins].reverse()) -- a copy: reverse() in place would turn the list in the cache around.',
        'Each call: execPlugin(plugin.type, pluginEnvironment("DEL", attachment, cniPath), pluginStdin(list, plugin, prevResult, attachment.capabilities), cniPath).',
        'Catch each failure (first ??= error), go on with the next plugin, and after the loop: if (first) throw first.',
      ],
    },
  },
  {
    number: '07',
    folder: '07-pods',
    title: 'Pods: sandboxes, shared namespaces, one shim per pod',
    builds: 'an infra container holding shared namespaces, pod cgroups with limits, one shim per pod, conman pod',
    hints: {
      'pod-namespaces': [
        'The runtime spec and /proc name one namespace differently: the spec\'s "network" is the file /proc/PID/ns/net; ipc, uts and pid are the same in both.',
        'const procName = { network: "net", ipc: "ipc", uts: "uts", pid: "pid" }; return share.map((type) => ({ type, path: `/proc/${infraPid}/ns/${procName[type]}` })).',
        'First: if (!fs.existsSync(`/proc/${infraPid}/ns`)) throw conflict(`the pod\'s infra container (pid ${infraPid}) is gone: ...`) -- the check looks for "infra container (pid N) is gone".',
      ],
      'limit-files': [
        'Write every file whatever was asked: a limit not asked for is "max" (v2) or "-1" (v1), so that a pod started again loses an old limit.',
        'quota = Math.round(cpus * CPU_PERIOD_US) microseconds: 0.5 CPUs is 50000 of every 100000.',
        'v2: [{ file: "memory.max", ... }, { file: "cpu.max", value: `${quota ?? "max"} ${CPU_PERIOD_US}` }]; v1: memory.limit_in_bytes, cpu.cfs_period_us, then cpu.cfs_quota_us.',
      ],
      'pod-shim': [
        'One Shim object per container, all in this process: const shim = new Shim({ ...assignment, handshake: reply }, reaper).',
        'The shared reaper matters: two reapers in one process race for every zombie, and the loser\'s container never learns its exit.',
        'shims.add(shim); shim.run().then(() => { shims.delete(shim); if (shims.size === 0) leave(); }, die);',
      ],
    },
  },
  {
    number: '08',
    folder: '08-cri',
    title: 'CRI: a Kubernetes runtime endpoint',
    builds: 'a CRI v1 gRPC server over the manager: sandboxes as pods, containers from images, exec, logs, stats',
    hints: {
      'sandbox-config': [
        'First the refusals: no config.metadata?.name, or a namespace option "TARGET": throw grpcError(Status.INVALID_ARGUMENT, "...").',
        'share is ["network", "ipc", "uts"] (no "ipc" when ipc is "NODE"), plus "pid" only when pid is "POD"; host lists "ipc" and "pid" when they are "NODE" (left out when empty). network "NODE" is { network: "host" } and no publish.',
        'publish: port_mappings with host_port > 0, as `${host_ip ? host_ip + ":" : ""}${host_port}:${container_port}/${protocol.toLowerCase()}`.',
        'int64s are strings: cpus = Number(cpu_quota) / Number(cpu_period) when both are > 0; memory = Number(memory_limit_in_bytes) when > 0. Leave out what was not asked.',
      ],
      'security-context': [
        'Check everything before returning the edit: seccomp.profile_type "Localhost", run_as_group without run_as_user or run_as_username, idOf(...) for the ids, capabilityName(...) of each name found in ALL_CAPABILITIES (or "CAP_ALL").',
        'In the edit: spec.process.user.uid/gid/additionalGids, spec.root.readonly, and spec.process.noNewPrivileges = security.no_new_privs === true (false too is an answer).',
        'Capabilities: start from spec.process.capabilities.bounding (the defaults), drop first ("CAP_ALL" drops every one), then add; privileged is ALL_CAPABILITIES whatever was dropped.',
        'Write the same list into bounding, effective and permitted. privileged also empties linux.maskedPaths and linux.readonlyPaths; else masked_paths/readonly_paths replace them when not empty.',
      ],
      'grpc-status': [
        'An error that already has a numeric `code` and a `details` came from grpcError(): return it as it is.',
        '(error as { status?: number }).status: 400 INVALID_ARGUMENT, 404 NOT_FOUND, 409 FAILED_PRECONDITION, 429 and 507 RESOURCE_EXHAUSTED, else UNKNOWN.',
        'return grpcError(code, error instanceof Error ? error.message : String(error)).',
      ],
      'exec-timeout': [
        'session.onOutput((stream, chunk) => (stream === "stdout" ? stdout : stderr).push(chunk)); the reply is Buffer.concat of each.',
        'A deadline promise that rejects from a setTimeout of timeoutSeconds * 1000 ms (none at all when timeoutSeconds is 0); await Promise.race([session.exit, deadline]).',
        'In the timer: kill().catch(() => {}) first, then reject(grpcError(Status.DEADLINE_EXCEEDED, ...)). In a finally: clearTimeout(timer) and session.close().',
      ],
    },
  },
  {
    number: '09',
    folder: '09-orchestration',
    title: 'Orchestration: a small node agent',
    builds: 'pod manifests reconciled through CRI, restarts with back-off, liveness probes',
    hints: {
      validate: [
        'Each error is { field, type, value?, detail? } with the full path: `${at}.image`, `${at}.ports[${i}].containerPort`, `${at}.env[${i}].name`: the index of each list item in brackets.',
        'Required first (missing or ""), then the value: the name a DNS label (DNS_LABEL, 63 at most), imagePullPolicy one of PULL_POLICIES ("Unsupported value", detail supported(...)), command and args lists of strings.',
        'Ports: containerPort required and isPort(); hostPort absent or 0 (no host port) or isPort(); protocol one of PROTOCOLS. limits: only cpu and memory, each with parseQuantity(value) !== undefined.',
        'volumeMounts: the name must be one of `volumes` ("Not found", value the name), mountPath absolute. Push every error and go on: all are reported at once.',
      ],
      backoff: [
        'Three cases: the first exit (previousMs is 0), a long run (ranMs >= policy.resetMs), and every other exit.',
        'The first two wait policy.baseMs.',
        'Otherwise Math.min(previousMs * 2, policy.capMs). The reset is about how long it ran (resetMs, 10 min), not the cap (5 min).',
      ],
      probe: [
        'http.get(url, { headers, agent: false }, (response) => ...): agent: false opens a new connection and closes it after (Node 20\'s global agent keeps connections alive).',
        'In the callback: const code = response.statusCode; response.resume(); 200 <= code < 400 is { ok: true, message: "" }, else { ok: false, message: `HTTP probe failed with statuscode: ${code}` }.',
        'A setTimeout of timeoutMs and request.on("error", ...) both resolve a failure: a refused connection is a failed probe, not an exception.',
        'One finish(result) for all three: resolve once, clearTimeout(timer), request.destroy().',
      ],
      'sync-plan': [
        'Sort the sandboxes newest first (attempt, then createdAt): the first is the current one, every other gets a killSandbox. None, not ready, or a hash other than pod.sandboxHash: killSandbox it (if any), createSandbox with attempt current.attempt + 1 (0 when none), and return. But a not-ready sandbox of a pod that ran to its end (podFinished) is left so.',
        'Keep the latest attempt of each container name in a Map; an older one is removeContainer (exited) or killContainer (still running). A running container whose name the manifest does not have: killContainer.',
        'Init containers only while no app container exists, one at a time: missing → start it and return; not exited → return (wait); exit 0 → the next; failed → start it again with backoff: true (Never: nothing, the pod has failed) and return.',
        'App containers: missing → start (attempt 0); exited → start again only if restartWanted(policy, exitCode), with previous, backoff: true, attempt and restartCount one more; running with another hash → killContainer, then start with backoff: false. Kills before starts: a stable sort at the end.',
      ],
    },
  },
];

export function isAvailable(chapter: ChapterInfo): boolean {
  return !chapter.draft && fs.existsSync(path.join(SOLUTIONS_DIR, chapter.folder)) && fs.existsSync(testFile(chapter));
}

export function availableChapters(): ChapterInfo[] {
  return CHAPTERS.filter(isAvailable);
}

export function testFile(chapter: ChapterInfo): string {
  return path.join(TEST_DIR, `${chapter.folder}.test.ts`);
}

/** Find a chapter by "1", "01" or "01-bundle"; throws a helpful error otherwise. */
export function findChapter(name: string): ChapterInfo {
  const wanted = /^\d+$/.test(name) ? name.padStart(2, '0') : name;
  const chapter = CHAPTERS.find((c) => c.number === wanted || c.folder === wanted);
  if (!chapter) throw new Error(`no chapter "${name}": use a number 00-09 (workshop list shows them)`);
  if (!isAvailable(chapter)) throw new Error(`chapter ${chapter.folder} is not written yet: the workshop has ${availableChapters().map((c) => c.number).join(', ')}`);
  return chapter;
}
