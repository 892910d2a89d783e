import { describe, expect, it } from 'vitest';

import { ParameterSet } from '../../src/nn/parameters.js';
import { vitConfig, vitPresetNames } from '../../src/nn/registry.js';
import { VisionTransformer } from '../../src/nn/vit.js';
import { layerDecayScale } from '../../src/optim/schedule.js';

describe('ParameterSet', () => {
  it('views are 64-byte aligned slices of one flat buffer; names are unique', () => {
    const ps = new ParameterSet();
    const a = ps.add('a', [3]);
    const b = ps.add('b', [2, 5]);
    expect(() => ps.add('a', [1])).toThrow(/duplicate parameter 'a'/);
    b.value.fill(7);
    expect(b.offset).toBe(16);
    expect(ps.values.data[16]).toBe(7);
    expect(a.value.data.byteOffset % 64).toBe(0);
    expect(b.grad.data.byteOffset % 64).toBe(0);
    expect(ps.count).toBe(13);
    expect(() => ps.add('c', [1])).toThrow(/after the buffers were allocated/);
  });

  it('a ViT-S/16 has timm\'s parameter count, and segments carry the no-decay mask and layer-wise lr', () => {
    const ps = new ParameterSet();
    const vit = new VisionTransformer(ps, vitConfig('vit-s16'));
    // timm vit_small_patch16_224 without its head: 21,665,664 parameters
    expect(ps.count).toBe(21_665_664);
    const segs = ps.segments(1e-3, 0.05, layerDecayScale(0.5, vit.config.depth));
    const byName = new Map(ps.list.map((p, i) => [p.name, segs[i]]));
    expect(byName.get('blocks.3.attn.qkv.weight')).toMatchObject({ weightDecay: 0.05, lr: 1e-3 * 0.5 ** (13 - 4) });
    expect(byName.get('blocks.3.attn.qkv.bias')?.weightDecay).toBe(0);
    expect(byName.get('pos_embed')?.weightDecay).toBe(0);
    expect(byName.get('norm.weight')).toMatchObject({ weightDecay: 0, lr: 1e-3 });
    expect(byName.get('patch_embed.proj.weight')).toMatchObject({ weightDecay: 0.05, lr: 1e-3 * 0.5 ** 13 });
  });

  it('the registry knows the standard and demo sizes and names the unknown', () => {
    expect(vitPresetNames()).toEqual(expect.arrayContaining(['vit-ti16', 'vit-s16', 'vit-b32', 'vit-demo-s']));
    expect(vitConfig('vit-b32')).toMatchObject({ embedDim: 768, depth: 12, numHeads: 12, patchSize: 32, imgSize: 224 });
    expect(vitConfig('vit-ti16', { imgSize: 384 }).imgSize).toBe(384);
    expect(() => vitConfig('vit-xl')).toThrow(/unknown model 'vit-xl'; known: vit-ti16/);
  });
});
