// Every device test file ends by saying which device ran it and how many
// kernels it launched there, and fails if none did: a silent fallback to the
// CPU cannot pass.
import { afterAll, expect } from 'vitest';

import { native } from '../../src/native.js';

afterAll(() => {
  const name = native.cudaInfo().devices[0]?.name ?? 'none';
  const { kernelLaunches } = native.deviceStats();
  process.stdout.write(`device: ${name}, kernel launches: ${kernelLaunches}\n`);
  expect(kernelLaunches).toBeGreaterThan(0);
});
