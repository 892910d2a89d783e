import type { Command } from 'commander';

import { environmentRows, systemInfo } from '../tensor/devices.js';
import { action, addJsonOption } from './options.js';

export function registerInfo(program: Command): void {
  addJsonOption(program.command('info').description('version, CPU features, the GEMM kernel in use, whether CUDA was compiled in and which devices it finds, whether MPI and NCCL are found')).action(
    action((opts: { json?: boolean }) => {
      const info = systemInfo();
      if (opts.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else process.stdout.write(`${environmentRows(info).map(([k, v]) => `${k.padEnd(8)} ${v}`).join('\n')}\n`);
    }),
  );
}
