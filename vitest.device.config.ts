// The device tests (test/device): the same ops, model step, optimizer and
// checkpoints on 'cuda:0' against the CPU path. `npm run test:device` runs them
// one file at a time (scripts/test_device.mjs), on the emulated device
// (build-emu/, CSKD_EMULATED_DEVICE=1) or, where the main addon finds a GPU,
// on that one.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/device/**/*.test.ts'],
    setupFiles: ['test/device/setup.ts'],
    // One emulated 256-thread block costs about 25 ms.
    testTimeout: 240_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
