// Runs `cskd features` from source in a child process (test/clip/kill.test.ts kills it).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
