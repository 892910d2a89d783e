// cskd serve: a thin shell over PooledScorer + createServer. It listens at
// once (/health answers, /ready says 503 loading) and becomes ready when every
// model process has loaded and warmed up. SIGTERM/SIGINT drain and exit 0.
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import type { Command } from 'commander';

import { PooledScorer, defaultPoolSize } from '../score/pooled_scorer.js';
import { createServer } from '../score/server.js';
import { action, integer, positiveInt, threadsOption } from './options.js';

interface ServeOptions {
  model: string;
  port: number;
  host: string;
  workers?: number;
  threads?: number;
  modelNice?: number;
  batchSize?: number;
  maxQueue?: number;
  maxBodyMb?: number;
  maxBatchItems?: number;
  maxPixels?: number;
  timeoutMs?: number;
  shutdownTimeoutMs?: number;
  gallery?: string;
  images?: string;
}

export function registerServe(program: Command): void {
  const cores = availableParallelism();
  const pool = defaultPoolSize(cores);
  program
    .command('serve')
    .description(
      'HTTP scoring: POST /score (image bytes) → {mean, std, distribution}; POST /score/batch ({"images": [base64…]}); GET /health (liveness); GET /ready (readiness); GET /metrics (Prometheus). ' +
        'Model calls run in a pool of model processes. SIGTERM stops accepting, finishes accepted requests, then exits',
    )
    .requiredOption('-m, --model <file>', 'ONNX model exported by cskd')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', integer(0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--workers <n>', `model processes (default: one per 4 cores, here ${pool.processes})`, positiveInt)
    .addOption(threadsOption(`onnxruntime threads per model process (default: the cores divided among them, here ${pool.threads})`))
    .option(
      '--model-nice <n>',
      'nice levels the model processes (decoding and model calls) run below the service, so /health, /ready and refusals answer first under full load; 0 keeps them level (default 10)',
      integer(0, 19),
    )
    .option('--batch-size <n>', 'most images per model call (default 16)', positiveInt)
    .option('--max-queue <n>', 'images in progress before 503 (default 64)', positiveInt)
    .option('--max-body-mb <n>', 'largest image body in MiB (default 20; batch bodies: 64)', positiveInt)
    .option('--max-batch-items <n>', 'most images per batch request (default 64)', positiveInt)
    .option('--max-pixels <n>', 'refuse larger images (default 50000000)', positiveInt)
    .option('--timeout-ms <ms>', 'time to receive and answer a request, and the most a model call may take before its process is replaced (default 30000)', positiveInt)
    .option('--shutdown-timeout-ms <ms>', 'how long SIGTERM waits for accepted requests (default 30000)', positiveInt)
    .option('--gallery <dir>', 'also serve this gallery (built by `cskd gallery`) at /, with drag-and-drop scoring')
    .option('--images <root>', 'with --gallery: the images root the gallery was built with (serves the originals)')
    .action(action((opts: ServeOptions) => serve(opts, cores)));
}

function checkGallery(dir: string | undefined, images: string | undefined): { dir: string; imagesRoot: string | null } | undefined {
  if (images !== undefined && dir === undefined) throw new Error('--images is only used with --gallery');
  if (dir === undefined) return undefined;
  if (!existsSync(join(dir, 'index.html'))) throw new Error(`--gallery ${dir}: no index.html there; build the gallery first with \`cskd gallery\``);
  if (images !== undefined && !(existsSync(images) && statSync(images).isDirectory())) throw new Error(`--images ${images}: not a folder`);
  return { dir, imagesRoot: images ?? null };
}

async function serve(values: ServeOptions, cores: number): Promise<number> {
  const gallery = checkGallery(values.gallery, values.images);
  const scorer = await PooledScorer.start(values.model, cores, {
    ...(values.workers !== undefined ? { processes: values.workers } : {}),
    ...(values.threads !== undefined ? { threads: values.threads } : {}),
    ...(values.modelNice !== undefined ? { nice: values.modelNice } : {}),
    ...(values.batchSize !== undefined ? { maxBatch: values.batchSize } : {}),
    ...(values.maxPixels !== undefined ? { maxPixels: values.maxPixels } : {}),
    // A model call may take as long as a request may: past that it is stuck, and its process is replaced.
    ...(values.timeoutMs !== undefined ? { callTimeoutMs: values.timeoutMs } : {}),
  });
  const service = createServer(scorer, {
    ...(values.maxBodyMb !== undefined ? { maxBodyBytes: values.maxBodyMb * (1 << 20) } : {}),
    ...(values.maxQueue !== undefined ? { maxQueue: values.maxQueue } : {}),
    ...(values.maxBatchItems !== undefined ? { maxBatchItems: values.maxBatchItems } : {}),
    ...(values.timeoutMs !== undefined ? { requestTimeoutMs: values.timeoutMs } : {}),
    ...(values.shutdownTimeoutMs !== undefined ? { shutdownTimeoutMs: values.shutdownTimeoutMs } : {}),
    ...(gallery ? { gallery } : {}),
  });
  let address;
  try {
    address = await service.listen(values.port, values.host);
  } catch (e) {
    await scorer.release();
    throw new Error(`cannot listen on ${values.host}:${values.port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`cskd serve: ${scorer.modelPath} listening on http://${host}:${address.port}${gallery ? ` (gallery ${gallery.dir} at /)` : ''}\n`);

  let signal: string | null = null;
  const stopped = new Promise<void>((resolve) => {
    const stop = (name: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      signal = name;
      process.stdout.write(`cskd serve: ${name}, finishing accepted requests\n`);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  const loaded = scorer.whenReady.then(
    () => null,
    (e: unknown) => e as Error,
  );
  const failed = await Promise.race([loaded, stopped.then(() => null)]);
  if (failed) {
    await service.close();
    await scorer.release(0);
    throw failed;
  }
  if (!signal) process.stdout.write(`cskd serve: ready (${scorer.pool.processes} model processes × ${scorer.pool.threads} threads)\n`);
  await stopped;
  await service.close();
  await scorer.release();
  const m = service.metrics();
  process.stdout.write(`cskd serve: stopped after ${m.imagesScored} images\n`);
  return 0;
}
