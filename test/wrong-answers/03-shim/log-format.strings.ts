// wrong: works on strings: a UTF-8 character split between two chunks is mangled, and the limit counts characters, not bytes
// caught by: CriLogWriter
let data = this.pending[stream].toString('utf8') + chunk.toString('utf8');
for (let newline = data.indexOf('\n'); newline !== -1; newline = data.indexOf('\n')) {
  let line = data.slice(0, newline);
  while (line.length > MAX_RECORD_BYTES) {
    this.record(stream, 'P', Buffer.from(line.slice(0, MAX_RECORD_BYTES)));
    line = line.slice(MAX_RECORD_BYTES);
  }
  this.record(stream, 'F', Buffer.from(line));
  data = data.slice(newline + 1);
}
this.pending[stream] = Buffer.from(data);
