// The feature store: every unlabeled image's frozen CLIP embedding, computed
// once, read back by index during phase 1.
//
//   <dir>/store.json       what the store holds: the model (hash, width, engine,
//                          stand-in or not), the view and preprocessing, and the
//                          stamp = SHA-256 of those; written once, atomically
//   <dir>/manifest.jsonl   one line per finished shard: its file and its images,
//                          each [path, size, mtimeMs], plus the images that
//                          failed, [path, size, mtimeMs, kind, detail]
//   <dir>/shards/shard-NNNNNN.safetensors
//                          'embeddings' [n, D] float32; the header metadata
//                          repeats the stamp and the shard's manifest line
//
// Why it survives being killed anywhere: a shard is the unit of work and is
// written atomically (temp file, fsync, rename); its manifest line is appended
// after. A run killed between the two leaves a complete shard that the next
// run adopts from its own header; a run killed mid-append leaves a torn last
// line, which is cut off. Temp files of dead runs are removed. So a rerun
// redoes at most the shard that was being computed, never a finished one.
// Incremental: an image whose (path, size, mtime) is in the store is skipped;
// a new or changed one is computed into a new shard, and the newest record of
// a path wins. Failed images are recorded (same key) and not retried until
// the file changes.
// Reading: the index (paths, shard, row) lives in JS; embeddings stay on disk
// and are read row by row at their offsets (pread), with a small LRU of open
// shard files, so a store of millions of images costs its paths, not its
// floats.
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { openImage, renderView } from '../data/decode.js';
import type { Communicator } from '../dist/communicator.js';
import { allgatherJson } from '../dist/data_parallel.js';
import { ImageFileError } from '../data/errors.js';
import { hashSeed, Rng } from '../util/rng.js';
import { validateViewSpec, type ViewSpec } from '../data/transforms.js';
import { readFully, readSafetensorsHeader, writeSafetensors } from '../tensor/safetensors.js';
import { type ClipEncoder, encoderView, type EncoderPreprocessing } from './encoder.js';
import { syncDir, writeFileAtomicSync } from '../util/atomic_file.js';
import { sha256 } from './files.js';
import { STANDIN_NAME } from './standin.js';

export const STORE_FORMAT = 'cskd-feature-store';
export const STORE_VERSION = 1;
const TENSOR = 'embeddings';

export interface StoreModelInfo {
  name: string;
  hash: string;
  dim: number;
  engine: string;
  standIn: boolean;
  description: string;
}

/** store.json. */
export interface StoreHeader {
  format: typeof STORE_FORMAT;
  version: number;
  stamp: string;
  model: StoreModelInfo;
  preprocessing: Omit<EncoderPreprocessing, 'source'>;
  view: ViewSpec;
  /** Seed of the per-image view draws (only matters for random views). */
  seed: number;
  created: string;
}

/** One image the store could not embed, and why. */
export interface BadImage {
  path: string;
  size: number;
  mtimeMs: number;
  kind: string;
  detail: string;
}

type ItemRecord = [path: string, size: number, mtimeMs: number];
type BadRecord = [path: string, size: number, mtimeMs: number, kind: string, detail: string];

interface ShardRecord {
  shard: string;
  items: ItemRecord[];
  bad: BadRecord[];
}

/** The stamp: what model and which view produced the embeddings. */
export function storeStamp(model: Pick<StoreModelInfo, 'hash' | 'dim'>, preprocessing: Omit<EncoderPreprocessing, 'source'>, view: ViewSpec, seed: number): string {
  const p = { size: preprocessing.size, resize: preprocessing.resize, interpolation: preprocessing.interpolation, mean: [...preprocessing.mean], std: [...preprocessing.std] };
  const v = { size: view.size, geometry: view.geometry, flipProbability: view.flipProbability, mean: [...view.normalization.mean], std: [...view.normalization.std], colourJitter: view.colourJitter ?? null };
  return sha256(JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION, model: model.hash, dim: model.dim, preprocessing: p, view: v, seed }));
}

function readHeader(dir: string): StoreHeader {
  const file = join(dir, 'store.json');
  if (!existsSync(file)) throw new Error(`${dir} is not a feature store (no store.json)`);
  const h = JSON.parse(readFileSync(file, 'utf8')) as StoreHeader;
  if (h.format !== STORE_FORMAT || h.version !== STORE_VERSION) throw new Error(`${file}: format ${String(h.format)} v${String(h.version)}, expected ${STORE_FORMAT} v${STORE_VERSION}`);
  return h;
}

/** Complete manifest lines; `validBytes` is where a torn last line (a killed append) starts. */
function readManifest(file: string): { records: ShardRecord[]; validBytes: number; totalBytes: number } {
  if (!existsSync(file)) return { records: [], validBytes: 0, totalBytes: 0 };
  const buf = readFileSync(file);
  const records: ShardRecord[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break;
    try {
      records.push(JSON.parse(buf.subarray(start, nl).toString('utf8')) as ShardRecord);
    } catch {
      break; // a torn line; writers cut it off before appending, so nothing valid follows it
    }
    start = nl + 1;
  }
  return { records, validBytes: start, totalBytes: buf.length };
}

interface ShardLayout {
  /** Byte offset of row 0 of 'embeddings'. */
  dataStart: number;
  rows: number;
  dim: number;
  metadata: Record<string, string>;
}

/** A shard's header: where its rows start, their count and width, its metadata. */
function readShardLayout(fd: number, source: string): ShardLayout {
  const { entries, metadata, dataStart, size } = readSafetensorsHeader(fd, source, (name) => name === TENSOR);
  const e = entries[0];
  if (!e || e.dtype !== 'F32' || e.shape.length !== 2) throw new Error(`${source}: no float32 [n, D] tensor '${TENSOR}'`);
  const [rows, dim] = e.shape as [number, number];
  const start = dataStart + e.begin;
  if (start + rows * dim * 4 > size) throw new Error(`${source}: ${rows}×${dim} embeddings do not fit the file (${size} bytes)`);
  return { dataStart: start, rows, dim, metadata };
}

function shardName(n: number): string {
  return `shard-${String(n).padStart(6, '0')}.safetensors`;
}

export interface FeatureStoreOpenOptions {
  /** Refuse the store unless it was made with this model hash. */
  modelHash?: string;
  /** Refuse the store unless its stamp is this one (model and view). */
  stamp?: string;
  /** Shard files kept open at once (default 16). */
  openShards?: number;
}

/** A finished (or partly finished) store, opened for reading. */
/**
 * Where a pool's store lives unless one is named: features/<model> beside the
 * pool's dataset config (or image folder). `cskd features` and `cskd train`
 * both use it, so features computed first are found by training.
 */
export function defaultFeatureStoreDir(poolSource: string, clipModel: string): string {
  const name = clipModel === STANDIN_NAME ? 'standin' : basename(resolve(clipModel)).replace(/\.(onnx|safetensors)$/, '');
  return resolve(dirname(resolve(poolSource)), 'features', name);
}

/** Stored frozen-encoder embeddings looked up by image path: what phase 1 reads. */
export interface FeatureLookup {
  readonly dim: number;
  /** The view the embeddings were computed on; phase 1 shows the encoder the same one. */
  readonly view: ViewSpec;
  /** The embedding of an image, or null when the store has none for it. */
  get(path: string): Float32Array | null;
}

export class FeatureStore implements FeatureLookup {
  readonly dir: string;
  readonly header: StoreHeader;
  readonly dim: number;
  readonly #paths: string[];
  readonly #sizes: Float64Array;
  readonly #mtimes: Float64Array;
  readonly #shardOf: Int32Array;
  readonly #rowOf: Int32Array;
  readonly #byPath: Map<string, number>;
  readonly #shards: string[];
  readonly #bad: BadImage[];
  readonly #layouts = new Map<number, ShardLayout>();
  readonly #fds = new Map<number, number>();
  readonly #maxOpen: number;

  private constructor(dir: string, header: StoreHeader, shards: string[], records: ShardRecord[], maxOpen: number) {
    this.dir = dir;
    this.header = header;
    this.dim = header.model.dim;
    this.#shards = shards;
    this.#maxOpen = maxOpen;
    // Replay records in order: the newest state of each path wins.
    const latest = new Map<string, { shard: number; row: number; size: number; mtimeMs: number } | BadImage>();
    records.forEach((r, s) => {
      r.items.forEach(([path, size, mtimeMs], row) => {
        latest.delete(path);
        latest.set(path, { shard: s, row, size, mtimeMs });
      });
      for (const [path, size, mtimeMs, kind, detail] of r.bad) {
        latest.delete(path);
        latest.set(path, { path, size, mtimeMs, kind, detail });
      }
    });
    const good = [...latest.entries()].filter((e): e is [string, { shard: number; row: number; size: number; mtimeMs: number }] => 'shard' in e[1]);
    const n = good.length;
    this.#paths = new Array<string>(n);
    this.#sizes = new Float64Array(n);
    this.#mtimes = new Float64Array(n);
    this.#shardOf = new Int32Array(n);
    this.#rowOf = new Int32Array(n);
    this.#byPath = new Map();
    good.forEach(([path, e], i) => {
      this.#paths[i] = path;
      this.#sizes[i] = e.size;
      this.#mtimes[i] = e.mtimeMs;
      this.#shardOf[i] = e.shard;
      this.#rowOf[i] = e.row;
      this.#byPath.set(path, i);
    });
    this.#bad = [...latest.values()].filter((e): e is BadImage => 'kind' in e);
  }

  /** Opens a store for reading; orphan shards (finished but not yet in the manifest) are included. */
  static open(dir: string, opts: FeatureStoreOpenOptions = {}): FeatureStore {
    const abs = resolve(dir);
    const header = readHeader(abs);
    if (opts.modelHash !== undefined && opts.modelHash !== header.model.hash) {
      throw new Error(`feature store ${abs} was made with model ${header.model.name} (hash ${header.model.hash.slice(0, 12)}), not the model asked for (hash ${opts.modelHash.slice(0, 12)})`);
    }
    if (opts.stamp !== undefined && opts.stamp !== header.stamp) {
      throw new Error(`feature store ${abs} has stamp ${header.stamp.slice(0, 12)} (model ${header.model.name}, view ${describeView(header.view)}), not ${opts.stamp.slice(0, 12)}: another model or view`);
    }
    const records = collectRecords(abs, header, false).records;
    return new FeatureStore(abs, header, records.map((r) => r.shard), records, opts.openShards ?? 16);
  }

  /** Images with an embedding. */
  get count(): number {
    return this.#paths.length;
  }

  get stamp(): string {
    return this.header.stamp;
  }

  path(i: number): string {
    this.#check(i);
    return this.#paths[i]!;
  }

  /** The index of a path, or −1; with size and mtime, −1 also when the file has changed since. */
  indexOf(path: string, size?: number, mtimeMs?: number): number {
    const i = this.#byPath.get(resolve(path));
    if (i === undefined) return -1;
    if (size !== undefined && this.#sizes[i] !== size) return -1;
    if (mtimeMs !== undefined && this.#mtimes[i] !== mtimeMs) return -1;
    return i;
  }

  /** The view the embeddings were computed on (phase 1 shows the student the same geometry). */
  get view(): ViewSpec {
    return this.header.view;
  }

  /** The embedding of an image by path, or null when the store has none (phase 1's FeatureLookup). */
  get(path: string): Float32Array | null {
    const i = this.indexOf(path);
    return i < 0 ? null : this.read(i);
  }

  /** Images that could not be embedded. */
  get bad(): readonly BadImage[] {
    return this.#bad;
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.#paths.length) throw new RangeError(`FeatureStore: index ${i} out of range [0, ${this.#paths.length})`);
  }

  #fd(shard: number): { fd: number; layout: ShardLayout } {
    let fd = this.#fds.get(shard);
    if (fd !== undefined) {
      // Most recently used last.
      this.#fds.delete(shard);
      this.#fds.set(shard, fd);
    } else {
      if (this.#fds.size >= this.#maxOpen) {
        const [oldest, ofd] = this.#fds.entries().next().value as [number, number];
        closeSync(ofd);
        this.#fds.delete(oldest);
      }
      const file = join(this.dir, 'shards', this.#shards[shard]!);
      fd = openSync(file, 'r');
      this.#fds.set(shard, fd);
      if (!this.#layouts.has(shard)) {
        const layout = readShardLayout(fd, file);
        if (layout.dim !== this.dim) throw new Error(`${file}: embeddings are ${layout.dim}-d, the store's are ${this.dim}-d`);
        if (layout.metadata['stamp'] !== this.header.stamp) throw new Error(`${file}: stamped ${String(layout.metadata['stamp']).slice(0, 12)}, the store is ${this.header.stamp.slice(0, 12)}`);
        this.#layouts.set(shard, layout);
      }
    }
    return { fd, layout: this.#layouts.get(shard)! };
  }

  /** Embedding i, read from disk into `out` at `offset` (a fresh array by default). */
  read(i: number, out: Float32Array = new Float32Array(this.dim), offset = 0): Float32Array {
    this.#check(i);
    if (offset + this.dim > out.length) throw new RangeError(`FeatureStore.read: out holds ${out.length}, needs ${offset + this.dim}`);
    const shard = this.#shardOf[i]!;
    const row = this.#rowOf[i]!;
    const { fd, layout } = this.#fd(shard);
    if (row >= layout.rows) throw new Error(`${this.#shards[shard]}: row ${row} past its ${layout.rows} rows`);
    const bytes = new Uint8Array(out.buffer, out.byteOffset + offset * 4, this.dim * 4);
    readFully(fd, bytes, layout.dataStart + row * this.dim * 4, this.#shards[shard]!);
    return out;
  }

  /** Embeddings of `indices`, packed [indices.length, D]. */
  readBatch(indices: ArrayLike<number>, out: Float32Array = new Float32Array(indices.length * this.dim)): Float32Array {
    for (let k = 0; k < indices.length; k++) this.read(indices[k]!, out, k * this.dim);
    return out;
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}

export function describeView(v: ViewSpec): string {
  const g = v.geometry;
  const geo = g.kind === 'center' ? `resize ${g.resize}, centre crop ${v.size}` : `random-resized-crop ${v.size} scale [${g.scale.join(', ')}]`;
  return `${geo}${v.flipProbability > 0 ? `, flip p=${v.flipProbability}` : ''}`;
}

/**
 * The manifest's records plus orphan shards (complete on disk, missing from
 * the manifest), in shard order. With `repair`, the torn tail of the manifest
 * is cut and orphans are appended, so the next append starts clean.
 */
function collectRecords(dir: string, header: StoreHeader, repair: boolean): { records: ShardRecord[]; nextShard: number } {
  const manifestFile = join(dir, 'manifest.jsonl');
  const { records, validBytes, totalBytes } = readManifest(manifestFile);
  if (repair && validBytes < totalBytes) truncateFile(manifestFile, validBytes);
  const shardDir = join(dir, 'shards');
  const listed = new Set(records.map((r) => r.shard));
  const onDisk = existsSync(shardDir) ? readdirSync(shardDir) : [];
  if (repair) for (const f of onDisk) if (f.startsWith('.') && f.endsWith('.tmp')) rmSync(join(shardDir, f), { force: true });
  const live = records.filter((r) => {
    if (existsSync(join(shardDir, r.shard))) return true;
    if (!repair) throw new Error(`feature store ${dir}: manifest lists ${r.shard}, which is missing from ${shardDir}`);
    return false; // recomputed by the caller: its images are simply not in the store
  });
  const orphans = onDisk.filter((f) => /^shard-\d+\.safetensors$/.test(f) && !listed.has(f)).sort();
  for (const f of orphans) {
    const file = join(shardDir, f);
    const fd = openSync(file, 'r');
    let rec: ShardRecord;
    try {
      const layout = readShardLayout(fd, file);
      if (layout.metadata['stamp'] !== header.stamp) throw new Error(`feature store ${dir}: ${f} was made with another model or view (stamp ${String(layout.metadata['stamp']).slice(0, 12)}, store ${header.stamp.slice(0, 12)})`);
      rec = JSON.parse(layout.metadata['record'] ?? 'null') as ShardRecord;
      if (!rec || rec.shard !== f || rec.items.length !== layout.rows) throw new Error(`feature store ${dir}: ${f} has no usable record in its header`);
    } finally {
      closeSync(fd);
    }
    live.push(rec);
    if (repair) appendLine(manifestFile, JSON.stringify(rec));
  }
  live.sort((a, b) => (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0));
  const numbers = [...live.map((r) => r.shard), ...onDisk].map((f) => /^shard-(\d+)\.safetensors$/.exec(f)?.[1]).filter((x): x is string => x !== undefined).map(Number);
  return { records: live, nextShard: numbers.length === 0 ? 0 : Math.max(...numbers) + 1 };
}

function truncateFile(file: string, bytes: number): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a');
  try {
    const b = Buffer.from(`${line}\n`, 'utf8');
    let done = 0;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface FeatureProgress {
  /** Images finished this run (embedded or failed), of `total` to do. */
  done: number;
  total: number;
  bad: number;
  /** Images already in the store before this run. */
  skipped: number;
  shardsWritten: number;
  elapsedSeconds: number;
  imagesPerSecond: number;
  /** Seconds left at the current rate (NaN before the first batch). */
  etaSeconds: number;
}

export interface BuildFeatureStoreOptions {
  dir: string;
  encoder: ClipEncoder;
  /** Image paths (duplicates are embedded once). */
  files: readonly string[];
  /** The view the embeddings are computed on (default: the encoder's centre crop). */
  view?: ViewSpec;
  /** Seed of per-image view draws (default 0; centre views draw nothing). */
  seed?: number;
  /** Images per shard (default 1024): the unit of work a kill can lose. */
  shardSize?: number;
  /** Images per encoder call (default 32). */
  batchSize?: number;
  /** Images decoded at once (default 4). */
  decodeConcurrency?: number;
  /** Decode the next batch while the encoder runs this one (default true). */
  overlap?: boolean;
  onProgress?: (p: FeatureProgress) => void;
  /** Stops after the shard being computed is written. */
  signal?: AbortSignal;
  /** Stop after this many shards (tests simulate a kill with it). */
  maxShards?: number;
  /** Several ranks: each embeds every N-th shard of the work, rank 0 alone writes the manifest; all get the store. */
  comm?: Communicator;
}

export interface BuildFeatureStoreResult {
  store: FeatureStore;
  /** Images embedded this run, failed this run, and found already done. */
  embedded: number;
  failed: number;
  skipped: number;
  shardsWritten: number;
  seconds: number;
  /** True when every image given now has a record (embedding or failure). */
  complete: boolean;
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Keeps one writer per store: a lock file holding the writer's pid (a dead writer's lock is taken over). */
function lockStore(dir: string): () => void {
  const file = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8'));
      if (pid !== process.pid && processAlive(pid)) {
        throw new Error(`feature store ${dir} is being written by process ${pid} (remove ${file} if that is wrong)`, { cause: e });
      }
      rmSync(file, { force: true });
    }
  }
  throw new Error(`feature store ${dir}: cannot take the lock ${file}`);
}

/** A stable per-image seed from its path (views with random draws stay a function of the file). */
function pathSeed(seed: number, path: string): Rng {
  const h = sha256(path);
  return Rng.for(seed, 0, hashSeed(parseInt(h.slice(0, 8), 16), parseInt(h.slice(8, 16), 16)));
}

export interface DecodedBatch {
  /** [items.length, 3, size, size], normalised as the view says. */
  pixels: Float32Array;
  /** Files rendered, in row order. */
  items: ItemRecord[];
  bad: BadRecord[];
}

/** Decodes and renders files (`concurrency` at once) into one packed batch; bad images come back as records. */
export async function decodeBatch(files: readonly { path: string; size: number; mtimeMs: number }[], view: ViewSpec, seed: number, concurrency: number): Promise<DecodedBatch> {
  const per = 3 * view.size * view.size;
  const rendered: (Float32Array | null)[] = new Array(files.length).fill(null);
  const bad: (BadRecord | null)[] = new Array(files.length).fill(null);
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < files.length; k = next++) {
      const f = files[k]!;
      try {
        rendered[k] = await renderView(await openImage(f.path), view, pathSeed(seed, f.path));
      } catch (e) {
        if (!(e instanceof ImageFileError)) throw e;
        bad[k] = [f.path, f.size, f.mtimeMs, e.kind, e.detail];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  const items: ItemRecord[] = [];
  const pixels = new Float32Array(rendered.filter((r) => r !== null).length * per);
  rendered.forEach((r, k) => {
    if (r === null) return;
    pixels.set(r, items.length * per);
    const f = files[k]!;
    items.push([f.path, f.size, f.mtimeMs]);
  });
  return { pixels, items, bad: bad.filter((b): b is BadRecord => b !== null) };
}

/**
 * Creates or continues the store at `dir`: embeds every file not already in
 * it (same path, size and mtime), shard by shard. A store made with another
 * model or view is refused, never mixed in.
 */
export async function buildFeatureStore(opts: BuildFeatureStoreOptions): Promise<BuildFeatureStoreResult> {
  const dir = resolve(opts.dir);
  const enc = opts.encoder;
  const view = opts.view ?? encoderView(enc.preprocessing);
  validateViewSpec(view);
  if (view.size !== enc.preprocessing.size) throw new RangeError(`buildFeatureStore: the view is ${view.size} px, the encoder takes ${enc.preprocessing.size} px`);
  const seed = opts.seed ?? 0;
  const shardSize = opts.shardSize ?? 1024;
  const batchSize = opts.batchSize ?? 32;
  if (!(Number.isInteger(shardSize) && shardSize > 0)) throw new RangeError(`buildFeatureStore: shardSize must be a positive integer, got ${shardSize}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`buildFeatureStore: batchSize must be a positive integer, got ${batchSize}`);
  const { size, resize, interpolation, mean, std } = enc.preprocessing;
  const preprocessing = { size, resize, interpolation, mean, std };
  const model: StoreModelInfo = { name: enc.name, hash: enc.modelHash, dim: enc.dim, engine: enc.engine, standIn: enc.standIn, description: enc.description };
  const stamp = storeStamp(model, preprocessing, view, seed);

  mkdirSync(join(dir, 'shards'), { recursive: true });
  // Several ranks split the shards to compute; rank 0 alone holds the lock,
  // reads and repairs the manifest, plans the work and appends every rank's
  // records. The others write only their own (numbered) shard files.
  const comm = opts.comm && opts.comm.size > 1 ? opts.comm : null;
  const lead = !comm || comm.rank === 0;
  let unlock = (): void => {};
  try {
    let plan: Plan | { error: string };
    try {
      plan = lead ? await planStore(dir, opts.files, { stamp, model, preprocessing, view, seed }, (u) => (unlock = u)) : { error: '' };
    } catch (e) {
      if (!comm) throw e;
      plan = { error: (e as Error).message }; // every rank must hear it, not wait
    }
    if (comm) plan = comm.broadcastJson(lead ? plan : undefined, 0, 'feature store plan');
    if ('error' in plan) throw new Error(lead ? plan.error : `rank 0: ${plan.error}`);
    const { todo, missing, skipped } = plan;
    let nextShard = plan.nextShard;

    const t0 = performance.now();
    let done = 0;
    let failed = 0;
    let embedded = 0;
    let shardsWritten = 0;
    const mine: ShardRecord[] = [];
    const total = todo.length + missing.length;
    const report = () => {
      const elapsed = (performance.now() - t0) / 1e3;
      const rate = elapsed > 0 ? done / elapsed : 0;
      opts.onProgress?.({ done, total, bad: failed, skipped, shardsWritten, elapsedSeconds: elapsed, imagesPerSecond: rate, etaSeconds: rate > 0 ? (total - done) / rate : NaN });
    };
    const writeShard = (name: string, rows: Float32Array, items: ItemRecord[], bad: BadRecord[]) => {
      const rec: ShardRecord = { shard: name, items, bad };
      writeSafetensors(join(dir, 'shards', name), [[TENSOR, { shape: [items.length, enc.dim], data: rows }]], { stamp, record: JSON.stringify(rec) });
      if (comm) mine.push(rec);
      else appendLine(join(dir, 'manifest.jsonl'), JSON.stringify(rec));
      shardsWritten++;
    };
    if (missing.length > 0) {
      // Files that vanished between listing and now: recorded as failures in an empty shard.
      if (lead) {
        writeShard(shardName(nextShard), new Float32Array(0), [], missing);
        done += missing.length;
        failed += missing.length;
      }
      nextShard++;
    }
    report();

    const overlap = opts.overlap ?? true;
    const conc = opts.decodeConcurrency ?? 4;
    let stopped = false;
    for (let s0 = 0, index = 0; s0 < todo.length; s0 += shardSize, index++) {
      // Shard k of the plan is rank k mod N's, under its planned number.
      if (comm && index % comm.size !== comm.rank) continue;
      if (opts.signal?.aborted || (opts.maxShards !== undefined && shardsWritten >= opts.maxShards)) {
        stopped = true;
        break;
      }
      const shardFiles = todo.slice(s0, s0 + shardSize);
      const rows = new Float32Array(shardFiles.length * enc.dim);
      const items: ItemRecord[] = [];
      const bad: BadRecord[] = [];
      const batches: (typeof shardFiles)[] = [];
      for (let b0 = 0; b0 < shardFiles.length; b0 += batchSize) batches.push(shardFiles.slice(b0, b0 + batchSize));
      let pending: Promise<DecodedBatch> | null = decodeBatch(batches[0]!, view, seed, conc);
      for (let b = 0; b < batches.length; b++) {
        const cur: DecodedBatch = await pending!;
        pending = null;
        if (overlap && b + 1 < batches.length) pending = decodeBatch(batches[b + 1]!, view, seed, conc);
        if (cur.items.length > 0) {
          const emb = await enc.encode(cur.pixels, cur.items.length);
          rows.set(emb, items.length * enc.dim);
          items.push(...cur.items);
        }
        bad.push(...cur.bad);
        if (!overlap && b + 1 < batches.length) pending = decodeBatch(batches[b + 1]!, view, seed, conc);
        done += cur.items.length + cur.bad.length;
        failed += cur.bad.length;
        embedded += cur.items.length;
        report();
      }
      writeShard(shardName(nextShard + index), rows.subarray(0, items.length * enc.dim), items, bad);
      report();
    }
    if (comm) {
      // One writer of the manifest: rank 0 appends every rank's records in shard order.
      const records = allgatherJson(comm, mine, 'feature store records').flat();
      records.sort((a, b) => (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0));
      if (lead) for (const rec of records) appendLine(join(dir, 'manifest.jsonl'), JSON.stringify(rec));
      [embedded, failed, shardsWritten] = comm.allReduceNumbers([embedded, failed, shardsWritten], 'feature store counts') as [number, number, number];
      stopped = comm.allReduceNumbers([stopped ? 1 : 0], 'feature store stopped')[0]! > 0;
      comm.barrier('feature store written');
    }
    const seconds = (performance.now() - t0) / 1e3;
    return { store: FeatureStore.open(dir, { stamp }), embedded, failed, skipped, shardsWritten, seconds, complete: !stopped };
  } finally {
    unlock();
    if (lead) syncDir(dir);
  }
}

/** What a run of buildFeatureStore must do (rank 0 works it out for every rank). */
interface Plan {
  todo: { path: string; size: number; mtimeMs: number }[];
  missing: BadRecord[];
  skipped: number;
  /** The number of the first shard this run writes. */
  nextShard: number;
}

/** Takes the lock (handing its release to `locked`), writes or checks the header, repairs the manifest and lists what is left to embed. */
async function planStore(
  dir: string,
  files: readonly string[],
  made: { stamp: string; model: StoreModelInfo; preprocessing: StoreHeader['preprocessing']; view: ViewSpec; seed: number },
  locked: (unlock: () => void) => void,
): Promise<Plan> {
  const { stamp, model, preprocessing, view, seed } = made;
  locked(lockStore(dir));
  const headerFile = join(dir, 'store.json');
  if (existsSync(headerFile)) {
    const h = readHeader(dir);
    if (h.stamp !== stamp) {
      const why = h.model.hash !== model.hash ? `model ${h.model.name} (hash ${h.model.hash.slice(0, 12)}), this run uses ${model.name} (hash ${model.hash.slice(0, 12)})` : `view ${describeView(h.view)} / preprocessing ${JSON.stringify(h.preprocessing)}, this run uses ${describeView(view)} / ${JSON.stringify(preprocessing)}`;
      throw new Error(`feature store ${dir} was made with ${why}; choose another output folder`);
    }
  } else {
    const header: StoreHeader = { format: STORE_FORMAT, version: STORE_VERSION, stamp, model, preprocessing, view, seed, created: new Date().toISOString() };
    writeFileAtomicSync(headerFile, `${JSON.stringify(header, null, 2)}\n`);
  }
  const header = readHeader(dir);
  const { records, nextShard } = collectRecords(dir, header, true);

  // What is already recorded (embedded or failed), by path → size and mtime.
  const known = new Map<string, { size: number; mtimeMs: number }>();
  for (const r of records) {
    for (const [p, size, mtimeMs] of r.items) known.set(p, { size, mtimeMs });
    for (const [p, size, mtimeMs] of r.bad) known.set(p, { size, mtimeMs });
  }
  const unique = [...new Set(files.map((f) => resolve(f)))];
  const todo: { path: string; size: number; mtimeMs: number }[] = [];
  const missing: BadRecord[] = [];
  let skipped = 0;
  for (const path of unique) {
    let st: { size: number; mtimeMs: number };
    try {
      const s = await stat(path);
      st = { size: s.size, mtimeMs: s.mtimeMs };
    } catch (e) {
      const k = known.get(path);
      if (k && k.size === -1) skipped++;
      else missing.push([path, -1, -1, 'missing', (e as NodeJS.ErrnoException).code ?? (e as Error).message]);
      continue;
    }
    const k = known.get(path);
    if (k && k.size === st.size && k.mtimeMs === st.mtimeMs) skipped++;
    else todo.push({ path, ...st });
  }
  return { todo, missing, skipped, nextShard };
}
