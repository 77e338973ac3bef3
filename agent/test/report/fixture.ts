// A throwaway git repository holding a copy of the example fleet, for `mirrornet diff` and `pr-comment`.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitSync } from '../support/git.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

export interface FleetRepo {
  dir: string;
  /** The fleet's directory (the repository top, or a subdirectory of it). */
  fleet: string;
  git(args: string[]): string;
  read(rel: string): string;
  write(rel: string, text: string): void;
  replace(rel: string, from: string | RegExp, to: string): void;
  remove(rel: string): void;
  symlink(target: string, rel: string): void;
  commit(message: string): string;
  cleanup(): void;
}

export function createFleetRepo(opts: { subdir?: string } = {}): FleetRepo {
  const dir = mkdtempSync(join(tmpdir(), 'mirrornet-diff-'));
  const fleet = opts.subdir ? join(dir, opts.subdir) : dir;
  const git = (args: string[]) => gitSync(dir, args);
  git(['init', '-q', '-b', 'main']);
  for (const d of ['hubs', 'regions', 'harbor', 'policies']) cpSync(join(repoRoot, d), join(fleet, d), { recursive: true });
  writeFileSync(join(dir, 'README.md'), 'fleet\n');
  const repo: FleetRepo = {
    dir,
    fleet,
    git,
    read: (rel) => readFileSync(join(fleet, rel), 'utf8'),
    write: (rel, text) => {
      mkdirSync(join(fleet, rel, '..'), { recursive: true });
      writeFileSync(join(fleet, rel), text);
    },
    replace(rel, from, to) {
      const before = repo.read(rel);
      const after = before.replace(from, to);
      if (after === before) throw new Error(`fixture: ${String(from)} not found in ${rel}`);
      repo.write(rel, after);
    },
    remove: (rel) => rmSync(join(fleet, rel), { force: true }),
    symlink: (target, rel) => symlinkSync(target, join(fleet, rel)),
    commit(message) {
      git(['add', '-A']);
      git(['commit', '-q', '--allow-empty', '-m', message]);
      return git(['rev-parse', 'HEAD']);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  repo.commit('the example fleet');
  return repo;
}

/** The one in-process command-line runner (test/support/cli.ts), for the tests that import it from here. */
export { cli } from '../support/cli.js';
