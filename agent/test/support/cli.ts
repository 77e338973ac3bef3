// The command line in process, as tests call it: `mirrornet <argv>` through the one top-level handler, with
// what it printed on each stream and its exit code.
import type { Io } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(argv: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), color: false };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}
