// Runs a fixture under `mpirun -np N` and collects what each rank printed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Why the mpirun tests cannot run here, or null when they can. */
export const mpirunMissing: string | null = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).error
  ? 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev; CI installs it)'
  : null;

export interface MpiRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  seconds: number;
  /** Each rank's result file, by rank. */
  results: Map<number, Record<string, unknown>>;
  pids: number[];
}

export function runRanks(np: number, fixture: string, args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<MpiRun> {
  const exported = [...Object.keys(env), 'RESULT_DIR'].flatMap((k) => ['-x', k]);
  const argv = ['--allow-run-as-root', '--oversubscribe', '-np', String(np), ...exported, process.execPath, '--import', 'tsx', join(here, 'fixtures', fixture), ...args];
  return collect('mpirun', argv, { ...process.env, ...env }, timeoutMs);
}

/** The same fixture as one process that no launcher started (the MPI variables of this environment removed). */
export function runAlone(fixture: string, args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<MpiRun> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMI_|PMIX_|SLURM_)/.test(k)));
  return collect(process.execPath, ['--import', 'tsx', join(here, 'fixtures', fixture), ...args], { ...clean, ...env }, timeoutMs);
}

function collect(command: string, argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<MpiRun> {
  const dir = mkdtempSync(join(tmpdir(), 'cskd-mpirun-'));
  env = { ...env, RESULT_DIR: dir };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const results = new Map<number, Record<string, unknown>>();
      const pids: number[] = [];
      for (const name of readdirSync(dir)) {
        const text = readFileSync(join(dir, name), 'utf8');
        if (name.startsWith('result-')) results.set(Number(name.slice(7, -5)), JSON.parse(text) as Record<string, unknown>);
        else if (name.startsWith('pid-')) pids.push(Number(text));
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, output, seconds: (performance.now() - started) / 1000, results, pids });
    });
  });
}

/** True when the process has ended: no such process, or a zombie its new parent has not reaped yet. */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; the comm may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Seconds until every process has ended (polled), or Infinity after `limitS`. */
export async function secondsUntilGone(pids: number[], limitS: number): Promise<number> {
  const t0 = performance.now();
  while (!pids.every(gone)) {
    if (performance.now() - t0 > limitS * 1000) return Infinity;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - t0) / 1000;
}
