// The safetensors format: an 8-byte little-endian header length, a JSON header
// (dtype, shape and byte range of each tensor, plus optional string metadata
// under "__metadata__"), then the raw little-endian data.
//
// Reading converts every floating-point dtype (F32, F16, BF16, F64) to float32,
// since Hugging Face files are often stored in half precision; `dtype` keeps
// what the file held. readSafetensors reads each tensor at its offset instead
// of loading the whole file, so a `select` filter (e.g. only a CLIP model's
// vision tower) costs nothing for the tensors it skips, and files past 2 GiB
// work. Writing stores float32, atomically (temp file, fsync, rename).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { writeFileAtomicSync } from '../util/atomic_file.js';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64';

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export interface SafeTensor {
  /** The dtype stored in the file; `data` is always float32. */
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export interface ReadSafetensorsOptions {
  /** Read only the tensors for which this returns true (the others are not checked beyond the header). */
  select?: (name: string) => boolean;
}

export interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(json: Uint8Array, dataBytes: number, source: string, select: (name: string) => boolean) {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!select(name)) continue;
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new Error(`${source}: tensor '${name}' has dtype ${dtype}; only F32, F16, BF16 and F64 are read`);
    const [begin, end] = offsets;
    const n = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== n * BYTES[dtype as SafetensorsDType] || begin < 0 || end > dataBytes) {
      throw new Error(`${source}: tensor '${name}' byte range [${begin}, ${end}) does not fit ${dtype} [${shape.join(', ')}] or the file`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDType, shape, begin, end });
  }
  return { entries, metadata };
}

let halfTable: Float32Array | null = null;

/** All 65536 float16 values as float32 (built once). */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (halfTable = t);
}

/** Little-endian bytes of `dtype` → float32 (a fresh, aligned array). */
function decode(bytes: Uint8Array, dtype: SafetensorsDType, n: number): Float32Array {
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F16') {
    const table = halfToFloat();
    for (let i = 0; i < n; i++) out[i] = table[view.getUint16(2 * i, true)] as number;
  } else if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
  }
  return out;
}

export function parseSafetensors(bytes: Uint8Array, source = 'buffer', opts: ReadSafetensorsOptions = {}): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${source}: not a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error(`${source}: header length ${headerLen} exceeds the file (${bytes.length} bytes); truncated?`);
  const dataStart = 8 + headerLen;
  const { entries, metadata } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, source, opts.select ?? (() => true));
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype, n) });
  }
  return { tensors, metadata };
}

/** Reads exactly into.length bytes at `position`; a short file is an error naming the offset. */
export function readFully(fd: number, into: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < into.length) {
    const got = readSync(fd, into, done, into.length - done, position + done);
    if (got === 0) throw new Error(`${source}: unexpected end of file at byte ${position + done}`);
    done += got;
  }
}

export interface SafetensorsHeader {
  /** The selected tensors' dtypes, shapes and byte ranges relative to dataStart. */
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section. */
  dataStart: number;
  /** File size in bytes. */
  size: number;
}

/** Reads and checks the header of an open safetensors file (no tensor data is read). */
export function readSafetensorsHeader(fd: number, source: string, select: (name: string) => boolean = () => true): SafetensorsHeader {
  const size = fstatSync(fd).size;
  if (size < 8) throw new Error(`${source}: not a safetensors file (${size} bytes)`);
  const lenBytes = new Uint8Array(8);
  readFully(fd, lenBytes, 0, source);
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > size - 8) throw new Error(`${source}: header length ${headerLen} exceeds the file (${size} bytes); truncated?`);
  const json = new Uint8Array(headerLen);
  readFully(fd, json, 8, source);
  const dataStart = 8 + headerLen;
  return { ...parseHeader(json, size - dataStart, source, select), dataStart, size };
}

export function readSafetensors(path: string, opts: ReadSafetensorsOptions = {}): SafetensorsFile {
  const fd = openSync(path, 'r');
  try {
    const { entries, metadata, dataStart } = readSafetensorsHeader(fd, path, opts.select);
    const tensors = new Map<string, SafeTensor>();
    for (const e of entries) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (e.dtype === 'F32') {
        data = new Float32Array(n);
        readFully(fd, new Uint8Array(data.buffer), dataStart + e.begin, path);
      } else {
        const raw = new Uint8Array(e.end - e.begin);
        readFully(fd, raw, dataStart + e.begin, path);
        data = decode(raw, e.dtype, n);
      }
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** What writeSafetensors stores: a shape and float32 values (a Tensor qualifies). */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Writes float32 tensors (in the given order) and string metadata. The file
 * appears complete or not at all: it is written to a temp file in the same
 * directory, fsynced, then renamed over `path`.
 */
export function writeSafetensors(
  path: string,
  tensors: Iterable<readonly [string, TensorData]> | Map<string, TensorData>,
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TypeError(`writeSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
  }
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  const list = [...tensors];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__' || name in header) throw new Error(`writeSafetensors: duplicate or reserved tensor name '${name}'`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new RangeError(`writeSafetensors: '${name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const jsonBytes = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20);
  jsonBytes.set(raw);
  const lenBytes = new Uint8Array(8);
  new DataView(lenBytes.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);

  writeFileAtomicSync(path, [lenBytes, jsonBytes, ...list.map(([, t]) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}
