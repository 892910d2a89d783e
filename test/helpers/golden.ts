// Reference tensors produced by PyTorch (see test/fixtures/golden/README.md).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readSafetensors, type SafetensorsFile } from '../../src/tensor/safetensors.js';
import { VIT_DEFAULTS, type VitConfig } from '../../src/nn/vit.js';
import { Tensor } from '../../src/tensor/tensor.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'golden');

export class Golden {
  readonly file: SafetensorsFile;
  constructor(name: string) {
    this.file = readSafetensors(join(dir, `${name}.safetensors`));
  }
  array(name: string): Float32Array {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`golden tensor '${name}' missing`);
    return t.data;
  }
  shape(name: string): number[] {
    const t = this.file.tensors.get(name);
    if (!t) throw new Error(`golden tensor '${name}' missing`);
    return t.shape;
  }
  tensor(name: string): Tensor {
    return Tensor.from(this.array(name), this.shape(name));
  }
  scalar(name: string): number {
    return this.array(name)[0] as number;
  }
}

/** The VitConfig of the golden debug ViT, read from its metadata (timm's names). */
export function goldenVitConfig(g: Golden): { config: VitConfig; bins: number } {
  const cfg = JSON.parse(g.file.metadata['config'] as string) as Record<string, number | string | boolean>;
  return {
    config: {
      ...VIT_DEFAULTS,
      imgSize: cfg['img_size'] as number,
      patchSize: cfg['patch_size'] as number,
      embedDim: cfg['embed_dim'] as number,
      depth: cfg['depth'] as number,
      numHeads: cfg['num_heads'] as number,
      mlpRatio: cfg['mlp_ratio'] as number,
      layerNormEps: cfg['layernorm_eps'] as number,
      gelu: 'erf',
      qkvBias: true,
      pool: 'cls',
    },
    bins: cfg['num_bins'] as number,
  };
}
