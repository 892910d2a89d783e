// The safetensors format: an 8-byte little-endian header length, a JSON header
// (dtype, shape and byte range of each tensor, plus optional string metadata
// under "__metadata__"), then the raw little-endian data.
import { readFileSync } from 'node:fs';

export interface SafeTensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export function parseSafetensors(bytes: Uint8Array, source = 'buffer'): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${source}: not a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error(`${source}: header length ${headerLen} exceeds the file (${bytes.length} bytes); truncated?`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32') throw new Error(`${source}: tensor '${name}' has dtype ${dtype}; only F32 is read`);
    const [begin, end] = offsets;
    const n = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== n * 4 || dataStart + end > bytes.length) {
      throw new Error(`${source}: tensor '${name}' byte range [${begin}, ${end}) does not fit shape [${shape.join(', ')}] or the file`);
    }
    // Copy so the result is aligned and independent of the file buffer.
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype: 'F32', shape, data });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
}
