/**
 * A registry client for the OCI distribution spec (the "Docker Registry HTTP API v2"), with
 * undici. Three kinds of request are enough to pull:
 *
 *   GET /v2/<repository>/manifests/<tag or digest>   Accept: the manifest types we understand
 *   GET /v2/<repository>/blobs/<digest>              a config or a layer, streamed
 *   GET <realm>?service=...&scope=repository:<repository>:pull   a bearer token, when the
 *                                                    registry answers 401 with a challenge
 *
 * containerd's remotes/docker package and podman's containers/image do the same; so does
 * `skopeo inspect`. What they all learned the hard way, and this file does too:
 *   - go by the Content-Type of a manifest, not by its "mediaType" field (older pushers, and
 *     skopeo to docker-registry, leave the field out), and send Accept (docker-registry answers
 *     a manifest GET without it with 404);
 *   - check every byte against its digest, as it arrives (content-store.ts);
 *   - plain HTTP only for the hosts the user named (--insecure-registry host:port).
 */
import fs from 'node:fs';
import os from 'node:os';
import { Agent, request, type Dispatcher } from 'undici';
import { scaled } from '#lib/slow.ts';
import { sha256, type ContentStore, type Descriptor } from './content-store.ts';
import { DEFAULT_REGISTRY, DOCKER_HUB_API_HOST, formatReference, manifestReference, type Reference } from './reference.ts';

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** What we ask for, best first: an index lets us pick our platform. */
export const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerList, MediaTypes.dockerManifest].join(', ');

/** A manifest larger than this is refused before it is read whole (it is JSON we must parse). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One host's settings, like a containerd hosts.toml: plain HTTP, and mirrors tried first. */
export interface HostConfig {
  /** Speak plain HTTP to this host (and accept no TLS at all): only for a local or lab registry. */
  insecure?: boolean;
  /** Other hosts ("127.0.0.1:5000") serving the same repositories; tried in order before the host itself. */
  mirrors?: string[];
}

export interface RegistryOptions {
  /** Per-host settings, keyed by the host as written in references ("registry.k8s.io", "127.0.0.1:5000"). */
  hosts?: Record<string, HostConfig>;
  /** Hosts reached over plain HTTP (`--insecure-registry host:port`). */
  insecureRegistries?: string[];
  /** A docker-style auth.json ({"auths": {"host": {"auth": base64("user:password")}}}). */
  authFile?: string;
  /** Credentials given with this pull (the CRI's PullImage auth): used instead of the auth.json's. */
  credentials?: { username: string; password: string };
  /** The platform to pick from an index; default this machine's. */
  platform?: Platform;
  /** Headers and body timeout of each request; default 30 s (scaled for a slow machine). */
  timeoutMs?: number;
}

/** Something went wrong talking to a registry; the message says what to do. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

const NODE_ARCH: Record<string, Platform> = {
  x64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ia32: { os: 'linux', architecture: '386' },
  ppc64: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
};

/** This machine's platform, in the OCI words (amd64, not x64). */
export function hostPlatform(): Platform {
  return NODE_ARCH[os.arch()] ?? { os: 'linux', architecture: os.arch() };
}

/** "linux/arm64/v8" -> { os, architecture, variant }. */
export function parsePlatform(text: string): Platform {
  const [osName, architecture, variant, extra] = text.split('/');
  if (!osName || !architecture || extra !== undefined) throw new Error(`invalid platform "${text}": use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  return { os: osName, architecture, variant };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/**
 * Pick the manifest for `wanted` from an index: same os and architecture; a variant must
 * match when both sides name one (arm64 images often leave "v8" out). Attestations and
 * other entries without a platform are skipped.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor {
  const candidates = index.manifests.filter((m) => m.platform && m.platform.os === wanted.os && m.platform.architecture === wanted.architecture);
  const exact = candidates.find((m) => (m.platform!.variant ?? '') === (wanted.variant ?? ''));
  const loose = candidates.find((m) => !m.platform!.variant || !wanted.variant);
  const found = exact ?? loose;
  if (!found) {
    const offered = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
    throw new RegistryError(`no image for platform ${formatPlatform(wanted)} in the index (it has: ${offered.join(', ') || 'none'}); pick one with --platform`);
  }
  return found;
}

/** Which kind of manifest `bytes` is: by Content-Type, then by the mediaType field, then by shape. */
export function manifestKind(contentType: string | undefined, parsed: { mediaType?: string; manifests?: unknown; layers?: unknown; schemaVersion?: number }): 'index' | 'manifest' {
  const type = (contentType ?? '').split(';')[0].trim() || parsed.mediaType || '';
  if (type === MediaTypes.ociIndex || type === MediaTypes.dockerList) return 'index';
  if (type === MediaTypes.ociManifest || type === MediaTypes.dockerManifest) return 'manifest';
  if (/distribution\.manifest\.v1/.test(type) || parsed.schemaVersion === 1) {
    throw new RegistryError('this image has a Docker schema 1 manifest (deprecated since 2017, unsupported here): push it again with a current tool');
  }
  if (Array.isArray(parsed.manifests)) return 'index';
  if (Array.isArray(parsed.layers)) return 'manifest';
  throw new RegistryError(`unknown manifest type "${type}": expected an OCI or Docker v2 manifest or index`);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"` -> parts. */
export function parseChallenge(header: string): Challenge {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[match[1].toLowerCase()] = match[2];
  return { scheme, params };
}

/** Credentials for `host` from a docker-style auth.json (also under docker.io's historical key). */
export function credentialsFor(authFile: string | undefined, host: string): { username: string; password: string } | undefined {
  if (!authFile || !fs.existsSync(authFile)) return undefined;
  let auths: Record<string, { auth?: string; username?: string; password?: string }>;
  try {
    auths = (JSON.parse(fs.readFileSync(authFile, 'utf8')) as { auths?: typeof auths }).auths ?? {};
  } catch (error) {
    throw new RegistryError(`cannot read ${authFile}: ${(error as Error).message} (expected docker's format: {"auths": {"host:port": {"auth": "base64 of user:password"}}})`);
  }
  const keys = host === DEFAULT_REGISTRY ? [host, DOCKER_HUB_API_HOST, 'https://index.docker.io/v1/', 'index.docker.io'] : [host, `https://${host}`, `http://${host}`];
  for (const key of keys) {
    const entry = auths[key];
    if (!entry) continue;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Where one registry host is reached: its base URL, and the name its credentials are kept under. */
interface Endpoint {
  host: string;
  base: string;
}

export interface ResolvedManifest {
  /** The digest of the top manifest (an index when the registry has one). */
  digest: string;
  kind: 'index' | 'manifest';
  bytes: Buffer;
  mediaType: string;
}

export class RegistryClient {
  private readonly agent: Dispatcher;
  private readonly tokens = new Map<string, string>();
  private readonly basic = new Set<string>();
  readonly platform: Platform;
  private readonly timeoutMs: number;

  constructor(readonly options: RegistryOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? scaled(30_000);
    this.agent = new Agent({ connections: 8, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, connect: { timeout: this.timeoutMs } });
    this.platform = options.platform ?? hostPlatform();
  }

  /** Close the connections (dropping any request still running: a pull that timed out). */
  async close(): Promise<void> {
    await this.agent.destroy();
  }

  private insecure(host: string): boolean {
    return Boolean(this.options.insecureRegistries?.includes(host) || this.options.hosts?.[host]?.insecure);
  }

  /** Mirrors first (containerd's hosts.toml order), then the registry itself. */
  endpoints(ref: Reference): Endpoint[] {
    const hosts = [...(this.options.hosts?.[ref.registry]?.mirrors ?? []), ref.registry];
    return hosts.map((host) => {
      const apiHost = host === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : host;
      return { host, base: `${this.insecure(host) ? 'http' : 'https'}://${apiHost}` };
    });
  }

  /**
   * One request to a registry, with authentication: send it (with a token we already hold),
   * and on a 401 answer the challenge (a bearer token from the realm, or basic credentials)
   * and send it once more. Returns the response with its body unread.
   */
  async send(endpoint: Endpoint, repository: string, method: 'GET' | 'HEAD' | 'POST' | 'PUT', url: string, extra: { headers?: Record<string, string>; body?: Buffer; scope?: 'pull' | 'pull,push' } = {}): Promise<Dispatcher.ResponseData> {
    const scope = `repository:${repository}:${extra.scope ?? 'pull'}`;
    const attempt = async () => {
      const headers: Record<string, string> = { 'user-agent': 'conman-workshop/0.1', ...extra.headers };
      const token = this.tokens.get(`${endpoint.host} ${scope}`);
      const credentials = (this.options.credentials ?? credentialsFor(this.options.authFile, endpoint.host));
      if (token) headers.authorization = `Bearer ${token}`;
      else if (credentials && this.basic.has(endpoint.host)) headers.authorization = basicHeader(credentials);
      return this.raw(method, url, headers, extra.body);
    };
    let response = await attempt();
    if (response.statusCode !== 401) return response;
    const header = String(response.headers['www-authenticate'] ?? '');
    await response.body.dump();
    const challenge = parseChallenge(header);
    const credentials = (this.options.credentials ?? credentialsFor(this.options.authFile, endpoint.host));
    if (challenge.scheme === 'bearer') {
      this.tokens.set(`${endpoint.host} ${scope}`, await this.fetchToken(endpoint, challenge, scope, credentials));
    } else if (challenge.scheme === 'basic') {
      if (!credentials) throw new RegistryError(`${endpoint.host} wants a user name and password: add them to ${this.options.authFile ?? 'an auth.json (--authfile)'}`, 401);
      this.basic.add(endpoint.host);
    } else {
      throw new RegistryError(`${endpoint.host} answered 401 with a challenge we do not know: "${header}"`, 401);
    }
    response = await attempt();
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      throw new RegistryError(`${endpoint.host} refused access to ${repository} (${response.statusCode}) even after authenticating: check the credentials for ${endpoint.host} in ${this.options.authFile ?? 'your auth.json'}, and that the repository exists`, response.statusCode);
    }
    return response;
  }

  /** The token flow: GET <realm>?service=<service>&scope=<scope>, with basic credentials when we have them. */
  private async fetchToken(endpoint: Endpoint, challenge: Challenge, scope: string, credentials?: { username: string; password: string }): Promise<string> {
    // The answer is JSON with "token" (or "access_token", its OAuth2 name).
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError(`${endpoint.host} sent a bearer challenge without a realm: "${JSON.stringify(challenge.params)}"`, 401);
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'user-agent': 'conman-workshop/0.1' };
    if (credentials) headers.authorization = basicHeader(credentials);
    const response = await this.raw('GET', url.toString(), headers);
    if (response.statusCode !== 200) {
      await response.body.dump();
      const who = credentials ? `as ${credentials.username}` : 'anonymously (no credentials for this host in the auth file)';
      throw new RegistryError(`the token service ${url.origin} refused a token for ${scope} ${who}: HTTP ${response.statusCode}`, 401);
    }
    const answer = (await response.body.json()) as { token?: string; access_token?: string };
    const token = answer.token ?? answer.access_token;
    if (!token) throw new RegistryError(`the token service ${url.origin} answered without a token`, 401);
    return token;
  }

  /** A plain request, with the errors a person can act on. Follows redirects (blobs often live on a CDN). */
  private async raw(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<Dispatcher.ResponseData> {
    for (let hops = 0; hops < 5; hops++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, dispatcher: this.agent });
      } catch (error) {
        throw new RegistryError(unreachable(url, error as Error));
      }
      const location = response.headers.location;
      if (response.statusCode >= 300 && response.statusCode < 400 && location && (method === 'GET' || method === 'HEAD')) {
        await response.body.dump();
        const next = new URL(String(location), url);
        // A redirect to another host (a CDN) must not carry our credentials there.
        if (next.host !== new URL(url).host) delete headers.authorization;
        url = next.toString();
        continue;
      }
      return response;
    }
    throw new RegistryError(`too many redirects from ${url}`);
  }

  /**
   * The top manifest of a reference: an index or a manifest, its bytes and its digest. A
   * pinned digest is checked against the bytes; a tag's digest is the sha256 of the bytes
   * (and must agree with the Docker-Content-Digest header when the registry sends one).
   */
  async resolve(ref: Reference): Promise<ResolvedManifest & { endpoint: Endpoint }> {
    const errors: string[] = [];
    for (const endpoint of this.endpoints(ref)) {
      try {
        return { ...(await this.fetchManifest(endpoint, ref, manifestReference(ref))), endpoint };
      } catch (error) {
        // A mirror that does not have it is not fatal: try the next; the last error wins.
        if (endpoint.host === ref.registry) throw error;
        errors.push(`${endpoint.host}: ${(error as Error).message}`);
      }
    }
    throw new RegistryError(`cannot resolve ${formatReference(ref)}: ${errors.join('; ')}`);
  }

  async fetchManifest(endpoint: Endpoint, ref: Reference, reference: string, expectedDigest?: string): Promise<ResolvedManifest> {
    const url = `${endpoint.base}/v2/${ref.repository}/manifests/${reference}`;
    const response = await this.send(endpoint, ref.repository, 'GET', url, { headers: { accept: MANIFEST_ACCEPT } });
    if (response.statusCode === 404) {
      await response.body.dump();
      throw new RegistryError(`${formatReference({ ...ref, tag: reference.startsWith('sha256:') ? undefined : reference, digest: reference.startsWith('sha256:') ? reference : undefined })} not found on ${endpoint.host} (HTTP 404): check the name and the tag`, 404);
    }
    if (response.statusCode !== 200) {
      const text = await response.body.text().catch(() => '');
      throw new RegistryError(`GET ${url}: HTTP ${response.statusCode} ${text.slice(0, 200)}`, response.statusCode);
    }
    const length = Number(response.headers['content-length'] ?? 0);
    if (length > MAX_MANIFEST_BYTES) {
      await response.body.dump();
      throw new RegistryError(`the manifest at ${url} is ${length} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += (chunk as Buffer).length;
      if (total > MAX_MANIFEST_BYTES) throw new RegistryError(`the manifest at ${url} is larger than ${MAX_MANIFEST_BYTES} bytes: refused`);
      chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const digest = sha256(bytes);
    const wanted = expectedDigest ?? (reference.startsWith('sha256:') ? reference : undefined);
    if (wanted && digest !== wanted) throw new RegistryError(`the manifest at ${url} does not match its digest: expected ${wanted}, got ${digest}; nothing was kept`);
    const announced = response.headers['docker-content-digest'];
    if (!wanted && announced && String(announced) !== digest) {
      throw new RegistryError(`the manifest at ${url} does not match the registry's Docker-Content-Digest: expected ${announced}, got ${digest}`);
    }
    let parsed: { mediaType?: string };
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new RegistryError(`the manifest at ${url} is not JSON`);
    }
    const contentType = response.headers['content-type'] ? String(response.headers['content-type']) : undefined;
    const kind = manifestKind(contentType, parsed);
    const mediaType = (contentType ?? '').split(';')[0].trim() || parsed.mediaType || (kind === 'index' ? MediaTypes.ociIndex : MediaTypes.ociManifest);
    return { digest, kind, bytes, mediaType };
  }

  /**
   * Download one blob into the store, verified while it streams (ContentStore.ingest). A cut
   * connection is retried, resuming with `Range: bytes=<have>-`, up to 3 attempts; a digest
   * or size mismatch is never retried (the bytes are wrong, not late).
   */
  async fetchBlob(endpoint: Endpoint, ref: Reference, descriptor: Descriptor, store: ContentStore, onProgress?: (bytes: number) => void): Promise<void> {
    const url = `${endpoint.base}/v2/${ref.repository}/blobs/${descriptor.digest}`;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await store.ingest(descriptor, {
          open: async (offset) => {
            const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
            const response = await this.send(endpoint, ref.repository, 'GET', url, { headers });
            if (response.statusCode === 206) {
              const range = /^bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
              return { offset: range ? Number(range[1]) : offset, body: response.body };
            }
            if (response.statusCode === 200) return { offset: 0, body: response.body };
            const text = await response.body.text().catch(() => '');
            throw new RegistryError(`GET ${url}: HTTP ${response.statusCode} ${text.slice(0, 200)}`, response.statusCode);
          },
        }, `blob ${descriptor.digest} of ${formatReference(ref)}`, onProgress);
        return;
      } catch (error) {
        if (!isRetryable(error as Error)) throw error;
        lastError = error as Error;
      }
    }
    throw new RegistryError(`downloading ${descriptor.digest} from ${endpoint.host} failed 3 times; last: ${lastError?.message}`);
  }
}

/** A cut connection or a 5xx is worth another try; a wrong digest, a 404 or a refusal is not. */
function isRetryable(error: Error): boolean {
  if (error instanceof RegistryError) return error.status === undefined ? /socket|closed|reset|terminated|timeout/i.test(error.message) : error.status >= 500;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return /^UND_ERR_(SOCKET|BODY_TIMEOUT|CLOSED|ABORTED)|ECONNRESET|EPIPE/.test(code) || /terminated|other side closed/i.test(error.message);
}

function basicHeader(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** "cannot reach ..." with what to check, from a connection error of undici. */
function unreachable(url: string, error: Error): string {
  const cause = (error as Error & { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? (error as NodeJS.ErrnoException).code ?? '';
  const host = new URL(url).host;
  const detail = cause?.message ?? error.message;
  if (url.startsWith('https:') && /EPROTO|wrong version number|ERR_SSL/i.test(`${code} ${detail}`)) {
    const why = /wrong version number/.test(detail) ? 'it answered in plain HTTP' : detail.split('\n')[0];
    return `cannot reach ${host} over HTTPS (${why}): if it is a plain-HTTP registry, name it with --insecure-registry ${host}`;
  }
  if (code === 'ECONNREFUSED') return `cannot reach the registry at ${host}: connection refused (is it running, on that port?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot reach the registry at ${host}: no such host (${code})`;
  return `cannot reach the registry at ${host}: ${detail}${code ? ` (${code})` : ''}`;
}
