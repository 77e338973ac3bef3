// The chat dispatcher's decisions as pure functions, without receivers or timers: routing, the drift
// lifecycle and the dedup of identical failures as state transitions, due reminders, pruning, rate-limit
// windows (the backoff delays are the one retry policy's: test/host/retry.test.ts).
import assert from 'node:assert/strict';
import { vendorPerMinute } from '../../../src/model/chat-vendors.js';
import {
  channelLimits,
  chatWorthy,
  decideEvent,
  decideReminders,
  emptyChatState,
  Limiter,
  prune,
  type ChatState,
  type Routing,
} from '../../../src/report/chat/decisions.js';
import { parseDuration, route } from '../../../src/report/chat/routing.js';
import { event, HOUR, MINUTE, policy, siteArea, START } from './harness.js';

const channel = (name: string) => ({ name, type: 'webhook', url: `env:URL_${name.replace(/-/g, '_').toUpperCase()}` });

/** oncall hears drift alerts only; ops hears everything. */
const routing: Routing = {
  policy: policy({
    channels: [channel('oncall'), channel('ops')],
    routes: [{ match: { events: ['drift-detected'] }, channels: ['oncall'] }, { channels: ['ops'] }],
  }),
  siteArea,
};
const SINCE = '2025-03-01T02:00:00.000Z';
const DRIFT = 'cn-shanghai/routes';

describe('chat decisions', () => {
  it('route() and chatWorthy() as pure functions', () => {
    const p = policy({
      channels: [channel('ch-a'), channel('ch-b')],
      routes: [
        { match: { areas: ['cn'], events: ['drift-detected'] }, channels: ['ch-a'] },
        { match: { regions: ['ap-jakarta'] }, channels: ['ch-b', 'ch-a'] },
      ],
    });
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'cn-shanghai' }, 'cn'), ['ch-a']);
    assert.deepEqual(route(p, { kind: 'applied', site: 'cn-shanghai' }, 'cn'), []);
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'cn-shanghai' }, undefined), [], 'an unknown area matches no area list');
    assert.deepEqual(route(p, { kind: 'applied', site: 'ap-jakarta' }, 'overseas'), ['ch-b', 'ch-a']);
    assert.equal(chatWorthy(event('apply-started')), false);
    assert.equal(chatWorthy(event('applied', { changes: [] })), false);
    assert.equal(chatWorthy(event('applied')), true);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.throws(() => parseDuration('1 day'));
  });

  it('a drift: one alert, silence while it lasts, a new alert when it changes, one resolved, to the channels that heard it', () => {
    const before = emptyChatState();
    const detected = event('drift-detected');
    const first = decideEvent(before, routing, detected, START);
    assert.deepEqual(first.decision, { action: 'send', channels: ['oncall', 'ops'], notice: { event: detected, area: 'cn', occurrence: 'alert' } });
    assert.equal(first.save, true);
    assert.deepEqual(first.state, {
      version: 1,
      drifts: { [DRIFT]: { fingerprint: 'drift-detected-cn-shanghai-0001', since: START, lastSent: START, channels: ['oncall', 'ops'], event: detected } },
      resolved: {},
      recent: {},
      stalled: {},
    });
    assert.deepEqual(before, { version: 1, drifts: {}, resolved: {}, recent: {}, stalled: {} }, 'the state given is not changed');

    const again = decideEvent(first.state, routing, detected, START + MINUTE);
    assert.deepEqual(again.decision, { action: 'suppress', suppression: { why: 'drift-open', key: DRIFT } });
    assert.equal(again.save, false);

    const changed = event('drift-detected', { fingerprint: 'v2' });
    const second = decideEvent(again.state, routing, changed, START + HOUR);
    assert.deepEqual(second.decision, {
      action: 'send',
      channels: ['oncall', 'ops'],
      notice: { event: changed, area: 'cn', occurrence: 'alert', since: SINCE },
    });
    assert.deepEqual(second.state.drifts[DRIFT], { fingerprint: 'v2', since: START, lastSent: START + HOUR, channels: ['oncall', 'ops'], event: changed });

    const resolved = event('drift-resolved');
    const end = decideEvent(second.state, routing, resolved, START + 2 * HOUR);
    assert.deepEqual(end.decision, {
      action: 'send',
      channels: ['ops', 'oncall'],
      notice: { event: resolved, area: 'cn', occurrence: 'resolved', since: SINCE },
    });
    assert.deepEqual(end.state, { version: 1, drifts: {}, resolved: { [DRIFT]: START + 2 * HOUR }, recent: {}, stalled: {} });

    const twice = decideEvent(end.state, routing, resolved, START + 3 * HOUR);
    assert.deepEqual(twice.decision, { action: 'suppress', suppression: { why: 'drift-resolved', key: DRIFT } });
    assert.equal(twice.save, false);

    const dayLater = decideEvent(end.state, routing, resolved, START + 26 * HOUR);
    assert.deepEqual(dayLater.decision, { action: 'send', channels: ['ops'], notice: { event: resolved, area: 'cn', occurrence: 'resolved' } });
    assert.deepEqual(dayLater.state.resolved, { [DRIFT]: START + 26 * HOUR }, 'the old resolution was forgotten after the reminder interval');
  });

  it('a "resolved" skips channels that heard the alert but are no longer declared', () => {
    const open = decideEvent(emptyChatState(), routing, event('drift-detected'), START).state;
    const opsOnly: Routing = { policy: policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] }), siteArea };
    const end = decideEvent(open, opsOnly, event('drift-resolved'), START + HOUR);
    assert.equal(end.decision.action, 'send');
    assert.deepEqual(end.decision.action === 'send' && end.decision.channels, ['ops']);
  });

  it('identical failures: once per dedup window, the next one says how many were left out', () => {
    const failure = event('apply-failed', { fingerprint: 'f' });
    const e1 = decideEvent(emptyChatState(), routing, failure, START);
    assert.deepEqual(e1.decision, { action: 'send', channels: ['ops'], notice: { event: failure, area: 'cn', occurrence: 'alert' } });
    assert.deepEqual(e1.state.recent, { f: { at: START, suppressed: 0 } });
    const e2 = decideEvent(e1.state, routing, failure, START + MINUTE);
    assert.deepEqual(e2.decision, { action: 'suppress', suppression: { why: 'dedup', key: 'f' } });
    assert.equal(e2.save, true, 'the count of left-out failures is saved');
    const e3 = decideEvent(e2.state, routing, failure, START + 2 * MINUTE);
    assert.deepEqual(e3.state.recent, { f: { at: START, suppressed: 2 } });
    const e4 = decideEvent(e3.state, routing, failure, START + 5 * MINUTE);
    assert.deepEqual(e4.decision, { action: 'send', channels: ['ops'], notice: { event: failure, area: 'cn', occurrence: 'alert', suppressed: 2 } });
    assert.deepEqual(e4.state.recent, { f: { at: START + 5 * MINUTE, suppressed: 0 } });

    const applied = event('applied', { site: 'ap-jakarta' });
    const a1 = decideEvent(e4.state, routing, applied, START + 5 * MINUTE);
    const a2 = decideEvent(a1.state, routing, applied, START + 5 * MINUTE);
    assert.deepEqual(
      a2.decision,
      { action: 'send', channels: ['ops'], notice: { event: applied, area: 'overseas', occurrence: 'alert' } },
      'applied is not deduplicated',
    );
    assert.deepEqual(a2.state.recent, { f: { at: START + 5 * MINUTE, suppressed: 0 } });

    const state = e4.state;
    const started = decideEvent(state, routing, event('apply-started'), START + 6 * MINUTE);
    assert.deepEqual(started, { state, decision: { action: 'ignore' }, save: false });
  });

  it('a stall: agent-stalled goes where routes send it once per dedup window, and agent-recovered answers each stall that was sent', () => {
    const onStall: Routing = {
      policy: policy({
        channels: [channel('oncall'), channel('ops')],
        routes: [
          { match: { events: ['agent-stalled', 'agent-recovered'] }, channels: ['oncall'] },
          { match: { events: ['applied'] }, channels: ['ops'] },
        ],
      }),
      siteArea,
    };
    const stalled = event('agent-stalled', { component: 'hook dragonfly-restart', fingerprint: 's' });
    const s1 = decideEvent(emptyChatState(), onStall, stalled, START);
    assert.deepEqual(s1.decision, { action: 'send', channels: ['oncall'], notice: { event: stalled, area: 'cn', occurrence: 'alert' } });
    const recovered = event('agent-recovered', { component: 'hook dragonfly-restart', fingerprint: 'r' });
    const r1 = decideEvent(s1.state, onStall, recovered, START + MINUTE);
    assert.deepEqual(r1.decision, { action: 'send', channels: ['oncall'], notice: { event: recovered, area: 'cn', occurrence: 'alert' } });
    // The agent stalls again at the same hook within the window: left out, and counted in the next one sent.
    const s2 = decideEvent(r1.state, onStall, stalled, START + 2 * MINUTE);
    assert.deepEqual(s2.decision, { action: 'suppress', suppression: { why: 'dedup', key: 's' } });
    // Its recovery is left out too: there was no stall message for it to answer.
    const r2 = decideEvent(s2.state, onStall, recovered, START + 3 * MINUTE);
    assert.deepEqual(r2.decision, { action: 'suppress', suppression: { why: 'dedup', key: 'cn-shanghai' } });
    const s3 = decideEvent(r2.state, onStall, stalled, START + 5 * MINUTE);
    assert.deepEqual(s3.decision, { action: 'send', channels: ['oncall'], notice: { event: stalled, area: 'cn', occurrence: 'alert', suppressed: 1 } });
    // A recovery soon after a stall that was sent is always said: chat never ends on "stalled".
    const r3 = decideEvent(s3.state, onStall, recovered, START + 5 * MINUTE + 30_000);
    assert.deepEqual(r3.decision, { action: 'send', channels: ['oncall'], notice: { event: recovered, area: 'cn', occurrence: 'alert' } });
  });

  it('reminders: one per open drift per interval, counted from the last one sent', () => {
    const detected = event('drift-detected');
    const open = decideEvent(emptyChatState(), routing, detected, START).state;
    const early = decideReminders(open, routing, START + 24 * HOUR - 1);
    assert.deepEqual(early, { state: open, decision: [], save: false });
    const due = decideReminders(open, routing, START + 24 * HOUR);
    assert.deepEqual(due.decision, [
      { drift: DRIFT, channels: ['oncall', 'ops'], notice: { event: detected, area: 'cn', occurrence: 'reminder', since: SINCE } },
    ]);
    assert.equal(due.save, true);
    assert.equal(due.state.drifts[DRIFT]?.lastSent, START + 24 * HOUR);
    assert.equal(open.drifts[DRIFT]?.lastSent, START, 'the state given is not changed');
    assert.deepEqual(decideReminders(due.state, routing, START + 47 * HOUR).decision, []);
    assert.equal(decideReminders(due.state, routing, START + 48 * HOUR).decision.length, 1);

    const stale: ChatState = { ...emptyChatState(), recent: { old: { at: START, suppressed: 0 } } };
    assert.deepEqual(decideReminders(stale, routing, START + HOUR), { state: emptyChatState(), decision: [], save: true }, 'pruning alone is worth saving');
  });

  it('prune() forgets failures past the window (a day later when some were left out) and resolutions past the reminder interval', () => {
    const state: ChatState = {
      version: 1,
      drifts: {},
      stalled: {},
      resolved: { [DRIFT]: START },
      recent: { quiet: { at: START, suppressed: 0 }, noisy: { at: START, suppressed: 3 } },
    };
    assert.deepEqual(prune(state, routing.policy, START + MINUTE), { state, changed: false });
    assert.deepEqual(prune(state, routing.policy, START + 5 * MINUTE), {
      state: { version: 1, drifts: {}, stalled: {}, resolved: { [DRIFT]: START }, recent: { noisy: { at: START, suppressed: 3 } } },
      changed: true,
    });
    assert.deepEqual(prune(state, routing.policy, START + 24 * HOUR + 5 * MINUTE), {
      state: { version: 1, drifts: {}, resolved: {}, recent: {}, stalled: {} },
      changed: true,
    });
  });

  it('uses the vendor limit when none is set (Feishu: 5 per second)', () => {
    assert.deepEqual(channelLimits({ type: 'feishu' }), [
      { max: 100, perMs: 60_000 },
      { max: 5, perMs: 1000 },
    ]);
    assert.deepEqual(channelLimits({ type: 'feishu', rateLimit: { perMinute: 20 } }), [
      { max: 20, perMs: 60_000 },
      { max: 5, perMs: 1000 },
    ]);
    assert.deepEqual(channelLimits({ type: 'dingtalk' }), [{ max: 20, perMs: 60_000 }]);
    assert.deepEqual(channelLimits({ type: 'webhook' }), []);
    const l = new Limiter(channelLimits({ type: 'feishu' }));
    for (let i = 0; i < 5; i++) {
      assert.equal(l.wait(START + i), 0);
      l.take(START + i);
    }
    assert.equal(l.wait(START + 10), 990, 'the sixth waits for the first to leave the one-second window');
  });

  it("the vendors' documented per-minute limits (what the validator checks rateLimit.perMinute against)", () => {
    assert.deepEqual(
      (['slack', 'feishu', 'dingtalk', 'wecom', 'webhook'] as const).map((t) => vendorPerMinute(t)),
      [60, 100, 20, 20, undefined],
    );
  });
});
