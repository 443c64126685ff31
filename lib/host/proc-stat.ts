/** What /proc/PID/stat says of a process (proc(5)), read past its command name, which may hold spaces and ")". */
import fs from 'node:fs';

/** Clock ticks per second of utime and stime (getconf CLK_TCK: 100 on Linux). */
export const CLOCK_TICKS = 100;

/** The fields after the command name: [0] is the state, [1] the parent pid, [11] and [12] utime and stime. */
function fieldsOf(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
}

/** CPU time a process used so far, user + system, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = fieldsOf(pid);
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** A process's parent pid; 0 once it is gone. */
export function parentPid(pid: number): number {
  try {
    return Number(fieldsOf(pid)[1]);
  } catch {
    return 0;
  }
}
