// wrong: treats every chunk as lines of its own: a line split between two chunks becomes two records
// caught by: CriLogWriter
const text = chunk.toString('utf8');
for (const line of text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined)) this.record(stream, 'F', Buffer.from(line));
