// The rollout controller's decisions on a fixed clock: which tags move, when a wave is done, halted or waiting,
// and what is said (each once). Every expected value is written out.
import assert from 'node:assert/strict';
import { decideRollout, healthOf, type RolloutInput, type SiteHealth } from '../../../src/report/rollout/decide.js';
import type { FleetStatus } from '../../../src/report/site/schema.js';

const REV = '0123456789abcdef0123456789abcdef01234567';
const NEWER = 'fedcba9876543210fedcba9876543210fedcba98';
/** Saturday 2026-12-05 06:00 UTC = 14:00 in Shanghai. */
const SATURDAY = Date.parse('2026-12-05T06:00:00Z');
/** Monday 2026-12-07 03:00 UTC = 11:00 in Shanghai. */
const MONDAY = Date.parse('2026-12-07T03:00:00Z');
const MIN = 60_000;

const WAVES = [
  { name: 'canary', sites: ['ap-jakarta', 'cn-hangzhou-idc'] },
  { name: 'china', sites: ['cn-shanghai'] },
  { name: 'overseas', sites: ['us-virginia'] },
];
const AREAS: Record<string, string> = {
  'ap-jakarta': 'overseas',
  'cn-hangzhou-idc': 'cn',
  'cn-shanghai': 'cn',
  'us-virginia': 'overseas',
};
const CN_WORKING_HOURS = [{ name: 'cn-working-hours', area: 'cn' as const, schedule: '0 10 * * 1-5', duration: '7h', timeZone: 'Asia/Shanghai' }];

const healthy = (revision = REV): SiteHealth => ({ revision, hosts: 2, applied: 2, failing: [], drifting: 0, stale: 0, silent: false, suspended: false });

function input(over: Partial<RolloutInput>): RolloutInput {
  return {
    policy: { soakTime: '10m', healthy: ['applied', 'noDrift', 'ready'] },
    waves: WAVES,
    areaOf: AREAS,
    revision: REV,
    now: MONDAY,
    health: new Map(),
    ...over,
  };
}

describe('rollout controller', () => {
  it("a new revision moves only the first wave's tags and says so once", () => {
    const d = decideRollout(input({}));
    assert.deepEqual(d.move, ['ap-jakarta', 'cn-hangzhou-idc']);
    assert.deepEqual(
      d.state.waves.map((w) => `${w.name}:${w.state}`),
      ['canary:soaking', 'china:pending', 'overseas:pending'],
    );
    assert.deepEqual(d.notices, [{ kind: 'rollout-advanced', message: '0123456789ab goes to canary (wave 1): ap-jakarta, cn-hangzhou-idc.' }]);
    const again = decideRollout(input({ now: MONDAY + MIN, state: d.state }));
    assert.deepEqual([again.move, again.notices], [[], []]);
  });

  it('the next wave gets the revision only after every site of the wave was healthy for the soak time', () => {
    let state = decideRollout(input({})).state;
    const canaryHealthy = new Map([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', healthy()],
    ]);
    state = decideRollout(input({ now: MONDAY + 1 * MIN, state, health: canaryHealthy })).state;
    assert.equal(state.waves[0]!.healthySince, '2026-12-07T03:01:00.000Z');
    const early = decideRollout(input({ now: MONDAY + 10 * MIN, state, health: canaryHealthy }));
    assert.deepEqual(early.move, []);
    const due = decideRollout(input({ now: MONDAY + 11 * MIN, state: early.state, health: canaryHealthy }));
    assert.deepEqual(due.move, ['cn-shanghai']);
    assert.deepEqual(
      due.state.waves.map((w) => `${w.name}:${w.state}`),
      ['canary:done', 'china:soaking', 'overseas:pending'],
    );
    assert.deepEqual(due.notices, [{ kind: 'rollout-advanced', message: '0123456789ab goes to china (wave 2 after canary soaked 10m): cn-shanghai.' }]);
  });

  it('a site that falls ill during the soak starts the soak over', () => {
    let state = decideRollout(input({})).state;
    const ok = new Map([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', healthy()],
    ]);
    state = decideRollout(input({ now: MONDAY + MIN, state, health: ok })).state;
    const drifting = new Map([
      ['ap-jakarta', { ...healthy(), drifting: 1 }],
      ['cn-hangzhou-idc', healthy()],
    ]);
    state = decideRollout(input({ now: MONDAY + 5 * MIN, state, health: drifting })).state;
    assert.equal(state.waves[0]!.healthySince, undefined);
    assert.equal(state.waves[0]!.reason, 'ap-jakarta: 1 hosts drift');
    state = decideRollout(input({ now: MONDAY + 6 * MIN, state, health: ok })).state;
    const at12 = decideRollout(input({ now: MONDAY + 12 * MIN, state, health: ok }));
    assert.deepEqual(at12.move, [], 'healthy again only since minute 6: not yet 10 minutes');
    assert.equal(at12.state.waves[0]!.healthySince, '2026-12-07T03:06:00.000Z');
  });

  it('a failure in the canary halts the rollout, keeps later waves where they are and alerts exactly once', () => {
    let state = decideRollout(input({})).state;
    const failing = new Map([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', { ...healthy(), applied: 1, failing: ['gw1'], lastError: 'hook: dragonfly-restart exited 1' }],
    ]);
    const halt = decideRollout(input({ now: MONDAY + 2 * MIN, state, health: failing }));
    assert.deepEqual(halt.move, []);
    assert.deepEqual(halt.notices, [
      {
        kind: 'rollout-halted',
        message:
          'The rollout of 0123456789ab is halted in canary: cn-hangzhou-idc failed to apply 0123456789ab on gw1: hook: dragonfly-restart exited 1. ' +
          'china, overseas keep the revision they have; a newer commit starts a new rollout.',
      },
    ]);
    state = halt.state;
    for (const now of [MONDAY + 3 * MIN, MONDAY + 60 * MIN]) {
      const later = decideRollout(input({ now, state, health: failing }));
      assert.deepEqual([later.move, later.notices], [[], []]);
      state = later.state;
    }
    assert.deepEqual(
      state.waves.map((w) => `${w.name}:${w.state}`),
      ['canary:halted', 'china:pending', 'overseas:pending'],
    );
  });

  it('a newer revision starts its own rollout from the first wave, whatever the halted one did', () => {
    const halted = decideRollout(
      input({ now: MONDAY + MIN, state: decideRollout(input({})).state, health: new Map([['ap-jakarta', { ...healthy(), failing: ['gw1'] }]]) }),
    ).state;
    assert.equal(halted.halted?.wave, 'canary');
    const next = decideRollout(input({ revision: NEWER, now: MONDAY + 2 * MIN, state: halted }));
    assert.deepEqual(next.move, ['ap-jakarta', 'cn-hangzhou-idc']);
    assert.equal(next.state.halted, undefined);
    assert.equal(next.state.revision, NEWER);
  });

  it("a closed change window holds its area's sites and says until when; the other area goes ahead", () => {
    const d = decideRollout(input({ now: SATURDAY, policy: { soakTime: '10m', healthy: ['applied'], windows: CN_WORKING_HOURS } }));
    assert.deepEqual(d.move, ['ap-jakarta']);
    assert.equal(d.state.waves[0]!.state, 'waiting');
    assert.equal(d.state.waves[0]!.waitingUntil, '2026-12-07T02:00:00.000Z');
    assert.equal(d.state.waves[0]!.reason, 'cn-hangzhou-idc wait for a change window of cn');
    const monday = decideRollout(input({ now: MONDAY, state: d.state, policy: { soakTime: '10m', healthy: ['applied'], windows: CN_WORKING_HOURS } }));
    assert.deepEqual(monday.move, ['cn-hangzhou-idc']);
  });

  it('an emergency commit skips the change windows, not the health checks', () => {
    const policy = { soakTime: '10m', healthy: ['applied' as const], windows: CN_WORKING_HOURS };
    const d = decideRollout(input({ now: SATURDAY, policy, emergency: 'CVE-2026-1234 in the registry mirror' }));
    assert.deepEqual(d.move, ['ap-jakarta', 'cn-hangzhou-idc']);
    assert.deepEqual(d.notices, [
      {
        kind: 'rollout-advanced',
        message: '0123456789ab goes to canary (wave 1): ap-jakarta, cn-hangzhou-idc (emergency: CVE-2026-1234 in the registry mirror).',
      },
    ]);
    const notApplied = new Map([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', { ...healthy(), applied: 0 }],
    ]);
    const later = decideRollout(
      input({ now: SATURDAY + 60 * MIN, state: d.state, policy, emergency: 'CVE-2026-1234 in the registry mirror', health: notApplied }),
    );
    assert.deepEqual(later.move, []);
    assert.equal(later.state.waves[0]!.reason, 'cn-hangzhou-idc: 0/2 hosts applied 0123456789ab');
  });

  it('the last wave done completes the rollout, said once', () => {
    const all = new Map(Object.keys(AREAS).map((s) => [s, healthy()]));
    let state = decideRollout(input({ policy: { soakTime: '0s', healthy: ['applied'] } })).state;
    const kinds: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const d = decideRollout(input({ now: MONDAY + i * MIN, state, health: all, policy: { soakTime: '0s', healthy: ['applied'] } }));
      kinds.push(...d.notices.map((n) => n.kind));
      state = d.state;
    }
    assert.deepEqual(kinds, ['rollout-advanced', 'rollout-advanced', 'rollout-complete']);
    assert.equal(state.completeAt, '2026-12-07T03:03:00.000Z');
  });

  it('a halt in the wave before the last names the one wave that keeps its revision in the singular', () => {
    const waves = WAVES.slice(1);
    const state = decideRollout(input({ waves })).state;
    const failing = new Map([['cn-shanghai', { ...healthy(), failing: ['gw1'] }]]);
    const halt = decideRollout(input({ waves, now: MONDAY + MIN, state, health: failing }));
    assert.equal(
      halt.notices[0]!.message,
      'The rollout of 0123456789ab is halted in china: cn-shanghai failed to apply 0123456789ab on gw1. ' +
        'overseas keeps the revision it has; a newer commit starts a new rollout.',
    );
  });

  it('a host error that is not about applying the revision (a fetch from the mirror) leaves the wave soaking, not halted', () => {
    const state = decideRollout(input({})).state;
    const health = new Map([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', { ...healthy(), waitingOn: 'gw1: fetch: ETIMEDOUT' }],
    ]);
    const d = decideRollout(input({ now: MONDAY + 30 * MIN, state, health }));
    assert.deepEqual([d.move, d.notices, d.state.halted], [[], [], undefined]);
    assert.equal(d.state.waves[0]!.reason, 'cn-hangzhou-idc: gw1: fetch: ETIMEDOUT');
  });

  it('a retired site counts as healthy and its tag is not moved; the rollout goes past its wave', () => {
    const retired: SiteHealth = { hosts: 2, applied: 0, failing: [], drifting: 0, stale: 2, silent: true, suspended: false, retired: true };
    const health = new Map<string, SiteHealth>([
      ['ap-jakarta', healthy()],
      ['cn-hangzhou-idc', healthy()],
      ['cn-shanghai', retired],
    ]);
    let state = decideRollout(input({ health })).state;
    state = decideRollout(input({ now: MONDAY + MIN, state, health })).state;
    const next = decideRollout(input({ now: MONDAY + 11 * MIN, state, health }));
    assert.deepEqual(next.move, []);
    assert.deepEqual(
      next.state.waves.map((w) => `${w.name}:${w.state}`),
      ['canary:done', 'china:soaking', 'overseas:pending'],
    );
    const after = decideRollout(input({ now: MONDAY + 12 * MIN, state: next.state, health }));
    const done = decideRollout(input({ now: MONDAY + 22 * MIN, state: after.state, health }));
    assert.deepEqual(done.move, ['us-virginia']);
  });

  it('a channel that holds another revision supersedes the rollout: nothing moves, said once', () => {
    const state = decideRollout(input({})).state;
    const d = decideRollout(input({ now: MONDAY + MIN, state, channelRevision: NEWER }));
    assert.deepEqual(d.move, []);
    assert.deepEqual(d.notices, [
      {
        kind: 'rollout-superseded',
        message:
          'The rollout of 0123456789ab is superseded: the channel holds fedcba987654 now (a rollback or a publish by hand): ' +
          'no tag of 0123456789ab moves any more.',
      },
    ]);
    const again = decideRollout(input({ now: MONDAY + 20 * MIN, state: d.state, channelRevision: NEWER }));
    assert.deepEqual([again.move, again.notices], [[], []]);
  });

  it("healthOf halts only on an apply error for the site's revision, waits on a fetch error, and knows a retired site", () => {
    const at = '2026-12-07T03:00:00.000Z';
    const host = (name: string, step: string, message: string) => ({
      site: 'cn-shanghai',
      host: name,
      roles: ['gateway'],
      agentVersion: '1.0.0',
      wanted: REV,
      drift: {},
      lastError: { step, message, at },
      steering: 0,
      suspended: false,
      at,
      lastSeen: at,
      stale: false,
    });
    const site = (hosts: ReturnType<typeof host>[], state: FleetStatus['sites'][number]['summary']['state']): FleetStatus['sites'][number] => ({
      site: 'cn-shanghai',
      gateway: 'gw1',
      hosts,
      summary: { hosts: hosts.length, revision: REV, applied: 0, failing: hosts.map((h) => h.host), drifting: {}, stale: [], suspended: false, state },
      steering: { generation: 0 },
      at,
      lastSeen: at,
      silent: false,
      wantedSteering: { generation: 0 },
    });
    const fetchOnly = healthOf(site([host('gw1', 'fetch', 'ETIMEDOUT')], 'failing'));
    assert.deepEqual([fetchOnly.failing, fetchOnly.waitingOn, fetchOnly.retired], [[], 'gw1: fetch: ETIMEDOUT', undefined]);
    const both = healthOf(site([host('gw1', 'fetch', 'ETIMEDOUT'), host('n2', 'apply', 'hook exited 1')], 'failing'));
    assert.deepEqual([both.failing, both.lastError], [['n2'], 'apply: hook exited 1']);
    assert.equal(healthOf(site([], 'retired')).retired, true);
    // Hosts that refused the site's manifest before its signature checked out name it by its digest.
    const digest = `sha256:${'d'.repeat(64)}`;
    const refusedUnverified = site([{ ...host('gw1', 'refused', 'not signed by a key in /etc/mirrornet/allowed_signers'), wanted: digest }], 'failing');
    refusedUnverified.summary.revision = digest;
    assert.deepEqual([healthOf(refusedUnverified).revision, healthOf(refusedUnverified).failing], [digest, ['gw1']]);
    const offered = healthOf(refusedUnverified, { digest, revision: REV });
    assert.deepEqual([offered.revision, offered.failing, offered.lastError], [REV, ['gw1'], 'refused: not signed by a key in /etc/mirrornet/allowed_signers']);
  });
});
