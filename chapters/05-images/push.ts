/**
 * Pushing, the other direction, in its simplest form (a "monolithic" upload; the spec also
 * has chunked ones): the checks push their own fixtures with it, and so can you.
 *
 *   POST /v2/<repository>/blobs/uploads/            -> 202, Location: <upload URL>
 *   PUT  <upload URL>?digest=sha256:...  (the bytes) -> 201 (the registry checks the digest)
 *   PUT  /v2/<repository>/manifests/<tag>           -> 201, Content-Type: the manifest's type
 *
 * Blobs first, manifest last: a registry refuses a manifest whose blobs it does not have.
 */
import { sha256, type Descriptor } from './content-store.ts';
import { formatReference, parseReference } from './reference.ts';
import { RegistryClient, RegistryError, type RegistryOptions } from './registry.ts';

export class Pusher {
  private readonly client: RegistryClient;

  constructor(options: RegistryOptions = {}) {
    this.client = new RegistryClient(options);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Upload `bytes` to the repository of `reference` (skipped when the registry has them); returns their descriptor. */
  async pushBlob(reference: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const ref = parseReference(reference);
    const endpoint = this.client.endpoints(ref).at(-1)!;
    const digest = sha256(bytes);
    const head = await this.client.send(endpoint, ref.repository, 'HEAD', `${endpoint.base}/v2/${ref.repository}/blobs/${digest}`, { scope: 'pull,push' });
    await head.body.dump();
    if (head.statusCode === 200) return { mediaType, digest, size: bytes.length };
    const start = await this.client.send(endpoint, ref.repository, 'POST', `${endpoint.base}/v2/${ref.repository}/blobs/uploads/`, { scope: 'pull,push' });
    await start.body.dump();
    const location = start.headers.location;
    if (start.statusCode !== 202 || !location) throw new RegistryError(`starting an upload to ${formatReference(ref)}: HTTP ${start.statusCode}`, start.statusCode);
    const url = new URL(String(location), endpoint.base);
    url.searchParams.set('digest', digest);
    const put = await this.client.send(endpoint, ref.repository, 'PUT', url.toString(), {
      scope: 'pull,push',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      body: bytes,
    });
    const text = await put.body.text();
    if (put.statusCode !== 201) throw new RegistryError(`uploading ${digest} to ${formatReference(ref)}: HTTP ${put.statusCode} ${text.slice(0, 300)}`, put.statusCode);
    return { mediaType, digest, size: bytes.length };
  }

  /** Put a manifest (or an index) under the tag of `reference`; returns its descriptor. */
  async pushManifest(reference: string, manifest: object, mediaType: string): Promise<Descriptor> {
    const ref = parseReference(reference);
    const endpoint = this.client.endpoints(ref).at(-1)!;
    const bytes = Buffer.from(JSON.stringify(manifest));
    const put = await this.client.send(endpoint, ref.repository, 'PUT', `${endpoint.base}/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag}`, {
      scope: 'pull,push',
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    const text = await put.body.text();
    if (put.statusCode !== 201) throw new RegistryError(`pushing the manifest of ${formatReference(ref)}: HTTP ${put.statusCode} ${text.slice(0, 300)}`, put.statusCode);
    return { mediaType, digest: sha256(bytes), size: bytes.length };
  }
}
