/**
 * What a client may ask for, checked before anything is done. A request from the network is
 * untrusted input: a typo ("nmae") must be a 400 that names the field, not a container
 * silently created without its name. (dockerd decodes into Go structs and ignores unknown
 * fields; Kubernetes' API server rejects them in strict mode, which is what we do.)
 */
import path from 'node:path';
import { badRequest } from './errors.ts';

export interface CreateRequest {
  /** Absolute path of the root filesystem directory; or, instead, `image`. */
  rootfs?: string;
  /** An image reference: the rootfs (and the default command) come from the manager's RootfsProvider (chapter 05). */
  image?: string;
  /** With an image: replaces its Entrypoint (and drops its Cmd), as docker's --entrypoint; "" clears it. */
  entrypoint?: string;
  args: string[];
  name?: string;
  env?: Record<string, string>;
  cwd?: string;
  tty?: boolean;
  stdin?: boolean;
  runtime?: 'runc' | 'crun';
  /** "no" (default), "always", "on-failure" or "on-failure:N". */
  restart?: string;
  /** Remove the container once it has exited (--rm). */
  autoRemove?: boolean;
  /** Its hostname (default: the short id). */
  hostname?: string;
  /** The network to join: "bridge", "none", "host" or a network's name (chapter 06; network-provider.ts). */
  network?: string;
  /** Ports to publish, as typed after -p: "[hostIP:]hostPort:containerPort[/tcp|udp]" (chapter 06). */
  publish?: string[];
  /** Name servers for its /etc/resolv.conf (chapter 06). */
  dns?: string[];
  /** resolv.conf's search domains and options (chapter 06; a CRI pod's dns_config). */
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** The pod to join, by name or id (chapter 07; pod-provider.ts). */
  pod?: string;
}

export interface ExecRequest {
  args: string[];
  tty?: boolean;
  stdin?: boolean;
  env?: Record<string, string>;
  cwd?: string;
}

type FieldType = 'string' | 'boolean' | 'string[]' | 'string map';
type Schema = Record<string, { type: FieldType; required?: boolean }>;

const CREATE_SCHEMA: Schema = {
  rootfs: { type: 'string', required: true },
  args: { type: 'string[]', required: true },
  name: { type: 'string' },
  env: { type: 'string map' },
  cwd: { type: 'string' },
  tty: { type: 'boolean' },
  stdin: { type: 'boolean' },
  runtime: { type: 'string' },
  restart: { type: 'string' },
  autoRemove: { type: 'boolean' },
  hostname: { type: 'string' },
  network: { type: 'string' },
  publish: { type: 'string[]' },
  dns: { type: 'string[]' },
  dnsSearch: { type: 'string[]' },
  dnsOptions: { type: 'string[]' },
  pod: { type: 'string' },
};

/** A create from an image: `image` instead of `rootfs`; args may be empty (the image's command). */
const IMAGE_CREATE_SCHEMA: Schema = {
  image: { type: 'string', required: true },
  ...Object.fromEntries(Object.entries(CREATE_SCHEMA).filter(([key]) => key !== 'rootfs')),
  args: { type: 'string[]' },
  entrypoint: { type: 'string' },
};

const EXEC_SCHEMA: Schema = {
  args: { type: 'string[]', required: true },
  tty: { type: 'boolean' },
  stdin: { type: 'boolean' },
  env: { type: 'string map' },
  cwd: { type: 'string' },
};

/**
 * How deep a request may nest. None of ours goes past 2 (env is an object of strings); a
 * body nested 100 000 deep would overflow the stack of whatever walks it (JSON.stringify).
 */
export const MAX_DEPTH = 4;

/** A hostname as the kernel and resolvers take it: labels of letters, digits and "-", dot-separated, 63 bytes at most. */
export const HOSTNAME_PATTERN = /^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;

/** Docker's rule for names: a letter or digit, then letters, digits, "_", "." or "-". */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'string[]':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'string map':
      return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');
  }
}

/**
 * Check `body` against `schema`: an object, no unknown field, every required field present,
 * every field of the right type. Throws a 400 that names the first bad field; `what` names
 * the request in the messages ("a create request").
 */
export function checkFields(body: unknown, schema: Schema, what: string): void {
  // EXERCISE(validate-request): refuse a body that is not an object, has an unknown or missing field, or a field of the wrong type
  // Hints: Object.keys(body) against the schema's own keys (Object.hasOwn: `"constructor" in
  // schema` is true!) finds unknown fields; name the field and what was expected in the
  // message ("unknown field \"nmae\" in a create request (known: rootfs, args, ...)").
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`${what} must be a JSON object`);
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!Object.hasOwn(schema, key)) throw badRequest(`unknown field "${key}" in ${what} (known: ${Object.keys(schema).join(', ')})`);
  }
  for (const [key, rule] of Object.entries(schema)) {
    if (fields[key] === undefined) {
      if (rule.required) throw badRequest(`missing field "${key}" in ${what}`);
      continue;
    }
    if (!hasType(fields[key], rule.type)) throw badRequest(`field "${key}" must be a ${rule.type}, not ${JSON.stringify(fields[key])}`);
  }
  // END EXERCISE
}

/** The first field of `body` nested deeper than MAX_DEPTH, walked without recursion. */
function checkDepth(body: unknown): void {
  if (typeof body !== 'object' || body === null) return;
  for (const [field, value] of Object.entries(body)) {
    const stack: [unknown, number][] = [[value, 1]];
    while (stack.length > 0) {
      const [item, depth] = stack.pop()!;
      if (typeof item !== 'object' || item === null) continue;
      if (depth > MAX_DEPTH) throw badRequest(`field "${field}" is nested too deeply (more than ${MAX_DEPTH} levels)`);
      for (const child of Object.values(item)) stack.push([child, depth + 1]);
    }
  }
}

/** The strings a process gets must be C strings: a NUL byte would cut them short (or fail in runc). */
function checkNoNul(field: string, values: string[]): void {
  if (values.some((value) => value.includes('\0'))) throw badRequest(`field "${field}" must not contain a NUL byte (\\0)`);
}

/** A path with a ".." part means something else once resolved: refused rather than guessed at. */
function hasDotDot(file: string): boolean {
  return file.split('/').includes('..');
}

/** What create and exec share: args, env and cwd, checked as the runtime and the kernel need them. */
function checkProcess(request: { args: string[]; env?: Record<string, string>; cwd?: string }, commandOptional = false): void {
  if (request.args.length === 0 && !commandOptional) throw badRequest('field "args" must name a command to run');
  checkNoNul('args', request.args);
  for (const [key, value] of Object.entries(request.env ?? {})) {
    // "A=B" as a key would give the process A=B=C; "" gives it "=C".
    if (key === '' || key.includes('=')) throw badRequest(`field "env": ${JSON.stringify(key)} is not a variable name (not empty, no "=")`);
    checkNoNul('env', [key, value]);
  }
  if (request.cwd !== undefined) {
    checkNoNul('cwd', [request.cwd]);
    if (!path.isAbsolute(request.cwd) || hasDotDot(request.cwd)) throw badRequest(`field "cwd" must be an absolute path without "..", not ${JSON.stringify(request.cwd)}`);
  }
}

export function checkCreateRequest(body: unknown): CreateRequest {
  checkDepth(body);
  const fromImage = typeof body === 'object' && body !== null && Object.hasOwn(body, 'image');
  checkFields(body, fromImage ? IMAGE_CREATE_SCHEMA : CREATE_SCHEMA, 'a create request');
  const request = body as CreateRequest;
  if (fromImage) {
    request.args ??= [];
    checkNoNul('image', [request.image!]);
    if (request.entrypoint !== undefined) checkNoNul('entrypoint', [request.entrypoint]);
    if (request.image === '') throw badRequest('field "image" must name an image');
  } else {
    checkNoNul('rootfs', [request.rootfs!]);
    if (!path.isAbsolute(request.rootfs!) || hasDotDot(request.rootfs!)) throw badRequest(`field "rootfs" must be an absolute path without "..", not ${JSON.stringify(request.rootfs)}`);
  }
  checkProcess(request, fromImage);
  if (request.name !== undefined && !NAME_PATTERN.test(request.name)) {
    throw badRequest(`field "name": ${JSON.stringify(request.name)} is not a valid name (a letter or digit, then letters, digits, "_", "." or "-")`);
  }
  if (request.runtime !== undefined && request.runtime !== 'runc' && request.runtime !== 'crun') {
    throw badRequest(`field "runtime" must be "runc" or "crun", not ${JSON.stringify(request.runtime)}`);
  }
  if (request.hostname !== undefined && !HOSTNAME_PATTERN.test(request.hostname)) {
    throw badRequest(`field "hostname": ${JSON.stringify(request.hostname)} is not a hostname (letters, digits and "-" in dot-separated labels, at most 63 characters)`);
  }
  for (const field of ['network', 'publish', 'dns', 'pod'] as const) {
    if (request[field] !== undefined) checkNoNul(field, [request[field]].flat());
  }
  // Each becomes a word of a resolv.conf line: nothing that could start another line.
  for (const domain of request.dnsSearch ?? []) if (!/^[a-zA-Z0-9_.-]{1,253}$/.test(domain)) throw badRequest(`field "dnsSearch": ${JSON.stringify(domain)} is not a domain`);
  for (const option of request.dnsOptions ?? []) if (!/^[a-zA-Z0-9_.:-]{1,64}$/.test(option)) throw badRequest(`field "dnsOptions": ${JSON.stringify(option)} is not a resolver option (such as ndots:5)`);
  return request;
}

export function checkExecRequest(body: unknown): ExecRequest {
  checkDepth(body);
  checkFields(body, EXEC_SCHEMA, 'an exec request');
  const request = body as ExecRequest;
  checkProcess(request);
  return request;
}
