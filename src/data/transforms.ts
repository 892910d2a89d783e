// View specifications and their random parameters. The parameters of a view
// are drawn here, in plain JS, from the image's oriented size and a seeded
// PRNG; decode.ts only executes them. So a view is a pure function of
// (seed, epoch, index, stream) and the file, whatever order images decode in.
import type { Rng } from '../util/rng.js';

export interface Normalization {
  readonly name: string;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** OpenAI CLIP's preprocessing constants. */
export const CLIP_NORMALIZATION: Normalization = {
  name: 'clip',
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

/** torchvision's ImageNet constants. */
export const IMAGENET_NORMALIZATION: Normalization = {
  name: 'imagenet',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

export type Geometry =
  /** Resize the shorter side to `resize` (torchvision Resize(int)), then crop the centre size×size. */
  | { readonly kind: 'center'; readonly resize: number }
  /**
   * torchvision RandomResizedCrop: a crop of `scale` of the reference area and
   * `ratio` aspect, placed uniformly, resized to size×size. The reference is
   * the whole image (torchvision), or the square on the shorter side — the
   * region the eval view sees — so that a mild crop stays mild on 4:3 photos
   * instead of always falling back to the same centre crop.
   */
  | {
      readonly kind: 'random-resized-crop';
      readonly scale: readonly [number, number];
      readonly ratio: readonly [number, number];
      readonly reference?: 'image' | 'short-side-square';
    };

/** Opt-in photometric jitter: multiplicative factors drawn uniformly from [1 − x, 1 + x]. */
export interface ColourJitter {
  readonly brightness: number;
  readonly saturation: number;
}

export interface ViewSpec {
  /** Output side in pixels (square). */
  readonly size: number;
  readonly geometry: Geometry;
  /** Probability of a horizontal flip. */
  readonly flipProbability: number;
  readonly normalization: Normalization;
  readonly colourJitter?: ColourJitter;
}

export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Everything random about one view of one image, in oriented source pixels. */
export interface ViewParams {
  /** Resize the whole image to this size first (center geometry), or null. */
  resizeTo: { width: number; height: number } | null;
  /** Region to keep: after resizeTo when set, else in source pixels (then resized to size×size). */
  crop: CropRect;
  flip: boolean;
  brightness: number;
  saturation: number;
}

/** Evaluation view: resize shorter side to `size`, centre crop (CLIP's own preprocessing), no flip. */
export function evalView(size = 224, normalization: Normalization = CLIP_NORMALIZATION): ViewSpec {
  return { size, geometry: { kind: 'center', resize: size }, flipProbability: 0, normalization };
}

/** Weak view (teacher targets, phase-1 CLIP cache): centre crop plus a horizontal flip. */
export function weakView(size = 224, normalization: Normalization = CLIP_NORMALIZATION): ViewSpec {
  return { size, geometry: { kind: 'center', resize: size }, flipProbability: 0.5, normalization };
}

/**
 * Default strong view (student input): flip and a mild crop — 80–100% of the
 * shorter-side square the eval view sees, aspect within 10%, anywhere in the
 * image — because blur, exposure, colour shifts and heavy crops change what
 * an aesthetics label means.
 */
export function strongView(size = 224, normalization: Normalization = CLIP_NORMALIZATION): ViewSpec {
  return {
    size,
    geometry: { kind: 'random-resized-crop', scale: [0.8, 1], ratio: [10 / 11, 11 / 10], reference: 'short-side-square' },
    flipProbability: 0.5,
    normalization,
  };
}

/** Opt-in stronger view: crops down to half the area, aspect 3:4–4:3, ±20% brightness and saturation. */
export function heavyView(size = 224, normalization: Normalization = CLIP_NORMALIZATION): ViewSpec {
  return {
    size,
    geometry: { kind: 'random-resized-crop', scale: [0.5, 1], ratio: [3 / 4, 4 / 3] },
    flipProbability: 0.5,
    normalization,
    colourJitter: { brightness: 0.2, saturation: 0.2 },
  };
}

export function validateViewSpec(spec: ViewSpec): void {
  const bad = (msg: string): never => {
    throw new RangeError(`view: ${msg}`);
  };
  if (!Number.isInteger(spec.size) || spec.size < 1) bad(`size must be a positive integer, got ${spec.size}`);
  if (!(spec.flipProbability >= 0 && spec.flipProbability <= 1)) bad(`flipProbability must be in [0, 1], got ${spec.flipProbability}`);
  const g = spec.geometry;
  if (g.kind === 'center') {
    if (!Number.isInteger(g.resize) || g.resize < spec.size) bad(`center resize ${g.resize} must be an integer ≥ size ${spec.size}`);
  } else {
    const [s0, s1] = g.scale;
    const [r0, r1] = g.ratio;
    if (!(s0 > 0 && s0 <= s1 && s1 <= 1)) bad(`random-resized-crop scale must satisfy 0 < min ≤ max ≤ 1, got [${s0}, ${s1}]`);
    if (!(r0 > 0 && r0 <= r1)) bad(`random-resized-crop ratio must satisfy 0 < min ≤ max, got [${r0}, ${r1}]`);
  }
  const j = spec.colourJitter;
  if (j && !(j.brightness >= 0 && j.brightness < 1 && j.saturation >= 0 && j.saturation < 1)) {
    bad(`colourJitter factors must be in [0, 1), got brightness ${j.brightness}, saturation ${j.saturation}`);
  }
}

/** Python's round(): halves go to the even neighbour, as torchvision's crop arithmetic does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision Resize(int): the shorter side becomes `size`, the longer one int(size·long/short). */
export function resizeShorter(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.max(1, Math.floor((size * height) / width)) };
  return { width: Math.max(1, Math.floor((size * width) / height)), height: size };
}

/**
 * torchvision RandomResizedCrop.get_params, draw for draw (10 tries, then a
 * clamped centre crop); `area` defaults to the image's.
 */
export function randomResizedCrop(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
  area = width * height,
): CropRect {
  const logR0 = Math.log(ratio[0]);
  const logR1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logR0, logR1));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** Draws one view's parameters for an image of oriented size width×height. */
export function sampleViewParams(spec: ViewSpec, width: number, height: number, rng: Rng): ViewParams {
  let resizeTo: ViewParams['resizeTo'] = null;
  let crop: CropRect;
  const g = spec.geometry;
  if (g.kind === 'center') {
    resizeTo = resizeShorter(width, height, g.resize);
    const w = Math.min(spec.size, resizeTo.width);
    const h = Math.min(spec.size, resizeTo.height);
    // torchvision CenterCrop: int(round((dim − crop) / 2)).
    crop = { left: roundHalfEven((resizeTo.width - w) / 2), top: roundHalfEven((resizeTo.height - h) / 2), width: w, height: h };
  } else {
    const side = Math.min(width, height);
    crop = randomResizedCrop(width, height, g.scale, g.ratio, rng, g.reference === 'short-side-square' ? side * side : width * height);
  }
  // The flip draw happens even at probability 0 or 1, so changing it never shifts later draws.
  const flip = rng.uniform() < spec.flipProbability;
  let brightness = 1;
  let saturation = 1;
  if (spec.colourJitter) {
    brightness = rng.range(1 - spec.colourJitter.brightness, 1 + spec.colourJitter.brightness);
    saturation = rng.range(1 - spec.colourJitter.saturation, 1 + spec.colourJitter.saturation);
  }
  return { resizeTo, crop, flip, brightness, saturation };
}

/**
 * HWC uint8 RGB → CHW float32, (x/255 − mean)/std per channel, written at
 * `out[offset ..]` so batches fill in place.
 */
export function normalizeToChw(
  rgb: Uint8Array,
  width: number,
  height: number,
  n: Normalization,
  out: Float32Array = new Float32Array(3 * width * height),
  offset = 0,
): Float32Array {
  const plane = width * height;
  if (rgb.length !== 3 * plane) throw new RangeError(`normalizeToChw: ${rgb.length} bytes for ${width}×${height}×3`);
  if (offset + 3 * plane > out.length) throw new RangeError(`normalizeToChw: output holds ${out.length}, needs ${offset + 3 * plane}`);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * n.std[c]!);
    const shift = -n.mean[c]! / n.std[c]!;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = rgb[3 * i + c]! * scale + shift;
  }
  return out;
}
