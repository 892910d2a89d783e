// The entry of one model process of the serving pool (see model_pool.ts for
// why these are processes, not worker threads): it holds one onnxruntime
// session with its own intra-op threads and answers model calls sent over the
// IPC channel, one at a time. Argument: the model path, the thread count.
//
//   parent → child  { type: 'run', id, batch, size, pixels: Float32Array }
//                   { type: 'close' }  finish the call in progress, release, exit 0
//   child → parent  { type: 'ready' } | { type: 'load-failed', message }
//                   { type: 'result', id, distribution: Float32Array } | { type: 'failed', id, message }
import * as ort from 'onnxruntime-node';

export type ToModel = { type: 'run'; id: number; batch: number; size: number; pixels: Float32Array } | { type: 'close' };
export type FromModel =
  | { type: 'ready' }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; distribution: Float32Array }
  | { type: 'failed'; id: number; message: string };

function send(m: FromModel): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const [modelPath, threadArg, inputArg] = process.argv.slice(2);
  // Without the parent there is no one to answer: leave (also ends a child whose parent was killed).
  process.on('disconnect', () => process.exit(0));
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath!, {
      executionProviders: ['cpu'],
      intraOpNumThreads: Number(threadArg),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    send({ type: 'load-failed', message: (e as Error).message });
    process.disconnect?.();
    return;
  }
  const inputName = inputArg ?? 'pixel_values';
  let chain = Promise.resolve();
  process.on('message', (m: ToModel) => {
    chain = chain.then(async () => {
      if (m.type === 'close') {
        await session.release();
        process.disconnect?.();
        return;
      }
      try {
        const out = await session.run({ [inputName]: new ort.Tensor('float32', m.pixels, [m.batch, 3, m.size, m.size]) }, ['distribution']);
        send({ type: 'result', id: m.id, distribution: (out['distribution'] as ort.Tensor).data as Float32Array });
      } catch (e) {
        send({ type: 'failed', id: m.id, message: (e as Error).message });
      }
    });
  });
  send({ type: 'ready' });
}

if (process.send) void main();
