// Without onnxruntime-node (the GPU bundle leaves it out), the command line
// and training still load, and what needs it says so by name.
import { describe, expect, it, vi } from 'vitest';

vi.mock('onnxruntime-node', () => {
  throw new Error("Cannot find package 'onnxruntime-node'");
});

describe('onnxruntime-node absent', () => {
  it('the whole command tree imports, and a scorer names what it lacks', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    expect(buildProgram().commands.map((c) => c.name())).toContain('train');
    const { loadOnnxRuntime } = await import('../../src/onnx/runtime.js');
    await expect(loadOnnxRuntime('Scorer.load')).rejects.toThrow(/^Scorer\.load needs onnxruntime-node, which does not load here/);
  });
});
