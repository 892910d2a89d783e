// cskd align → finetune → distill → eval through the command line, on a tiny
// generated dataset: each writes what the next one reads, and the exported
// student scores the same through ONNX as natively.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { generateDemo } from '../../src/data/demo.js';

afterEach(() => vi.restoreAllMocks());

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const code = await main(argv);
  spy.mockRestore();
  return { code, out };
}

describe('phase commands', () => {
  it('align, finetune, distill and eval hand their files on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-phases-'));
    const data = await generateDemo({ outDir: join(dir, 'data'), sources: 6, variants: 3, unlabeledPerSource: 4, size: 72, photos: false });
    const phase = { epochs: 1, batchSize: 4, lr: 1e-3 };
    const cfg = join(dir, 'cskd.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        data: data.config,
        splits: { train: 'train', val: null, test: 'test' },
        teacher: { model: 'vit-demo-s' },
        student: { model: 'vit-demo-s' },
        align: { ...phase, projectorHidden: 32 },
        finetune: phase,
        distill: { ...phase, unlabeledBatchSize: 4 },
      }),
    );
    const run = join(dir, 'run');
    expect((await capture(['align', cfg, '--run-dir', run])).code).toBe(0);
    const alignedT = join(run, 'models', 'aligned-teacher.safetensors');
    const alignedS = join(run, 'models', 'aligned-student.safetensors');
    expect(existsSync(alignedT) && existsSync(alignedS)).toBe(true);

    expect((await capture(['finetune', cfg, '--aligned', alignedT, '--run-dir', run])).code).toBe(0);
    const teacher = join(run, 'models', 'teacher.safetensors');
    expect(existsSync(teacher)).toBe(true);

    const d = await capture(['distill', cfg, '--teacher', teacher, '--aligned', alignedS, '--run-dir', run]);
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/student/);
    const onnx = join(run, 'models', 'student.onnx');
    expect(existsSync(onnx)).toBe(true);

    const native = JSON.parse((await capture(['eval', '--model', join(run, 'models', 'student.safetensors'), '--data', data.config, '--json'])).out) as { srcc: number; count: number; emd: number };
    const viaOnnx = JSON.parse((await capture(['eval', '--model', onnx, '--data', data.config, '--json'])).out) as { srcc: number; count: number; emd: number };
    expect(viaOnnx.count).toBe(native.count);
    expect(viaOnnx.emd).toBeCloseTo(native.emd, 4);
    expect(Math.abs(viaOnnx.srcc - native.srcc)).toBeLessThan(0.02);
  }, 120_000);
});
