import { parseArgs } from 'node:util';

import { systemInfo } from '../tensor/devices.js';

export const usage = `cskd info [--json]
  Version, CPU features, the GEMM kernel in use, and whether CUDA was compiled in
  and which devices it finds.`;

export function run(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  const info = systemInfo();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  const features = Object.entries(info.cpu.features)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(' ');
  const lines = [
    `cskd ${info.version} (Node ${info.node}, ${info.platform})`,
    `CPU      ${info.cpu.model}, ${info.cpu.cores} cores, ${info.threads} kernel threads`,
    `features ${features || 'baseline x86-64'}`,
    `GEMM     ${info.gemm}`,
    `CUDA     ${info.cuda.compiled ? `compiled (runtime ${info.cuda.runtimeVersion ?? '?'})` : 'not compiled'}; ` +
      (info.cuda.devices.length > 0
        ? info.cuda.devices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ')
        : `no device (${info.cuda.reason ?? 'none found'})`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
