/**
 * Chapter 05 checks: images, on the real stack. A real registry (Debian's docker-registry) runs
 * on a free loopback port for the whole file; a busybox image made by real tools (umoci from
 * /bin/busybox, pushed by skopeo, in OCI and Docker formats) is pulled, verified, unpacked
 * into overlay snapshots, and run with runc. Fixtures the tools cannot make (an index, hostile
 * layers, a corrupted blob) are pushed by the chapter's own pusher. Every hostile layer is
 * shown to leave a folder outside the store untouched. Network: 127.0.0.1 only.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createGzip, gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pushBusyboxImage } from '../lib/harness/busybox-image.ts';
import { caught } from '../lib/harness/caught.ts';
import { conmanWorld } from '../lib/harness/conman-world.ts';
import { useHostRun } from '../lib/harness/host-run.ts';
import { importTarget, targetPath } from '../lib/harness/target.ts';
import { mountsUnder } from '../lib/host/mountinfo.ts';
import { freePort, startRegistry, type RegistryServer } from '../lib/host/registry-server.ts';
import { startTokenServer } from '../lib/host/token-server.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { scaled } from '../lib/slow.ts';
import { buildRootfs } from '#lower/01-bundle/rootfs.ts';
import { runContainer } from '#lower/01-bundle/run.ts';

type Reference = typeof import('../solutions/05-images/reference.ts');
type Store = typeof import('../solutions/05-images/content-store.ts');
type Unpack = typeof import('../solutions/05-images/unpack.ts');
type Images = typeof import('../solutions/05-images/images.ts');
type Registry = typeof import('../solutions/05-images/registry.ts');
type Push = typeof import('../solutions/05-images/push.ts');
type ImageConfigModule = typeof import('../solutions/05-images/image-config.ts');
type Bundle = typeof import('../solutions/05-images/image-bundle.ts');
type Xattrs = typeof import('../solutions/05-images/xattrs.ts');

const exec = promisify(execFile);

const hostRun = useHostRun();
/** A pull's own deadline (the watchdog adds it to the few seconds any call gets): pulls unpack real layers. */
const PULL_MS = scaled(60_000);
let registry: RegistryServer;
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

// ------------------------------------------------------------------------------------------
// Fixtures

/** A tar archive made entry by entry: hostile names included, which no archiver would write. */
interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  body?: string;
  linkpath?: string;
  mode?: number;
  /** Extended attributes, as PAX records "SCHILY.xattr.<name>=<raw bytes>" in an 'x' header before the entry. */
  xattrs?: Record<string, Buffer | string>;
  /** More of that PAX header, as it is (for headers no archiver would write). */
  paxExtra?: Buffer;
}
/** One PAX record: "<length> <key>=<value>\n", the length counting the whole record, itself included. */
function paxRecord(key: string, value: Buffer | string): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return Buffer.concat([Buffer.from(String(length)), rest]);
}
/** The vfs_cap_data of cap_net_raw+ep (what `setcap cap_net_raw+ep` writes, as on Debian's /bin/ping): revision 2 with the effective flag, permitted = 1 << 13, inheritable 0. */
const CAP_NET_RAW_EP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
function tarOf(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  const headerBlock = (fields: ConstructorParameters<typeof Header>[0]) => {
    const block = Buffer.alloc(512);
    new Header(fields).encode(block, 0);
    return block;
  };
  const padding = (length: number) => Buffer.alloc((512 - (length % 512)) % 512);
  for (const entry of entries) {
    const type = entry.type ?? 'File';
    const body = Buffer.from(type === 'File' ? (entry.body ?? '') : '');
    if (entry.xattrs || entry.paxExtra) {
      const pax = Buffer.concat([...Object.entries(entry.xattrs ?? {}).map(([name, value]) => paxRecord(`SCHILY.xattr.${name}`, value)), entry.paxExtra ?? Buffer.alloc(0)]);
      blocks.push(headerBlock({ path: `PaxHeader/${path.basename(entry.path)}`, type: 'ExtendedHeader', mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: new Date('2024-01-01T00:00:00Z') }), pax, padding(pax.length));
    }
    const block = headerBlock({
      path: entry.path,
      type,
      mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      size: body.length,
      mtime: new Date('2024-01-01T00:00:00Z'),
      linkpath: entry.linkpath ?? '',
      uname: 'root',
      gname: 'root',
    });
    blocks.push(block, body, padding(body.length));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

let pusher: InstanceType<Push['Pusher']>;
/** Push an image of the given (uncompressed) layer tars with the chapter's pusher; returns its reference. */
async function pushImage(repoTag: string, layers: Buffer[], extra: { architecture?: string; corruptLayer?: number } = {}): Promise<string> {
  const { MediaTypes, hostPlatform } = await importTarget<Registry>('05-images/registry.ts');
  const reference = `${registry.host}/${repoTag}`;
  const descriptors = [];
  for (const layer of layers) descriptors.push(await pusher.pushBlob(reference, gzipSync(layer), MediaTypes.ociLayerGzip));
  const config = {
    architecture: extra.architecture ?? hostPlatform().architecture,
    os: 'linux',
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => sha256(layer)) },
  };
  const configDescriptor = await pusher.pushBlob(reference, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
  await pusher.pushManifest(reference, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDescriptor, layers: descriptors }, MediaTypes.ociManifest);
  return reference;
}

/** The registry's own copy of a blob: corrupting it plays a tampered registry or a broken mirror. */
function registryBlobFile(digest: string): string {
  const hex = digest.slice(7);
  return path.join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

let stores = 0;
/** A fresh image store (its own content store and snapshots) for one test. */
async function newStore() {
  const { ImageStore } = await importTarget<Images>('05-images/images.ts');
  return new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [registry.host] });
}

/** Every file under `dir` with its type and content (for "nothing changed here"). */
function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const rel = path.relative(dir, full);
      if (entry.isDirectory()) {
        out[rel] = 'dir';
        walk(full);
      } else if (entry.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(full)}`;
      else out[rel] = `${fs.readFileSync(full, 'utf8')} (links ${fs.lstatSync(full).nlink})`;
    }
  };
  walk(dir);
  return out;
}

const BUSYBOX_TAGS = { oci: 'test/busybox:oci', docker: 'test/busybox:v2s2' };

/**
 * The registry, with busybox pushed to it, for the checks that pull: started by the first of
 * them, not before the file's unit checks (which then give their verdict in a second or two).
 */
let registryReady: Promise<void> | undefined;
const withRegistry = () =>
  (registryReady ??= (async () => {
    registry = await startRegistry(hostRun());
    const { Pusher } = await importTarget<Push>('05-images/push.ts');
    pusher = new Pusher({ insecureRegistries: [registry.host] });
    // busybox by real tools: an OCI layout by umoci (its layer from chapter 01's rootfs), pushed by skopeo.
    await pushBusyboxImage(path.join(hostRun().dir, 'umoci'), registry.host, [['oci', BUSYBOX_TAGS.oci], ['v2s2', BUSYBOX_TAGS.docker]], [
      '--config.cmd', 'sh', '--config.env', 'GREETING=from-the-image', '--config.workingdir', '/home/learner', '--config.user', 'learner',
    ]);
  })());

afterAll(async () => {
  await pusher?.close();
  await registry?.stop();
});

// ------------------------------------------------------------------------------------------

describe('references', () => {
  test('parseReference: docker.io defaults, hosts, ports, tags and digests', async () => {
    const { parseReference } = await importTarget<Reference>('05-images/reference.ts');
    const digest = `sha256:${'a'.repeat(64)}`;
    const cases: [string, object][] = [
      ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
      ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }],
      ['myorg/app', { registry: 'docker.io', repository: 'myorg/app', tag: 'latest' }],
      ['localhost/app:v1', { registry: 'localhost', repository: 'app', tag: 'v1' }],
      ['127.0.0.1:5000/test/busybox', { registry: '127.0.0.1:5000', repository: 'test/busybox', tag: 'latest' }],
      ['registry.k8s.io/pause:3.9', { registry: 'registry.k8s.io', repository: 'pause', tag: '3.9' }],
      [`ghcr.io/org/app@${digest}`, { registry: 'ghcr.io', repository: 'org/app', digest }],
      [`quay.io/a/b:v2@${digest}`, { registry: 'quay.io', repository: 'a/b', tag: 'v2', digest }],
    ];
    for (const [input, expected] of cases) {
      const parsed = parseReference(input);
      expect({ ...parsed }, input).toEqual(Object.fromEntries(Object.entries({ tag: undefined, digest: undefined, ...expected }).filter(([, v]) => v !== undefined)));
    }
    expect(() => parseReference(' busybox'), 'a reference with a space before it').toThrow(/empty or has spaces around it/);
    for (const bad of ['', 'Busybox', 'busybox:', 'a//b', 'busybox@sha256:123', 'busybox:bad tag', '-x/y']) {
      expect(() => parseReference(bad), `"${bad}" must be refused`).toThrow(/invalid image reference/);
    }
  });
});

describe('digests', () => {
  test('DigestVerifier: a wrong digest names both digests; too many bytes are refused as they arrive', async () => {
    const { DigestVerifier } = await importTarget<Store>('05-images/content-store.ts');
    const good = Buffer.from('hello, layer');
    const right = new DigestVerifier({ digest: sha256(good), size: good.length }, 'blob');
    try {
      right.update(good.subarray(0, 5));
      right.update(good.subarray(5));
      right.finish();
    } catch (error) {
      if (/not implemented yet/.test((error as Error).message)) throw error;
      throw new Error(`a blob of exactly its size and digest, in two chunks, must be accepted; it was refused: ${(error as Error).message}`);
    }
    const claimed = sha256('something else!');
    const wrong = new DigestVerifier({ digest: claimed, size: good.length }, 'blob');
    wrong.update(good);
    expect(() => wrong.finish()).toThrow(new RegExp(`expected ${claimed}, got ${sha256(good)}`));
    const short = new DigestVerifier({ digest: sha256(good), size: 3 }, 'blob');
    expect(() => short.update(good), 'a 12-byte chunk for a 3-byte descriptor, refused as it arrives, with the count it would reach').toThrow(/bytes than its descriptor's size: expected 3, got 12 or more/);
    const truncated = new DigestVerifier({ digest: sha256(good), size: good.length }, 'blob');
    truncated.update(good.subarray(0, 4));
    expect(() => truncated.finish()).toThrow(/expected 12, got 4/);
  });
});

describe('each piece alone, before the registry', () => {
  test('resolveInRoot: symlinks resolved as if the image\'s root were "/", never above it; loops, missing folders and files on the way', async () => {
    const { resolveInRoot } = await importTarget<Unpack>('05-images/unpack.ts');
    const root = fs.mkdtempSync(path.join(hostRun().dir, 'resolve-'));
    for (const dir of ['usr/lib', 'etc', 'a/b']) fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, 'file'), 'a file');
    const links: [string, string][] = [['lib', 'usr/lib'], ['hostetc', '/etc'], ['a/b/abs', '/usr/lib'], ['a/b/rel', '../../usr'], ['up', '../../../../../../..'], ['loop1', 'loop2'], ['loop2', 'loop1']];
    for (const [name, target] of links) fs.symlinkSync(target, path.join(root, name));
    const inRoot = async (name: string, options?: { followLast?: boolean; createParents?: boolean }) => path.relative(root, await resolveInRoot(root, name, options)) || '.';
    expect(await inRoot('hostetc/passwd'), 'hostetc/passwd (hostetc -> /etc)').toBe('etc/passwd');
    expect(await inRoot('lib/libc.so'), 'lib/libc.so (lib -> usr/lib)').toBe('usr/lib/libc.so');
    expect(await inRoot('a/b/abs/libc.so'), 'a/b/abs/libc.so (a/b/abs -> /usr/lib: an absolute target starts again at the root)').toBe('usr/lib/libc.so');
    expect(await inRoot('a/b/rel/lib'), 'a/b/rel/lib (a/b/rel -> ../../usr)').toBe('usr/lib');
    expect(await inRoot('up/etc/shadow'), 'up/etc/shadow (up -> ../../../../../../..)').toBe('etc/shadow');
    expect(await inRoot('usr/../../../etc/shadow'), 'usr/../../../etc/shadow').toBe('etc/shadow');
    expect(await inRoot('./usr//lib/.'), './usr//lib/.').toBe('usr/lib');
    expect(await inRoot('usr/./../etc/x'), 'usr/./../etc/x (a "." is nothing: the ".." after it leaves usr)').toBe('etc/x');
    // 40 links in a row (MAX_SYMLINKS, Linux's own limit) still resolve; the loop above is refused.
    for (let i = 1; i <= 40; i++) fs.symlinkSync(i < 40 ? `chain${i + 1}` : 'usr', path.join(root, `chain${i}`));
    expect(await inRoot('chain1/lib'), 'chain1/lib through 40 links (chain1 -> chain2 -> ... -> chain40 -> usr)').toBe('usr/lib');
    expect(await inRoot('lib'), 'lib, a symlink as the last part, without followLast').toBe('lib');
    expect(await inRoot('lib', { followLast: true }), 'lib with followLast').toBe('usr/lib');
    expect(await caught(resolveInRoot(root, 'loop1/x')), 'loop1/x (loop1 -> loop2 -> loop1)').toMatchObject({ name: 'UnsafeLayerError', message: expect.stringMatching(/too many levels of symbolic links/) });
    expect(await caught(resolveInRoot(root, 'file/x')), 'file/x (a file on the way)').toMatchObject({ name: 'UnsafeLayerError', message: expect.stringMatching(/not a directory/) });
    expect(await caught(resolveInRoot(root, 'missing/x')), 'missing/x without createParents').toMatchObject({ code: 'ENOENT' });
    expect(fs.existsSync(path.join(root, 'missing')), 'a folder made without createParents').toBe(false);
    expect(await inRoot('new/deep/x', { createParents: true }), 'new/deep/x with createParents').toBe('new/deep/x');
    expect((fs.statSync(path.join(root, 'new/deep')).mode & 0o777).toString(8), 'the mode of a folder made on the way').toBe('755');
    expect(await inRoot('hostetc/made/x', { createParents: true }), 'hostetc/made/x with createParents: made inside the image').toBe('etc/made/x');
    expect(fs.existsSync(path.join(root, 'etc/made')), 'etc/made, made in the image\'s /etc').toBe(true);
  });

  test('whiteout: ".wh.NAME" deletes NAME (a symlink, not what it points at); ".wh..wh..opq" hides what the lower layers had in its folder, not what this layer adds', async () => {
    const { applyLayer } = await importTarget<Unpack>('05-images/unpack.ts');
    const dir = fs.mkdtempSync(path.join(hostRun().dir, 'whiteout-'));
    const target = path.join(dir, 'rootfs');
    const victim = path.join(dir, 'victim');
    // The lower layers, as they would be on disk.
    for (const folder of ['app/cache', 'app/data', 'gone/sub', victim]) fs.mkdirSync(path.isAbsolute(folder) ? folder : path.join(target, folder), { recursive: true });
    for (const file of ['app/config', 'app/cache/old', 'app/scratch', 'app/data/keep', 'gone/sub/file']) fs.writeFileSync(path.join(target, file), file);
    fs.writeFileSync(path.join(victim, 'secret'), 'outside the image');
    fs.symlinkSync(victim, path.join(target, 'app/link'));
    fs.symlinkSync('/app', path.join(target, 'applink'));
    const layer = path.join(dir, 'layer.tar');
    const apply = (entries: TarEntry[]) => (fs.writeFileSync(layer, tarOf(entries)), applyLayer(layer, target));
    const stats = await apply([
      { path: 'app/', type: 'Directory' },
      { path: 'app/.wh.scratch' },
      { path: 'app/cache/', type: 'Directory' },
      { path: 'app/cache/new', body: 'this layer' },
      { path: 'app/cache/.wh..wh..opq' },
      { path: 'app/.wh.link' },
      { path: '.wh.gone' },
      { path: 'nowhere/.wh.x' },
      { path: 'nowhere/deeper/.wh.x' },
      { path: 'applink/.wh.config' },
    ]);
    const tree = (folder: string): string[] => fs.readdirSync(folder, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [`${e.name}/`, ...tree(path.join(folder, e.name)).map((n) => `${e.name}/${n}`)] : [e.name])).sort();
    expect(tree(target), 'the tree after the layer (app/scratch, app/link, gone, app/config through applink -> /app and app/cache/old deleted; no marker written)').toEqual(['app/', 'app/cache/', 'app/cache/new', 'app/data/', 'app/data/keep', 'applink'].sort());
    expect(fs.readFileSync(path.join(victim, 'secret'), 'utf8'), 'the file a deleted symlink pointed at').toBe('outside the image');
    expect(stats.whiteouts, 'whiteouts counted').toBe(7);
    const throughFile = await caught(apply([{ path: 'app/data/keep/sub/.wh.x' }]));
    expect(throughFile?.message ?? 'no error: the layer was applied', 'a whiteout in a folder whose path goes through a file (an error other than ENOENT is not swallowed)').toMatch(/not a directory/);
    for (const name of ['.wh.', '.wh..', '.wh...']) {
      const error = await caught(apply([{ path: `app/${name}` }]));
      expect(error?.message ?? 'no error: the layer was applied', `a whiteout "app/${name}"`).toMatch(/names no file/);
    }
  });

  test('commandLine: docker\'s rules for Entrypoint, Cmd and --entrypoint; environment: the image\'s Env, then ours', async () => {
    const { commandLine, environment, NoCommandError } = await importTarget<ImageConfigModule>('05-images/image-config.ts');
    const config = { Entrypoint: ['/entry.sh'], Cmd: ['serve', '--port', '80'] };
    expect(commandLine(config), 'Entrypoint + Cmd').toEqual(['/entry.sh', 'serve', '--port', '80']);
    expect(commandLine(config, { command: ['debug'] }), 'a typed command replaces Cmd').toEqual(['/entry.sh', 'debug']);
    expect(commandLine(config, { entrypoint: 'sh' }), '--entrypoint drops the image Cmd').toEqual(['sh']);
    expect(commandLine(config, { entrypoint: 'sh', command: ['-c', 'id'] }), '--entrypoint and a typed command').toEqual(['sh', '-c', 'id']);
    expect(() => commandLine({ Cmd: ['sh'] }, { entrypoint: '' }), '--entrypoint "" clears both').toThrow(NoCommandError);
    expect(commandLine({ Entrypoint: null, Cmd: ['sh'] }), 'a null Entrypoint').toEqual(['sh']);
    expect(() => commandLine({}), 'no command at all').toThrow(NoCommandError);
    expect(environment({ Env: ['PATH=/bin', 'A=1'] }, { A: '2', B: '3' }), 'ours override the image\'s').toEqual(['PATH=/bin', 'A=2', 'B=3']);
    expect(environment({}), 'an image without Env gets the default PATH').toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });
});

describe('pull from a real registry', () => {
  beforeAll(withRegistry, scaled(120_000));
  test('busybox pushed by skopeo (OCI): pulled, every blob matches its digest, unpacked as in the image', async () => {
    const store = await newStore();
    const events: string[] = [];
    const record = await store.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { onProgress: (event) => events.push(`${event.id} ${event.status}`), timeoutMs: PULL_MS });
    expect(record.name).toBe(`${registry.host}/${BUSYBOX_TAGS.oci}`);
    expect(record.layers).toHaveLength(1);
    for (const digest of [record.manifest, record.config, ...record.layers.map((l) => l.digest)]) {
      expect(sha256(fs.readFileSync(store.content.blobPath(digest))), `blob ${digest}`).toBe(digest);
    }
    expect(events).toContain(`${record.layers[0].digest.slice(7, 19)} downloaded`);
    const layerFs = path.join(store.snapshots.snapshotsDir, record.chainId.slice(7), 'fs');
    expect(fs.readFileSync(path.join(layerFs, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox')), 'bin/busybox is /bin/busybox').toBe(true);
    expect(fs.statSync(path.join(layerFs, 'bin/busybox')).mode & 0o7777).toBe(0o755);
    expect(fs.readlinkSync(path.join(layerFs, 'bin/sh'))).toBe('busybox');
    expect(fs.statSync(path.join(layerFs, 'tmp')).mode & 0o7777, 'tmp keeps its sticky bit (not the umask)').toBe(0o1777);
    expect(fs.statSync(path.join(layerFs, 'home/learner')).uid).toBe(1000);
    // Pulled again: nothing downloaded, the same record.
    const again: string[] = [];
    await store.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { onProgress: (event) => again.push(event.status), timeoutMs: PULL_MS });
    expect(again).not.toContain('downloading');
  });

  test('the same image in Docker format (schema 2, no mediaType field): goes by Content-Type and shares the layer', async () => {
    const store = await newStore();
    const oci = await store.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { timeoutMs: PULL_MS });
    const docker = await store.pull(`${registry.host}/${BUSYBOX_TAGS.docker}`, { timeoutMs: PULL_MS });
    expect(docker.manifest).not.toBe(oci.manifest);
    const manifest = JSON.parse(fs.readFileSync(store.content.blobPath(docker.manifest), 'utf8'));
    expect(manifest.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(docker.chainId, 'the same layers make the same chain ID, unpacked once').toBe(oci.chainId);
    expect(fs.readdirSync(store.snapshots.snapshotsDir)).toEqual([oci.chainId.slice(7)]);
    // rmi of one keeps what the other uses; of both, removes everything.
    await store.remove(`${registry.host}/${BUSYBOX_TAGS.oci}`);
    expect(store.content.has(oci.layers[0].digest)).toBe(true);
    expect(store.content.has(oci.manifest)).toBe(false);
    await store.remove(`${registry.host}/${BUSYBOX_TAGS.docker}`);
    expect(store.content.list()).toEqual([]);
    expect(fs.readdirSync(store.snapshots.snapshotsDir)).toEqual([]);
  });

  test('image mount: the layers read-only at a path (podman image mount), the same path twice; rmi refused while mounted; unmount', async () => {
    const store = await newStore();
    const ref = `${registry.host}/${BUSYBOX_TAGS.oci}`;
    await store.pull(ref, { timeoutMs: PULL_MS });
    const rootfs = await store.mount(ref);
    expect(fs.readdirSync(rootfs)).toContain('bin');
    expect(() => fs.writeFileSync(path.join(rootfs, 'written'), ''), 'read-only').toThrow(/EROFS/);
    expect(await store.mount(ref)).toBe(rootfs);
    expect(mountsUnder(store.root)).toEqual([rootfs]);
    const refused = await caught(store.remove(ref));
    expect(refused?.message).toMatch(/is mounted: conman image unmount .* first/);
    await store.unmount(ref);
    await store.unmount(ref); // not mounted: fine
    expect(mountsUnder(store.root)).toEqual([]);
    await store.remove(ref);
    // Two layers: an overlay of both, read-only.
    const two = await pushImage('test/two-layers:v1', [tarOf([{ path: 'a', body: 'A' }]), tarOf([{ path: 'b', body: 'B' }])]);
    await store.pull(two, { timeoutMs: PULL_MS });
    const both = await store.mount(two);
    expect(fs.readdirSync(both).sort()).toEqual(['a', 'b']);
    expect(() => fs.writeFileSync(path.join(both, 'written'), ''), 'read-only').toThrow(/EROFS/);
    await store.unmount(two);
    await store.remove(two);
    expect(store.content.list()).toEqual([]);
  });

  test('pulls at once into one store (two processes would do the same): each blob written once and whole, both images recorded, a prune waits for them', async () => {
    const { ImageStore } = await importTarget<Images>('05-images/images.ts');
    const root = path.join(hostRun().dir, `store${++stores}`);
    // Separate stores on one root: separate lock files opened, as two conman processes would.
    const stores3 = [0, 1, 2].map(() => new ImageStore(root, { insecureRegistries: [registry.host] }));
    const oci = `${registry.host}/${BUSYBOX_TAGS.oci}`;
    const docker = `${registry.host}/${BUSYBOX_TAGS.docker}`;
    const [a, b, c] = await Promise.all([stores3[0].pull(oci, { timeoutMs: PULL_MS }), stores3[1].pull(oci, { timeoutMs: PULL_MS }), stores3[2].pull(docker, { timeoutMs: PULL_MS })]);
    expect(a.digest).toBe(b.digest);
    expect(c.chainId).toBe(a.chainId);
    const store = stores3[0];
    expect(store.list().map((r) => r.name).sort(), 'both images recorded (no lost update)').toEqual([a.name, c.name].sort());
    for (const digest of store.content.list()) expect(sha256(fs.readFileSync(store.content.blobPath(digest))), 'each blob whole').toBe(digest);
    expect(fs.readdirSync(store.content.ingestDir).filter((name) => name.endsWith('.partial'))).toEqual([]);
    expect(fs.readdirSync(store.snapshots.snapshotsDir), 'one snapshot, no temporary folder left').toEqual([a.chainId.slice(7)]);
    // rmi of one while the other is pulled again: the prune waits, and keeps what the other uses.
    const again = stores3[1].pull(oci, { timeoutMs: PULL_MS });
    await store.remove(docker);
    await again;
    expect(store.find(oci)).toBeDefined();
    expect(store.content.has(a.layers[0].digest)).toBe(true);
    await store.remove(oci);
    expect(store.content.list()).toEqual([]);
  });

  test('mirrors first (containerd\'s hosts.toml, here a JSON file): a registry that does not answer is served by its mirror; a mirror without the image falls back to the registry', async () => {
    const mirror = await startRegistry(hostRun(), 'mirror');
    try {
      await exec('skopeo', ['copy', '--quiet', `docker://${registry.host}/${BUSYBOX_TAGS.oci}`, `docker://${mirror.host}/${BUSYBOX_TAGS.oci}`, '--src-tls-verify=false', '--dest-tls-verify=false'], { timeout: scaled(60_000) });
      // An "upstream" on a loopback port where nothing listens: only the mirror can serve it.
      const upstream = `127.0.0.1:${await freePort()}`;
      const hosts = { [upstream]: { mirrors: [mirror.host], insecure: true }, [mirror.host]: { insecure: true }, [registry.host]: { mirrors: [mirror.host], insecure: true } };
      const { ImageStore } = await importTarget<Images>('05-images/images.ts');
      const store = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { hosts });
      const served = await store.pull(`${upstream}/${BUSYBOX_TAGS.oci}`, { timeoutMs: PULL_MS });
      expect(served.name, 'recorded under the name asked for').toBe(`${upstream}/${BUSYBOX_TAGS.oci}`);
      // The mirror has no Docker-format tag: the registry itself serves it.
      const fallback = await store.pull(`${registry.host}/${BUSYBOX_TAGS.docker}`, { timeoutMs: PULL_MS });
      expect(fallback.chainId).toBe(served.chainId);
      // The CLI reads the same settings from a file.
      const file = path.join(hostRun().dir, 'registries.json');
      fs.writeFileSync(file, JSON.stringify({ hosts }));
      const root = path.join(hostRun().dir, `store${++stores}`);
      const cli = await exec(process.execPath, [path.join(REPO_ROOT, 'lib', 'launch.mjs'), targetPath('05-images/conman.ts'), '--root', root, 'pull', '-q', '--registries', file, `${upstream}/${BUSYBOX_TAGS.oci}`]);
      expect(cli.stdout.trim()).toBe(served.digest);
    } finally {
      await mirror.stop();
    }
  }, scaled(120_000));

  test('an index: the machine\'s platform is picked, --platform picks another', async () => {
    const { MediaTypes, hostPlatform, parsePlatform, formatPlatform } = await importTarget<Registry>('05-images/registry.ts');
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? 'riscv64' : 's390x';
    const layer = tarOf([{ path: 'which', body: 'the other one' }]);
    // Both manifests in one repository (an index may only name manifests of its own).
    await pushImage(`test/busybox:${other}`, [layer], { architecture: other });
    const descriptorOf = async (tag: string) => {
      const response = await fetch(`http://${registry.host}/v2/test/busybox/manifests/${tag}`, { headers: { accept: MediaTypes.ociManifest } });
      const bytes = Buffer.from(await response.arrayBuffer());
      return { mediaType: MediaTypes.ociManifest, digest: sha256(bytes), size: bytes.length };
    };
    const index = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { ...(await descriptorOf(other)), platform: { os: 'linux', architecture: other } },
        { ...(await descriptorOf('oci')), platform: { os: host.os, architecture: host.architecture, ...(host.variant ? { variant: host.variant } : {}) } },
      ],
    };
    await pusher.pushManifest(`${registry.host}/test/busybox:multi`, index, MediaTypes.ociIndex);

    const store = await newStore();
    const mine = await store.pull(`${registry.host}/test/busybox:multi`, { timeoutMs: PULL_MS });
    expect(mine.platform.split('/').slice(0, 2).join('/')).toBe(`${host.os}/${host.architecture}`);
    expect(mine.manifest).toBe(index.manifests[1].digest);
    expect(mine.digest, 'the record keeps the index digest the name resolved to').toBe(sha256(JSON.stringify(index)));
    const { ImageStore } = await importTarget<Images>('05-images/images.ts');
    const otherStore = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [registry.host], platform: parsePlatform(`linux/${other}`) });
    const theirs = await otherStore.pull(`${registry.host}/test/busybox:multi`, { timeoutMs: PULL_MS });
    expect(theirs.platform).toBe(`linux/${other}`);
    expect(formatPlatform(parsePlatform('linux/arm64/v8'))).toBe('linux/arm64/v8');
    const missing = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [registry.host], platform: parsePlatform('linux/mips64le') });
    await expect(missing.pull(`${registry.host}/test/busybox:multi`, { timeoutMs: PULL_MS })).rejects.toThrow(/no image for platform linux\/mips64le .*it has: linux\//);
  });

  test('a container runs from the pulled image: overlay rootfs, the image config as its process, removed with it', async () => {
    const store = await newStore();
    const record = await store.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { timeoutMs: PULL_MS });
    const { createImageBundle } = await importTarget<Bundle>('05-images/image-bundle.ts');
    const container = hostRun().container('image');
    const command = ['sh', '-c', 'echo "$GREETING $(id -un) $(pwd)"; echo written > /tmp/mine; cat /proc/self/mountinfo | grep " / / "'];
    const bundle = await createImageBundle(store, record, container.bundle, container.id, { command }, { cgroupsPath: container.cgroupsPath, hostname: 'image' });
    try {
      expect(mountsUnder(bundle.rootfs)).toEqual([bundle.rootfs]);
      const result = await runContainer(container.bundle, { id: container.id, stateRoot: hostRun().stateRoot('runc') });
      expect(result.stderr).toBe('');
      const [line, mount] = result.stdout.trim().split('\n');
      expect(line, 'Env, User (learner, from the image\'s /etc/passwd) and WorkingDir from the image config').toBe('from-the-image learner /home/learner');
      expect(mount).toMatch(/ - overlay overlay /);
      expect(bundle.spec.process?.user).toMatchObject({ uid: 1000, gid: 1000 });
      // The write went to the container's upper folder, not into the shared layer.
      const layerFs = path.join(store.snapshots.snapshotsDir, record.chainId.slice(7), 'fs');
      expect(fs.existsSync(path.join(layerFs, 'tmp/mine'))).toBe(false);
      expect(fs.readFileSync(path.join(bundle.rootfs, 'tmp/mine'), 'utf8')).toBe('written\n');
      await expect(store.remove(record.name), 'an image in use is not removed').rejects.toThrow(/used by a container/);
    } finally {
      await bundle.remove();
    }
    expect(mountsUnder(path.join(store.root, 'active'))).toEqual([]);
    expect(fs.readdirSync(path.join(store.root, 'active'))).toEqual([]);
  });

});

describe('a broken download', () => {
  beforeAll(withRegistry, scaled(120_000));
  test('resumes with a Range request where the cut left it, and the result still matches its digest', async () => {
    const layer = tarOf([{ path: 'noise', body: randomBytes(384 * 1024).toString('base64') }]);
    const reference = await pushImage('test/resume:v1', [layer]);
    const digest = sha256(gzipSync(layer));
    // A proxy in front of the registry that cuts the first download of the layer half-way.
    const ranges: string[] = [];
    let cut = false;
    const proxy = http.createServer((request, response) => {
      const upstream = http.request({ host: '127.0.0.1', port: registry.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
        const isLayer = request.url?.endsWith(`/blobs/${digest}`);
        if (isLayer) ranges.push(String(request.headers.range ?? 'none'));
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (isLayer && !cut) {
          cut = true;
          let sent = 0;
          const half = Number(answer.headers['content-length']) / 2;
          answer.on('data', (chunk: Buffer) => {
            if (sent >= half) return;
            response.write(chunk.subarray(0, half - sent));
            sent += Math.min(chunk.length, half - sent);
            if (sent >= half) response.socket?.destroy();
          });
          return;
        }
        answer.pipe(response);
      });
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const { ImageStore } = await importTarget<Images>('05-images/images.ts');
      const store = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [proxyHost] });
      const record = await store.pull(reference.replace(registry.host, proxyHost), { timeoutMs: PULL_MS });
      expect(record.layers[0].digest).toBe(digest);
      expect(ranges[0]).toBe('none');
      expect(ranges[1], 'the second request asks for the rest only').toMatch(/^bytes=[1-9]\d*-$/);
      expect(sha256(fs.readFileSync(store.content.blobPath(digest)))).toBe(digest);
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

describe('big and unusual layers', () => {
  beforeAll(withRegistry, scaled(120_000));
  test('a 128 MiB layer of zeros (a compression bomb in small) is streamed: memory does not grow with it', async () => {
    const { MediaTypes, hostPlatform } = await importTarget<Registry>('05-images/registry.ts');
    const size = 128 * 1024 * 1024;
    // The tar (one file of zeros) made and compressed chunk by chunk: about 130 kB of gzip.
    const gzip = createGzip({ level: 9 });
    const compressed: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => compressed.push(chunk));
    const header = Buffer.alloc(512);
    new Header({ path: 'zeros', type: 'File', mode: 0o644, uid: 0, gid: 0, size, mtime: new Date('2024-01-01T00:00:00Z'), uname: 'root', gname: 'root' }).encode(header, 0);
    const hash = createHash('sha256');
    const feed = async (chunk: Buffer) => {
      hash.update(chunk);
      if (!gzip.write(chunk)) await new Promise((resolve) => gzip.once('drain', resolve));
    };
    await feed(header);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let written = 0; written < size; written += zeros.length) await feed(zeros);
    await feed(Buffer.alloc(1024));
    await new Promise((resolve) => {
      gzip.once('end', resolve);
      gzip.end();
    });
    const blob = Buffer.concat(compressed);
    const reference = `${registry.host}/test/zeros:v1`;
    const layer = await pusher.pushBlob(reference, blob, MediaTypes.ociLayerGzip);
    const config = { architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hash.digest('hex')}`] } };
    const configDescriptor = await pusher.pushBlob(reference, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
    await pusher.pushManifest(reference, { schemaVersion: 2, config: configDescriptor, layers: [layer] }, MediaTypes.ociManifest);

    const store = await newStore();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const record = await store.pull(reference, { timeoutMs: PULL_MS });
      const file = path.join(store.snapshots.snapshotsDir, record.chainId.slice(7), 'fs', 'zeros');
      expect(fs.statSync(file).size).toBe(size);
    } finally {
      clearInterval(sampler);
    }
    const grewMiB = Math.round((peak - before) / 1024 / 1024);
    expect(grewMiB, `the pull grew the process by ${grewMiB} MiB for a ${size / 1024 / 1024} MiB layer`).toBeLessThan(96);
    await store.remove(reference);
  });

  test('a layer cut short (its digest matches what was cut): an error, not a wait without end', async () => {
    const { MediaTypes, hostPlatform } = await importTarget<Registry>('05-images/registry.ts');
    const reference = `${registry.host}/test/truncated:v1`;
    const tar = tarOf([{ path: 'data', body: randomBytes(96 * 1024).toString('hex') }]);
    const whole = gzipSync(tar);
    const layer = await pusher.pushBlob(reference, whole.subarray(0, Math.floor(whole.length / 2)), MediaTypes.ociLayerGzip);
    const config = { architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } };
    const configDescriptor = await pusher.pushBlob(reference, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
    await pusher.pushManifest(reference, { schemaVersion: 2, config: configDescriptor, layers: [layer] }, MediaTypes.ociManifest);
    const store = await newStore();
    expect((await caught(store.pull(reference, { timeoutMs: PULL_MS })))?.message).toMatch(/is not a valid gzip-compressed tar: unexpected end of file/);
    expect(fs.readdirSync(store.snapshots.snapshotsDir)).toEqual([]);
  });

  test('a zstd layer (made by the zstd tool): unpacked like a gzip one; a broken one is named, nothing unpacked', async () => {
    const { MediaTypes, hostPlatform } = await importTarget<Registry>('05-images/registry.ts');
    const tar = tarOf([{ path: 'etc', type: 'Directory' }, { path: 'etc/compressed-with', body: 'zstd\n' }]);
    const blob = execFileSync('zstd', ['-q', '-c', '-19'], { input: tar });
    expect(blob.readUInt32LE(0), 'zstd magic').toBe(0xfd2fb528);
    const push = async (reference: string, bytes: Buffer, diffId: string) => {
      const layer = await pusher.pushBlob(reference, bytes, MediaTypes.ociLayerZstd);
      const config = { architecture: hostPlatform().architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } };
      const configDescriptor = await pusher.pushBlob(reference, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
      await pusher.pushManifest(reference, { schemaVersion: 2, config: configDescriptor, layers: [layer] }, MediaTypes.ociManifest);
    };
    await push(`${registry.host}/test/zstd:v1`, blob, sha256(tar));
    const store = await newStore();
    const record = await store.pull(`${registry.host}/test/zstd:v1`, { timeoutMs: PULL_MS });
    expect(fs.readFileSync(path.join(store.snapshots.snapshotsDir, record.chainId.slice(7), 'fs', 'etc', 'compressed-with'), 'utf8')).toBe('zstd\n');
    // Broken layers, refused in words, with no snapshot: the stream cut in half, and the magic
    // bytes followed by garbage. The garbage is fixed, not random: these two patterns make the
    // decoder throw a RangeError ("offset is out of bounds", "Invalid typed array length"),
    // which must still read as a broken layer, not as some other failure.
    const garbage = (seed: number) => Buffer.alloc(64).map(() => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 255);
    const broken = [blob.subarray(0, Math.floor(blob.length / 2)), ...[11, 18].map((seed) => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), garbage(seed)]))];
    for (const [i, bytes] of broken.entries()) {
      await push(`${registry.host}/test/zstd:broken${i}`, bytes, sha256(`not known ${i}`));
      const other = await newStore();
      expect((await caught(other.pull(`${registry.host}/test/zstd:broken${i}`, { timeoutMs: PULL_MS })))?.message, `broken layer ${i}`).toMatch(/is not a valid zstd-compressed tar/);
      expect(fs.readdirSync(other.snapshots.snapshotsDir)).toEqual([]);
    }
  });

  test('extended attributes (PAX SCHILY.xattr.*): a file capability and user.* set on files and folders, in the first layer and through the overlay of the second; user.* on a symlink and system.* skipped', async () => {
    const { getXattr, listXattrs } = await importTarget<Xattrs>('05-images/xattrs.ts');
    const reference = await pushImage('test/xattrs:v1', [
      tarOf([
        { path: 'bin', type: 'Directory', xattrs: { 'user.folder': 'bin' } },
        // A value holding "\n" and bytes that are not UTF-8: raw bytes, as PAX allows.
        { path: 'bin/ping', body: 'ping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW_EP, 'user.comment': Buffer.from([0xff, 0x0a, 0x00, 0x41]) } },
        { path: 'bin/link', type: 'SymbolicLink', linkpath: 'ping', xattrs: { 'user.on-a-link': 'skipped', 'trusted.on-a-link': 'set' } },
        { path: 'bin/acl', body: 'acl', xattrs: { 'system.posix_acl_access': 'not an ACL' } },
      ]),
      tarOf([
        { path: 'bin', type: 'Directory', xattrs: { 'user.folder': 'changed in layer 2' } },
        { path: 'bin/arping', body: 'arping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW_EP } },
      ]),
    ]);
    const store = await newStore();
    const record = await store.pull(reference, { timeoutMs: PULL_MS });
    const [lower, upper] = store.snapshots.chainOf(record.chainId).map((id) => path.join(store.snapshots.snapshotsDir, id.slice(7), 'fs'));
    const ping = path.join(lower, 'bin/ping');
    expect(getXattr(ping, 'security.capability')?.toString('hex'), 'cap_net_raw+ep on bin/ping (set after chown, which drops it)').toBe(CAP_NET_RAW_EP.toString('hex'));
    expect(getXattr(ping, 'user.comment'), 'raw bytes kept').toEqual(Buffer.from([0xff, 0x0a, 0x00, 0x41]));
    expect(fs.statSync(ping).mode & 0o7777).toBe(0o755);
    expect(getXattr(path.join(lower, 'bin'), 'user.folder')?.toString()).toBe('bin');
    expect(listXattrs(path.join(lower, 'bin/link')), 'user.* cannot go on a symlink (Linux says EPERM); trusted.* can').toEqual(['trusted.on-a-link']);
    expect(listXattrs(path.join(lower, 'bin/acl')), 'system.* is not set').toEqual([]);
    expect(getXattr(path.join(upper, 'bin/arping'), 'security.capability')?.toString('hex'), 'the second layer, applied through an overlay').toBe(CAP_NET_RAW_EP.toString('hex'));
    expect(getXattr(path.join(upper, 'bin'), 'user.folder')?.toString()).toBe('changed in layer 2');
    // What a container sees: the overlay of both.
    const rootfs = await store.mount(reference);
    try {
      expect(getXattr(path.join(rootfs, 'bin/ping'), 'security.capability')?.toString('hex')).toBe(CAP_NET_RAW_EP.toString('hex'));
      expect(getXattr(path.join(rootfs, 'bin/arping'), 'security.capability')?.toString('hex')).toBe(CAP_NET_RAW_EP.toString('hex'));
    } finally {
      await store.unmount(reference);
    }
    await store.remove(reference);
  });
});

describe('refused: wrong digests and hostile layers, with nothing written outside the store', () => {
  beforeAll(withRegistry, scaled(120_000));
  test('a layer whose bytes do not match its digest: both digests named, nothing kept, no image', async () => {
    const layer = tarOf([{ path: 'hello', body: 'the real content' }]);
    const reference = await pushImage('test/corrupt:v1', [layer]);
    const digest = sha256(gzipSync(layer));
    const file = registryBlobFile(digest);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 9] ^= 0xff; // (inside the gzip trailer's CRC: same size, other bytes)
    fs.writeFileSync(file, bytes);
    const store = await newStore();
    const error = await caught(store.pull(reference, { timeoutMs: PULL_MS }));
    expect(error?.message).toContain(`expected ${digest}, got ${sha256(bytes)}`);
    expect(store.content.has(digest)).toBe(false);
    expect(fs.readdirSync(store.content.ingestDir), 'no partial download kept').toEqual([]);
    expect(fs.readdirSync(store.snapshots.snapshotsDir)).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  // Each hostile image, pulled; `victim` is a folder outside the store that a broken unpacker would write into.
  async function pullHostile(name: string, layers: (victim: string) => TarEntry[][]) {
    const victim = path.join(hostRun().dir, `victim-${name}`);
    fs.mkdirSync(victim, { recursive: true });
    fs.writeFileSync(path.join(victim, 'secret'), 'untouched');
    const before = snapshotTree(victim);
    const reference = await pushImage(`test/hostile-${name}:v1`, layers(victim).map(tarOf));
    const store = await newStore();
    let record: Awaited<ReturnType<typeof store.pull>> | undefined;
    const error = await caught(store.pull(reference, { timeoutMs: PULL_MS }).then((r) => void (record = r)));
    const outcome = { record, error };
    expect(snapshotTree(victim), 'the folder outside the store is exactly as it was').toEqual(before);
    expect(fs.readdirSync(path.dirname(store.root)).filter((entry) => /pwned|escaped/.test(entry))).toEqual([]);
    expect(mountsUnder(store.root), 'no mount left behind').toEqual([]);
    return { store, victim, ...outcome };
  }

  test('"../" path traversal: refused, the layer is not kept', async () => {
    const { store, error } = await pullHostile('traversal', () => [[{ path: 'ok' }, { path: '../../../../escaped', body: 'out' }]]);
    expect(error?.message).toMatch(/"\.\.\/\.\.\/\.\.\/\.\.\/escaped" points outside the image/);
    expect(fs.readdirSync(store.snapshots.snapshotsDir), 'no half-unpacked snapshot').toEqual([]);
    expect(store.list()).toEqual([]);
  });

  test('an absolute symlink, then a file through it: the link keeps its target, the file lands inside the image', async () => {
    const { store, record, error, victim } = await pullHostile('symlink', (victim) => [[
      { path: 'evil', type: 'SymbolicLink', linkpath: victim },
      { path: 'evil/pwned', body: 'written through a symlink' },
      { path: 'zone', type: 'SymbolicLink', linkpath: '/usr/share/zoneinfo/UTC' },
    ]]);
    expect(error).toBeUndefined();
    const layerFs = path.join(store.snapshots.snapshotsDir, record!.chainId.slice(7), 'fs');
    expect(fs.readlinkSync(path.join(layerFs, 'evil')), 'the original, absolute target').toBe(victim);
    expect(fs.readlinkSync(path.join(layerFs, 'zone'))).toBe('/usr/share/zoneinfo/UTC');
    expect(fs.readFileSync(path.join(layerFs, victim, 'pwned'), 'utf8'), 'resolved as the container would: inside its root').toBe('written through a symlink');
  });

  test('hard links to outside (by ../ and through a symlink): refused, the outside file keeps one link', async () => {
    const byDots = await pullHostile('hardlink', () => [[{ path: 'hl', type: 'Link', linkpath: '../../../../victim-hardlink/secret' }]]);
    expect(byDots.error?.message).toMatch(/points outside the image/);
    const bySymlink = await pullHostile('hardlink2', (victim) => [[
      { path: 'evil', type: 'SymbolicLink', linkpath: victim },
      { path: 'hl', type: 'Link', linkpath: 'evil/secret' },
    ]]);
    expect(bySymlink.error?.message).toMatch(/the target is not in the image/);
    expect(fs.statSync(path.join(bySymlink.victim, 'secret')).nlink).toBe(1);
  });

  test('through earlier layers: a symlink in one layer, then a file, a whiteout and a replaced link in the next', async () => {
    const { store, record, error, victim } = await pullHostile('layers', (victim) => [
      [
        { path: 'dir', type: 'SymbolicLink', linkpath: victim },
        { path: 'file', type: 'SymbolicLink', linkpath: path.join(victim, 'secret') },
      ],
      [
        { path: 'dir/pwned', body: 'through a lower symlink' },
        { path: 'dir/.wh.secret' },
        { path: 'file', body: 'replaces the link, not what it points at' },
      ],
    ]);
    expect(error).toBeUndefined();
    const rootfs = await store.mountContainer('hostile', record!);
    try {
      expect(fs.readFileSync(path.join(rootfs, 'file'), 'utf8')).toBe('replaces the link, not what it points at');
      expect(fs.lstatSync(path.join(rootfs, 'file')).isFile()).toBe(true);
      expect(fs.readFileSync(path.join(rootfs, victim, 'pwned'), 'utf8')).toBe('through a lower symlink');
    } finally {
      await store.snapshots.removeContainer('hostile');
    }
  });

  test('whiteouts and opaque folders hide what the lower layers had, not what the layer itself adds', async () => {
    const { store, record, error } = await pullHostile('whiteouts', () => [
      [
        { path: 'a', type: 'Directory' },
        { path: 'a/1', body: 'one' },
        { path: 'a/2', body: 'two' },
        { path: 'b', body: 'bee' },
        { path: 'c', type: 'Directory' },
        { path: 'c/keep', body: 'kept' },
      ],
      [
        { path: 'a', type: 'Directory' },
        { path: 'a/3', body: 'three' },
        { path: 'a/.wh..wh..opq' },
        { path: '.wh.b' },
        { path: 'c/new', body: 'new' },
      ],
    ]);
    expect(error).toBeUndefined();
    const rootfs = await store.mountContainer('whiteouts', record!);
    try {
      expect(fs.readdirSync(path.join(rootfs, 'a'))).toEqual(['3']);
      expect(fs.existsSync(path.join(rootfs, 'b'))).toBe(false);
      expect(fs.readdirSync(path.join(rootfs, 'c')).sort()).toEqual(['keep', 'new']);
      expect(fs.readdirSync(rootfs).some((name) => name.startsWith('.wh.')), 'no whiteout file shows').toBe(false);
    } finally {
      await store.snapshots.removeContainer('whiteouts');
    }
  });

  test('hostile xattrs: never set through a symlink; overlayfs\'s own, a value over 64 KiB, a value hiding a record that node-tar would read: refused', async () => {
    const { listXattrs } = await importTarget<Xattrs>('05-images/xattrs.ts');
    // Through a symlink to a host file, and on a file behind a symlinked folder: inside the image.
    const { store, record, error, victim } = await pullHostile('xattr-link', (victim): TarEntry[][] => [[
      { path: 'evil', type: 'SymbolicLink', linkpath: path.join(victim, 'secret'), xattrs: { 'trusted.pwned': 'through the link' } },
      { path: 'dir', type: 'SymbolicLink', linkpath: victim },
      { path: 'dir/secret', body: 'replaced inside the image', xattrs: { 'user.pwned': 'inside' } },
    ]]);
    expect(error).toBeUndefined();
    expect(listXattrs(path.join(victim, 'secret')), 'the host file has no new xattr').toEqual([]);
    const layerFs = path.join(store.snapshots.snapshotsDir, record!.chainId.slice(7), 'fs');
    expect(listXattrs(path.join(layerFs, 'evil')), 'on the link itself').toEqual(['trusted.pwned']);
    expect(listXattrs(path.join(layerFs, victim, 'secret'))).toEqual(['user.pwned']);

    const refusals: [string, TarEntry[], RegExp][] = [
      ['xattr-overlay', [{ path: 'etc', type: 'Directory', xattrs: { 'trusted.overlay.opaque': 'y' } }], /"etc\/?": xattr trusted\.overlay\.opaque is overlayfs's own/],
      ['xattr-big', [{ path: 'big', body: 'x', xattrs: { 'user.big': Buffer.alloc(65537, 0x61) } }], /xattr user\.big is 65537 bytes, over the kernel's 65536/],
      // Read by lengths, one xattr whose value holds "\n10 size=0\n"; read line by line (node-tar), also a size of 0 for the file.
      ['xattr-smuggle', [{ path: 'smuggled', body: 'hidden from node-tar', xattrs: { 'user.x': 'a\n10 size=0\n' } }], /node-tar would read a PAX record at byte \d+ that is inside another record's value/],
      ['xattr-malformed', [{ path: 'bad', body: 'x', paxExtra: Buffer.from('99 SCHILY.xattr.user.y=short\n') }], /malformed PAX record at byte 0 \(its length does not fit the header\)/],
    ];
    for (const [name, entries, message] of refusals) {
      const hostile = await pullHostile(name, () => [entries]);
      expect(hostile.error?.message, name).toMatch(message);
      expect(hostile.error?.name, name).toBe('UnsafeLayerError');
      expect(fs.readdirSync(hostile.store.snapshots.snapshotsDir), `${name}: no snapshot kept`).toEqual([]);
    }
  });
});

describe('authentication: a registry that wants bearer tokens', () => {
  beforeAll(withRegistry, scaled(120_000));
  test('the challenge, a token from the realm with the auth.json credentials, the retry; no credentials: a clear refusal', async () => {
    const dir = path.join(hostRun().dir, 'token');
    const tokens = await startTokenServer(dir, { learner: 's3cret' });
    const secure = await startRegistry(hostRun(), 'token-registry', { token: { realm: tokens.realm, service: 'conman-test-registry', issuer: 'conman-test', rootCertBundle: tokens.cert } });
    try {
      const authFile = path.join(dir, 'auth.json');
      fs.writeFileSync(authFile, JSON.stringify({ auths: { [secure.host]: { auth: Buffer.from('learner:s3cret').toString('base64') } } }));
      const { Pusher } = await importTarget<Push>('05-images/push.ts');
      const { MediaTypes } = await importTarget<Registry>('05-images/registry.ts');
      const { ImageStore } = await importTarget<Images>('05-images/images.ts');
      const ref = `${secure.host}/private/app:v1`;
      const securePusher = new Pusher({ insecureRegistries: [secure.host], authFile });
      try {
        const layer = tarOf([{ path: 'secret-app', body: 'only for learner' }]);
        const layerDescriptor = await securePusher.pushBlob(ref, gzipSync(layer), MediaTypes.ociLayerGzip);
        const config = { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } };
        const configDescriptor = await securePusher.pushBlob(ref, Buffer.from(JSON.stringify(config)), MediaTypes.ociConfig);
        await securePusher.pushManifest(ref, { schemaVersion: 2, config: configDescriptor, layers: [layerDescriptor] }, MediaTypes.ociManifest);
      } finally {
        await securePusher.close();
      }
      expect(tokens.seen.some((s) => s.status === 200 && s.scope === 'repository:private/app:pull,push'), 'the pusher got a push token').toBe(true);

      const store = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [secure.host], authFile });
      const record = await store.pull(ref, { timeoutMs: PULL_MS });
      expect(record.layers).toHaveLength(1);
      expect(tokens.seen.filter((s) => s.scope === 'repository:private/app:pull').map((s) => `${s.user} ${s.status}`)).toContain('learner 200');

      const anonymous = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [secure.host] });
      expect((await caught(anonymous.pull(ref, { timeoutMs: PULL_MS })))?.message).toMatch(/refused a token for repository:private\/app:pull anonymously/);
      const wrongFile = path.join(dir, 'wrong.json');
      fs.writeFileSync(wrongFile, JSON.stringify({ auths: { [secure.host]: { auth: Buffer.from('learner:guess').toString('base64') } } }));
      const wrong = new ImageStore(path.join(hostRun().dir, `store${++stores}`), { insecureRegistries: [secure.host], authFile: wrongFile });
      expect((await caught(wrong.pull(ref, { timeoutMs: PULL_MS })))?.message).toMatch(/refused a token .* as learner: HTTP 401/);
    } finally {
      await secure.stop();
      await tokens.close();
    }
  });

  test('plain HTTP only when asked: without --insecure-registry the client speaks HTTPS and says what to do', async () => {
    const { ImageStore } = await importTarget<Images>('05-images/images.ts');
    const store = new ImageStore(path.join(hostRun().dir, `store${++stores}`));
    const error = await caught(store.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { timeoutMs: PULL_MS }));
    expect(error?.message).toMatch(new RegExp(`--insecure-registry ${registry.host.replace(/\./g, '\\.')}`));
  });
});

describe('run IMAGE: containers from images, through conmand and with --no-daemon', () => {
  beforeAll(withRegistry, scaled(120_000));
  let worlds = 0;

  /** A private conman world (roots, daemon, CLI): chapter 05's conman and conmand. */
  const world = () => conmanWorld(hostRun(), '05-images', `img${++worlds}`);

  test('conman run IMAGE through conmand: pulled when missing, the image config applied, its rootfs an overlay in the container\'s folder; rmi refused while used; rm leaves no mount', async () => {
    const w = world();
    const ref = `${registry.host}/${BUSYBOX_TAGS.oci}`;
    await w.startDaemon();
    try {
      // The image's User (learner), Env and WorkingDir; the typed command replaces its Cmd (sh).
      const first = await w.ok(['run', '--name', 'one', '--insecure-registry', registry.host, ref, 'sh', '-c', 'echo $GREETING; id -u; pwd; echo written > /tmp/mine; exit 3'], 3);
      expect(first.stdout).toBe('from-the-image\n1000\n/home/learner\n');
      expect(first.stderr, 'the pull, with its progress').toMatch(/Unable to find image/);
      expect(first.stderr).toMatch(/pulled, digest sha256:/);
      const [info] = JSON.parse((await w.ok(['inspect', 'one'])).stdout) as { id: string; image: string; rootfs: string; status: string }[];
      expect(info.image).toBe(`${registry.host}/test/busybox:oci`);
      const containerDir = path.join(w.root, 'containers', info.id);
      expect(info.rootfs).toBe(path.join(containerDir, 'rootfs'));
      expect(mountsUnder(w.root), 'one overlay, in the container\'s folder').toEqual([info.rootfs]);
      expect(fs.readFileSync(path.join(containerDir, 'upper', 'tmp', 'mine'), 'utf8'), 'its writes in its own upper folder').toBe('written\n');
      expect((await w.ok(['ps', '-a'])).stdout).toMatch(/CONTAINER ID\s+IMAGE\s+NAME[^]*busybox:oci\s+one/);

      // Pulled once: a second run finds it; the command from the image's Cmd when none is typed.
      const second = await w.ok(['run', '--rm', '--name', 'two', ref]);
      expect(second.stderr).not.toMatch(/Unable to find image/);
      const refused = await w.conman(['rmi', ref]);
      expect(refused.code, refused.stderr).toBe(125);
      expect(refused.stderr).toMatch(new RegExp(`used by a container \\(${info.id.slice(0, 12)}\\).*conman rm`));

      // A created container whose mount is gone (a reboot): the next conmand mounts it again.
      await w.ok(['create', '--name', 'later', ref, 'hostname']);
      await w.stopDaemon();
      const [later] = JSON.parse((await w.ok(['--no-daemon', 'inspect', 'later'])).stdout) as { rootfs: string }[];
      await exec('umount', [later.rootfs]);
      expect(mountsUnder(later.rootfs)).toEqual([]);
      await w.startDaemon();
      expect(mountsUnder(later.rootfs), 'mounted again at recovery').toEqual([later.rootfs]);
      expect((await w.ok(['start', '-a', 'later'])).stdout).toMatch(/^[0-9a-f]{12}\n$/);

      await w.ok(['rm', 'one', 'later']);
      expect(mountsUnder(w.root), 'rm unmounts').toEqual([]);
      expect(fs.existsSync(containerDir)).toBe(false);
      expect(fs.readdirSync(path.join(w.root, 'images', 'active'))).toEqual([]);
      expect((await w.ok(['rmi', ref])).stdout).toMatch(/Untagged:/);
    } finally {
      const left = await w.conman(['ps', '-a', '-q']);
      for (const id of left.stdout.split('\n').filter(Boolean)) await w.conman(['rm', '-f', id]);
      await w.stopDaemon();
    }
  }, scaled(180_000));

  test('an image\'s StopSignal is what stop sends first (USR1 here), SIGKILL only after the grace period', async () => {
    const { MediaTypes } = await importTarget<Registry>('05-images/registry.ts');
    // The busybox image again, its layer shared, with a config of its own: StopSignal and a Cmd that traps it.
    const base = await newStore();
    const record = await base.pull(`${registry.host}/${BUSYBOX_TAGS.oci}`, { timeoutMs: PULL_MS });
    const config = await base.config(record);
    const polite = { ...config, config: { ...config.config, StopSignal: 'USR1', Cmd: ['sh', '-c', 'trap "exit 7" USR1; while true; do sleep 0.1; done'] } };
    const reference = `${registry.host}/test/busybox:stopsignal`;
    const configDescriptor = await pusher.pushBlob(reference, Buffer.from(JSON.stringify(polite)), MediaTypes.ociConfig);
    await pusher.pushManifest(reference, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDescriptor, layers: record.layers }, MediaTypes.ociManifest);
    const w = world();
    await w.ok(['--no-daemon', 'run', '-d', '--name', 'polite', '--insecure-registry', registry.host, reference]);
    const [running] = JSON.parse((await w.ok(['--no-daemon', 'inspect', 'polite'])).stdout) as { stopSignal?: string }[];
    expect(running.stopSignal).toBe('SIGUSR1');
    const started = Date.now();
    await w.ok(['--no-daemon', 'stop', '-t', '60', 'polite']);
    const [stopped] = JSON.parse((await w.ok(['--no-daemon', 'inspect', 'polite'])).stdout) as { exit?: { exitCode: number } }[];
    expect(stopped.exit?.exitCode, 'its trap ran: USR1 came first, not SIGTERM (143) nor SIGKILL (137)').toBe(7);
    expect(Date.now() - started, 'well before the 60 s grace period').toBeLessThan(scaled(30_000));
    await w.ok(['--no-daemon', 'rm', 'polite']);
  }, scaled(120_000));

  test('a create interrupted after its rootfs was mounted (no record yet): the next manager unmounts it, frees the image, removes the folder', async () => {
    const w = world();
    const ref = `${registry.host}/${BUSYBOX_TAGS.oci}`;
    const id = (await w.ok(['--no-daemon', 'create', '--insecure-registry', registry.host, ref, 'true'])).stdout.trim();
    const dir = path.join(w.root, 'containers', id);
    expect(mountsUnder(dir), 'created: its rootfs is mounted').toHaveLength(1);
    fs.rmSync(path.join(dir, 'record.json')); // as if the crash came after the mount, before the record was saved
    expect((await w.ok(['--no-daemon', 'ps', '-a', '-q'])).stdout).toBe('');
    expect(mountsUnder(w.root), 'unmounted').toEqual([]);
    expect(fs.existsSync(dir), 'its folder removed').toBe(false);
    expect(fs.readdirSync(path.join(w.root, 'images', 'active')), 'the image is not in use any more').toEqual([]);
    expect((await w.ok(['--no-daemon', 'rmi', ref])).stdout).toMatch(/Untagged:/);
  }, scaled(120_000));

  test('conman --no-daemon run --rm IMAGE: pulled, run, removed with its mount; a rootfs directory works as before', async () => {
    const w = world();
    const ref = `${registry.host}/${BUSYBOX_TAGS.docker}`;
    const run = await w.ok(['--no-daemon', 'run', '--rm', '-e', 'EXTRA=typed', '--insecure-registry', registry.host, ref, 'sh', '-c', 'echo $GREETING $EXTRA; id -un']);
    expect(run.stdout).toBe('from-the-image typed\nlearner\n');
    expect(run.stderr).toMatch(/Unable to find image/);
    expect((await w.ok(['--no-daemon', 'ps', '-a', '-q'])).stdout).toBe('');
    expect(mountsUnder(w.root)).toEqual([]);
    expect((await w.ok(['--no-daemon', 'images', '-q'])).stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
    const missing = await w.conman(['--no-daemon', 'run', '--rm', '--insecure-registry', registry.host, `${registry.host}/test/absent:1`, 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr.trim().split('\n').at(-1), 'one line that names the image').toMatch(/^conman: .*absent/);
    const rootfs = path.join(hostRun().dir, 'img-rootfs');
    await buildRootfs(rootfs);
    expect((await w.ok(['--no-daemon', 'run', '--rm', rootfs, 'sh', '-c', 'echo from a folder'])).stdout).toBe('from a folder\n');
    // --entrypoint replaces the image's Entrypoint and drops its Cmd (sh): the typed words are its arguments.
    expect((await w.ok(['--no-daemon', 'run', '--rm', '--entrypoint', 'echo', ref, 'from', 'the', 'entrypoint'])).stdout).toBe('from the entrypoint\n');
    expect((await w.ok(['--no-daemon', 'run', '--rm', '--entrypoint', 'echo', ref])).stdout, 'no Cmd of the image').toBe('\n');
    const misplaced = await w.conman(['--no-daemon', 'run', '--rm', '--entrypoint', 'echo', rootfs, 'hi']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--entrypoint replaces an image's entrypoint: .* is a rootfs folder/);
  }, scaled(120_000));
});
