// Stalls are visible: a real Agent over stand-ins, on a hand-driven clock. What is stuck (a hook, a validation)
// reaches /healthz's verdict, the stall gauge, the log (one warning, one info) and the drift channel
// (agent-stalled, agent-recovered); an unreadable state is a stall too.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHook, type Exec } from '../../src/host/exec.js';
import { createLogger } from '../../src/log.js';
import type { Guardrails } from '../../src/model/schema.js';
import type { Provider } from '../../src/providers/types.js';
import type { RevisionEvaluation } from '../../src/reconcile/evaluate.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { Activity, trackedExec } from '../../src/reconcile/health.js';
import { createMetrics } from '../../src/reconcile/metrics.js';
import { change, fakeRoutes, routes, stubAgent } from './stub-agent.js';

const REV = '1111111111111111111111111111111111111111';
const GUARDRAILS: { value: Guardrails } = {
  value: {
    kind: 'Guardrails',
    name: 'guardrails',
    maxDeletionsPerApply: 10,
    maxSiteRemovals: 2,
    maxLinkRemovals: 4,
    protectedDestinations: [],
    drift: { routes: 'alert', wireguard: 'alert', containerd: 'alert', docker: 'alert', dragonfly: 'alert', cloudRoutes: 'alert', harbor: 'alert' },
  },
};
const INTERVAL_MS = 30_000;

/** A promise with its resolve outside. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

function captureLog() {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
  const records = (msg: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === msg);
  return { log, records };
}

/** The lines of the stall gauge in a metrics text. */
function stalledLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('mirrornet_agent_stalled{'));
}

const eventsOf = (events: AgentEvent[], ...kinds: string[]) =>
  events.filter((e) => kinds.includes(e.kind)).map((e) => ({ kind: e.kind, component: e.component, message: e.message }));

describe('agent stalls', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'mn-stall-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a hook that hangs is named by the verdict, the gauge, one warning and one agent-stalled; then one info and one agent-recovered', async function () {
    const clock = { now: 1_000_000 };
    const hookStarted = gate();
    const hookEnds = gate();
    // The dragonfly provider's way of restarting dfdaemon: the configured hook through ctx.exec.
    const provider: Provider<unknown> = {
      ...fakeRoutes({ value: routes() }, () => [change('10.1.0.0/16', 'create')], []),
      apply: async (ctx, changes) => {
        await runHook(ctx.exec, 'dragonfly-restart', ctx.commands.dragonflyRestart, 600_000);
        return { applied: changes, deleted: [] };
      },
    };
    const exec: Exec = {
      run: async (cmd) => {
        if (cmd === 'sh') {
          hookStarted.open();
          await hookEnds.promise;
        }
        return { code: 0, stdout: '', stderr: '' };
      },
    };
    const events: AgentEvent[] = [];
    const metrics = createMetrics();
    const { log, records } = captureLog();
    const agent = stubAgent(dir, provider, { value: REV }, GUARDRAILS, events, {
      options: { intervalMs: INTERVAL_MS, now: () => clock.now },
      exec,
      log,
      metrics,
    });
    assert.deepEqual(stalledLines(await metrics.registry.metrics()), ['mirrornet_agent_stalled{step="none"} 0']);

    const tick = agent.tick('test');
    await hookStarted.promise;
    assert.deepEqual(await agent.health.check(), { ok: true }, 'within two intervals');

    clock.now += 93_000;
    const stalled = {
      ok: false,
      step: 'hook dragonfly-restart',
      reason: 'hook dragonfly-restart running for 93 s; no reconcile has completed for 93 s (interval 30 s)',
    };
    assert.deepEqual(await agent.health.check(), stalled);
    clock.now += 10_000;
    assert.equal((await agent.health.check()).reason, 'hook dragonfly-restart running for 103 s; no reconcile has completed for 103 s (interval 30 s)');
    assert.deepEqual(stalledLines(await metrics.registry.metrics()), ['mirrornet_agent_stalled{step="hook dragonfly-restart"} 1']);
    assert.deepEqual(eventsOf(events, 'agent-stalled', 'agent-recovered'), [
      {
        kind: 'agent-stalled',
        component: 'hook dragonfly-restart',
        message: 'cn-shanghai is stalled: hook dragonfly-restart running for 93 s; no reconcile has completed for 93 s (interval 30 s).',
      },
    ]);
    const warnings = records('agent stalled: /healthz answers 503');
    assert.deepEqual(
      warnings.map((r) => [r['level'], r['step'], r['reason']]),
      [[40, 'hook dragonfly-restart', stalled.reason]],
      'one warning however often it is checked',
    );

    hookEnds.open();
    assert.equal((await tick).kind, 'applied');
    assert.deepEqual(await agent.health.check(), { ok: true });
    assert.deepEqual(await agent.health.check(), { ok: true });
    assert.deepEqual(stalledLines(await metrics.registry.metrics()), ['mirrornet_agent_stalled{step="none"} 0']);
    assert.deepEqual(eventsOf(events, 'agent-recovered'), [
      {
        kind: 'agent-recovered',
        component: 'hook dragonfly-restart',
        message: 'cn-shanghai makes progress again after 10 s stalled at hook dragonfly-restart.',
      },
    ]);
    assert.deepEqual(
      records('agent recovered: /healthz answers 200').map((r) => [r['level'], r['step'], r['stalledForMs']]),
      [[30, 'hook dragonfly-restart', 10_000]],
    );
  });

  it('a validation that hangs is named as the step validate', async function () {
    const clock = { now: 0 };
    const validating = gate();
    const finish = gate<RevisionEvaluation>();
    const agent = stubAgent(
      dir,
      fakeRoutes({ value: routes() }, () => [], []),
      { value: REV },
      GUARDRAILS,
      [],
      {
        options: { intervalMs: INTERVAL_MS, now: () => clock.now },
        evaluate: () => {
          validating.open();
          return finish.promise;
        },
      },
    );
    const tick = agent.tick('test');
    await validating.promise;
    clock.now += 70_000;
    assert.deepEqual(await agent.health.check(), {
      ok: false,
      step: 'validate',
      reason: 'validate running for 70 s; no reconcile has completed for 70 s (interval 30 s)',
    });
    finish.open({ valid: false, errorCount: 1, errors: [{ file: 'regions/x.yaml', line: 1, rule: 'schema/invalid', message: 'bad' }] });
    assert.equal((await tick).kind, 'refused');
    assert.deepEqual(await agent.health.check(), { ok: true });
  });

  it('a state that cannot be read (corrupt, or a directory) answers 503 with the reason, and recovers when it is readable again', async function () {
    const clock = { now: 0 };
    const events: AgentEvent[] = [];
    const metrics = createMetrics();
    const agent = stubAgent(
      dir,
      fakeRoutes({ value: routes() }, () => [], []),
      { value: REV },
      GUARDRAILS,
      events,
      {
        options: { intervalMs: INTERVAL_MS, now: () => clock.now },
        metrics,
      },
    );
    const stateDir = join(dir, 'state');
    const stateFile = join(stateDir, 'state.json');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(stateFile, '{"version": 1, "inventory": {');
    assert.deepEqual(await agent.health.check(), {
      ok: false,
      step: 'state',
      reason:
        `the state cannot be read: The state file ${stateFile} is corrupt; move it away to start with an empty inventory ` +
        '(mirrornet will then never prune what it created before).',
    });
    assert.deepEqual(stalledLines(await metrics.registry.metrics()), ['mirrornet_agent_stalled{step="state"} 1']);
    assert.deepEqual(
      events.map((e) => [e.kind, e.component]),
      [['agent-stalled', 'state']],
    );

    rmSync(stateFile);
    mkdirSync(stateFile);
    clock.now += 1000;
    assert.deepEqual(await agent.health.check(), {
      ok: false,
      step: 'state',
      reason: `the state cannot be read: Cannot read ${stateFile}: it is a directory. Remove or rename it.`,
    });

    rmSync(stateFile, { recursive: true });
    clock.now += 1000;
    assert.deepEqual(await agent.health.check(), { ok: true });
    assert.deepEqual(
      events.map((e) => [e.kind, e.component]),
      [
        ['agent-stalled', 'state'],
        ['agent-recovered', 'state'],
      ],
    );
  });
});

describe('what a stall names', () => {
  it('a hook by the flag its provider gives, whatever its command line (Harbor default included); another command by its step', async () => {
    const activity = new Activity(() => 0);
    const seen: string[] = [];
    const exec = trackedExec({ run: async () => (seen.push(activity.current()!.detail), { code: 0, stdout: '', stderr: '' }) }, activity);
    await exec.run('sh', ['-c', 'cd -- "$MIRRORNET_HARBOR_DIR" || exit 1\n./prepare && docker compose up -d'], { hook: 'harbor-apply' });
    await runHook(exec, 'dragonfly-restart', 'systemctl restart dfdaemon');
    const endStep = activity.begin('apply');
    await exec.run('ip', ['route', 'replace', '10.1.0.0/16', 'dev', 'wg0']);
    endStep();
    assert.deepEqual(seen, ['hook harbor-apply', 'hook dragonfly-restart', 'command `ip route replace 10.1.0.0/16 dev wg0`']);
    assert.equal(activity.current(), undefined);
  });
});
