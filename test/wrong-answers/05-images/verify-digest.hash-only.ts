// wrong: every chunk is hashed and counted, but nothing stops a server that sends more than the size
// caught by: DigestVerifier
this.hash.update(chunk);
this.received += chunk.length;
