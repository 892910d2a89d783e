// Training events to the terminal. A progress bar per phase on a TTY, with
// each epoch's line above it; elsewhere a progress line at most every 10 s
// and one summary line per phase. Log messages pass through; --quiet keeps
// only the reasons a phase stopped.
import type { TrainEvent } from '../train/loop.js';
import type { TrainOptions } from '../train/pipeline.js';
import { ProgressReporter, type ProgressStream, formatDuration } from '../util/progress.js';

const losses = (l: Record<string, number>) =>
  Object.entries(l)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(' ');
const metrics = (m: Record<string, number> | undefined) =>
  m
    ? Object.entries(m)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(' ')
    : '';

export function printTrainEvents(o: { out?: ProgressStream; quiet?: boolean } = {}): NonNullable<TrainOptions['onEvent']> {
  const out = o.out ?? process.stderr;
  const quiet = o.quiet === true;
  let bar: ProgressReporter | null = null;
  let phase = '';
  let lastEpoch: Extract<TrainEvent, { type: 'epoch' }> | null = null;
  const write = (line: string) => {
    if (bar) bar.log(line);
    else if (!quiet) out.write(`${line}\n`);
  };
  return (e) => {
    if (e.type === 'log') write(e.message);
    else if (e.type === 'step') {
      if (e.phase !== phase || !bar) {
        phase = e.phase;
        lastEpoch = null;
        bar = new ProgressReporter({ label: e.phase, total: e.totalSteps, unit: 'img', out, quiet });
      }
      bar.update({ done: e.step, counted: e.images, text: losses(e.losses) });
    } else if (e.type === 'epoch') {
      lastEpoch = e;
      if (out.isTTY) write(`${e.phase} epoch ${e.epoch + 1}: ${losses(e.losses)} ${metrics(e.metrics)}`.trimEnd());
    } else if (e.type === 'done') {
      const r = e.result;
      const best = r.best ? `; best epoch ${r.best.epoch + 1}: ${metrics(r.best.metrics)}` : lastEpoch?.metrics ? `; ${metrics(lastEpoch.metrics)}` : '';
      const line =
        `${e.phase}: ${r.epochs} epochs, ${r.steps} steps in ${formatDuration(e.seconds)}; ${losses(lastEpoch?.losses ?? r.losses)}${best}` +
        ` (${r.imagesPerSec.toFixed(0)} img/s, waited for data ${(100 * r.waitFraction).toFixed(0)}%)`;
      if (bar) bar.finish(line);
      else if (!quiet) out.write(`${line}\n`);
      bar = null;
      phase = '';
    } else if (e.type === 'resume') write(`${e.phase}: resuming from step ${e.step} (epoch ${e.epoch + 1})`);
    else if (e.type === 'stopped') {
      bar?.finish('');
      bar = null;
      out.write(`${e.reason}\n`);
    }
  };
}
