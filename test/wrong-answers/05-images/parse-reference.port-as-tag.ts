// wrong: the tag is cut at the last ":" anywhere, so a registry's port is taken for a tag
// caught by: parseReference
let rest = input;
let digest: string | undefined;
const at = rest.indexOf('@');
if (at >= 0) {
  digest = rest.slice(at + 1);
  rest = rest.slice(0, at);
  if (!DIGEST.test(digest)) throw new ReferenceError(input, `"${digest}" is not a sha256 digest`);
}
let tag: string | undefined;
const colon = rest.lastIndexOf(':');
if (colon >= 0) {
  tag = rest.slice(colon + 1);
  rest = rest.slice(0, colon);
  if (!TAG.test(tag)) throw new ReferenceError(input, `"${tag}" is not a valid tag`);
}
const parts = rest.split('/');
let registry = DEFAULT_REGISTRY;
if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) registry = parts.shift()!;
for (const part of parts) if (!COMPONENT.test(part)) throw new ReferenceError(input, `"${part}" is not a valid name part`);
if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
return { registry, repository: parts.join('/'), tag, digest };
