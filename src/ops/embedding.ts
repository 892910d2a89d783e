// Patch embedding, token assembly (CLS + position embeddings) and pooling.
import { native } from '../native.js';
import { expectSameDevice, expectPositiveInt, expectShape, shapeString } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';

function imageDims(op: string, images: Tensor, patch: number): [number, number, number, number, number, number] {
  expectPositiveInt(op, 'patch', patch);
  const [B, C, H, W] = expectShape(op, 'images', images, [null, null, null, null]).shape as [number, number, number, number];
  if (H % patch !== 0 || W % patch !== 0) {
    throw new RangeError(`${op}: images ${shapeString(images.shape)} are not a whole number of ${patch}-px patches`);
  }
  return [B, C, H, W, H / patch, W / patch];
}

/**
 * images [B, C, H, W] → patches [B, gh·gw, C·p·p] in Conv2d weight order, so
 * a Linear with the conv weight viewed as [E, C·p·p] is the patch embedding.
 */
export function patchify(images: Tensor, patch: number, patches: Tensor): Tensor {
  const op = 'patchify';
  expectSameDevice(op, { images, patches });
  const [B, C, H, W, gh, gw] = imageDims(op, images, patch);
  expectShape(op, 'patches', patches, [B, gh * gw, C * patch * patch]);
  native.patchify(images.storage, patches.storage, B, C, H, W, patch);
  return patches;
}

/** Adjoint of patchify: writes dimages [B, C, H, W]. */
export function patchifyBackward(dpatches: Tensor, patch: number, dimages: Tensor): Tensor {
  const op = 'patchifyBackward';
  expectSameDevice(op, { dpatches, dimages });
  const [B, C, H, W, gh, gw] = imageDims(op, dimages, patch);
  expectShape(op, 'dpatches', dpatches, [B, gh * gw, C * patch * patch]);
  native.patchifyBackward(dpatches.storage, dimages.storage, B, C, H, W, patch);
  return dimages;
}

/** out[b] = [cls; patches[b]] + pos. patches [B, P, E], cls [E] or [1,1,E], pos [P+1, E] or [1,P+1,E]. */
export function embedTokensForward(patches: Tensor, cls: Tensor, pos: Tensor, out: Tensor): Tensor {
  const op = 'embedTokensForward';
  expectSameDevice(op, { patches, cls, pos, out });
  const [B, P, E] = expectShape(op, 'patches', patches, [null, null, null]).shape as [number, number, number];
  if (cls.size !== E) throw new RangeError(`${op}: cls ${shapeString(cls.shape)} must hold ${E} values`);
  if (pos.size !== (P + 1) * E) throw new RangeError(`${op}: pos ${shapeString(pos.shape)} must hold ${P + 1} × ${E} values`);
  expectShape(op, 'out', out, [B, P + 1, E]);
  native.embedTokensForward(patches.storage, cls.storage, pos.storage, out.storage, B, P, E);
  return out;
}

/** Writes dpatches; adds into dcls and dpos. */
export function embedTokensBackward(dout: Tensor, dpatches: Tensor, dcls: Tensor, dpos: Tensor): void {
  const op = 'embedTokensBackward';
  expectSameDevice(op, { dout, dpatches, dcls, dpos });
  const [B, N, E] = expectShape(op, 'dout', dout, [null, null, null]).shape as [number, number, number];
  expectShape(op, 'dpatches', dpatches, [B, N - 1, E]);
  if (dcls.size !== E || dpos.size !== N * E) {
    throw new RangeError(`${op}: dcls ${shapeString(dcls.shape)} / dpos ${shapeString(dpos.shape)} do not match dout ${shapeString(dout.shape)}`);
  }
  native.embedTokensBackward(dout.storage, dpatches.storage, dcls.storage, dpos.storage, B, N - 1, E);
}

export type Pooling = 'cls' | 'mean';

function poolDims(op: string, x: Tensor, out: Tensor): [number, number, number] {
  const [B, N, E] = expectShape(op, 'x', x, [null, null, null]).shape as [number, number, number];
  expectShape(op, 'out', out, [B, E]);
  return [B, N, E];
}

/** x [B, N, E] → out [B, E]: the CLS token, or the mean of the tokens after it. */
export function poolForward(x: Tensor, out: Tensor, pooling: Pooling = 'cls', prefix = 1): Tensor {
  const op = 'poolForward';
  expectSameDevice(op, { x, out });
  const [B, N, E] = poolDims(op, x, out);
  if (pooling === 'cls') native.clsPoolForward(x.storage, out.storage, B, N, E);
  else if (pooling === 'mean') {
    if (!(prefix >= 0 && prefix < N)) throw new RangeError(`${op}: prefix ${prefix} leaves no tokens of ${N}`);
    native.meanPoolForward(x.storage, out.storage, B, N, E, prefix);
  } else throw new TypeError(`${op}: pooling must be 'cls' or 'mean', got '${String(pooling)}'`);
  return out;
}

/** Writes the whole dx [B, N, E] (zeros where the pool did not look). */
export function poolBackward(dout: Tensor, dx: Tensor, pooling: Pooling = 'cls', prefix = 1): Tensor {
  const op = 'poolBackward';
  expectSameDevice(op, { dout, dx });
  const [B, N, E] = poolDims(op, dx, dout);
  if (pooling === 'cls') native.clsPoolBackward(dout.storage, dx.storage, B, N, E);
  else if (pooling === 'mean') {
    if (!(prefix >= 0 && prefix < N)) throw new RangeError(`${op}: prefix ${prefix} leaves no tokens of ${N}`);
    native.meanPoolBackward(dout.storage, dx.storage, B, N, E, prefix);
  } else throw new TypeError(`${op}: pooling must be 'cls' or 'mean', got '${String(pooling)}'`);
  return dx;
}
