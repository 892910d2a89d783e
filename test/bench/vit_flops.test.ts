// The FLOP count behind the GPU benchmarks' MFU, against the published
// figures: DeiT (Touvron et al., 2021, Table 1) gives 1.3, 4.6 and 17.6
// "GFLOPs" for ViT-Ti/16, -S/16 and -B/16 at 224 px, counted as fvcore counts
// them, one per multiply-add.
import { describe, expect, it } from 'vitest';

import { bf16PeakFlops, vitForwardMacs, vitTokens, vitTrainFlopsPerImage } from '../../bench/lib/vit_flops.js';
import { vitConfig } from '../../src/nn/registry.js';

describe('ViT FLOPs for MFU', () => {
  it.each([
    ['vit-ti16', 1.3],
    ['vit-s16', 4.6],
    ['vit-b16', 17.6],
  ])('%s: forward multiply-adds round to DeiT\'s %s G', (name, published) => {
    const macs = vitForwardMacs(vitConfig(name), 1000);
    expect(Math.round(macs / 1e8) / 10).toBe(published);
  });

  it('a training step is three forwards at two FLOPs per multiply-add', () => {
    const c = vitConfig('vit-s16');
    expect(vitTokens(c)).toBe(197);
    expect(vitTrainFlopsPerImage(c, 10)).toBe(6 * vitForwardMacs(c, 10));
  });

  it('knows the H200 and H100 bf16 peak and no other unknown device', () => {
    expect(bf16PeakFlops('NVIDIA H200')).toBe(989e12);
    expect(bf16PeakFlops('NVIDIA H100 80GB HBM3')).toBe(989e12);
    expect(bf16PeakFlops('CPU emulation')).toBeNull();
  });
});
