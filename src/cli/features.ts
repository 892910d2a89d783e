import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { describeView, buildFeatureStore, type FeatureProgress } from '../clip/feature_store.js';
import { openClipEncoder } from '../clip/open.js';
import { STANDIN_NAME } from '../clip/standin.js';
import { loadDataset } from '../data/datasets.js';
import { formatLabelIssue } from '../data/errors.js';
import { resolvePool } from '../data/pool.js';

export const usage = `cskd features <pool config | image folder> --clip <model | standin> [--out DIR]
  Embeds every unlabeled image once with a frozen CLIP image encoder into a
  feature store for phase 1 (resumable, incremental; bad images are listed).
  --clip M        an .onnx file, a transformers.js folder (onnx/vision_model.onnx),
                  an open_clip export folder, CLIP safetensors (cskd's engine), or
                  'standin': an offline STAND-IN that is not CLIP (nsfwjs MobileNetV2)
  --out DIR       the store (default: features/<model name> beside the pool config)
  --output NAME   the model output holding the embedding (default: found by name)
  --threads N     onnxruntime threads (default: one per core)
  --batch N       images per model call (default 32)
  --shard N       images per shard (default 1024)
  --engine E      onnxruntime | native (default: from the model file)
  --json          print the result as JSON`;

function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name}: expected a positive integer, got '${v}'`);
  return n;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** A progress bar redrawn in place on a TTY; a plain line every few seconds otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): { update(p: FeatureProgress): void; done(): void } {
  const tty = stream.isTTY === true;
  let last = 0;
  let lastKey = '';
  let drew = false;
  return {
    update(p) {
      const now = performance.now();
      const key = `${p.done}/${p.shardsWritten}`;
      const final = p.done === p.total;
      if (key === lastKey || (!final && now - last < (tty ? 200 : 5000))) return;
      last = now;
      lastKey = key;
      const rate = `${p.imagesPerSecond.toFixed(1)} img/s`;
      const stats = `${p.done}/${p.total}  ${rate}  ETA ${formatSeconds(p.etaSeconds)}  bad ${p.bad}  shards ${p.shardsWritten}`;
      if (tty) {
        const width = 24;
        const filled = p.total === 0 ? width : Math.round((width * p.done) / p.total);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}\x1b[K`);
        drew = true;
      } else {
        stream.write(`features: ${stats}\n`);
      }
    },
    done() {
      if (tty && drew) stream.write('\n');
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      clip: { type: 'string' },
      out: { type: 'string' },
      output: { type: 'string' },
      threads: { type: 'string' },
      batch: { type: 'string' },
      shard: { type: 'string' },
      engine: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new Error(`expected one pool config (or image folder), got ${positionals.length}\n${usage}`);
  if (!values.clip) throw new Error(`--clip is required: a CLIP model path, or '${STANDIN_NAME}' for the offline stand-in (not CLIP)`);
  const engine = values.engine;
  if (engine !== undefined && engine !== 'onnxruntime' && engine !== 'native') throw new Error(`--engine: expected onnxruntime or native, got '${engine}'`);
  const source = resolve(positionals[0]!);
  if (!existsSync(source)) throw new Error(`${source} does not exist (expected a dataset config .json with 'unlabeled' sources, or a folder of images)`);

  // The pool: a dataset config's unlabeled sources, or one folder.
  const isDir = statSync(source).isDirectory();
  const pool = isDir ? await resolvePool([{ name: basename(source), dir: source }], source) : await loadDataset(source).then((d) => ({ sources: d.unlabeled, issues: d.issues }));
  for (const issue of pool.issues) process.stderr.write(`features: ${formatLabelIssue(issue)}\n`);
  const files = pool.sources.flatMap((s) => s.files);
  if (files.length === 0) throw new Error(`${source}: no unlabeled images${isDir ? '' : " (the config's 'unlabeled' sources found none)"}`);

  const threads = values.threads === undefined ? undefined : positiveInt('threads', values.threads, 1);
  const encoder = await openClipEncoder(values.clip, { threads, output: values.output, engine: engine as 'onnxruntime' | 'native' | undefined });
  const name = values.clip === STANDIN_NAME ? 'standin' : basename(resolve(values.clip)).replace(/\.(onnx|safetensors)$/, '');
  const out = resolve(values.out ?? resolve(source, '..', 'features', name));
  if (encoder.standIn) process.stderr.write(`features: using the offline STAND-IN, not CLIP: ${encoder.description}\n`);
  else process.stderr.write(`features: ${encoder.description}\n`);
  process.stderr.write(`features: ${files.length} images from ${pool.sources.length} source(s) → ${out}\n`);

  const progress = values.json ? null : progressPrinter();
  // Ctrl-C finishes the shard under way, so nothing computed is lost.
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\nfeatures: stopping after the current shard (Ctrl-C again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const r = await buildFeatureStore({
      dir: out,
      encoder,
      files,
      batchSize: positiveInt('batch', values.batch, 32),
      shardSize: positiveInt('shard', values.shard, 1024),
      signal: abort.signal,
      onProgress: (p) => progress?.update(p),
    });
    progress?.done();
    const store = r.store;
    const summary = {
      store: out,
      model: store.header.model.name,
      standIn: store.header.model.standIn,
      modelHash: store.header.model.hash,
      dim: store.dim,
      view: describeView(store.header.view),
      images: store.count,
      embedded: r.embedded,
      skipped: r.skipped,
      failed: r.failed,
      bad: store.bad.length,
      seconds: r.seconds,
      imagesPerSecond: r.seconds > 0 ? r.embedded / r.seconds : 0,
      complete: r.complete,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      const lines = [
        `store    ${out}${summary.standIn ? '  (STAND-IN features, not CLIP)' : ''}`,
        `model    ${summary.model} (${summary.dim}-d, sha256 ${summary.modelHash.slice(0, 12)})`,
        `view     ${summary.view}`,
        `images   ${summary.images} in the store: ${summary.embedded} embedded now, ${summary.skipped} already done, ${summary.failed} failed now`,
        `speed    ${summary.imagesPerSecond.toFixed(1)} images/s over ${summary.seconds.toFixed(1)} s`,
      ];
      for (const b of store.bad.slice(0, 20)) lines.push(`bad      ${b.path}: ${b.kind}: ${b.detail}`);
      if (store.bad.length > 20) lines.push(`bad      … ${store.bad.length - 20} more in ${out}/manifest.jsonl`);
      if (!r.complete) lines.push('stopped  early; run the same command again to finish');
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    store.close();
    return r.complete ? 0 : 130;
  } finally {
    process.off('SIGINT', onSigint);
    await encoder.close();
  }
}
