// The state lock under contention: agents started at the same moment on one host take turns, and no agent
// ever sees another's lock half written (an empty lock looks like a dead holder and would be taken over).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STATE_MODULE = new URL('../../src/reconcile/state.js', import.meta.url).href;

/** A process that takes the lock (waiting up to 30 s), logs start and end around a short pause, and exits. */
function contender(dir: string, log: string): Promise<number> {
  const script = `
    import { appendFileSync } from 'node:fs';
    const { StateStore } = await import(${JSON.stringify(STATE_MODULE)});
    await new StateStore(${JSON.stringify(dir)}).withLock(async () => {
      appendFileSync(${JSON.stringify(log)}, 'start ' + process.pid + '\\n');
      await new Promise((r) => setTimeout(r, 30));
      appendFileSync(${JSON.stringify(log)}, 'end ' + process.pid + '\\n');
    }, { waitMs: 30000 });`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/** Above the kernel's default pid_max (4194304 is the largest possible): no live process has it. */
const DEAD_PID = 4194305;

describe('state lock under contention', function () {
  this.timeout(60_000);

  it('eight agents started together apply one at a time, also when a dead agent left its lock, and leave no lock or temporary file behind', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mn-lock-'));
    try {
      const dir = join(root, 'state');
      const log = join(root, 'log');
      for (let round = 0; round < 3; round++) {
        const codes = await Promise.all(Array.from({ length: 8 }, () => contender(dir, log)));
        assert.deepEqual(codes, [0, 0, 0, 0, 0, 0, 0, 0]);
      }
      // Rounds that begin with a lock left by a dead agent: all eight judge it dead at once, and exactly one
      // may take it over; none may remove the lock another has just taken.
      for (let round = 0; round < 3; round++) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'apply.lock'), `${DEAD_PID} 12345`);
        const codes = await Promise.all(Array.from({ length: 8 }, () => contender(dir, log)));
        assert.deepEqual(codes, [0, 0, 0, 0, 0, 0, 0, 0]);
      }
      // A round that begins with a dead agent's lock and the takeover lock of a contender killed in that instant:
      // both are cleared because their holders are dead, whatever the clock says.
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'apply.lock'), `${DEAD_PID} 12345`);
      writeFileSync(join(dir, 'apply.lock.takeover'), `${DEAD_PID + 1} 67890`);
      // Its time an hour ahead, as after a clock that stepped back at boot: only the holder tells it is stale.
      const later = new Date(Date.now() + 3_600_000);
      utimesSync(join(dir, 'apply.lock.takeover'), later, later);
      const codes = await Promise.all(Array.from({ length: 8 }, () => contender(dir, log)));
      assert.deepEqual(codes, [0, 0, 0, 0, 0, 0, 0, 0]);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      assert.equal(lines.length, 112);
      // Strictly alternating: every start is followed by the end of the same process.
      for (let i = 0; i < lines.length; i += 2) {
        assert.match(lines[i]!, /^start \d+$/);
        assert.equal(lines[i + 1], lines[i]!.replace('start', 'end'), `overlap at line ${i + 1}: ${lines.slice(i, i + 3).join(' | ')}`);
      }
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
