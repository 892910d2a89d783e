// onnxruntime-node, loaded at first use. Training, the device path and the GPU
// bundle (which leaves the package out: scripts/gpu/bundle.mjs) run without
// it; scoring and ONNX CLIP encoders need it, and say so when it is missing.
import type * as Ort from 'onnxruntime-node';

let loaded: typeof Ort | undefined;

/** The module; `what` names the caller in the error when it does not load. */
export async function loadOnnxRuntime(what: string): Promise<typeof Ort> {
  if (!loaded) {
    try {
      loaded = (await import('onnxruntime-node')) as typeof Ort;
    } catch (e) {
      throw new Error(`${what} needs onnxruntime-node, which does not load here (${(e as Error).message.split('\n')[0]})`, { cause: e });
    }
  }
  return loaded;
}

/** The module, once loadOnnxRuntime has returned (every session is made through it). */
export function onnxRuntime(): typeof Ort {
  if (!loaded) throw new Error('onnxruntime-node used before loadOnnxRuntime()');
  return loaded;
}
