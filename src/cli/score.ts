// cskd score: a thin shell over expandInputs + Scorer + scoreFiles.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import { expandInputs, parseShard } from '../score/inputs.js';
import { scoreFiles, type ScoreFilesProgress, type ScoreFilesSummary } from '../score/files.js';
import { Scorer } from '../score/scorer.js';

export const usage = `cskd score <paths | folders | globs | @listfile>… --model M --out F [options]
  Scores images with an exported model into F (.csv or .jsonl), appending as it goes.
  Rerun the same command to resume: finished images are skipped, a torn last row is cut off.
  Folders are walked recursively (image files found by content and extension); bad
  images get a row whose error column names the problem. Exit status 0 unless the run
  itself fails (no model, unwritable output…).
  --model, -m M        ONNX model exported by cskd
  --out, -o F          result file: .csv (path, mean, std, p_<bin>…, error) or .jsonl
  --shard i/n          score only shard i of n (0-based; by hash of the path)
  --batch-size N       images per model call (default 16)
  --threads N          onnxruntime threads (default: all cores)
  --concurrency N      images decoding at once (default: cores, at least 2)
  --max-pixels N       refuse larger images (default 50000000)
  --retry-errors       score again the images whose earlier rows hold an error
  --quiet, -q          no progress, only the summary`;

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name}: expected a positive integer, got '${v}'`);
  return n;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A redrawn bar on a terminal; a plain line every 10 s otherwise. */
function progressReporter(stream: NodeJS.WriteStream, quiet: boolean): { update: (p: ScoreFilesProgress) => void; end: () => void } {
  if (quiet) return { update: () => undefined, end: () => undefined };
  const tty = stream.isTTY === true;
  let last = 0;
  let drawn = false;
  const line = (p: ScoreFilesProgress): string => {
    const rate = p.elapsedMs > 0 ? (p.done * 1e3) / p.elapsedMs : 0;
    const eta = rate > 0 ? (p.total - p.done) / rate : Infinity;
    const frac = p.total > 0 ? p.done / p.total : 1;
    const stats = `${p.done}/${p.total} · ${p.errors} errors · ${rate.toFixed(1)} img/s · ETA ${clock(eta)}`;
    if (!tty) return `scored ${stats}`;
    const width = 24;
    const filled = Math.round(frac * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${stats}`;
  };
  return {
    update(p) {
      const now = performance.now();
      const every = tty ? 200 : 10_000;
      if (now - last < every && p.done < p.total) return;
      if (p.done === 0 && !tty) return;
      last = now;
      if (tty) {
        stream.write(`\r\x1b[K${line(p)}`);
        drawn = true;
      } else stream.write(`${line(p)}\n`);
    },
    end() {
      if (tty && drawn) stream.write('\n');
    },
  };
}

function summaryText(s: ScoreFilesSummary, out: string, shardText: string | null): string {
  const kinds = Object.entries(s.errorsByKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const parts = [
    `${s.done} images in ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s): ${s.done - s.errors} scored, ${s.errors} errors${kinds ? ` (${kinds})` : ''}`,
  ];
  if (s.skipped > 0) parts.push(`${s.skipped} already done`);
  if (shardText) parts.push(`shard ${shardText}: ${s.inShard} of ${s.inputs} inputs`);
  if (s.truncatedBytes > 0) parts.push(`cut a torn last row of ${s.truncatedBytes} bytes`);
  if (s.retried > 0) parts.push(`${s.retried} earlier errors retried`);
  return `${s.interrupted ? 'interrupted: ' : ''}${parts.join('; ')} → ${out}`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      out: { type: 'string', short: 'o' },
      shard: { type: 'string' },
      'batch-size': { type: 'string' },
      threads: { type: 'string' },
      concurrency: { type: 'string' },
      'max-pixels': { type: 'string' },
      'retry-errors': { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  if (!values.model) throw new Error('--model is required (an ONNX model exported by cskd)');
  if (!values.out) throw new Error('--out is required (a .csv or .jsonl file)');
  if (positionals.length === 0) throw new Error('no inputs: give image paths, folders, globs or @listfile');
  const shard = values.shard !== undefined ? parseShard(values.shard) : null;
  const batchSize = int('batch-size', values['batch-size']);
  const threads = int('threads', values.threads) ?? availableParallelism();
  const concurrency = int('concurrency', values.concurrency);
  const maxPixels = int('max-pixels', values['max-pixels']);

  const { files, empty } = await expandInputs(positionals);
  for (const arg of empty) process.stderr.write(`cskd score: warning: no image files in ${arg}\n`);
  if (files.length === 0) throw new Error('no image files found in the inputs');

  const scorer = await Scorer.load(values.model, { threads, ...(batchSize !== undefined ? { maxBatch: batchSize } : {}), ...(maxPixels !== undefined ? { maxPixels } : {}) });
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\ncskd score: stopping after the images in progress (again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = progressReporter(process.stderr, values.quiet);
  try {
    const summary = await scoreFiles(scorer, files, {
      out: values.out,
      shard,
      retryErrors: values['retry-errors'],
      signal: abort.signal,
      onProgress: progress.update,
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
    });
    progress.end();
    process.stderr.write(`${summaryText(summary, values.out, values.shard ?? null)}\n`);
    return summary.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await scorer.release();
  }
}
