// wrong: only the pending tail is cut into P records: a long line that arrives whole, with its newline, becomes one huge F record
// caught by: CriLogWriter
let data = Buffer.concat([this.pending[stream], chunk]);
for (let newline = data.indexOf(0x0a); newline !== -1; newline = data.indexOf(0x0a)) {
  this.record(stream, 'F', data.subarray(0, newline));
  data = data.subarray(newline + 1);
}
while (data.length > MAX_RECORD_BYTES) {
  this.record(stream, 'P', data.subarray(0, MAX_RECORD_BYTES));
  data = data.subarray(MAX_RECORD_BYTES);
}
this.pending[stream] = Buffer.from(data);
