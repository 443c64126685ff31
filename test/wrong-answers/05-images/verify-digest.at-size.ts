// wrong: >= where > is meant: the chunk that brings the count exactly to the size is refused, so no blob is ever accepted
// caught by: DigestVerifier
if (this.received + chunk.length >= this.expected.size) {
  throw new SizeMismatchError(this.expected.size, this.received + chunk.length, this.what);
}
this.hash.update(chunk);
this.received += chunk.length;
