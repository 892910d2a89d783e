// Lowering this process's CPU priority (raising its nice value) from inside.
// On Linux the nice value belongs to each thread: os.setPriority(id) sets the
// thread whose id that is, and a new thread inherits its creator's value. So
// every thread already running (Node's own: V8's platform workers, libuv's)
// is lowered one by one from /proc/self/task, and the threads started later
// (onnxruntime's, libuv's pool, libvips's) inherit it. Elsewhere the call sets
// the whole process.
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Runs every thread of this process `by` nice levels below where it is now (capped at 19). */
export function lowerPriority(by: number): void {
  if (!Number.isInteger(by) || by < 0 || by > 19) throw new RangeError(`lowerPriority: nice levels must be an integer in 0..19, got ${by}`);
  const nice = Math.min(19, getPriority() + by);
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    threads = [0];
  }
  for (const id of threads) {
    try {
      setPriority(id, nice);
    } catch {
      // A thread that ended since the listing.
    }
  }
}
