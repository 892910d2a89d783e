import type { Command } from 'commander';

import { loadModel } from '../model/io.js';
import { exportStudent, runStudent, scoreModels } from '../train/pipeline.js';
import { action } from './options.js';
import { phaseCommand, preparePhaseRun } from './phase_args.js';
import { formatResultTable } from './table.js';

export function registerDistill(program: Command): void {
  phaseCommand(program, 'distill', "phase 2b: the student on the labels plus the teacher's predictions for the unlabeled images; writes models/student.safetensors and models/student.onnx")
    .requiredOption('--teacher <checkpoint>', 'the teacher (models/teacher.safetensors of cskd finetune)')
    .option('--aligned <checkpoint>', 'the aligned student encoder (models/aligned-student.safetensors of cskd align); default: from the initialisation')
    .option('--no-unlabeled', 'train on the labels alone (the no-unlabeled baseline)')
    .action(
      action(async (config: string, opts: { runDir?: string; teacher: string; aligned?: string; unlabeled: boolean }, cmd: Command) => {
        const ctx = await preparePhaseRun(config, opts, cmd);
        const teacher = loadModel(opts.teacher);
        const student = await runStudent(ctx, 'student', teacher, opts.aligned ? loadModel(opts.aligned) : null, opts.unlabeled ? ctx.pool : []);
        await exportStudent(ctx, student);
        const rows = await scoreModels(ctx, [['student', student]]); // every rank scores its slice
        if (ctx.runDir.writer) process.stdout.write(`${formatResultTable(rows)}\n${ctx.runDir.model('student', 'onnx')}\n`);
      }),
    );
}
