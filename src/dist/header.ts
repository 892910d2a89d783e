// The header every rank sends before each collective (native/mpi/exchange.h),
// and the verdict all ranks reach from the same table of headers: the
// collective runs, or every rank throws the same mismatch.

export const HEADER_LENGTH = 9;
const MAGIC = 0x5c5d;

export const OPS = ['allReduce', 'broadcast', 'allgather', 'barrier'] as const;
export type Op = (typeof OPS)[number];
export const DTYPES = ['float32', 'float64', 'int32', 'uint8', 'none'] as const;
export type ElementType = (typeof DTYPES)[number];
/** Where the buffer lives: device tensors may take another route (NCCL) than host memory (MPI). */
export const PLACES = ['host', 'device'] as const;
export type Place = (typeof PLACES)[number];

export interface Header {
  /** The collective's number since the communicator started (every rank counts the same). */
  seq: number;
  /** The caller's step (Communicator.setStep): a training step, an epoch. */
  step: number;
  op: Op;
  dtype: ElementType;
  /** Elements this rank passes; -1 for a broadcast receiver that takes the root's length. */
  count: number;
  /** The broadcast's root, else -1. */
  root: number;
  /** What the call site says it is ('gradients', 'loss'), by hash. */
  label: string;
  place: Place;
}

/** FNV-1a, 32 bits: labels travel as a number. */
export function labelHash(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function encodeHeader(h: Header): Float64Array {
  return Float64Array.of(MAGIC, h.seq, h.step, OPS.indexOf(h.op), DTYPES.indexOf(h.dtype), h.count, h.root, labelHash(h.label), PLACES.indexOf(h.place));
}

interface Decoded {
  magic: number;
  seq: number;
  step: number;
  op: string;
  dtype: string;
  count: number;
  root: number;
  label: number;
  place: string;
}

function decode(table: Float64Array, rank: number): Decoded {
  const r = table.subarray(rank * HEADER_LENGTH, (rank + 1) * HEADER_LENGTH);
  return {
    magic: r[0]!,
    seq: r[1]!,
    step: r[2]!,
    op: OPS[r[3]!] ?? `op ${r[3]}`,
    dtype: DTYPES[r[4]!] ?? `dtype ${r[4]}`,
    count: r[5]!,
    root: r[6]!,
    label: r[7]!,
    place: PLACES[r[8]!] ?? `place ${r[8]}`,
  };
}

function describe(d: Decoded, label?: string): string {
  const what =
    d.op === 'barrier' ? '' : `${d.dtype} x ${d.count < 0 ? 'any' : d.count}${d.place === 'device' ? ' on device' : ''}${d.op === 'broadcast' ? ` from rank ${d.root}` : ''}`;
  const name = label !== undefined ? `'${label}'` : `label #${d.label.toString(16)}`;
  return `#${d.seq} ${d.op}(${what}) ${name} at step ${d.step}`;
}

/** What each rank passes, read from the table: the element counts (allgather's layout). */
export function countsOf(table: Float64Array, size: number): number[] {
  return Array.from({ length: size }, (_, r) => decode(table, r).count);
}

/**
 * Null when every rank's header agrees with `mine`, else the message every
 * rank prints. The comparison is against the lowest rank that differs from
 * rank 0, so all ranks name the same pair. Allgather counts may differ;
 * broadcast receivers may pass -1 (any length).
 */
export function headerMismatch(table: Float64Array, size: number, mine: Header): string | null {
  const ref = decode(table, 0);
  const root = ref.op === 'broadcast' && ref.root >= 0 && ref.root < size ? decode(table, ref.root) : ref;
  for (let r = 0; r < size; r++) {
    const d = decode(table, r);
    let why = '';
    if (d.magic !== MAGIC) why = 'sent no cskd collective header';
    else if (d.seq !== ref.seq) why = 'is at another collective number';
    else if (d.op !== ref.op) why = 'calls another collective';
    else if (d.step !== ref.step) why = 'is at another step';
    else if (d.label !== ref.label) why = 'calls it from another place';
    else if (d.dtype !== ref.dtype) why = 'passes another element type';
    else if (d.root !== ref.root) why = 'names another root';
    else if (d.place !== ref.place) why = `passes ${d.place} memory where rank 0 passes ${ref.place} memory`;
    else if (ref.op === 'allReduce' && d.count !== ref.count) why = 'passes another element count';
    else if (ref.op === 'broadcast' && d.count !== -1 && d.count !== root.count) why = "passes another element count than the root's";
    if (why) {
      const refLabel = labelHash(mine.label) === ref.label ? mine.label : undefined;
      const dLabel = labelHash(mine.label) === d.label ? mine.label : undefined;
      return `collective mismatch: rank 0 is in ${describe(ref, refLabel)} but rank ${r} ${why}: ${describe(d, dLabel)}`;
    }
  }
  return null;
}
