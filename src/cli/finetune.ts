import { loadModel } from '../model/io.js';
import { runTeacher, scoreModels } from '../train/pipeline.js';
import { preparePhaseCommand } from './phase_args.js';
import { formatResultTable } from './table.js';

export const usage = `cskd finetune <config> [--aligned aligned-teacher.safetensors] [--run-dir DIR]
  Phase 2a: the teacher (aligned encoder, or the initialisation without
  --aligned) with a score head on the labels; writes models/teacher.safetensors.`;

export async function run(argv: string[]): Promise<number> {
  const { ctx, values } = await preparePhaseCommand(argv, ['aligned']);
  const teacher = await runTeacher(ctx, values['aligned'] ? loadModel(values['aligned']) : null);
  process.stdout.write(`${formatResultTable(await scoreModels(ctx, [['teacher', teacher]]))}\n${ctx.runDir.file('models', 'teacher.safetensors')}\n`);
  return 0;
}
