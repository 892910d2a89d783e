// The arithmetic precision of the matrix products and attention: 'fp32', or
// 'bf16' (operands rounded to bfloat16 on the way into the tensor-core
// kernels, float32 accumulation, float32 outputs). Everything else — softmax,
// LayerNorm, GELU, losses, AdamW and the master weights — stays float32 in
// both. bf16 exists only on a CUDA device: the CPU kernels are float32, and a
// bf16 request on CPU tensors is an error (the addon refuses it), not a silent
// float32 run.
//
// The setting is scoped, not a tensor property: a training step runs under
// withPrecision(), and the ops read it when they launch.
export type Precision = 'fp32' | 'bf16';

export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];

let current: Precision = 'fp32';

/** The precision the GEMM and attention ops launch with now. */
export function computePrecision(): Precision {
  return current;
}

/** Runs fn with the GEMMs and attention in `precision`, restoring the previous one after (also on a throw). */
export function withPrecision<T>(precision: Precision, fn: () => T): T {
  if (!PRECISIONS.includes(precision)) throw new RangeError(`precision must be 'fp32' or 'bf16', got ${String(precision)}`);
  const before = current;
  current = precision;
  try {
    return fn();
  } finally {
    current = before;
  }
}

/** The addon's trailing `bf16` argument of gemm and attention. */
export function bf16(): boolean {
  return current === 'bf16';
}
