import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ImageCache, ImageLoader } from '../src/data/loader.js';
import { strongView, weakView } from '../src/data/transforms.js';
const dir = process.argv[2]!;
const files: string[] = [];
const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) { if (e.isDirectory()) walk(join(d, e.name)); else if (/\.(png|jpg)$/.test(e.name)) files.push(join(d, e.name)); } };
walk(dir);
const stepMs = Number(process.argv[3] ?? 25);
const views = process.argv[4] === '2' ? [weakView(64), strongView(64)] : [strongView(64)];
const cache = new ImageCache(80);
const loader = new ImageLoader(files.map((path) => ({ path })), { batchSize: 16, views, seed: 1, dropLast: true, cache });
for (let e = 0; e < 4; e++) {
  let wait = 0, n = 0; const t0 = performance.now();
  const ws: string[] = []; for await (const b of loader.epoch(e)) { wait += b.waitMs; n++; ws.push(b.waitMs.toFixed(1)); const s = performance.now(); while (performance.now() - s < stepMs); }
  const el = performance.now() - t0;
  console.log(`epoch ${e}: ${files.length} files, ${n} batches, wait ${(100 * wait / el).toFixed(1)}% (${(wait / n).toFixed(2)} ms/batch)`, ws.join(" "));
}
