/** What /proc/PID/stat says of a process (proc(5)), read past its command name, which may hold spaces and ")". */
import fs from 'node:fs';

/** Clock ticks per second of utime and stime (getconf CLK_TCK: 100 on Linux). */
export const CLOCK_TICKS = 100;

/** CPU time a process used so far, user + system, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
