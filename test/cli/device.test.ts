// --device on the command line: a bad name is a usage error, a device this
// machine lacks is one line naming it and why, and an ONNX model refuses a
// CUDA device instead of silently running on the CPU.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { main } from '../../src/cli/main.js';
import type { LabeledSplit } from '../../src/data/datasets.js';
import { evaluateModelFile } from '../../src/score/evaluate.js';
import { native } from '../../src/native.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());
const dir = mkdtempSync(join(tmpdir(), 'cskd-cli-device-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--device', () => {
  it.each([['train'], ['align'], ['finetune'], ['distill']])('%s: a bad device name exits 2 naming the option', async (cmd) => {
    const c = captureOutput();
    expect(await main([cmd, 'cfg.yaml', '--device', 'gpu0'])).toBe(2);
    expect(c.err()).toMatch(/option '--device <device>' argument 'gpu0' is invalid\. expected 'cpu', 'cuda' or 'cuda:N'/);
  });

  it('evaluating an .onnx model on a CUDA device is refused with the reason', async () => {
    const split = { name: 'test', format: 'csv', bins: [1, 2, 3], samples: [], issues: [] } as unknown as LabeledSplit;
    await expect(evaluateModelFile(join(dir, 'm.onnx'), split, { device: 'cuda' })).rejects.toThrow(/an \.onnx model runs on onnxruntime's CPU provider; --device cuda:0 applies to cskd checkpoints/);
  });

  it('a device this addon cannot reach is one line naming it and why', async () => {
    const n = native.deviceCount();
    const c = captureOutput();
    const code = await main(['analyze', '--init', 'vit-demo-s', '--images', join(dir, 'none.png'), '--out', join(dir, 'a'), '--device', `cuda:${n}`]);
    expect(code).toBe(1);
    expect(c.err()).toMatch(new RegExp(`cuda:${n} is not available`));
  });
});
