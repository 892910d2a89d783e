import type { Command } from 'commander';

import { runAlignment } from '../train/pipeline.js';
import { action } from './options.js';
import { phaseCommand, preparePhaseRun } from './phase_args.js';

export function registerAlign(program: Command): void {
  phaseCommand(program, 'align', "phase 1: align the teacher's and the student's encoder to the frozen encoder's cached embeddings; writes models/aligned-{teacher,student}.safetensors").action(
    action(async (config: string, opts: { runDir?: string }, cmd: Command) => {
      const ctx = await preparePhaseRun(config, opts, cmd);
      const aligned = await runAlignment(ctx);
      if (ctx.runDir.writer) process.stdout.write(aligned ? `${ctx.runDir.model('aligned-teacher')}\n${ctx.runDir.model('aligned-student')}\n` : 'nothing aligned\n');
    }),
  );
}
