// The nice value of each thread of a process, from /proc (Linux).
import { readFileSync, readdirSync } from 'node:fs';

/** Thread id → nice value (field 19 of /proc/<pid>/task/<tid>/stat). */
export function threadNices(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // ended since the listing
    }
    // After the command name in parentheses: field 3 (state) onwards; the nice value is field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[tid] = Number(fields[16]);
  }
  return out;
}
