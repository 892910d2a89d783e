// A real kill: `cskd features` runs in a child process and gets SIGKILL
// mid-run; the same command run again must finish, recompute none of the
// shards that were complete on disk, leave no torn shard, and hold the right
// embedding for every image.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it, vi } from 'vitest';

import { buildFeatureStore } from '../../src/clip/feature_store.js';
import { OnnxClipEncoder } from '../../src/clip/onnx_encoder.js';
import { main } from '../../src/cli/main.js';
import { encodePng, solid } from '../data/images.js';
import { tinyExpected, tinyModel } from './tiny_model.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'cskd-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const D = 3;
const S = 8;
const W = Float32Array.from([1, 0.5, -1, 2, 0, 1, -0.5, 1, 0.25]);
const MEAN = [0.5, 0.5, 0.5];
const STD = [0.25, 0.25, 0.25];
const N = 240;

function colour(i: number): number[] {
  return [(i * 37) % 256, (i * 11 + 40) % 256, (i * 5 + 90) % 256];
}

describe('cskd features killed with SIGKILL', () => {
  it('finishes on rerun without redoing finished shards', async () => {
    const imgs = join(root, 'imgs');
    mkdirSync(imgs);
    for (let i = 0; i < N; i++) writeFileSync(join(imgs, `i${String(i).padStart(4, '0')}.png`), encodePng(solid(12, 10, colour(i)), 12, 10, 2, 8));
    const modelDir = join(root, 'model');
    mkdirSync(join(modelDir, 'onnx'), { recursive: true });
    writeFileSync(join(modelDir, 'onnx', 'vision_model.onnx'), tinyModel({ size: S, weight: W, dim: D }));
    writeFileSync(join(modelDir, 'preprocessor_config.json'), JSON.stringify({ crop_size: S, size: S, image_mean: MEAN, image_std: STD }));
    const out = join(root, 'store');
    const manifest = join(out, 'manifest.jsonl');

    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'features_child.ts'), 'features', imgs, '--clip', modelDir, '--out', out, '--shard', '2', '--batch', '1', '--threads', '1'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // Kill once a few shards are done, at whatever point the child happens to be.
    for (let t = 0; t < 3000; t++) {
      if (existsSync(manifest) && readFileSync(manifest, 'utf8').split('\n').length > 6) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    const code = await exited;
    expect(code).toBeNull(); // killed, not finished

    // What was complete on disk at the kill (manifest lines and possibly one orphan shard).
    const shardDir = join(out, 'shards');
    const finished = readdirSync(shardDir).filter((f) => /^shard-\d+\.safetensors$/.test(f));
    const mtimes = new Map(finished.map((f) => [f, statSync(join(shardDir, f)).mtimeMs]));
    expect(finished.length).toBeGreaterThanOrEqual(3);
    expect(finished.length * 2).toBeLessThan(N);

    // Rerun in-process with an encoder that counts what it embeds.
    const inner = await OnnxClipEncoder.open(modelDir, { threads: 1 });
    let embedded = 0;
    const counting = Object.create(inner, { encode: { value: (p: Float32Array, b: number) => ((embedded += b), inner.encode(p, b)) } }) as OnnxClipEncoder;
    const files = readdirSync(imgs).map((f) => join(imgs, f));
    const r = await buildFeatureStore({ dir: out, encoder: counting, files, shardSize: 2, batchSize: 1 });
    await inner.close();
    expect(r.complete).toBe(true);
    expect(embedded).toBe(N - 2 * finished.length);
    for (const [f, m] of mtimes) expect(statSync(join(shardDir, f)).mtimeMs, f).toBe(m);
    expect(readdirSync(shardDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(r.store.count).toBe(N);
    for (let i = 0; i < N; i++) {
      const got = r.store.read(r.store.indexOf(join(imgs, `i${String(i).padStart(4, '0')}.png`)));
      const want = tinyExpected(colour(i), MEAN, STD, W, D);
      for (let k = 0; k < D; k++) expect(got[k]).toBeCloseTo(want[k]!, 4);
    }
    r.store.close();

    // And the command itself now has nothing left to do.
    let text = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((text += String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['features', imgs, '--clip', modelDir, '--out', out, '--json', '--threads', '1'])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    expect(JSON.parse(text)).toMatchObject({ images: N, embedded: 0, skipped: N, failed: 0, complete: true, standIn: false });
  }, 30_000);
});
