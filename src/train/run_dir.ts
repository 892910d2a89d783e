// A run directory: everything one training run writes.
//   config.json        the resolved config
//   metrics.jsonl      one JSON object per line: steps, epochs, evaluations
//   skipped.txt        every bad input file met, with what was wrong
//   checkpoints/       <phase>-last.safetensors, <phase>-best.safetensors
//   models/            final models (safetensors and ONNX)
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export class RunDir {
  readonly path: string;
  readonly #skipped = new Set<string>();

  constructor(path: string) {
    this.path = resolve(path);
    mkdirSync(join(this.path, 'checkpoints'), { recursive: true });
    mkdirSync(join(this.path, 'models'), { recursive: true });
    const skipped = join(this.path, 'skipped.txt');
    if (existsSync(skipped)) for (const line of readFileSync(skipped, 'utf8').split('\n')) if (line) this.#skipped.add(line);
  }

  /** A new directory under `root` named `<prefix>-<UTC timestamp>`. */
  static create(root: string, prefix = 'run'): RunDir {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
    return new RunDir(join(root, `${prefix}-${stamp}`));
  }

  file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  checkpoint(phase: string, which: 'last' | 'best'): string {
    return this.file('checkpoints', `${phase}-${which}.safetensors`);
  }

  writeConfig(config: unknown): void {
    writeFileSync(this.file('config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  /** Appends one event to metrics.jsonl (with a timestamp). */
  log(event: Record<string, unknown>): void {
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }

  /** Every event logged so far (a torn last line from a killed process is ignored). */
  events(): Record<string, unknown>[] {
    const f = this.file('metrics.jsonl');
    if (!existsSync(f)) return [];
    const out: Record<string, unknown>[] = [];
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* torn line */
      }
    }
    return out;
  }

  /** Records bad input files once each; returns how many were new. */
  recordSkipped(entries: Iterable<[string, string]>): number {
    let added = 0;
    for (const [path, why] of entries) {
      const line = `${path}\t${why}`;
      if (this.#skipped.has(line)) continue;
      this.#skipped.add(line);
      appendFileSync(this.file('skipped.txt'), `${line}\n`);
      added++;
    }
    return added;
  }

  get skippedCount(): number {
    return this.#skipped.size;
  }
}
