// cskd serve: a thin shell over Scorer + createServer; SIGTERM/SIGINT drain and exit 0.
import { availableParallelism } from 'node:os';

import type { Command } from 'commander';

import { Scorer } from '../score/scorer.js';
import { createServer } from '../score/server.js';
import { action, integer, positiveInt, threadsOption } from './options.js';

interface ServeOptions {
  model: string;
  port: number;
  host: string;
  threads?: number;
  batchSize?: number;
  maxQueue?: number;
  maxBodyMb?: number;
  maxBatchItems?: number;
  maxPixels?: number;
  timeoutMs?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('HTTP scoring: POST /score (image bytes) → {mean, std, distribution}; POST /score/batch ({"images": [base64…]}); GET /health; GET /metrics. SIGTERM stops accepting, finishes accepted requests, then exits')
    .requiredOption('-m, --model <file>', 'ONNX model exported by cskd')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', integer(0, 65535), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(threadsOption('onnxruntime threads (default: one per core)'))
    .option('--batch-size <n>', 'most images per model call (default 16)', positiveInt)
    .option('--max-queue <n>', 'images in progress before 503 (default 64)', positiveInt)
    .option('--max-body-mb <n>', 'largest image body in MiB (default 20; batch bodies: 64)', positiveInt)
    .option('--max-batch-items <n>', 'most images per batch request (default 64)', positiveInt)
    .option('--max-pixels <n>', 'refuse larger images (default 50000000)', positiveInt)
    .option('--timeout-ms <ms>', 'time to receive and answer a request (default 30000)', positiveInt)
    .action(action((opts: ServeOptions) => serve(opts)));
}

async function serve(values: ServeOptions): Promise<number> {
  const port = values.port;
  const maxBatch = values.batchSize;
  const maxPixels = values.maxPixels;
  const bodyMb = values.maxBodyMb;
  const maxQueue = values.maxQueue;
  const maxBatchItems = values.maxBatchItems;
  const requestTimeoutMs = values.timeoutMs;

  const scorer = await Scorer.load(values.model, {
    threads: values.threads ?? availableParallelism(),
    ...(maxBatch !== undefined ? { maxBatch } : {}),
    ...(maxPixels !== undefined ? { maxPixels } : {}),
  });
  const service = createServer(scorer, {
    ...(bodyMb !== undefined ? { maxBodyBytes: bodyMb * (1 << 20) } : {}),
    ...(maxQueue !== undefined ? { maxQueue } : {}),
    ...(maxBatchItems !== undefined ? { maxBatchItems } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  });
  let address;
  try {
    address = await service.listen(port, values.host);
  } catch (e) {
    await scorer.release();
    throw new Error(`cannot listen on ${values.host}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`cskd serve: ${scorer.modelPath} listening on http://${host}:${address.port}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.stdout.write(`cskd serve: ${signal}, finishing accepted requests\n`);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await service.close();
  await scorer.release();
  const m = service.metrics();
  process.stdout.write(`cskd serve: stopped after ${m.imagesScored} images\n`);
  return 0;
}
