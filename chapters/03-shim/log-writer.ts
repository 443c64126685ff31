/**
 * Writing the container's output as a CRI log file (format and parser: lib/cri-log.ts).
 *
 * Output arrives in chunks that do not respect lines: one chunk may hold three lines and the
 * start of a fourth. Each complete line becomes an F record; a line longer than
 * MAX_RECORD_BYTES is cut into P records of that size (the rest waits for more data); what
 * is left when the stream ends becomes a last F record.
 *
 * A full disk must not end the shim: a record that cannot be written is dropped whole (a
 * short write is cut back, so the file stays a list of whole records) and counted, and
 * writing resumes by itself once there is room again. conmon and containerd's shim drop
 * output the same way rather than stop managing the container.
 */
import fs from 'node:fs';
import { nowEpochNanoseconds, rfc3339Nano, type LogStream } from '#lib/cri-log.ts';
import { notImplemented } from '#lib/not-implemented.ts';

/** The longest message of one record: containerd's default max_container_log_line_size (16 KiB). */
export const MAX_RECORD_BYTES = 16 * 1024;

export class CriLogWriter {
  private fd: number;
  private readonly pending: Record<LogStream, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  /** Records (and their bytes) dropped because a write failed, e.g. ENOSPC. */
  readonly dropped = { records: 0, bytes: 0 };
  /** Dropping now: the last write failed (reported once per streak, in the shim's log). */
  private dropping = false;

  constructor(
    readonly path: string,
    private readonly now: () => bigint = nowEpochNanoseconds,
  ) {
    this.fd = fs.openSync(path, 'a', 0o640);
  }

  /** One record: "<time> <stream> <P|F> <message>\n", appended whole or not at all. */
  private record(stream: LogStream, tag: 'P' | 'F', message: Buffer): void {
    const head = Buffer.from(`${rfc3339Nano(this.now())} ${stream} ${tag} `);
    const line = Buffer.concat([head, message, Buffer.from('\n')]);
    let written = 0;
    try {
      written = fs.writeSync(this.fd, line);
      // A disk filling up takes what fits (a short write), then refuses the rest.
      while (written < line.length) written += fs.writeSync(this.fd, line.subarray(written));
    } catch (error) {
      // Half a record would glue itself to the next one: cut it back (shrinking needs no room).
      try {
        if (written > 0) fs.ftruncateSync(this.fd, fs.fstatSync(this.fd).size - written);
      } catch {
        // (the reader's parser skips a broken line; nothing better to do)
      }
      this.dropped.records += 1;
      this.dropped.bytes += line.length;
      if (!this.dropping) console.error(`conman-shim: ${this.path}: ${(error as Error).message}; dropping the container's output (counted) until writes succeed again`);
      this.dropping = true;
      return;
    }
    if (this.dropping) console.error(`conman-shim: ${this.path}: writing again; ${this.dropped.records} records (${this.dropped.bytes} bytes) dropped so far`);
    this.dropping = false;
  }

  /** Add a chunk of the container's output on `stream`. */
  write(stream: LogStream, chunk: Buffer): void {
    // EXERCISE(log-format): turn a chunk into F records for complete lines and P records for over-long pieces
    // Hints: keep what follows the last "\n" in this.pending[stream] for the next chunk.
    // Work on Buffers, not strings: a UTF-8 character may be split between two chunks.
    throw notImplemented("03-shim/log-format", "turn a chunk into F records for complete lines and P records for over-long pieces");
    // END EXERCISE
  }

  /** The stream ended: what is left is its last line, even without a newline. */
  end(stream: LogStream): void {
    if (this.pending[stream].length > 0) this.record(stream, 'F', this.pending[stream]);
    this.pending[stream] = Buffer.alloc(0);
  }

  close(): void {
    this.end('stdout');
    this.end('stderr');
    fs.closeSync(this.fd);
  }

  /**
   * Open the file at `path` again, and write there from now on. Log rotation renames the file
   * (kubelet: 0.log → 0.log.20261130-101500), then asks for this (the CRI's
   * ReopenContainerLog): without it, the writer goes on writing into the renamed file. A
   * line in the middle of a record is not cut: records are written whole.
   */
  reopen(): void {
    const fd = fs.openSync(this.path, 'a', 0o640); // first the new one: if that fails, the old one stays
    fs.closeSync(this.fd);
    this.fd = fd;
  }
}
