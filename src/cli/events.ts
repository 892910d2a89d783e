// Training events to the terminal: a progress line per phase on a TTY (plain
// lines otherwise), one line per epoch, and log messages.
import { ProgressPrinter } from '../util/progress.js';
import type { TrainOptions } from '../train/pipeline.js';

export function printEvents(out: NodeJS.WriteStream = process.stderr): NonNullable<TrainOptions['onEvent']> {
  let printer: ProgressPrinter | null = null;
  let phase = '';
  return (e) => {
    if (e.type === 'log') {
      printer?.done('');
      printer = null;
      out.write(`${e.message}\n`);
    } else if (e.type === 'step') {
      if (e.phase !== phase || !printer) {
        phase = e.phase;
        printer = new ProgressPrinter(out);
      }
      printer.update({ phase: e.phase, step: e.step, totalSteps: e.totalSteps, images: e.images, losses: e.losses });
    } else if (e.type === 'epoch') {
      const losses = Object.entries(e.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
      const metrics = e.metrics ? ' ' + Object.entries(e.metrics).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ') : '';
      const line = `${e.phase} epoch ${e.epoch + 1}: ${losses}${metrics} (${e.imagesPerSec.toFixed(0)} img/s, waited for data ${(100 * e.waitFraction).toFixed(0)}%)`;
      if (printer && out.isTTY) printer.done(line);
      else out.write(`${line}\n`);
    } else if (e.type === 'resume') {
      out.write(`${e.phase}: resuming from step ${e.step} (epoch ${e.epoch + 1})\n`);
    } else if (e.type === 'stopped') {
      out.write(`${e.reason}\n`);
    }
  };
}
