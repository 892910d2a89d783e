// The cskd TypeScript API.
export { Tensor, type DType, type Device } from './tensor/tensor.js';
export { Arena } from './tensor/arena.js';
export { readSafetensors, parseSafetensors, type SafetensorsFile } from './tensor/safetensors.js';
export * as ops from './ops/index.js';
export { systemInfo, packageVersion, type SystemInfo } from './info.js';
export { native } from './native.js';
