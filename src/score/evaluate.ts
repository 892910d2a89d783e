// Metrics of a model file on a labeled split: an exported ONNX model through
// the same Scorer applications use (its preprocessing from the model's
// metadata), or a cskd checkpoint through the native engine.
import type { LabeledSplit } from '../data/datasets.js';
import { evalView } from '../data/transforms.js';
import { evaluateSplit } from '../eval/evaluate.js';
import { type ScoreReport, scoreReport } from '../eval/metrics.js';
import { loadModel } from '../model/io.js';
import { parseDevice } from '../tensor/device_memory.js';
import { Scorer } from './scorer.js';

export interface ModelFileEvaluation {
  report: ScoreReport;
  /** Bad files: path → what was wrong. */
  skipped: Map<string, string>;
  engine: 'onnxruntime' | 'native';
}

/** Evaluates a checkpoint (.safetensors) or an exported model (.onnx) on a split. */
export async function evaluateModelFile(modelPath: string, split: LabeledSplit, opts: { threshold?: number; threads?: number; device?: string } = {}): Promise<ModelFileEvaluation> {
  const device = parseDevice(opts.device ?? 'cpu');
  if (modelPath.toLowerCase().endsWith('.onnx')) {
    if (device !== 'cpu') throw new RangeError(`${modelPath}: an .onnx model runs on onnxruntime's CPU provider; --device ${device} applies to cskd checkpoints (.safetensors)`);
    return { ...(await evaluateOnnx(modelPath, split, opts)), engine: 'onnxruntime' };
  }
  const model = loadModel(modelPath).to(device);
  const ev = await evaluateSplit(model, split, evalView(model.config.encoder.imgSize), { threshold: opts.threshold ?? 5 });
  return { report: ev.report, skipped: ev.predictions.skipped, engine: 'native' };
}

/**
 * The metrics of an exported ONNX model on a labeled split, through the same
 * Scorer applications use (its preprocessing comes from the model's metadata).
 */
export async function evaluateOnnx(modelPath: string, split: LabeledSplit, opts: { threshold?: number; threads?: number } = {}): Promise<{ report: ScoreReport; skipped: Map<string, string> }> {
  const scorer = await Scorer.load(modelPath, opts.threads ? { threads: opts.threads } : {});
  try {
    const K = split.bins.length;
    const means: number[] = [];
    const targets: number[] = [];
    const predDist: number[] = [];
    const targetDist: number[] = [];
    const skipped = new Map<string, string>();
    for await (const r of scorer.scoreMany(split.samples.map((s) => s.path))) {
      const s = split.samples[r.index] as (typeof split.samples)[number];
      if (r.error) {
        skipped.set(s.path, `${r.error.kind}: ${r.error.detail}`);
        continue;
      }
      if (r.score.distribution.length !== K) throw new RangeError(`${modelPath}: ${r.score.distribution.length} score bins, split '${split.name}' has ${K}`);
      means.push(r.score.mean);
      targets.push(s.mean);
      predDist.push(...r.score.distribution);
      targetDist.push(...s.distribution);
    }
    return { report: scoreReport(means, targets, { threshold: opts.threshold ?? 5, predDist, targetDist, bins: K }), skipped };
  } finally {
    await scorer.release();
  }
}
