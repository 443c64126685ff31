/**
 * The CRI log format: how Kubernetes runtimes (containerd, cri-o through conmon) store a
 * container's output, one record per line:
 *
 *   2026-11-26T14:01:02.123456789Z stdout F hello world
 *   <RFC 3339 time, nanoseconds>   <stream> <tag> <message>
 *
 * The tag is F for a full line, P for a partial one: a long line (over 16 KiB by
 * containerd's default) is cut into P records and ends with an F record; joining them gives the line
 * back. `kubectl logs` and `crictl logs` read these files; the workshop's `conman logs` (04)
 * and CRI endpoint (08) use this parser.
 */

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  time: string;
  stream: LogStream;
  partial: boolean;
  message: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s; // s: a message may hold "\r" (terminal output)

/** Parse one record; throws, naming the line, on anything else. */
export function parseLogLine(line: string): LogRecord {
  const match = RECORD.exec(line);
  if (!match) throw new Error(`not a CRI log record: ${JSON.stringify(line.slice(0, 120))}`);
  const [, time, stream, tag, message] = match;
  if (Number.isNaN(Date.parse(time))) throw new Error(`bad time in CRI log record: ${JSON.stringify(time)}`);
  return { time, stream: stream as LogStream, partial: tag === 'P', message };
}

/** Parse a whole log file's text (a last line without its newline is still being written: skipped). */
export function parseLog(text: string): LogRecord[] {
  const lines = text.split('\n');
  lines.pop(); // "" after the last newline, or an incomplete record
  return lines.map(parseLogLine);
}

export interface LogLine {
  time: string;
  stream: LogStream;
  /** The whole line, its partial records joined, without the newline. */
  text: string;
}

/** Join partial records into whole lines, per stream (stdout and stderr records interleave). */
export function joinPartials(records: LogRecord[]): LogLine[] {
  const lines: LogLine[] = [];
  const pending: Partial<Record<LogStream, LogRecord[]>> = {};
  for (const record of records) {
    const parts = (pending[record.stream] ??= []);
    parts.push(record);
    if (record.partial) continue;
    lines.push({ time: parts[0].time, stream: record.stream, text: parts.map((p) => p.message).join('') });
    pending[record.stream] = [];
  }
  return lines;
}

/** RFC 3339 with nanoseconds, as CRI wants: 2026-11-26T14:01:02.123456789Z. */
export function rfc3339Nano(epochNanoseconds: bigint): string {
  const millis = Number(epochNanoseconds / 1_000_000n);
  const nanos = (epochNanoseconds % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(millis).toISOString().slice(0, 19)}.${nanos}Z`;
}

const startEpochNs = BigInt(Date.now()) * 1_000_000n;
const startHr = process.hrtime.bigint();
/** Now, in nanoseconds since the epoch: the wall clock at start plus the monotonic clock since. */
export function nowEpochNanoseconds(): bigint {
  return startEpochNs + (process.hrtime.bigint() - startHr);
}
