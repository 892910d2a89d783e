import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConfigError, DEFAULT_TRAIN_CONFIG, loadTrainConfig, resolveTrainConfig } from '../../src/train/config.js';

describe('train config', () => {
  it('merges over the defaults', () => {
    const c = resolveTrainConfig({ data: 'd.json', distill: { lambda: 0.5 }, student: { model: 'vit-ti16' } });
    expect(c.distill.lambda).toBe(0.5);
    expect(c.distill.lr).toBe(DEFAULT_TRAIN_CONFIG.distill.lr);
    expect(c.student.model).toBe('vit-ti16');
    expect(c.teacher.model).toBe(DEFAULT_TRAIN_CONFIG.teacher.model);
  });

  it('names every bad key, what it must be and what it got', () => {
    let err: ConfigError | null = null;
    try {
      resolveTrainConfig({ data: 'd.json', align: { lr: -1, loss: 'l2' }, distil: {}, finetune: 3 }, 'my.yaml');
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.problems).toEqual([
      "'align.lr' must be a positive number, got -1",
      "'align.loss' must be one of 'cosine', 'mse', 'smooth-l1', got \"l2\"",
      expect.stringMatching(/^unknown key 'distil' \(known: .*distill/),
      expect.stringMatching(/^'finetune' must be a mapping with keys epochs, lr/),
    ]);
    expect(err?.message).toMatch(/^my\.yaml: invalid config:/);
  });

  it('takes precision fp32 or bf16, and bf16 only with a CUDA device', () => {
    expect(resolveTrainConfig({ data: 'd.json' }).precision).toBe('fp32');
    expect(resolveTrainConfig({ data: 'd.json', device: 'cuda:1', precision: 'bf16' }).precision).toBe('bf16');
    expect(() => resolveTrainConfig({ data: 'd.json', precision: 'fp16' })).toThrow(/'precision' must be one of 'fp32', 'bf16', got "fp16"/);
    expect(() => resolveTrainConfig({ data: 'd.json', precision: 'bf16' })).toThrow(/'precision' bf16 needs a CUDA device/);
  });

  it('reads YAML and JSON files and reports unreadable ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cskd-cfg-'));
    writeFileSync(join(dir, 'a.yaml'), 'data: d.json\nseed: 3\nalign:\n  epochs: 2\n');
    expect(loadTrainConfig(join(dir, 'a.yaml'))).toMatchObject({ seed: 3, align: { epochs: 2 } });
    writeFileSync(join(dir, 'b.json'), '{"data": "d.json", "splits": {"val": null}}');
    expect(loadTrainConfig(join(dir, 'b.json')).splits).toEqual({ train: 'train', val: null, test: 'test' });
    writeFileSync(join(dir, 'c.json'), '{"data": ');
    expect(() => loadTrainConfig(join(dir, 'c.json'))).toThrow(/c\.json: invalid config:\n {2}not valid JSON/);
    expect(() => loadTrainConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read: ENOENT/);
  });
});
