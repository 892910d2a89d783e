// Named encoder configurations. Teacher and student are independent entries.
//   vit-{ti,s,b}{16,32}  the standard ViT sizes at 224 px (timm's names without the _224)
//   vit-demo-{s,m,l}    small models at 64 px so the CPU demo runs in minutes
import { VIT_DEFAULTS, type VitConfig } from './vit.js';

type Size = Pick<VitConfig, 'embedDim' | 'depth' | 'numHeads'>;

const SIZES: Record<string, Size> = {
  ti: { embedDim: 192, depth: 12, numHeads: 3 },
  s: { embedDim: 384, depth: 12, numHeads: 6 },
  b: { embedDim: 768, depth: 12, numHeads: 12 },
};

const DEMO: Record<string, Size & { imgSize: number; patchSize: number }> = {
  'vit-demo-s': { embedDim: 64, depth: 3, numHeads: 2, imgSize: 64, patchSize: 8 },
  'vit-demo-m': { embedDim: 96, depth: 4, numHeads: 3, imgSize: 64, patchSize: 8 },
  'vit-demo-l': { embedDim: 128, depth: 6, numHeads: 4, imgSize: 64, patchSize: 8 },
};

export function vitPresetNames(): string[] {
  const names: string[] = [];
  for (const s of Object.keys(SIZES)) for (const p of [16, 32]) names.push(`vit-${s}${p}`);
  return [...names, ...Object.keys(DEMO)];
}

/** The config of a named preset, with overrides (e.g. { imgSize: 384 }). */
export function vitConfig(name: string, overrides: Partial<VitConfig> = {}): VitConfig {
  const demo = DEMO[name];
  if (demo) return { ...VIT_DEFAULTS, ...demo, ...overrides };
  const m = /^vit-(ti|s|b)(16|32)$/.exec(name);
  const size = m ? SIZES[m[1] as string] : undefined;
  if (!m || !size) {
    throw new RangeError(`unknown model '${name}'; known: ${vitPresetNames().join(', ')}`);
  }
  return { ...VIT_DEFAULTS, ...size, patchSize: Number(m[2]), ...overrides };
}
