// cskd gallery: a thin shell over buildGallery (src/score/gallery/build.ts).
// Usage problems (a bad number, --split without --labels, names that do not
// match the files) exit 2 before any work; a bad score file is one line
// naming file:line and exit 1.
import { pathToFileURL } from 'node:url';

import { type Command, InvalidArgumentError } from 'commander';

import { type GallerySummary, buildGallery } from '../score/gallery/build.js';
import { DEFAULT_THUMBNAILS } from '../score/gallery/thumbnails.js';
import { ProgressReporter } from '../util/progress.js';
import { action, addJsonOption, collect, globals, integer, positiveInt } from './options.js';

interface GalleryCliOptions {
  out: string;
  images?: string;
  labels?: string;
  split?: string;
  name?: string[];
  title?: string;
  bins?: number[];
  thumbSize: number;
  quality: number;
  concurrency?: number;
  forceThumbnails?: boolean;
  json?: boolean;
}

/** '1,2,…,10' or '1:10' or '1:5:0.5' → bin scores. */
export function parseBins(value: string): number[] {
  const range = /^\s*(-?[\d.]+)\s*:\s*(-?[\d.]+)\s*(?::\s*([\d.]+)\s*)?$/.exec(value);
  let bins: number[];
  if (range) {
    const [lo, hi, step] = [Number(range[1]), Number(range[2]), Number(range[3] ?? 1)];
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && step > 0 && hi > lo)) throw new InvalidArgumentError('expected lo:hi[:step] with lo < hi and step > 0');
    const n = Math.round((hi - lo) / step) + 1;
    bins = Array.from({ length: n }, (_, k) => +(lo + k * step).toFixed(10));
  } else bins = value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (bins.length < 2 || bins.some((b) => !Number.isFinite(b))) throw new InvalidArgumentError('expected at least two bin scores, e.g. 1,2,3 or 1:10 or 1:5:0.5');
  if (bins.some((b, i) => i > 0 && b <= bins[i - 1]!)) throw new InvalidArgumentError('bin scores must increase');
  return bins;
}

function summaryText(s: GallerySummary): string {
  const lines = [
    `wrote ${s.out}: ${s.images} images, ${s.models.map((m) => `${m.name} (${m.rows} rows, ${m.errors} errors)`).join(', ')}`,
    `thumbnails: ${s.thumbnails.made} made, ${s.thumbnails.reused} reused, ${s.thumbnails.failed} without one`,
  ];
  if (s.labeled) lines.push(`labels: split '${s.labeled.split}', ${s.labeled.matched} images matched, ${s.labeled.unmatched} not`);
  for (const p of s.pairs) lines.push(`${s.models[p.a]!.name} vs ${s.models[p.b]!.name}: SRCC ${p.srcc === null ? '–' : p.srcc.toFixed(3)} over ${p.shared} shared images`);
  lines.push(`open ${pathToFileURL(s.out).href}/index.html`);
  return lines.join('\n');
}

export function registerGallery(program: Command): void {
  addJsonOption(
    program
      .command('gallery')
      .description(
        'a static site of scored images (opens from disk or any static server, no network): sort by mean, std or error, filter, the full distribution per image; with two or more score files, a scatter of their means with the SRCC and the largest disagreements',
      )
      .argument('<scores...>', 'result files of cskd score (.csv or .jsonl), one per model')
      .requiredOption('-o, --out <dir>', 'folder to write the site to (a new or empty folder, or an earlier gallery, which is replaced)')
      .option('--images <root>', 'folder the relative paths in the score files resolve against (default: the working directory)')
      .option('--labels <dataset>', 'a dataset config (dataset.json) whose split gives the true distributions')
      .option('--split <name>', "the split of --labels (default 'test')")
      .option('--name <name>', 'a name per score file, in order (repeat; default: the file names)', collect)
      .option('--title <text>', 'page title (default: from the model names)')
      .option('--bins <list>', 'bin scores for .jsonl files when no .csv or labels give them, e.g. 1:10 or 1:5:0.5 (default 1…K)', parseBins)
      .option('--thumb-size <px>', 'longest side of a thumbnail', integer(16, 4096), DEFAULT_THUMBNAILS.size)
      .option('--quality <q>', 'JPEG quality of the thumbnails', integer(1, 100), DEFAULT_THUMBNAILS.quality)
      .option('--concurrency <n>', 'images in flight while making thumbnails (default: cores, at least 4)', positiveInt)
      .option('--force-thumbnails', "make every thumbnail again, even those an earlier build's cache holds"),
  ).action(
    action(async (scores: string[], opts: GalleryCliOptions, cmd: Command) => {
      if (opts.split !== undefined && opts.labels === undefined) cmd.error("error: option '--split <name>' needs --labels <dataset>", { exitCode: 2, code: 'cskd.usage' });
      if (opts.name && opts.name.length !== scores.length) {
        cmd.error(`error: ${opts.name.length} --name for ${scores.length} score files (give one per file, in order)`, { exitCode: 2, code: 'cskd.usage' });
      }
      const quiet = globals(cmd).quiet === true || opts.json === true;
      let progress: ProgressReporter | null = null;
      const summary = await buildGallery({
        scores,
        out: opts.out,
        ...(opts.images !== undefined ? { images: opts.images } : {}),
        ...(opts.labels !== undefined ? { labels: opts.labels, split: opts.split ?? 'test' } : {}),
        ...(opts.name ? { names: opts.name } : {}),
        ...(opts.title !== undefined ? { title: opts.title } : {}),
        ...(opts.bins ? { bins: opts.bins } : {}),
        thumbnails: {
          size: opts.thumbSize,
          quality: opts.quality,
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
          ...(opts.forceThumbnails ? { force: true } : {}),
        },
        onProgress: (p) => {
          progress ??= new ProgressReporter({ label: 'thumbnails', total: p.total, quiet });
          progress.update({ done: p.done });
        },
      });
      (progress as ProgressReporter | null)?.finish('thumbnails done'); // clears the bar; the summary below says what was made
      // The summary is the result: stdout, under --quiet too.
      process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `${summaryText(summary)}\n`);
    }),
  );
}
