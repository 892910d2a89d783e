// Initialisation as timm's ViT does it (mode ''): Linear weights truncated
// normal (std 0.02) with zero biases, LayerNorms at identity, position
// embeddings truncated normal (0.02), the CLS token normal (1e-6), and the
// patch embedding as PyTorch's Conv2d default, uniform ±1/sqrt(fan_in).
import type { Rng } from '../util/rng.js';
import type { ParameterSet } from './parameters.js';

export function initParameters(params: ParameterSet, rng: Rng): void {
  for (const p of params.list) {
    const d = p.value.data;
    const name = p.name;
    if (name.endsWith('patch_embed.proj.weight')) {
      const fanIn = p.size / (p.shape[0] as number);
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < d.length; i++) d[i] = (rng.uniform() * 2 - 1) * bound;
    } else if (name.endsWith('patch_embed.proj.bias')) {
      const fanIn = params.get(name.replace(/bias$/, 'weight')).size / p.size;
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < d.length; i++) d[i] = (rng.uniform() * 2 - 1) * bound;
    } else if (name.endsWith('cls_token')) {
      for (let i = 0; i < d.length; i++) d[i] = rng.normal() * 1e-6;
    } else if (name.endsWith('pos_embed')) {
      for (let i = 0; i < d.length; i++) d[i] = rng.truncNormal(0.02);
    } else if (p.shape.length === 1 && /norm[^.]*\.weight$/.test(name)) {
      d.fill(1);
    } else if (p.shape.length >= 2) {
      for (let i = 0; i < d.length; i++) d[i] = rng.truncNormal(0.02);
    } else {
      d.fill(0);
    }
  }
}
