// The losses of CSKD. Each returns the batch-mean loss and, when a gradient
// tensor is given, writes the gradient in the same native pass.
import { native } from '../native.js';
import type { DeviceView } from '../tensor/device_memory.js';
import { expectFinite, expectSameDevice, expectShape, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { NonFiniteError } from '../util/errors.js';

interface Common {
  /** Per-sample weights [B]; loss = (1/B) Σ w_i l_i. */
  weights?: Tensor | null;
  /** Gradient output, same shape as the prediction; written, not accumulated. */
  grad?: Tensor | null;
  /** Multiplies the gradient (e.g. 1 / micro-batches, or a loss weight λ). */
  gradScale?: number;
  /**
   * A one-element tensor on the tensors' device that receives the loss; the
   * call then returns undefined and does not wait for the device (a LossSlot
   * reads it once per step). Without it, the loss is
   * returned, which on a device means a synchronisation.
   */
  into?: Tensor;
}

function checkLoss(op: string, pred: Tensor, target: Tensor, c: Common): [number, number] {
  expectSameDevice(op, { pred, target, weights: c.weights, grad: c.grad, into: c.into });
  if (c.into && c.into.size !== 1) throw new RangeError(`${op}: into has shape ${shapeString(c.into.shape)}, expected one element`);
  const [B, D] = expectShape(op, 'pred', pred, [null, null]).shape as [number, number];
  if (B < 1 || D < 1) throw new RangeError(`${op}: empty batch [${B}, ${D}]`);
  expectShape(op, 'target', target, [B, D]);
  if (c.weights) expectShape(op, 'weights', c.weights, [B]);
  if (c.grad) expectShape(op, 'grad', c.grad, [B, D]);
  expectFinite(op, 'gradScale', c.gradScale ?? 1);
  return [B, D];
}

/** A loss came out NaN or infinite: the trainer stops before updating the weights. */
export class NonFiniteLossError extends NonFiniteError {
  constructor(
    readonly op: string,
    value: number,
  ) {
    super('loss', value, `${op}: loss is ${value} (non-finite input or prediction)`);
    this.name = 'NonFiniteLossError';
  }
}

/** Where the native loss goes: the device scalar of `into` (device tensors only). */
function lossOut(c: Common): DeviceView | undefined {
  const s = c.into?.storage;
  return s === undefined || s instanceof Float32Array ? undefined : s;
}

type LossResult<O> = O extends { into: Tensor } ? undefined : number;

function result<O extends Common>(op: string, loss: number | undefined, c: O): LossResult<O> {
  if (loss === undefined) return undefined as LossResult<O>;
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(op, loss);
  // On the CPU the addon returns the value; `into` still receives it.
  if (c.into) {
    c.into.fill(loss);
    return undefined as LossResult<O>;
  }
  return loss as LossResult<O>;
}

/**
 * Where one loss of a training step goes. On the CPU the loss op returns its
 * value. On a device the op writes it into a one-element tensor of the step's
 * arena and returns at once; value() reads it after the backward is enqueued,
 * so a step waits for the device once, not after each loss. Either way a
 * non-finite loss throws NonFiniteLossError before the optimizer runs.
 */
export class LossSlot {
  readonly op: string;
  readonly into: Tensor | undefined;

  constructor(op: string, arena: { readonly device: string; alloc(shape: readonly number[]): Tensor }) {
    this.op = op;
    this.into = arena.device === 'cpu' ? undefined : arena.alloc([1]);
  }

  /** The loss: `returned` (the op's return value) on the CPU, the slot's value on a device. */
  value(returned: number | undefined): number {
    const v = this.into ? (this.into.copyToHost()[0] as number) : returned;
    if (v === undefined || !Number.isFinite(v)) throw new NonFiniteLossError(this.op, v ?? NaN);
    return v;
  }
}

export type AlignKind = 'cosine' | 'mse' | 'smooth-l1';
const ALIGN_KINDS: Record<AlignKind, number> = { cosine: 0, mse: 1, 'smooth-l1': 2 };

export interface AlignLossOptions extends Common {
  kind?: AlignKind;
  /** Compare L2-normalised rows (always so for cosine). Default true. */
  normalize?: boolean;
  /** Smooth-L1 threshold. Default 1. */
  beta?: number;
}

/** Phase-1 feature alignment loss of student features [B, D] to CLIP features [B, D]. */
export function alignLoss<O extends AlignLossOptions = AlignLossOptions>(student: Tensor, clip: Tensor, o: O = {} as O): LossResult<O> {
  const op = 'alignLoss';
  const [B, D] = checkLoss(op, student, clip, o);
  const kind = ALIGN_KINDS[o.kind ?? 'cosine'];
  if (kind === undefined) throw new TypeError(`${op}: kind must be 'cosine', 'mse' or 'smooth-l1', got '${String(o.kind)}'`);
  const beta = o.beta ?? 1;
  if (!(beta > 0)) throw new RangeError(`${op}: beta must be positive, got ${beta}`);
  return result(op, native.alignLoss(
    student.storage, clip.storage, o.weights?.storage ?? null, o.grad?.storage ?? null, B, D,
    kind, o.normalize ?? true, beta, 1e-8, o.gradScale ?? 1, lossOut(o),
  ), o);
}

export interface EmdLossOptions extends Common {
  /** Exponent r. Default 2. */
  r?: number;
  /** Drop the root (mean_k |ΔCDF|^r). Default false. */
  squared?: boolean;
  /** Inside the root, so a zero distance keeps a finite gradient. Default 1e-12. */
  eps?: number;
}

/** EMD between predicted and target distributions [B, K] (NIMA); gradient w.r.t. pred. */
export function emdLoss<O extends EmdLossOptions = EmdLossOptions>(pred: Tensor, target: Tensor, o: O = {} as O): LossResult<O> {
  const op = 'emdLoss';
  const [B, K] = checkLoss(op, pred, target, o);
  const r = o.r ?? 2;
  if (!(r >= 1)) throw new RangeError(`${op}: r must be at least 1, got ${r}`);
  return result(op, native.emdLoss(
    pred.storage, target.storage, o.weights?.storage ?? null, o.grad?.storage ?? null, B, K,
    r, o.squared ?? false, o.eps ?? 1e-12, o.gradScale ?? 1, lossOut(o),
  ), o);
}

export interface EmdFromLogitsOptions extends EmdLossOptions {
  /** Receives softmax(logits) [B, K] when given. */
  probs?: Tensor | null;
}

/**
 * The score head's loss in one native pass: EMD between softmax(logits) and
 * the target distributions [B, K]; `grad` receives the gradient with respect
 * to the logits (softmax backward included).
 */
export function emdLossFromLogits<O extends EmdFromLogitsOptions = EmdFromLogitsOptions>(logits: Tensor, target: Tensor, o: O = {} as O): LossResult<O> {
  const op = 'emdLossFromLogits';
  const [B, K] = checkLoss(op, logits, target, o);
  if (o.probs) {
    expectSameDevice(op, { probs: o.probs });
    expectShape(op, 'probs', o.probs, [B, K]);
  }
  const r = o.r ?? 2;
  if (!(r >= 1)) throw new RangeError(`${op}: r must be at least 1, got ${r}`);
  return result(op, native.emdLossFromLogits(
    logits.storage, target.storage, o.weights?.storage ?? null, o.grad?.storage ?? null, o.probs?.storage ?? null, B, K,
    r, o.squared ?? false, o.eps ?? 1e-12, o.gradScale ?? 1, lossOut(o),
  ), o);
}

export type DistillKind = 'kl' | 'soft-ce';

export interface DistillLossOptions extends Common {
  temperature?: number;
  kind?: DistillKind;
}

/** KL(softmax(teacher/T) ‖ softmax(student/T)) · T² from logits [B, K]; gradient w.r.t. student logits. */
export function distillLoss<O extends DistillLossOptions = DistillLossOptions>(student: Tensor, teacher: Tensor, o: O = {} as O): LossResult<O> {
  const op = 'distillLoss';
  const [B, K] = checkLoss(op, student, teacher, o);
  const T = o.temperature ?? 1;
  if (!(T > 0)) throw new RangeError(`${op}: temperature must be positive, got ${T}`);
  const kind = o.kind ?? 'kl';
  if (kind !== 'kl' && kind !== 'soft-ce') throw new TypeError(`${op}: kind must be 'kl' or 'soft-ce', got '${String(kind)}'`);
  return result(op, native.distillLoss(
    student.storage, teacher.storage, o.weights?.storage ?? null, o.grad?.storage ?? null, B, K,
    T, kind === 'kl' ? 0 : 1, o.gradScale ?? 1, lossOut(o),
  ), o);
}
