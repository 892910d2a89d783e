// The cskd command line: one file per command, each a thin shell over the TS API.
import { packageVersion } from '../util/package.js';
import * as analyze from './analyze.js';
import * as align from './align.js';
import * as data from './data.js';
import * as demo from './demo.js';
import * as distill from './distill.js';
import * as evaluate from './eval.js';
import * as features from './features.js';
import * as finetune from './finetune.js';
import * as info from './info.js';
import * as report from './report.js';
import * as score from './score.js';
import * as serve from './serve.js';
import * as train from './train.js';

interface Command {
  usage: string;
  run(argv: string[]): number | Promise<number>;
}

const commands: Record<string, Command> = { demo, train, align, finetune, distill, eval: evaluate, features, data, score, serve, info, analyze, report };

function help(): string {
  return [
    `cskd ${packageVersion()}: CLIP-based semi-supervised knowledge distillation for image aesthetics`,
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage.split('\n').join('\n  ')}`),
    '',
    'cskd --version | cskd help',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`cskd: unknown command '${name}'\n\n${help()}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error;
    // Argument errors from parseArgs and validation errors are the user's to fix: no stack.
    process.stderr.write(`cskd ${name}: ${err.message}\n`);
    return 1;
  }
}
