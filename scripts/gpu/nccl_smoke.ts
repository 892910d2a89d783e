// One-rank NCCL smoke test, for the GPU script (scripts/gpu/gpu_run.sh): libnccl
// loads (CSKD_NCCL, else libnccl.so.2), a one-rank communicator starts on
// cuda:0, an all-reduce and a broadcast of a device tensor complete and leave
// its values as they were (a sum over one rank is the tensor itself), and the
// communicator is destroyed. Exit status 0 only if all of that held.
//
// Two ways in, the same native calls underneath:
//   CSKD_DIST=mpi  through the communicator (src/dist): a singleton MPI world
//                  whose device tensors take the NCCL route. The dry run uses
//                  it, since the stand-in libnccl of the tests runs over MPI.
//   otherwise      the addon's NCCL calls made directly, in the order
//                  src/dist/nccl.ts makes them (the GPU machines have NCCL but
//                  no MPI launcher).
//
//   npx tsx scripts/gpu/nccl_smoke.ts [--elements N]
import { parseArgs } from 'node:util';

import { world } from '../../src/dist/world.js';
import { native } from '../../src/native.js';
import { synchronize } from '../../src/tensor/device_memory.js';
import { Tensor } from '../../src/tensor/tensor.js';

const { values } = parseArgs({ options: { elements: { type: 'string', default: String(1 << 20) } } });
const n = Number(values.elements);
const info = native.ncclInfo();
console.log(`nccl: ${info.found ? `found${info.version ? ` (${info.version})` : ''}` : `not found: ${info.reason}`}; device: ${native.cudaInfo().devices[0]?.name ?? 'none'}`);
if (!info.found) process.exit(1);

const host = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * (1 + (i % 7)));
const x = Tensor.from(host, [n], 'cuda:0');

function check(what: string): void {
  synchronize('cuda:0');
  const got = x.to('cpu').data as Float32Array;
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== host[i]) bad++;
  console.log(`${what}: ${bad === 0 ? 'ok' : `${bad} of ${n} elements changed`}`);
  if (bad > 0) process.exitCode = 1;
}

const t0 = performance.now();
if (process.env['CSKD_DIST'] === 'mpi') {
  const comm = world();
  console.log(`through the communicator: backend ${comm.backend}, ${comm.size} rank(s)`);
  if (comm.backend !== 'nccl') {
    console.log('the world did not take the NCCL route');
    process.exit(1);
  }
  comm.allReduce(x, 'smoke all-reduce');
  check('allReduce');
  comm.broadcast(x, 0, 'smoke broadcast');
  check('broadcast');
} else {
  console.log('through the addon directly (no MPI)');
  native.ncclStart!(0, native.ncclUniqueId!(), 1, 0);
  try {
    native.ncclAllReduce!(x.storage as never, n);
    check('allReduce');
    native.ncclBroadcast!(x.storage as never, n, 0);
    check('broadcast');
  } finally {
    native.ncclStop!(false);
  }
}
console.log(`nccl smoke: ${process.exitCode ? 'FAILED' : 'passed'} in ${(performance.now() - t0).toFixed(0)} ms (${n} float32 elements)`);
