// Builds test images. The PNG writer is independent of sharp/libvips so that
// 16-bit and forged-header files have bytes we chose, not bytes sharp chose.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/**
 * A PNG from samples (row-major, interleaved); colourType 0 gray, 2 RGB,
 * 4 gray+alpha, 6 RGBA; bitDepth 8 or 16. `declared` forges the IHDR size.
 */
export function encodePng(
  samples: ArrayLike<number>,
  width: number,
  height: number,
  colourType: 0 | 2 | 4 | 6,
  bitDepth: 8 | 16,
  declared?: { width: number; height: number },
): Buffer {
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colourType];
  const bytesPerSample = bitDepth / 8;
  const stride = width * channels * bytesPerSample;
  const raw = Buffer.alloc(height * (1 + stride));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + stride)] = 0; // filter: none
    for (let i = 0; i < width * channels; i++) {
      const v = samples[y * width * channels + i] as number;
      const at = y * (1 + stride) + 1 + i * bytesPerSample;
      if (bitDepth === 16) raw.writeUInt16BE(v, at);
      else raw[at] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(declared?.width ?? width, 0);
  ihdr.writeUInt32BE(declared?.height ?? height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colourType;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Interleaved samples of a constant colour. */
export function solid(width: number, height: number, colour: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < width * height; i++) out.push(...colour);
  return out;
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = 'cskd-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The normalised value of an 8-bit sample v on channel c. */
export function normalized(v: number, mean: number, std: number): number {
  return (v / 255 - mean) / std;
}
