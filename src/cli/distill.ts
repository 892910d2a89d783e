import { loadModel } from '../model/io.js';
import { exportStudent, runStudent, scoreModels } from '../train/pipeline.js';
import { preparePhaseCommand } from './phase_args.js';
import { formatResultTable } from './table.js';

export const usage = `cskd distill <config> --teacher teacher.safetensors [--aligned aligned-student.safetensors] [--no-unlabeled] [--run-dir DIR]
  Phase 2b: the student on the labels plus the teacher's predictions for the
  unlabeled images; writes models/student.safetensors and models/student.onnx.`;

export async function run(argv: string[]): Promise<number> {
  const noUnlabeled = argv.includes('--no-unlabeled');
  const { ctx, values } = await preparePhaseCommand(
    argv.filter((a) => a !== '--no-unlabeled'),
    ['teacher', 'aligned'],
  );
  if (!values['teacher']) throw new Error('--teacher is required (a checkpoint from cskd finetune)');
  const teacher = loadModel(values['teacher']);
  const student = await runStudent(ctx, 'student', teacher, values['aligned'] ? loadModel(values['aligned']) : null, noUnlabeled ? [] : ctx.pool);
  await exportStudent(ctx, student);
  process.stdout.write(`${formatResultTable(await scoreModels(ctx, [['student', student]]))}\n${ctx.runDir.file('models', 'student.onnx')}\n`);
  return 0;
}
