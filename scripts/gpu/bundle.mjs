#!/usr/bin/env node
// npm run bundle:gpu: everything a GPU machine without Node needs to train,
// test and benchmark cskd, in one tar.xz of at most 64 MiB (what can be carried
// to one). It holds:
//   node-bin/node             this machine's Node binary (process.execPath)
//   build/Release/cskd.node   the addon prebuilt here for the GPU (--addon;
//                             default build-sm90a/, from `npm run build:sm90a`):
//                             the GPU machines have nvcc and CMake but no Node,
//                             and nvcc compiles sm_90a without a GPU
//   build-emu/Release/        with --emu, the emulated-device addon, its MPI
//                             module and the tests' stand-in libnccl, so the
//                             bundle can be proven on a CPU machine
//                             (gpu_run.sh --dry-run)
//   src/ test/device bench/   the TypeScript, run by vitest and tsx as here
//   dist/                     the compiled TypeScript (tsconfig.build.json, compiled now)
//   native/ CMakeLists.txt    for scripts/gpu/run_checks.sh, which builds the
//                             kernel check program with plain CMake there
//   node_modules/             the closure of the dependencies less onnxruntime-node,
//                             nsfwjs and cmake-js, with vitest, tsx and Node's
//                             headers: no TensorFlow
// Usage: node scripts/gpu/bundle.mjs [--out cskd-gpu.tar.xz] [--addon path/cskd.node] [--emu]
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const MAX_BYTES = 64 * 1024 * 1024;
const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const out = resolve(arg('--out', join(root, 'cskd-gpu.tar.xz')));
const addon = resolve(arg('--addon', join(root, 'build-sm90a', 'Release', 'cskd.node')));
const withEmu = argv.includes('--emu');

function fail(msg) {
  console.error(`bundle:gpu: ${msg}`);
  process.exit(1);
}
if (!existsSync(addon)) fail(`no addon at ${addon} (build it: npm run build:sm90a, or pass --addon)`);
const EMU_FILES = ['cskd.node', 'cskd_mpi.node', 'libnccl_standin.so'];
for (const f of withEmu ? EMU_FILES : []) {
  if (!existsSync(join(root, 'build-emu', 'Release', f))) fail(`--emu: no build-emu/Release/${f} (npm run build:emu, with MPI's development files)`);
}
// dist/ compiled afresh, so the bundle's CLI is this tree's.
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

// The packages training, the tests and the benchmarks load, with everything
// they depend on. Optional dependencies for other platforms are not installed
// here and are skipped; a missing required one is an error.
// The package's dependencies (node-addon-api: gpu_run.sh rebuilds the addon
// there with plain CMake if this one does not load), less what a GPU machine
// cannot use or need: onnxruntime-node (its CPU scoring; its install would
// fetch the CUDA build), nsfwjs (the stand-in encoder, which runs on
// onnxruntime) and cmake-js (the build here); plus what the tests and the
// benchmarks run on, and Node's headers for that rebuild.
const LEFT_OUT = new Set(['onnxruntime-node', 'nsfwjs', 'cmake-js']);
const dependencies = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies);
const ROOTS = [...dependencies.filter((n) => !LEFT_OUT.has(n)), 'vitest', 'tsx', 'node-api-headers'];
const packages = new Set();
(function walk(names, optional) {
  for (const name of names) {
    if (packages.has(name)) continue;
    const pj = join(root, 'node_modules', name, 'package.json');
    if (!existsSync(pj)) {
      if (optional.has(name)) continue;
      fail(`node_modules/${name} is missing (run npm ci)`);
    }
    packages.add(name);
    const meta = JSON.parse(readFileSync(pj, 'utf8'));
    const opt = new Set(Object.keys(meta.optionalDependencies ?? {}));
    walk(Object.keys({ ...meta.dependencies, ...meta.optionalDependencies }), opt);
  }
})(ROOTS, new Set());

const stage = mkdtempSync(join(tmpdir(), 'cskd-bundle-'));
const top = join(stage, 'cskd');
mkdirSync(top);
const copy = (rel, to = rel) => {
  const from = join(root, rel);
  if (!existsSync(from)) fail(`${rel} is missing`);
  cpSync(from, join(top, to), { recursive: true, dereference: true });
};
try {
  mkdirSync(join(top, 'node-bin'));
  cpSync(process.execPath, join(top, 'node-bin', 'node'));
  for (const rel of ['package.json', 'tsconfig.json', 'vitest.device.config.ts', 'CMakeLists.txt', 'bin', 'dist', 'src', 'native', 'bench', 'scripts', 'test/device', 'test/helpers', 'test/data/images.ts']) copy(rel);
  mkdirSync(join(top, 'build', 'Release'), { recursive: true });
  cpSync(addon, join(top, 'build', 'Release', 'cskd.node'));
  if (withEmu) {
    mkdirSync(join(top, 'build-emu', 'Release'), { recursive: true });
    for (const f of EMU_FILES) cpSync(join(root, 'build-emu', 'Release', f), join(top, 'build-emu', 'Release', f));
  }
  for (const name of packages) copy(join('node_modules', name));
  writeFileSync(join(top, 'BUNDLE.txt'), `cskd GPU bundle\nnode ${process.version}\naddon ${addon}\nemulated addon ${withEmu ? 'yes' : 'no'}\npackages ${[...packages].sort().join(' ')}\n`);
  execFileSync('tar', ['-C', stage, '-cf', out, '--use-compress-program=xz -T0 -6', 'cskd'], { stdio: 'inherit' });
} finally {
  rmSync(stage, { recursive: true, force: true });
}
const size = statSync(out).size;
console.log(`bundle:gpu: ${out}: ${(size / 2 ** 20).toFixed(1)} MiB (${packages.size} packages, limit 64 MiB)`);
if (size > MAX_BYTES) fail(`${out} is ${size} bytes, over the 64 MiB that can be carried to a GPU machine`);
