import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Kernels use every core already; files in parallel would only fight.
    fileParallelism: false,
  },
});
