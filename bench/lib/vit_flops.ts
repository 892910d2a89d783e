// FLOPs of a ViT training step, for MFU: the matrix products and attention's
// two N×N products, 2 FLOPs per multiply-add; backward costs twice the forward
// (a gradient for the input and one for the weights), so a step is 3× the
// forward. Norms, softmax, GELU and the optimizer are left out, as MFU usually
// counts them (they are a few percent and run off the matrix units).
import type { VitConfig } from '../../src/nn/vit.js';

export function vitTokens(c: VitConfig): number {
  return (c.imgSize / c.patchSize) ** 2 + (c.pool === 'cls' ? 1 : 0);
}

/** Forward multiply-adds per image: patch embedding, the blocks' GEMMs, q·kᵀ and p·v. */
export function vitForwardMacs(c: VitConfig, bins = 10): number {
  const N = vitTokens(c);
  const E = c.embedDim;
  const hidden = c.mlpRatio * E;
  const patches = (c.imgSize / c.patchSize) ** 2;
  const patchEmbed = patches * c.inChans * c.patchSize * c.patchSize * E;
  const gemms = c.depth * N * (3 * E * E + E * E + 2 * E * hidden);
  const attention = c.depth * 2 * N * N * E;
  return patchEmbed + gemms + attention + E * bins;
}

export function vitTrainFlopsPerImage(c: VitConfig, bins = 10): number {
  return 3 * 2 * vitForwardMacs(c, bins);
}

/**
 * Dense bf16 matrix peak of the GPUs the bench names, FLOP/s, from the vendors'
 * datasheets (a lead, not a measurement); null for anything else.
 */
export function bf16PeakFlops(deviceName: string): number | null {
  if (/H100|H200|GH200/i.test(deviceName)) return 989e12;
  if (/A100/i.test(deviceName)) return 312e12;
  if (/L40S/i.test(deviceName)) return 362e12;
  return null;
}
