// The models CSKD trains: an encoder with either the alignment projector
// (phase 1) or the score head (phase 2). Both heads share the encoder's
// parameters in one ParameterSet, so an aligned encoder carries into phase 2
// by name.
import { Projector, ScoreHead } from '../nn/heads.js';
import { initParameters } from '../nn/init.js';
import type { ForwardContext } from '../nn/module.js';
import { ParameterSet } from '../nn/parameters.js';
import { VisionTransformer, type VitConfig } from '../nn/vit.js';
import type { Device } from '../tensor/device_memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../util/rng.js';

export type HeadConfig =
  | { kind: 'score'; bins: number }
  | { kind: 'projector'; outDim: number; hidden?: number };

export interface ModelConfig {
  encoder: VitConfig;
  head: HeadConfig;
}

export class Model {
  readonly config: ModelConfig;
  readonly params = new ParameterSet();
  readonly encoder: VisionTransformer;
  readonly head: ScoreHead | Projector;

  constructor(config: ModelConfig) {
    this.config = structuredClone(config);
    this.encoder = new VisionTransformer(this.params, config.encoder);
    const E = config.encoder.embedDim;
    const layer = config.encoder.depth + 1;
    this.head =
      config.head.kind === 'score'
        ? new ScoreHead(this.params, E, config.head.bins, layer)
        : new Projector(this.params, E, config.head.outDim, layer, config.head.hidden ?? config.head.outDim);
  }

  /** Initialises the weights (on the host) and leaves them on the model's device. */
  init(rng: Rng): this {
    const device = this.params.device;
    this.params.to('cpu');
    initParameters(this.params, rng);
    this.params.to(device);
    return this;
  }

  /** Where the weights and gradients live. */
  get device(): Device {
    return this.params.device;
  }

  /** Moves weights and gradients to `device` (before an optimizer is built on them). */
  to(device: Device | 'cuda'): this {
    this.params.to(device);
    return this;
  }

  /** Head output: score logits [B, K] or projected features [B, D]. */
  forward(images: Tensor, ctx: ForwardContext): Tensor {
    return this.head.forward(this.encoder.forward(images, ctx), ctx);
  }

  /** Adds gradients of every parameter given the gradient of the head output. */
  backward(dout: Tensor, ctx: ForwardContext): void {
    this.encoder.backward(this.head.backward(dout, ctx), ctx);
  }

  /**
   * Copies the encoder's weights, by name, from another model's parameters (an
   * aligned encoder into a score model, or CLIP's imported vision tower).
   * Throws naming every tensor that does not match.
   */
  copyEncoderFrom(other: { params: ParameterSet }): void {
    const problems: string[] = [];
    const pairs: [Tensor, Tensor][] = [];
    for (const p of this.params.list) {
      if (p.name.startsWith('head.') || p.name.startsWith('proj.')) continue;
      if (!other.params.has(p.name)) {
        problems.push(`missing ${p.name}`);
        continue;
      }
      const q = other.params.get(p.name);
      if (q.shape.join('x') !== p.shape.join('x')) problems.push(`${p.name}: source [${q.shape.join(', ')}], target [${p.shape.join(', ')}]`);
      else pairs.push([p.value, q.value]);
    }
    if (problems.length > 0) throw new Error(`copyEncoderFrom: encoders differ:\n  ${problems.join('\n  ')}`);
    // Any place to any place (a CPU CLIP tower into an encoder on a device).
    for (const [dst, src] of pairs) dst.copyFrom(src);
  }
}
