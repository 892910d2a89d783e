// Progress for long phases: a redrawn line with loss, images/s and ETA on a
// TTY, plain lines at most every few seconds otherwise (logs, CI).
import type { Writable } from 'node:stream';

export interface ProgressUpdate {
  phase: string;
  step: number;
  totalSteps: number;
  images: number;
  losses: Record<string, number>;
}

export class ProgressPrinter {
  readonly #out: Writable & { isTTY?: boolean };
  // The rate counts from the first update, so a phase's first step does not
  // divide by almost nothing.
  #start = NaN;
  #startImages = 0;
  #lastPlain = 0;
  #images = 0;

  constructor(out: Writable & { isTTY?: boolean } = process.stderr, readonly plainEveryMs = 5000) {
    this.#out = out;
  }

  update(u: ProgressUpdate): void {
    this.#images = u.images;
    if (Number.isNaN(this.#start)) {
      this.#start = performance.now();
      this.#startImages = u.images;
    }
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = elapsed > 0 ? (u.images - this.#startImages) / elapsed : NaN;
    const eta = u.step > 0 ? (elapsed / u.step) * (u.totalSteps - u.step) : NaN;
    const losses = Object.entries(u.losses)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(' ');
    const text = `${u.phase} ${u.step}/${u.totalSteps} ${losses} ${Number.isFinite(rate) ? rate.toFixed(1) : '--'} img/s ETA ${formatSeconds(eta)}`;
    if (this.#out.isTTY) {
      const width = 28;
      const filled = Math.round((width * u.step) / Math.max(1, u.totalSteps));
      this.#out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else if (performance.now() - this.#lastPlain >= this.plainEveryMs || u.step === u.totalSteps) {
      this.#lastPlain = performance.now();
      this.#out.write(`${text}\n`);
    }
  }

  done(summary: string): void {
    if (this.#out.isTTY) this.#out.write('\r\x1b[K');
    this.#out.write(`${summary}\n`);
  }

  get images(): number {
    return this.#images;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
