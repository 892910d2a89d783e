import { parseArgs } from 'node:util';

import { checkDataset, checkPassed, formatCheckReport } from '../data/check.js';
import { generateDemo } from '../data/demo.js';

export const usage = `cskd data check <dataset.json> [--json] [--max-pixels N]
  Validate a dataset config: every label row (file:line) and every image it names
  (missing, zero-byte, truncated, not an image, too large, unreadable). Exit 1 on any problem.
cskd data demo <out-dir> [--seed N] [--sources N]
  Write the SYNTHETIC demo dataset (degraded procedural images scored by formula; see docs/data.md).`;

async function demo(outDir: string, seed: string | undefined, sources: string | undefined): Promise<number> {
  const n = (v: string | undefined, name: string, dflt: number): number => {
    const x = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be a non-negative integer, got '${v}'`);
    return x;
  };
  const s = await generateDemo({ outDir, seed: n(seed, 'seed', 0), sources: n(sources, 'sources', 24) });
  process.stdout.write(
    `${s.config}: SYNTHETIC demo data, ${s.train} train / ${s.test} test labeled images; unlabeled ${s.unlabeled.map((u) => `${u.name} (${u.files})`).join(', ')}` +
      `${s.photoPackages.length ? `; photos from ${s.photoPackages.join(', ')}` : ''}\n`,
  );
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, 'max-pixels': { type: 'string' }, seed: { type: 'string' }, sources: { type: 'string' } },
  });
  const [sub, config] = positionals;
  if (sub === 'demo' && config !== undefined && positionals.length === 2) return demo(config, values.seed, values.sources);
  if (sub !== 'check' || config === undefined || positionals.length !== 2) throw new Error(`usage: ${usage.split('\n')[0]}`);
  const maxPixels = values['max-pixels'] === undefined ? undefined : Number(values['max-pixels']);
  if (maxPixels !== undefined && !(Number.isInteger(maxPixels) && maxPixels > 0)) throw new Error(`--max-pixels must be a positive integer, got '${values['max-pixels']}'`);
  const report = await checkDataset(config, { maxPixels });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheckReport(report)}\n`);
  return checkPassed(report) ? 0 : 1;
}
