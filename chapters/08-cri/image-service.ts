/**
 * ImageService: kubelet's calls for images, over chapter 05's image store. An image's id is
 * its config's digest, as containerd's and cri-o's are: two tags of the same image are one
 * image with two repo_tags, and `image_ref` (PullImage), `id` (ListImages, ImageStatus) and
 * ContainerStatus's `image_ref` agree. An image is found by id (or a 12+ prefix), by tag, and
 * by repo digest (`name@sha256:...`).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ImageInUseError, type ImageRecord, type ImageStore } from '#lower/05-images/images.ts';
import { nanoseconds } from './cri-proto.ts';
import { grpcError } from './grpc-errors.ts';

type Request = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** "127.0.0.1:5000/test/busybox:1.36" → "127.0.0.1:5000/test/busybox". */
function repositoryOf(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** AuthConfig as a user name and password: given apart, or as docker's "auth" (base64 of user:password). */
export function credentialsOf(auth: Request | null | undefined): { username: string; password: string } | undefined {
  if (!auth) return undefined;
  if (auth.identity_token || auth.registry_token) throw grpcError(grpc.status.INVALID_ARGUMENT, 'auth: identity_token and registry_token are not supported by conman: give username and password');
  if (auth.username) return { username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const plain = Buffer.from(auth.auth, 'base64').toString();
    const colon = plain.indexOf(':');
    if (colon < 0) throw grpcError(grpc.status.INVALID_ARGUMENT, 'auth.auth: not the base64 of "user:password"');
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  return undefined;
}

export class ImageService {
  constructor(readonly store: ImageStore) {}

  /** Every record (one per name) of the image `text` names: by id, tag or repo digest. */
  recordsOf(text: string): ImageRecord[] {
    const records = this.store.list();
    const digest = /@(sha256:[a-f0-9]{64})$/.exec(text)?.[1];
    const first = digest ? records.find((r) => r.digest === digest || r.manifest === digest) : this.store.find(text);
    return first ? records.filter((r) => r.config === first.config) : [];
  }

  /** The image's id as the CRI gives it (its config digest), or '' when it is not here. */
  idOf(text: string): string {
    return this.recordsOf(text)[0]?.config ?? '';
  }

  private async imageOf(records: ImageRecord[]): Promise<object> {
    // The image's User, as kubelet checks runAsNonRoot against it: a number is a uid, else a name.
    const user = ((await this.store.config(records[0]).catch(() => undefined))?.config?.User ?? '').split(':')[0];
    return {
      id: records[0].config,
      repo_tags: records.filter((r) => !r.name.includes('@')).map((r) => r.name), // (pulled by digest: no tag)
      repo_digests: [...new Set(records.map((r) => `${repositoryOf(r.name)}@${r.digest}`))],
      size: String(records[0].size),
      uid: /^\d+$/.test(user) ? { value: user } : null,
      username: /^\d+$/.test(user) ? '' : user,
      spec: { image: records[0].config, annotations: {} },
      pinned: false,
    };
  }

  /** `auth`: kubelet's credentials for this pull (from the pod's imagePullSecrets), over conmand's own auth.json. */
  async pullImage({ image, auth }: Request): Promise<object> {
    const credentials = credentialsOf(auth);
    const record = await this.store.pull(image?.image ?? '', credentials ? { credentials } : {});
    return { image_ref: record.config };
  }

  async listImages({ filter }: Request): Promise<object> {
    const byId = new Map<string, ImageRecord[]>();
    const wanted = filter?.image?.image ? new Set(this.recordsOf(filter.image.image).map((r) => r.config)) : undefined;
    for (const record of this.store.list()) {
      if (wanted && !wanted.has(record.config)) continue;
      byId.set(record.config, [...(byId.get(record.config) ?? []), record]);
    }
    return { images: await Promise.all([...byId.values()].map((records) => this.imageOf(records))) };
  }

  /** An image not here is not an error: its status is empty (kubelet then pulls it). */
  async imageStatus({ image, verbose }: Request): Promise<object> {
    const records = this.recordsOf(image?.image ?? '');
    if (records.length === 0) return { image: null, info: {} };
    // verbose: the image's config (crictl inspecti shows it under "info"), as containerd gives it.
    const config = verbose ? await this.store.config(records[0]).catch(() => undefined) : undefined;
    return { image: await this.imageOf(records), info: config ? { info: JSON.stringify({ imageSpec: config }) } : {} };
  }

  /** Removes the image under every name; one not here is already removed. */
  async removeImage({ image }: Request): Promise<object> {
    for (const record of this.recordsOf(image?.image ?? '')) {
      try {
        await this.store.remove(record.name);
      } catch (error) {
        if (/^no image "/.test((error as Error).message)) continue; // removed meanwhile (another RemoveImage): done
        // (in a CRI client's words: its containers are removed with RemoveContainer, not conman rm)
        if (error instanceof ImageInUseError) {
          const mounted = / is mounted: /.test(error.message); // (conman image mount: a person's, not the CRI's)
          throw grpcError(grpc.status.FAILED_PRECONDITION, mounted ? error.message : `image ${record.name} is used by a container: remove its containers first (RemoveContainer, crictl rm)`);
        }
        throw error;
      }
    }
    return {};
  }

  /** The store's disk use: the blobs kept (the snapshots are their unpacked copy). */
  async imageFsInfo(): Promise<object> {
    const content = path.join(this.store.root, 'content');
    let bytes = 0;
    let inodes = 0;
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        inodes++;
        if (entry.isDirectory()) walk(path.join(dir, entry.name));
        else bytes += fs.statSync(path.join(dir, entry.name)).size;
      }
    };
    if (fs.existsSync(content)) walk(content);
    const usage = { timestamp: nanoseconds(new Date().toISOString()), fs_id: { mountpoint: this.store.root }, used_bytes: { value: String(bytes) }, inodes_used: { value: String(inodes) } };
    return { image_filesystems: [usage], container_filesystems: [] };
  }
}
