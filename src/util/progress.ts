// The one progress reporter of every long command (train, features, score):
// on a terminal a bar redrawn in place with rate and ETA; elsewhere (logs, CI)
// a plain line at most every 10 s, so a log holds a few lines per phase, not
// one per step. `quiet` silences it; finish() still hands back the summary.
import type { Writable } from 'node:stream';

export type ProgressStream = Writable & { isTTY?: boolean };

export interface ProgressOptions {
  /** What is being done: the line's first word(s), e.g. 'teacher' or 'features'. */
  label: string;
  /** Units of work in all (steps, images). */
  total: number;
  /** What the rate counts, e.g. 'img'. Default 'img'. */
  unit?: string;
  out?: ProgressStream;
  quiet?: boolean;
  /** Plain-line interval off a terminal. Default 10 s. */
  plainEveryMs?: number;
}

export interface ProgressState {
  /** Units done of total. */
  done: number;
  /** What the rate counts, if not `done` (e.g. images while done counts steps). */
  counted?: number;
  /** Extra text after the counts (losses, errors). */
  text?: string;
}

const BAR = 24;
const REDRAW_MS = 200;

export class ProgressReporter {
  readonly #o: Required<Omit<ProgressOptions, 'quiet'>> & { quiet: boolean };
  #start = NaN;
  #startCounted = 0;
  #startDone = 0;
  #lastDraw = -Infinity;
  #drawn = false;

  constructor(o: ProgressOptions) {
    this.#o = { unit: 'img', out: process.stderr, quiet: false, plainEveryMs: 10_000, ...o };
  }

  get tty(): boolean {
    return this.#o.out.isTTY === true;
  }

  update(s: ProgressState): void {
    const now = performance.now();
    const counted = s.counted ?? s.done;
    // The rate counts from the first update, so the first unit's start-up cost does not skew it.
    if (Number.isNaN(this.#start)) {
      this.#start = now;
      this.#startCounted = counted;
      this.#startDone = s.done;
    }
    if (this.#o.quiet) return;
    const final = s.done >= this.#o.total;
    if (now - this.#lastDraw < (this.tty ? REDRAW_MS : this.#o.plainEveryMs) && !(final && this.tty)) return;
    if (!this.tty && now - this.#start < this.#o.plainEveryMs) return; // short work: the summary line says it all
    this.#lastDraw = now;
    const line = this.#line(s, now);
    if (this.tty) {
      const frac = this.#o.total > 0 ? Math.min(1, s.done / this.#o.total) : 1;
      const filled = Math.round(frac * BAR);
      this.#o.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${line}\x1b[K`);
      this.#drawn = true;
    } else this.#o.out.write(`${line}\n`);
  }

  /** A line that is not progress (a log message), written without tearing the bar. */
  log(line: string): void {
    if (this.#o.quiet) return;
    this.#clear();
    this.#o.out.write(`${line}\n`);
  }

  /** Clears the bar and writes the closing line (unless quiet). */
  finish(summary: string): void {
    if (this.#o.quiet) return;
    this.#clear();
    this.#o.out.write(`${summary}\n`);
  }

  /** Units per second since the first update. */
  rate(counted: number, now = performance.now()): number {
    const elapsed = (now - this.#start) / 1000;
    return elapsed > 0 ? (counted - this.#startCounted) / elapsed : NaN;
  }

  #clear(): void {
    if (this.#drawn && this.tty) this.#o.out.write('\r\x1b[K');
    this.#drawn = false;
  }

  #line(s: ProgressState, now: number): string {
    const counted = s.counted ?? s.done;
    const rate = this.rate(counted, now);
    const elapsed = (now - this.#start) / 1000;
    const progressed = s.done - this.#startDone;
    const eta = progressed > 0 && elapsed > 0 ? ((this.#o.total - s.done) * elapsed) / progressed : NaN;
    const speed = Number.isFinite(rate) ? `${rate.toFixed(1)} ${this.#o.unit}/s` : `-- ${this.#o.unit}/s`;
    return `${this.#o.label} ${s.done}/${this.#o.total}${s.text ? ` ${s.text}` : ''} · ${speed} · ETA ${formatDuration(eta)}`;
  }
}

/** 75 → '1m15s', 3700 → '1h01m', NaN → '--'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
