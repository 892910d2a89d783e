// The entry of one model process of the serving pool (see model_pool.ts for
// why these are processes, not worker threads). It holds a Scorer: one
// onnxruntime session with its own intra-op threads, the decoding of the
// images it is sent (sharp, in this process's threads) and the Scorer's
// batching rule. Before it loads anything it lowers its CPU priority (nice),
// so under full load the service's JS thread, which answers /health, /ready
// and refusals, gets a CPU first.
//
// Argument: one JSON ModelProcessArgs. Messages:
//   parent → child  { type: 'score', id, input: encoded bytes | path, label }
//                   { type: 'close' }  finish what was sent, release, exit 0
//   child → parent  { type: 'ready' } (loaded, one warm-up call done) | { type: 'load-failed', message }
//                   { type: 'scored', id, score } | { type: 'rejected', id, error: the ImageFileError's parts }
//                   | { type: 'failed', id, message } (anything but a bad image)
//   Every answer carries `waits`, the queue waits (s) of the images whose model
//   call started since the last answer, and `stats`, the Scorer's counters.
import { ImageFileError, type ImageErrorKind } from '../data/errors.js';
import { lowerPriority } from '../util/priority.js';
import { Scorer, type Score, type ScorerStats } from './scorer.js';

export interface ModelProcessArgs {
  model: string;
  threads: number;
  maxBatch: number;
  maxPixels: number | null;
  /** Nice levels this process lowers itself by (0: none). */
  nice: number;
}

export type ToModel = { type: 'score'; id: number; input: Uint8Array | string; label: string } | { type: 'close' };

type Answer =
  | { type: 'scored'; id: number; score: Score }
  | { type: 'rejected'; id: number; error: { file: string; kind: ImageErrorKind; detail: string } }
  | { type: 'failed'; id: number; message: string };
export type FromModel = { type: 'ready' } | { type: 'load-failed'; message: string } | (Answer & { waits: number[]; stats: ScorerStats });

function send(m: FromModel): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ModelProcessArgs;
  // Without the parent there is no one to answer: leave (also ends a child whose parent was killed).
  process.on('disconnect', () => process.exit(0));
  // First, so that the threads started from here on (onnxruntime's, libuv's, libvips's) inherit it.
  if (args.nice > 0) lowerPriority(args.nice);
  let scorer: Scorer;
  try {
    scorer = await Scorer.load(args.model, { threads: args.threads, maxBatch: args.maxBatch, ...(args.maxPixels !== null ? { maxPixels: args.maxPixels } : {}) });
    // One image through the session: the first call pays for allocation and kernel selection, not a client.
    await scorer.scoreTensor(new Float32Array(scorer.imageLength), 1);
    // The counters are of clients' images.
    Object.assign(scorer.stats, { batches: 0, images: 0, modelMs: 0 });
  } catch (e) {
    send({ type: 'load-failed', message: (e as Error).message });
    process.disconnect?.();
    return;
  }
  const waits: number[] = [];
  scorer.onQueueWait = (s) => waits.push(s);
  const answer = (a: Answer): void => send({ ...a, waits: waits.splice(0), stats: { ...scorer.stats } });
  const inFlight = new Set<Promise<void>>();
  process.on('message', (m: ToModel) => {
    if (m.type === 'close') {
      void Promise.allSettled(inFlight).then(async () => {
        await scorer.release();
        process.disconnect?.();
      });
      return;
    }
    const done = scorer.score(m.input, m.label).then(
      (score) => answer({ type: 'scored', id: m.id, score }),
      (e: unknown) =>
        answer(e instanceof ImageFileError ? { type: 'rejected', id: m.id, error: { file: e.file, kind: e.kind, detail: e.detail } } : { type: 'failed', id: m.id, message: (e as Error).message }),
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  send({ type: 'ready' });
}

if (process.send) void main();
