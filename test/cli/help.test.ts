// Every command explains itself: --help, -h and `cskd help <command>` print the
// same page, naming every argument and option the command accepts, each with
// help text (so an option added without it fails here), its default and its
// choices. Usage errors exit 2; other errors print one line, or the stack
// under --verbose.
import type { Command, Option } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { buildProgram, main } from '../../src/cli/main.js';
import { captureOutput } from '../helpers/capture.js';

afterEach(() => vi.restoreAllMocks());

function commands(c: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return c.commands.flatMap((s) => [{ path: [...path, s.name()], cmd: s }, ...commands(s, [...path, s.name()])]);
}

const all = commands(buildProgram());

async function help(argv: string[]): Promise<{ code: number; out: string }> {
  const c = captureOutput();
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: c.out() };
}

describe('cskd --help', () => {
  it('lists every command', async () => {
    const { code, out } = await help(['--help']);
    expect(code).toBe(0);
    for (const { path } of all.filter((x) => x.path.length === 1)) expect(out).toContain(`  ${path[0]}`);
    expect(all.length).toBeGreaterThanOrEqual(14);
  });

  for (const { path, cmd } of all) {
    it(`${path.join(' ')}: --help, -h and help <command> show every option with its help, default and choices`, async () => {
      const page = await help([...path, '--help']);
      expect(page.code).toBe(0);
      const flat = page.out.replace(/\s+/g, ' '); // help text wraps at the terminal width
      expect((await help([...path, '-h'])).out).toBe(page.out);
      if (path.length === 1) expect((await help(['help', ...path])).out).toBe(page.out);
      expect(page.out).toContain(`Usage: cskd ${path.join(' ')}`);
      expect(cmd.description().length).toBeGreaterThan(10);
      for (const arg of cmd.registeredArguments) {
        expect(arg.description.length, `argument ${arg.name()} has no help text`).toBeGreaterThan(3);
        expect(page.out).toContain(arg.name());
      }
      for (const opt of cmd.options as readonly Option[]) {
        expect(opt.description.length, `${opt.flags} has no help text`).toBeGreaterThan(3);
        expect(page.out).toContain(opt.flags);
        if (opt.defaultValue !== undefined && !opt.negate) expect(flat).toContain(`(default: ${JSON.stringify(opt.defaultValue)})`);
        if (opt.argChoices) expect(flat).toContain(`(choices: ${opt.argChoices.map((x) => JSON.stringify(x)).join(', ')})`);
      }
    });

    if (cmd.commands.length === 0) {
      it(`${path.join(' ')}: an unknown option prints the usage and exits 2`, async () => {
        // Required options given, so the unknown one is what is reported.
        const required = (cmd.options as readonly Option[]).filter((o) => o.mandatory).flatMap((o) => [o.long as string, 'x']);
        const c = captureOutput();
        expect(await main([...path, ...required, '--no-such-option'])).toBe(2);
        expect(c.err()).toContain("unknown option '--no-such-option'");
        expect(c.err()).toContain(`Usage: cskd ${path.join(' ')}`);
      });
    }
  }

  it('a bad value is a usage error naming the option (exit 2)', async () => {
    const c = captureOutput();
    expect(await main(['demo', '--seeds', 'many'])).toBe(2);
    expect(c.err()).toMatch(/option '--seeds <n>' argument 'many' is invalid\. expected an integer from 1 to 20/);
    expect(await main(['features', '.', '--clip', 'standin', '--engine', 'gpu'])).toBe(2);
    expect(c.err()).toMatch(/Allowed choices are onnxruntime, native/);
  });

  it('a user error is one line; --verbose and CSKD_DEBUG=1 add the stack', async () => {
    const argv = ['eval', '--model', '/nonexistent/m.onnx', '--data', '/nonexistent/d.json'];
    let c = captureOutput();
    expect(await main(argv)).toBe(1);
    expect(c.err()).toBe('cskd eval: /nonexistent/d.json: cannot read: ENOENT\n');
    vi.restoreAllMocks();
    c = captureOutput();
    expect(await main([...argv, '--verbose'])).toBe(1);
    expect(c.err()).toMatch(/^cskd eval: LabelFileError: \/nonexistent\/d\.json: cannot read: ENOENT\n {4}at /);
    vi.restoreAllMocks();
    c = captureOutput();
    vi.stubEnv('CSKD_DEBUG', '1');
    try {
      expect(await main(argv)).toBe(1);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(c.err()).toMatch(/\n {4}at .*datasets\.ts/);
  });
});
