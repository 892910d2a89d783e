import type { Command } from 'commander';

import { loadModel } from '../model/io.js';
import { runTeacher, scoreModels } from '../train/pipeline.js';
import { action } from './options.js';
import { phaseCommand, preparePhaseRun } from './phase_args.js';
import { formatResultTable } from './table.js';

export function registerFinetune(program: Command): void {
  phaseCommand(program, 'finetune', 'phase 2a: the teacher, an aligned encoder (or its initialisation) with a score head on the labels; writes models/teacher.safetensors')
    .option('--aligned <checkpoint>', 'the aligned teacher encoder (models/aligned-teacher.safetensors of cskd align); default: from the initialisation')
    .action(
      action(async (config: string, opts: { runDir?: string; aligned?: string }, cmd: Command) => {
        const ctx = await preparePhaseRun(config, opts, cmd);
        const teacher = await runTeacher(ctx, opts.aligned ? loadModel(opts.aligned) : null);
        const rows = await scoreModels(ctx, [['teacher', teacher]]); // every rank scores its slice
        if (ctx.runDir.writer) process.stdout.write(`${formatResultTable(rows)}\n${ctx.runDir.model('teacher')}\n`);
      }),
    );
}
