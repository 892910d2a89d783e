import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The device tests need a device addon: `npm run test:device`.
    exclude: ['test/device/**', 'node_modules/**'],
    testTimeout: 60_000,
    // Kernels use every core already; files in parallel would only fight.
    fileParallelism: false,
  },
});
