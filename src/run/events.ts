// The event log of a run: metrics.jsonl, one JSON object per line (steps,
// epochs, evaluations, …). Appends are small single writes, so a killed
// process can tear only the last line, which the reader skips.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export type RunEvent = Record<string, unknown>;

/** Appends one event, stamped with the time. */
export function appendEvent(file: string, event: RunEvent): void {
  appendFileSync(file, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

/** Every event in the log (none if it does not exist; a torn last line is ignored). */
export function readEvents(file: string): RunEvent[] {
  if (!existsSync(file)) return [];
  const out: RunEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as RunEvent);
    } catch {
      /* a torn last line from a killed process */
    }
  }
  return out;
}
