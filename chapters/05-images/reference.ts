import { notImplemented } from '#lib/not-implemented.ts';
/**
 * An image reference: what a user types after `conman pull`, in docker's grammar
 * (github.com/distribution/reference):
 *
 *     [registry-host[:port]/]path[:tag][@sha256:digest]
 *
 *   busybox                       -> docker.io/library/busybox:latest
 *   busybox:1.36                  -> docker.io/library/busybox:1.36
 *   ghcr.io/org/app@sha256:ab..   -> registry ghcr.io, repository org/app, that digest
 *   localhost:5000/test/busybox   -> registry localhost:5000 (a first part with "." or ":"
 *                                    or the word localhost is a host, anything else is a path)
 *
 * A tag can move (someone pushes again); a digest cannot: it is the sha256 of the manifest's
 * bytes. containerd and podman both record the digest they resolved a tag to.
 */

/** Docker Hub's name in references; its API lives at registry-1.docker.io. */
export const DEFAULT_REGISTRY = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

// One path component: lowercase letters and digits, separated by ".", "_", "__" or dashes.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$/;

export interface Reference {
  /** Host (and port) as written in the reference: "docker.io", "127.0.0.1:5000". */
  registry: string;
  /** The path inside the registry: "library/busybox", "test/busybox". */
  repository: string;
  /** The tag, when given or defaulted ("latest" when there is neither tag nor digest). */
  tag?: string;
  /** "sha256:<64 hex>" when the reference pins a digest. */
  digest?: string;
}

export class ReferenceError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid image reference "${input}": ${reason} (expected [host[:port]/]name[:tag][@sha256:<64 hex digits>], e.g. busybox:1.36)`);
    this.name = 'ReferenceError';
  }
}

/**
 * Parse `input` into its parts, with docker's defaults: no host means docker.io, a one-part
 * name on docker.io gets "library/", no tag and no digest means the tag "latest". Anything
 * the grammar refuses (uppercase in the name, an empty part, a bad digest) is a ReferenceError
 * that quotes the input.
 */
export function parseReference(input: string): Reference {
  // EXERCISE(parse-reference): split a reference into registry, repository, tag and digest, with docker.io's defaults
  // Hints: cut the digest at "@" first, then the tag at a ":" after the last "/" (a ":"
  // before it is a port); the first "/"-part is a host only when it has "." or ":" or is
  // "localhost".
  throw notImplemented("05-images/parse-reference", "split a reference into registry, repository, tag and digest, with docker.io's defaults");
  // END EXERCISE
}

/** The full, normalised name: "docker.io/library/busybox:1.36", "host/repo@sha256:...". */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The name without the tag or digest: "docker.io/library/busybox". */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Docker's short form for listings: "busybox:1.36" for Docker Hub's library images. */
export function familiarName(ref: Reference): string {
  const name = ref.registry === DEFAULT_REGISTRY ? ref.repository.replace(/^library\//, '') : `${ref.registry}/${ref.repository}`;
  return `${name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest && !ref.tag ? `@${ref.digest}` : ''}`;
}

/** What the manifest endpoint takes: the digest when pinned, else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
