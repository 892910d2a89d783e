// cskd train's summary on stdout: the test-split table, then the transfer
// probe table, whose every cell is the metrics.jsonl `probe` line of that
// feature set and split (read back from the file, rounded as printed).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { generateDemo } from '../../src/data/demo.js';
import { readEvents } from '../../src/run/events.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());
const dir = mkdtempSync(join(tmpdir(), 'cskd-train-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The printed probe table as rows of feature name → split → [srcc, low, high] strings. */
function parseProbeTable(out: string): Map<string, Map<string, string[]>> {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith('Transfer probe after phase 1'));
  expect(at).toBeGreaterThanOrEqual(0);
  const head = lines[at + 1] as string;
  const splits = [...head.matchAll(/probe SRCC on (\S+)/g)].map((m) => m[1] as string);
  const table = new Map<string, Map<string, string[]>>();
  for (const line of lines.slice(at + 3)) {
    if (line.trim() === '') break;
    const name = line.split(/\s+/)[0] as string;
    const cells = [...line.matchAll(/(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]/g)].map((m) => [m[1], m[2], m[3]] as string[]);
    expect(cells.length).toBe(splits.length);
    table.set(name, new Map(splits.map((s, i) => [s, cells[i] as string[]])));
  }
  return table;
}

describe('cskd train summary', () => {
  it('prints the probe table, equal to the probe lines of metrics.jsonl', async () => {
    const data = await generateDemo({ outDir: join(dir, 'data'), sources: 6, variants: 3, unlabeledPerSource: 4, size: 48, photos: false });
    const phase = { epochs: 1, batchSize: 4, lr: 1e-3 };
    const cfg = join(dir, 'cskd.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        data: data.config,
        splits: { train: 'train', val: null, test: 'test' },
        teacher: { model: 'vit-demo-s' },
        student: { model: 'vit-demo-s' },
        align: { ...phase, projectorHidden: 16 },
        finetune: phase,
        distill: { ...phase, unlabeledBatchSize: 4 },
        baselines: { noAlign: false, noUnlabeled: false },
      }),
    );
    const run = join(dir, 'run');
    const c = captureOutput();
    const code = await main(['train', cfg, '--run-dir', run]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const out = c.out();
    // The score table comes first, the probe table after it.
    expect(out.indexOf('SRCC')).toBeLessThan(out.indexOf('Transfer probe after phase 1'));
    const logged = readEvents(join(run, 'metrics.jsonl')).filter((e) => e['event'] === 'probe');
    expect(new Set(logged.map((e) => e['features']))).toEqual(new Set(['frozen', 'aligned-teacher', 'aligned-student', 'init-teacher', 'init-student']));
    const printed = parseProbeTable(out);
    expect(printed.size).toBe(5);
    for (const e of logged) {
      const cell = printed.get(String(e['features']))?.get(String(e['split']));
      expect(cell, `${String(e['features'])} on ${String(e['split'])}`).toEqual([(e['srcc'] as number).toFixed(3), (e['low'] as number).toFixed(2), (e['high'] as number).toFixed(2)]);
    }
  }, 120_000);
});
