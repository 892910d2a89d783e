// HTTP helpers for the serving tests: one request with its reply, a request
// whose body arrives slowly (or is cut off), and a stand-in scorer whose
// answers wait until released.
import { type Agent, request } from 'node:http';
import { type Socket, connect } from 'node:net';

import { expect } from 'vitest';

import { ImageFileError } from '../../src/data/errors.js';
import type { Score } from '../../src/score/scorer.js';
import type { ImageScorer } from '../../src/score/server.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: <T = Record<string, unknown>>() => T;
}

export function call(port: number, method: string, path: string, body?: Buffer | string, agent?: Agent, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: agent ?? false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: <T,>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A raw POST whose headers announce `length` bytes and whose body then comes
 * one byte every `everyMs` until stopped; the reply (status line) is read as it
 * arrives. `socket` lets a test cut the connection.
 */
export function slowUpload(port: number, path: string, length: number, everyMs: number): { socket: Socket; status: Promise<number | null>; stop: () => void } {
  const socket = connect(port, '127.0.0.1');
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
  const drip = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write('x');
  }, everyMs);
  let text = '';
  const status = new Promise<number | null>((resolve) => {
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    socket.on('close', () => resolve(null));
    socket.on('error', () => resolve(null));
  });
  void status.finally(() => clearInterval(drip));
  return {
    socket,
    status,
    stop: () => {
      clearInterval(drip);
      socket.destroy();
    },
  };
}

/** A stand-in scorer whose answers wait until released, to hold requests in flight (bodies under 10 bytes: not-an-image). */
export function gatedScorer(preprocessing: ImageScorer['preprocessing']): { scorer: ImageScorer; release: () => void; started: () => number } {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  const fake: ImageScorer = {
    score: async (input, label) => {
      // Tiny bodies stand for bad images, so error paths can be counted too.
      if (input instanceof Uint8Array && input.length < 10) throw new ImageFileError(label ?? 'buffer', 'not-an-image', 'not a format sharp can read');
      started++;
      await gate;
      return { mean: 5, std: 1, distribution: [0.5, 0.5] } satisfies Score;
    },
    bins: [1, 2],
    preprocessing,
    stats: { batches: 0, images: 0, modelMs: 0 },
    maxBatch: 1,
  };
  return { scorer: fake, release: () => open(), started: () => started };
}

export async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond(), what).toBe(true);
}

/** Parses Prometheus text: sample name with labels → value. */
export function promSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
