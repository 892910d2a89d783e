// ONNX export: onnxruntime-node running the exported file must reproduce the
// native forward (max abs error ≤ 1e-4) for each encoder variant and head, at
// batch 1 and 3; the metadata must read back as written; and where Debian's
// python3-onnx is installed, onnx.checker must accept the file.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { Projector, ScoreHead } from '../../src/nn/heads.js';
import { ParameterSet } from '../../src/nn/parameters.js';
import { VIT_DEFAULTS, VisionTransformer, type VitConfig } from '../../src/nn/vit.js';
import { exportOnnx, type OnnxExportOptions } from '../../src/onnx/export.js';
import { readOnnxMetadata } from '../../src/onnx/metadata.js';
import { softmaxForward } from '../../src/ops/softmax.js';
import { Arena } from '../../src/tensor/arena.js';
import { Rng, randomizeWeights, tensorOf } from '../helpers/numeric.js';

const TOLERANCE = 1e-4;
const MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

const dir = mkdtempSync(join(tmpdir(), 'cskd-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type HeadKind = 'score' | 'projector' | 'none';

interface Model {
  params: ParameterSet;
  vit: VisionTransformer;
  head: ScoreHead | Projector | null;
}

/** A ViT (and head) with random weights, large enough that every parameter matters. */
function randomModel(config: VitConfig, headKind: HeadKind, seed: number, bins = 10): Model {
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const layer = config.depth + 1;
  const head = headKind === 'score' ? new ScoreHead(params, config.embedDim, bins, layer) : headKind === 'projector' ? new Projector(params, config.embedDim, 48, layer, 96) : null;
  randomizeWeights(params, new Rng(seed));
  return { params, vit, head };
}

interface NativeOutputs {
  features: Float32Array;
  logits?: Float32Array;
  distribution?: Float32Array;
  mean?: Float64Array;
  embedding?: Float32Array;
}

function nativeForward(m: Model, images: Float32Array, batch: number, bins: readonly number[]): NativeOutputs {
  const c = m.vit.config;
  const ctx = { arena: new Arena('onnx-test'), training: false };
  const feats = m.vit.forward(tensorOf(images, [batch, c.inChans, c.imgSize, c.imgSize]), ctx);
  const out: NativeOutputs = { features: Float32Array.from(feats.data) };
  if (m.head instanceof ScoreHead) {
    const logits = m.head.forward(feats, ctx);
    const p = ctx.arena.alloc(logits.shape);
    softmaxForward(logits, p);
    const K = m.head.bins;
    out.logits = Float32Array.from(logits.data);
    out.distribution = Float32Array.from(p.data);
    out.mean = Float64Array.from({ length: batch }, (_, b) => bins.reduce((s, v, k) => s + v * (p.data[b * K + k] as number), 0));
  } else if (m.head instanceof Projector) {
    out.embedding = Float32Array.from(m.head.forward(feats, ctx).data);
  } else {
    out.embedding = out.features;
  }
  return out;
}

function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

function pythonHasOnnx(): boolean {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' });
  return r.status === 0;
}

const base: VitConfig = { ...VIT_DEFAULTS, imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 2 };

const variants: { name: string; config: VitConfig; head: HeadKind; bins?: number[] }[] = [
  { name: 'erf GELU, CLS pooling, score head', config: base, head: 'score' },
  {
    name: 'quick GELU, pre-norm, mean pooling, 5-bin score head with custom bins, 40 px',
    config: { ...base, imgSize: 40, gelu: 'quick', preNorm: true, pool: 'mean', layerNormEps: 1e-5, numHeads: 4 },
    head: 'score',
    bins: [0, 0.25, 0.5, 0.75, 1],
  },
  { name: 'tanh GELU, projector head', config: { ...base, gelu: 'tanh', depth: 3 }, head: 'projector' },
  { name: 'no head (pooled features)', config: { ...base, qkvBias: false }, head: 'none' },
];

describe('ONNX export against the native forward', () => {
  variants.forEach((v, i) => {
    it(v.name, async () => {
      const K = v.bins?.length ?? 10;
      const m = randomModel(v.config, v.head, 100 + i, K);
      const bins = v.bins ?? Array.from({ length: K }, (_, k) => k + 1);
      const path = join(dir, `model${i}.onnx`);
      await exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { mean: MEAN, std: STD }, ...(v.bins ? { scoreBins: v.bins } : {}) });

      const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      try {
        expect(session.inputNames).toEqual(['pixel_values']);
        expect(session.outputNames).toEqual(v.head === 'score' ? ['logits', 'distribution', 'mean'] : ['embedding']);
        const c = v.config;
        const rng = new Rng(7 + i);
        const errors: Record<string, number> = {};
        for (const batch of [1, 3]) {
          const images = Float32Array.from(rng.normals(batch * 3 * c.imgSize * c.imgSize));
          const expected = nativeForward(m, images, batch, bins);
          const got = await session.run({ pixel_values: new ort.Tensor('float32', images, [batch, 3, c.imgSize, c.imgSize]) });
          for (const name of session.outputNames) {
            const ref = expected[name as keyof NativeOutputs];
            if (!ref) throw new Error(`no native value for output ${name}`);
            const out = got[name] as ort.Tensor;
            expect(out.dims[0]).toBe(batch);
            const err = maxAbsError(out.data as Float32Array, ref);
            errors[`${name}@${batch}`] = err;
            expect(err, `${name} at batch ${batch}`).toBeLessThanOrEqual(TOLERANCE);
          }
          // Outputs of a useful size, and a distribution that is not one-hot, so the comparisons mean something.
          const first = expected.logits ?? expected.embedding;
          expect(first && Math.max(...Array.from(first, Math.abs))).toBeGreaterThan(0.5);
          if (expected.distribution) expect(Math.max(...expected.distribution)).toBeLessThan(0.99);
        }
        console.info(`onnx export [${v.name}] max abs error:`, JSON.stringify(errors));
      } finally {
        await session.release();
      }
    });
  });
});

describe('ONNX metadata', () => {
  it('reads back what the export wrote, and the writer leaves no temp files', async () => {
    const config: VitConfig = { ...base, gelu: 'quick', preNorm: true };
    const m = randomModel(config, 'score', 3, 10);
    const path = join(dir, 'meta', 'scorer.onnx');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'previous contents'); // replaced atomically
    const opts: OnnxExportOptions = {
      encoder: m.vit,
      head: m.head,
      preprocessing: { mean: MEAN, std: STD, resize: 36, interpolation: 'bilinear' },
      modelConfig: { preset: 'vit-test', run: 'r1' },
    };
    await exportOnnx(path, opts);
    expect(readdirSync(dirname(path))).toEqual(['scorer.onnx']);

    const meta = readOnnxMetadata(path);
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(meta.producer).toBe('cskd');
    expect(meta.producerVersion).toBe(pkg.version);
    expect(meta.props['producer']).toBe('cskd');
    expect(meta.props['producer_version']).toBe(pkg.version);
    expect(meta.formatVersion).toBe('1');
    expect(meta.opset).toBe(17);
    expect(meta.task).toBe('score');
    expect(meta.preprocessing).toEqual({
      size: 32,
      resize: 36,
      crop: 'center',
      interpolation: 'bilinear',
      scale: 1 / 255,
      mean: MEAN,
      std: STD,
      channels: 'RGB',
      layout: 'NCHW',
    });
    expect(meta.scoreBins).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(meta.modelConfig).toEqual({ preset: 'vit-test', run: 'r1', encoder: { ...config }, head: { kind: 'score', bins: 10, name: 'head' } });
    expect(meta.inputNames).toEqual(['pixel_values']);
    expect(meta.outputNames).toEqual(['logits', 'distribution', 'mean']);

  });

  it('embedding models carry no score bins', async () => {
    const m = randomModel(base, 'projector', 4);
    const path = join(dir, 'embed.onnx');
    await exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } });
    const meta = readOnnxMetadata(path);
    expect(meta.task).toBe('embedding');
    expect(meta.scoreBins).toBeNull();
    expect(meta.props['score_bins']).toBeUndefined();
    expect(meta.modelConfig['head']).toEqual({ kind: 'projector', hidden: 96, out: 48, gelu: 'erf' });
  });

  it('errors name what is wrong', async () => {
    const m = randomModel(base, 'score', 5, 10);
    const pre = { mean: MEAN, std: STD };
    const path = join(dir, 'bad.onnx');
    await expect(exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: pre, scoreBins: [1, 2, 3] })).rejects.toThrow(/scoreBins must be 10/);
    await expect(exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { ...pre, size: 224 } })).rejects.toThrow(/preprocessing.size 224 differs from the encoder's image size 32/);
    await expect(exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { ...pre, resize: 16 } })).rejects.toThrow(/resize must be an integer ≥ size/);
    await expect(exportOnnx(path, { encoder: m.vit, head: {} as ScoreHead, preprocessing: pre })).rejects.toThrow(/head Object has no ONNX export/);
    const gelu = randomModel({ ...base, gelu: 'swish' as VitConfig['gelu'] }, 'none', 6);
    await expect(exportOnnx(path, { encoder: gelu.vit, preprocessing: pre })).rejects.toThrow(/GELU kind 'swish' has no ONNX export/);
    expect(readdirSync(dir)).not.toContain('bad.onnx');
    writeFileSync(join(dir, 'not-onnx.onnx'), 'hello');
    expect(() => readOnnxMetadata(join(dir, 'not-onnx.onnx'))).toThrow(/not-onnx.onnx/);
  });
});

describe.skipIf(!pythonHasOnnx())('onnx.checker (Debian python3-onnx)', () => {
  it('accepts every exported model with full_check', async () => {
    const paths: string[] = [];
    for (const [i, v] of variants.entries()) {
      const m = randomModel(v.config, v.head, 200 + i, v.bins?.length ?? 10);
      const path = join(dir, `check${i}.onnx`);
      await exportOnnx(path, { encoder: m.vit, head: m.head, preprocessing: { mean: MEAN, std: STD }, ...(v.bins ? { scoreBins: v.bins } : {}) });
      paths.push(path);
    }
    const script = 'import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(p, full_check=True)\n    print("ok", p)\n';
    const r = spawnSync('/usr/bin/python3', ['-c', script, ...paths], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(paths.length);
  });
});
