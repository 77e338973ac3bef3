// Nothing the agent runs can stall it: a command or hook that hangs is killed with everything it started,
// and the failure says how long it was given; a validation that takes too long is stopped the same way.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localExec, runHook } from '../../src/host/exec.js';
import { MirrornetError } from '../../src/errors.js';
import { evaluateInChildWithin } from '../../src/reconcile/evaluate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** Running (a killed process waiting to be reaped, state Z, is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('timeouts', function () {
  this.timeout(30_000);

  it('a hook that hangs is killed after its timeout, the processes it started with it, and the error says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mn-hook-'));
    try {
      const pidFile = join(dir, 'pid');
      const started = Date.now();
      // The shell starts a sleeper that keeps the output pipe open: killing only the shell would not end the wait.
      const err = await runHook(localExec(), 'test-hook', `sleep 60 & echo $! > ${pidFile}; wait`, 500).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof MirrornetError, String(err));
      assert.equal(err.userMessage, `The command \`sh -c sleep 60 & echo $! > ${pidFile}; wait\` failed (it did not finish within 0.5 s and was killed).`);
      assert.ok(Date.now() - started < 10_000, 'the hook returned long before the sleeper would have ended');
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(alive(sleeper), false, 'the sleeper the hook started is gone too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a command that finishes in time is not affected, and a failing one still reports its exit', async () => {
    assert.equal((await runHook(localExec(), 'test-hook', 'echo ok', 5000)).stdout, 'ok\n');
    await assert.rejects(
      runHook(localExec(), 'test-hook', 'echo no >&2; exit 3', 5000),
      (e: MirrornetError) => e.userMessage === 'The command `sh -c echo no >&2; exit 3` failed (exit 3: no).',
    );
  });

  it('a validation that takes longer than allowed is stopped with a sentence, not left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mn-eval-'));
    try {
      execFileSync('cp', ['-r', join(repoRoot, 'hubs'), join(repoRoot, 'regions'), join(repoRoot, 'harbor'), join(repoRoot, 'policies'), dir]);
      // 1 ms: the child cannot even start its validator in that time.
      const evaluate = evaluateInChildWithin(1);
      await assert.rejects(
        evaluate(dir, 'us-virginia', ['node'], 'a'.repeat(40)),
        (e: MirrornetError) => e.userMessage === 'validating aaaaaaaaaaaa took longer than 0.001 s and was stopped; the next tick tries again',
      );
      // With time enough, the same checkout evaluates.
      const ok = await evaluateInChildWithin(60_000)(dir, 'us-virginia', ['node'], 'a'.repeat(40));
      assert.equal('valid' in ok && ok.valid, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
