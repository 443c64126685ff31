// wrong: over-long pieces are cut only once their newline comes: a line still being written (a progress bar, a log without newlines) grows in memory without bound
// caught by: CriLogWriter
let data = Buffer.concat([this.pending[stream], chunk]);
for (let newline = data.indexOf(0x0a); newline !== -1; newline = data.indexOf(0x0a)) {
  let line = data.subarray(0, newline);
  while (line.length > MAX_RECORD_BYTES) {
    this.record(stream, 'P', line.subarray(0, MAX_RECORD_BYTES));
    line = line.subarray(MAX_RECORD_BYTES);
  }
  this.record(stream, 'F', line);
  data = data.subarray(newline + 1);
}
this.pending[stream] = Buffer.from(data);
