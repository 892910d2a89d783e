// cskd align → finetune → distill → eval through the command line, on a tiny
// generated dataset: each writes what the next one reads, and the exported
// student scores the same through ONNX as natively.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import { generateDemo } from '../../src/data/demo.js';
import { readEvents } from '../../src/run/events.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const c = captureOutput();
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: c.out() };
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
    // Features first, then training: training finds them where cskd features put them.
    const unlabeled = data.unlabeled.reduce((n, u) => n + u.files, 0);
    const f = await capture(['features', data.config, '--clip', 'standin', '--json']);
    expect(f.code).toBe(0);
    const store = (JSON.parse(f.out) as { store: string; embedded: number }).store;
    expect(store).toBe(join(dirname(data.config), 'features', 'standin'));
    expect((JSON.parse(f.out) as { embedded: number }).embedded).toBe(unlabeled);
    expect((await capture(['align', cfg, '--run-dir', run])).code).toBe(0);
    const featureLog = readEvents(join(run, 'metrics.jsonl')).filter((e) => e['event'] === 'features').map((e) => String(e['message']));
    // The pool's store is reused as it is (the transfer probe then adds the labeled images to it).
    expect(featureLog.some((l) => l.startsWith(`feature store ${store}: 0 embedded, ${unlabeled} already there, 0 failed in `))).toBe(true);
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

describe("the CLIP fine-tuning baseline", () => {
  it("starts from CLIP's own vision tower, imported from safetensors", async () => {
    const { ClipVisionModel, saveClipVision } = await import('../../src/nn/clip.js');
    const { ParameterSet } = await import('../../src/nn/parameters.js');
    const { VIT_DEFAULTS } = await import('../../src/nn/vit.js');
    const { initParameters } = await import('../../src/nn/init.js');
    const { Rng } = await import('../../src/util/rng.js');
    const { resolveTrainConfig } = await import('../../src/train/config.js');
    const { prepareRun, runClipFinetune } = await import('../../src/train/pipeline.js');
    const { RunDir } = await import('../../src/run/run_dir.js');
    const dir = mkdtempSync(join(tmpdir(), 'cskd-clipft-'));
    const clipConfig = { ...VIT_DEFAULTS, imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 1, gelu: 'quick' as const, layerNormEps: 1e-5, preNorm: true, projectionDim: 24 };
    const clip = new ClipVisionModel(new ParameterSet(), clipConfig);
    initParameters(clip.params, new Rng(9));
    clip.encoder.patchBias.value.fill(0); // CLIP's patch embedding has no bias
    const clipFile = join(dir, 'clip.safetensors');
    saveClipVision(clip, clipFile, 'hf');
    const data = await generateDemo({ outDir: join(dir, 'data'), sources: 4, variants: 3, unlabeledPerSource: 2, size: 48, photos: false });
    const config = resolveTrainConfig({
      data: data.config,
      splits: { train: 'train', val: null, test: 'test' },
      clip: { model: clipFile },
      finetune: { epochs: 1, batchSize: 4, lr: 1e-12, weightDecay: 0 },
      baselines: { clipFinetune: true },
    });
    const ctx = await prepareRun(config, { runDir: new RunDir(join(dir, 'run')), features: () => Promise.reject(new Error('not used')) });
    const tuned = await runClipFinetune(ctx);
    expect(tuned.config.encoder).toMatchObject({ embedDim: 64, depth: 2, gelu: 'quick', preNorm: true, layerNormEps: 1e-5 });
    // A learning rate of 1e-12: the weights are still CLIP's, so they came from the file.
    for (const name of ['blocks.1.attn.qkv.weight', 'norm_pre.weight', 'pos_embed']) {
      const got = tuned.params.get(name).value.data;
      const want = clip.params.get(name).value.data;
      expect(got.every((v, i) => Math.abs(v - (want[i] as number)) < 1e-6)).toBe(true);
    }
    const bad = resolveTrainConfig({ data: data.config, clip: { model: 'standin' }, baselines: { clipFinetune: true } });
    await expect(runClipFinetune({ ...ctx, config: bad })).rejects.toThrow(/needs clip.model to be a CLIP safetensors file/);
  }, 60_000);
});
