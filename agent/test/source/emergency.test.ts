// The emergency trailer is read from the head commit's own message only: the commit that was reviewed and whose
// signature the publisher verifies. A trailer in a commit that a merge brings in (unsigned, perhaps) does not count.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emergencyOf } from '../../src/source/git.js';
import { missingCommand, need } from '../support/capabilities.js';

describe('emergency trailer', () => {
  let dir: string;
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
  const commit = (file: string, message: string) => {
    writeFileSync(join(dir, file), message);
    git('add', file);
    git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD');
  };

  before(function () {
    need(this, missingCommand('git', 'git'));
    dir = mkdtempSync(join(tmpdir(), 'mn-emergency-'));
    git('init', '-q', '-b', 'main');
    git('config', 'user.email', 'dev@example.com');
    git('config', 'user.name', 'dev');
    commit('a', 'first');
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("counts the trailer of the head commit's own message", async () => {
    const head = commit('b', 'raise the limit\n\nMirrornet-Emergency: the mirror drops pulls, INC-4711');
    assert.equal(await emergencyOf(dir, head), 'the mirror drops pulls, INC-4711');
  });

  it('ignores a trailer in a commit that a merge brings in', async () => {
    git('checkout', '-q', '-b', 'side');
    commit('c', 'unsigned change\n\nMirrornet-Emergency: nobody reviewed this');
    git('checkout', '-q', 'main');
    git('merge', '-q', '--no-ff', '-m', 'Merge pull request #7 from side', 'side');
    assert.equal(await emergencyOf(dir, git('rev-parse', 'HEAD')), undefined);
  });
});
