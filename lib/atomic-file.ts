/**
 * Writing a small file so that a reader sees the old content or the new, never half of it,
 * even if the writer dies in the middle: write a temporary file in the same folder, flush it
 * (fsync) when it must survive a power cut, then rename(2) it over the name, which is atomic
 * within one filesystem. (Chapter 03's exit-file exercise is this, written by the learner.)
 */
import fs from 'node:fs';

export function writeFileAtomic(file: string, text: string, options: { mode?: number; fsync?: boolean } = {}): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w', options.mode ?? 0o644);
  try {
    fs.writeSync(fd, text);
    if (options.fsync) fs.fsyncSync(fd);
  } catch (error) {
    fs.rmSync(temp, { force: true }); // (a full disk: no half-written temporary file left behind)
    throw error;
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}
