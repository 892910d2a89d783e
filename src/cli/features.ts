import type { Command } from 'commander';
import { Option } from 'commander';

import { buildFeatureStore, defaultFeatureStoreDir, describeView } from '../clip/feature_store.js';
import { openClipEncoder } from '../clip/open.js';
import { loadUnlabeledPool } from '../data/datasets.js';
import { world } from '../dist/world.js';
import { formatLabelIssue } from '../data/errors.js';
import { ProgressReporter } from '../util/progress.js';
import { action, addJsonOption, globals, positiveInt, threadsOption } from './options.js';

interface FeaturesOptions {
  clip: string;
  out?: string;
  output?: string;
  threads?: number;
  batch: number;
  shard: number;
  engine?: 'onnxruntime' | 'native';
  json?: boolean;
}

export function registerFeatures(program: Command): void {
  addJsonOption(
    program
      .command('features')
      .description('embed every unlabeled image once with a frozen CLIP image encoder into the feature store phase 1 reads (resumable, incremental; bad images are listed)')
      .argument('<pool>', "a dataset config (its 'unlabeled' sources) or a folder of images")
      .requiredOption('--clip <model>', "an .onnx file, a transformers.js folder, an open_clip export folder, CLIP safetensors (cskd's engine), or 'standin': an offline STAND-IN that is not CLIP")
      .option('--out <dir>', 'the store (default: features/<model> beside the pool config or folder, where cskd train looks)')
      .option('--output <name>', 'the model output holding the embedding (default: found by name)')
      .addOption(threadsOption('onnxruntime threads (default: one per core)'))
      .option('--batch <n>', 'images per model call', positiveInt, 32)
      .option('--shard <n>', 'images per shard', positiveInt, 1024)
      .addOption(new Option('--engine <engine>', 'the engine (default: from the model file)').choices(['onnxruntime', 'native'])),
  ).action(
    action(async (source: string, opts: FeaturesOptions, cmd: Command) => {
      // Under several ranks (mpirun -np N cskd features …) each embeds its share of the shards; rank 0 alone prints.
      const comm = world();
      const quiet = globals(cmd).quiet === true || comm.rank !== 0;
      const note = (line: string) => quiet || process.stderr.write(`features: ${line}\n`);
      const pool = await loadUnlabeledPool(source);
      for (const issue of pool.issues) note(formatLabelIssue(issue));
      const files = pool.sources.flatMap((s) => s.files);
      if (files.length === 0) throw new Error(`${source}: no unlabeled images${pool.isFolder ? '' : " (the config's 'unlabeled' sources found none)"}`);

      const encoder = await openClipEncoder(opts.clip, { threads: opts.threads, output: opts.output, engine: opts.engine });
      const out = opts.out ?? defaultFeatureStoreDir(source, opts.clip);
      note(encoder.standIn ? `using the offline STAND-IN, not CLIP: ${encoder.description}` : encoder.description);
      note(`${files.length} images from ${pool.sources.length} source(s) → ${out}`);

      let progress: ProgressReporter | null = null; // made at the first report, which knows how many are left to do
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
          batchSize: opts.batch,
          shardSize: opts.shard,
          signal: abort.signal,
          comm,
          onProgress: (p) => {
            progress ??= new ProgressReporter({ label: 'features', total: p.total, quiet: quiet || opts.json === true });
            progress.update({ done: p.done, text: `bad ${p.bad} · shards ${p.shardsWritten}` });
          },
        });
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
        (progress as ProgressReporter | null)?.finish(`features: ${summary.embedded} embedded, ${summary.skipped} already there, ${summary.failed} failed in ${summary.seconds.toFixed(1)} s`);
        if (comm.rank !== 0) {
          // rank 0 prints the summary
        } else if (opts.json) {
          process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        } else {
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
    }),
  );
}
