// cskd serve: a thin shell over Scorer + createServer; SIGTERM/SIGINT drain and exit 0.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import { Scorer } from '../score/scorer.js';
import { createServer } from '../score/server.js';

export const usage = `cskd serve --model M [--port 8080] [--host 127.0.0.1] [options]
  HTTP scoring: POST /score (image bytes) → {mean, std, distribution};
  POST /score/batch ({"images": [base64…]}); GET /health; GET /metrics.
  SIGTERM stops accepting, finishes accepted requests, then exits.
  --threads N          onnxruntime threads (default: all cores)
  --batch-size N       most images per model call (default 16)
  --max-queue N        images in progress before 503 (default 64)
  --max-body-mb N      largest image body (default 20; batch bodies: 64)
  --max-batch-items N  most images per batch request (default 64)
  --max-pixels N       refuse larger images (default 50000000)
  --timeout-ms N       time to receive and answer a request (default 30000)`;

function int(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      port: { type: 'string', short: 'p', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      threads: { type: 'string' },
      'batch-size': { type: 'string' },
      'max-queue': { type: 'string' },
      'max-body-mb': { type: 'string' },
      'max-batch-items': { type: 'string' },
      'max-pixels': { type: 'string' },
      'timeout-ms': { type: 'string' },
    },
  });
  if (!values.model) throw new Error('--model is required (an ONNX model exported by cskd)');
  const port = int('port', values.port, 0) as number;
  if (port > 65535) throw new RangeError(`--port: expected 0–65535, got ${port}`);
  const maxBatch = int('batch-size', values['batch-size']);
  const maxPixels = int('max-pixels', values['max-pixels']);
  const bodyMb = int('max-body-mb', values['max-body-mb']);
  const maxQueue = int('max-queue', values['max-queue']);
  const maxBatchItems = int('max-batch-items', values['max-batch-items']);
  const requestTimeoutMs = int('timeout-ms', values['timeout-ms']);

  const scorer = await Scorer.load(values.model, {
    threads: int('threads', values.threads) ?? availableParallelism(),
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
