// Option types and the options several commands share, in one place: every
// number on the command line is parsed here, so a bad value is a usage error
// (exit 2) naming the option, before any work starts.
import { type Command, InvalidArgumentError, Option } from 'commander';

/** An integer in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer ≥ ${min}` : `expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export const positiveInt = integer(1);

/** A finite number. */
export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

/** For options given several times: each value appended. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** --json: the result as JSON on stdout (progress and logs still go to stderr unless --quiet). */
export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the result as JSON on stdout');
}

/** --threads for commands that run onnxruntime or the native kernels. */
export function threadsOption(what = 'threads for the model (default: one per core)'): Option {
  return new Option('--threads <n>', what).argParser(positiveInt);
}

/** A device name as the config takes it ('cpu', 'cuda', 'cuda:N'). */
export function deviceName(value: string): string {
  if (!/^(cpu|cuda(:\d+)?)$/.test(value)) throw new InvalidArgumentError("expected 'cpu', 'cuda' or 'cuda:N'");
  return value;
}

/** --device for the commands that train or run the native engine. */
export function deviceOption(what = "where to run: 'cpu', 'cuda' (device 0) or 'cuda:N'"): Option {
  return new Option('--device <device>', what).argParser(deviceName);
}

/** --precision for the commands that train: the GEMMs' and attention's arithmetic (bf16 on a CUDA device only). */
export function precisionOption(): Option {
  return new Option('--precision <precision>', "GEMMs and attention in 'fp32' or 'bf16' (a CUDA device only; default: the config's precision)").choices(['fp32', 'bf16']);
}

/** The options every command has, set on the program (see main.ts). */
export interface GlobalOptions {
  quiet?: boolean;
  verbose?: boolean;
}

/** The global options as the command sees them. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

let status = 0;

/**
 * Wraps a command's action: its return value (a number, or nothing for 0) is
 * the process's exit status, read by main() once the parse ends.
 */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number | void> | number | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const r = await run(...args);
    status = typeof r === 'number' ? r : 0;
  };
}

export function exitStatus(): number {
  return status;
}

export function resetExitStatus(): void {
  status = 0;
}
