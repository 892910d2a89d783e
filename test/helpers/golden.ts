// Reference tensors produced by PyTorch (see test/fixtures/golden/README.md).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readSafetensors, type SafetensorsFile } from '../../src/tensor/safetensors.js';
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
