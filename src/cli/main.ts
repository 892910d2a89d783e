// The cskd command line on commander: one file per command, each a thin
// shell over the TS API. Every command answers --help/-h (and `cskd help
// <command>`) with its arguments and every option; an unknown option or a bad
// value prints the command's usage and exits 2; other errors print one line,
// with the stack under --verbose or CSKD_DEBUG=1.
import { Command, CommanderError } from 'commander';

import { packageVersion } from '../util/package.js';
import { registerAnalyze } from './analyze.js';
import { registerData } from './data.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerFeatures } from './features.js';
import { registerInfo } from './info.js';
import { registerProbe } from './probe.js';
import { registerAlign } from './align.js';
import { registerDistill } from './distill.js';
import { registerFinetune } from './finetune.js';
import { registerGallery } from './gallery.js';
import { exitStatus, resetExitStatus } from './options.js';
import { registerTrain } from './train.js';
import { registerReport } from './report.js';
import { registerScore } from './score.js';
import { registerServe } from './serve.js';

/** The whole command tree; built afresh for each run so no parse state is shared. */
export function buildProgram(): Command {
  const program = new Command('cskd')
    .description('CLIP-based semi-supervised knowledge distillation for image aesthetics: train, evaluate and serve')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .option('-q, --quiet', 'no progress or log lines on stderr (errors still print)')
    .option('-v, --verbose', 'print the stack of an error')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride();
  for (const register of [registerDemo, registerTrain, registerAlign, registerFinetune, registerDistill, registerEval, registerProbe, registerFeatures, registerData, registerScore, registerServe, registerGallery, registerAnalyze, registerReport, registerInfo]) {
    register(program);
  }
  // Subcommands inherit the error handling and help settings.
  for (const c of allCommands(program)) c.exitOverride().showHelpAfterError().configureHelp({ showGlobalOptions: true }).helpOption('-h, --help', 'show this help');
  return program;
}

function allCommands(c: Command): Command[] {
  return c.commands.flatMap((s) => [s, ...allCommands(s)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  resetExitStatus();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitStatus();
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version print and exit 0; every usage error exits 2.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true || process.env['CSKD_DEBUG'] === '1';
    const name = program.args[0] ?? '';
    process.stderr.write(verbose ? `cskd ${name}: ${err.stack ?? err.message}\n` : `cskd ${name}: ${err.message}\n`);
    return 1;
  }
}
