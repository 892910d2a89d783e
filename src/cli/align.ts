import { runAlignment } from '../train/pipeline.js';
import { preparePhaseCommand } from './phase_args.js';

export const usage = `cskd align <config> [--run-dir DIR]
  Phase 1 for the teacher's and the student's encoder against the frozen
  encoder's cached embeddings; writes models/aligned-{teacher,student}.safetensors.`;

export async function run(argv: string[]): Promise<number> {
  const { ctx } = await preparePhaseCommand(argv, []);
  const aligned = await runAlignment(ctx);
  process.stdout.write(aligned ? `${ctx.runDir.file('models', 'aligned-teacher.safetensors')}\n${ctx.runDir.file('models', 'aligned-student.safetensors')}\n` : 'nothing aligned\n');
  return 0;
}
