// Who hears an event, as pure functions: routes by severity, event, component, area and site, their
// exclusions and minSeverity; mute windows on a fixed clock (in Shanghai time), counted per channel; and
// whom each channel's message mentions and links to (present.ts). Expected values are written out.
import assert from 'node:assert/strict';
import { hostSecrets } from '../../../src/host/secrets.js';
import { decideEvent, decideReminders, emptyChatState, type Routing } from '../../../src/report/chat/decisions.js';
import { createChatDispatcher } from '../../../src/report/chat/dispatcher.js';
import { linksOf, present } from '../../../src/report/chat/present.js';
import { address, route, severityOf } from '../../../src/report/chat/routing.js';
import type { Notice } from '../../../src/report/chat/types.js';
import { captureLog, event, HOUR, MINUTE, policy, siteArea } from './harness.js';

const channel = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: 'webhook', url: `env:URL_${name.toUpperCase()}`, ...extra });
const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';

/** Saturday 2025-03-01 in Shanghai: the maintenance window opens 02:00 (18:00 UTC the day before) for 2h. */
const IN_WINDOW = Date.parse('2025-02-28T19:00:00Z');
const AFTER_WINDOW = Date.parse('2025-02-28T20:00:00Z');
const BEFORE_WINDOW = Date.parse('2025-02-28T17:59:00Z');

describe('chat routing', () => {
  it('one severity per event kind', () => {
    assert.deepEqual(
      (
        ['apply-failed', 'revision-refused', 'agent-stalled', 'drift-detected', 'guardrail-blocked', 'applied', 'drift-resolved', 'agent-recovered'] as const
      ).map((k) => `${k}=${severityOf(k)}`),
      [
        'apply-failed=critical',
        'revision-refused=critical',
        'agent-stalled=critical',
        'drift-detected=warning',
        'guardrail-blocked=warning',
        'applied=info',
        'drift-resolved=info',
        'agent-recovered=info',
      ],
    );
  });

  it('routes match every key present: severities, events, components (first word), areas, sites and regions', () => {
    const p = policy({
      channels: ['crit', 'wireguard', 'cn', 'sh', 'old', 'hooks'].map((n) => channel(n)),
      routes: [
        { match: { severities: ['critical'] }, channels: ['crit'] },
        { match: { components: ['wireguard', 'routes'], events: ['drift-detected'] }, channels: ['wireguard'] },
        { match: { areas: ['cn'], severities: ['warning', 'critical'] }, channels: ['cn'] },
        { match: { sites: ['cn-shanghai'] }, channels: ['sh'] },
        { match: { regions: ['ap-jakarta'] }, channels: ['old'] },
        { match: { components: ['hook'] }, channels: ['hooks'] },
      ],
    });
    assert.deepEqual(route(p, { kind: 'apply-failed', site: 'cn-shanghai', component: 'routes' }, 'cn'), ['crit', 'cn', 'sh']);
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'cn-shanghai', component: 'routes' }, 'cn'), ['wireguard', 'cn', 'sh']);
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'ap-jakarta', component: 'docker' }, 'overseas'), ['old']);
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'ap-jakarta' }, 'overseas'), ['old'], 'no component: a components list does not match');
    assert.deepEqual(route(p, { kind: 'applied', site: 'cn-beijing' }, 'cn'), [], 'info in cn: below the cn route');
    assert.deepEqual(route(p, { kind: 'agent-stalled', site: 'ap-jakarta', component: 'hook dragonfly-restart' }, 'overseas'), ['crit', 'old', 'hooks']);
  });

  it('an exclusion leaves out events matching all its keys; minSeverity leaves out the less severe', () => {
    const p = policy({
      channels: [channel('oncall'), channel('ops')],
      routes: [
        { match: { areas: ['cn'] }, minSeverity: 'warning', exclude: { events: ['drift-detected'], components: ['docker'] }, channels: ['oncall'] },
        { match: { areas: ['cn'] }, exclude: { sites: ['cn-hangzhou-idc'], severities: ['info'] }, channels: ['ops'] },
      ],
    });
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'cn-shanghai', component: 'docker' }, 'cn'), ['ops'], 'docker drift excluded from oncall');
    assert.deepEqual(route(p, { kind: 'drift-detected', site: 'cn-shanghai', component: 'routes' }, 'cn'), ['oncall', 'ops']);
    assert.deepEqual(route(p, { kind: 'apply-failed', site: 'cn-shanghai', component: 'docker' }, 'cn'), ['oncall', 'ops'], 'a docker failure is not excluded');
    assert.deepEqual(route(p, { kind: 'applied', site: 'cn-shanghai' }, 'cn'), ['ops'], 'info is below minSeverity warning');
    assert.deepEqual(route(p, { kind: 'applied', site: 'cn-hangzhou-idc' }, 'cn'), [], "the IDC's info messages are excluded");
    assert.deepEqual(route(p, { kind: 'apply-failed', site: 'cn-hangzhou-idc', component: 'routes' }, 'cn'), ['oncall', 'ops'], "the IDC's failures are not");
  });

  describe('mute windows (Saturdays 02:00-04:00 Asia/Shanghai)', () => {
    const window = { name: 'maintenance', schedule: '0 2 * * 6', duration: '2h', timeZone: 'Asia/Shanghai' };
    const routing = (extra: Record<string, unknown>): Routing => ({
      policy: policy({
        channels: [channel('oncall'), channel('ops')],
        routes: [
          { name: 'cn-oncall', match: { areas: ['cn'] }, channels: ['oncall'] },
          { name: 'everything', channels: ['ops'] },
        ],
        muteWindows: [{ ...window, ...extra }],
      }),
      siteArea,
    });

    it('a window on a route mutes that route only, while it is open', () => {
      const r = routing({ routes: ['cn-oncall'] });
      const failed = event('apply-failed');
      const inside = decideEvent(emptyChatState(), r, failed, IN_WINDOW).decision;
      assert.deepEqual(inside, {
        action: 'send',
        channels: ['ops'],
        notice: { event: failed, area: 'cn', occurrence: 'alert' },
        muted: [{ channel: 'oncall', window: 'maintenance' }],
      });
      assert.deepEqual(address(r.policy, failed, 'cn', 'alert', BEFORE_WINDOW).channels, ['oncall', 'ops'], 'not yet open at 01:59');
      assert.deepEqual(address(r.policy, failed, 'cn', 'alert', AFTER_WINDOW).channels, ['oncall', 'ops'], 'closed at 04:00');
    });

    it('a window of some severities lets the others through; a window on a channel mutes it on every route', () => {
      const bySeverity = routing({ severities: ['warning', 'critical'] }).policy;
      assert.deepEqual(address(bySeverity, event('applied'), 'cn', 'alert', IN_WINDOW), { channels: ['oncall', 'ops'], muted: [], mentions: {} });
      assert.deepEqual(address(bySeverity, event('drift-detected'), 'cn', 'alert', IN_WINDOW), {
        channels: [],
        muted: [
          { channel: 'oncall', window: 'maintenance' },
          { channel: 'ops', window: 'maintenance' },
        ],
        mentions: {},
      });
      const byChannel = routing({ channels: ['ops'] }).policy;
      assert.deepEqual(address(byChannel, event('drift-detected'), 'cn', 'alert', IN_WINDOW).channels, ['oncall']);
    });

    it('a channel that another, unmuted route reaches still hears it', () => {
      const p = policy({
        channels: [channel('oncall')],
        routes: [
          { name: 'cn-oncall', match: { areas: ['cn'] }, channels: ['oncall'] },
          { name: 'failures', match: { severities: ['critical'] }, channels: ['oncall'] },
        ],
        muteWindows: [{ ...window, routes: ['cn-oncall'] }],
      });
      assert.deepEqual(address(p, event('apply-failed'), 'cn', 'alert', IN_WINDOW), { channels: ['oncall'], muted: [], mentions: {} });
      assert.deepEqual(address(p, event('drift-detected'), 'cn', 'alert', IN_WINDOW), {
        channels: [],
        muted: [{ channel: 'oncall', window: 'maintenance' }],
        mentions: {},
      });
    });

    it('the dispatcher counts what a window mutes and logs it with the window, and sends the rest', async () => {
      const cap = captureLog();
      const posted: string[] = [];
      const fakeFetch: typeof fetch = async (url) => {
        posted.push(String(url));
        return new Response(null, { status: 204 });
      };
      const d = createChatDispatcher({
        ...routing({ routes: ['cn-oncall'] }),
        resolve: hostSecrets({ env: { URL_ONCALL: 'https://hooks.example/oncall', URL_OPS: 'https://hooks.example/ops' } }),
        log: cap.log,
        clock: () => IN_WINDOW,
        fetch: fakeFetch,
        tickIntervalMs: 0,
      });
      d.sink(event('apply-failed'));
      d.sink(event('agent-stalled', { site: 'cn-beijing' }));
      await d.flush();
      await d.close();
      assert.deepEqual(posted, ['https://hooks.example/ops', 'https://hooks.example/ops']);
      assert.equal(d.stats().muted, 2);
      assert.equal(d.stats().sent, 2);
      assert.deepEqual(
        cap.records('muted by a mute window').map((r) => `${String(r['channel'])} ${String(r['event'])} ${String(r['window'])}`),
        ['oncall apply-failed maintenance', 'oncall agent-stalled maintenance'],
      );
    });

    it('a muted drift is still open: its reminder goes out after the window, its resolution to those who heard it', () => {
      const r = routing({ routes: ['cn-oncall'] });
      const drift = event('drift-detected');
      const first = decideEvent(emptyChatState(), r, drift, IN_WINDOW);
      assert.deepEqual(first.state.drifts['cn-shanghai/routes']?.channels, ['ops'], 'oncall did not hear it');
      const reminders = decideReminders(first.state, r, IN_WINDOW + 24 * HOUR).decision;
      assert.deepEqual(
        reminders.map((x) => x.channels),
        [['oncall', 'ops']],
      );
      const resolved = decideEvent(first.state, r, event('drift-resolved'), IN_WINDOW + 10 * MINUTE).decision;
      assert.equal(resolved.action, 'send');
      assert.deepEqual(resolved.action === 'send' && resolved.muted, [{ channel: 'oncall', window: 'maintenance' }]);
    });
  });

  describe('mentions and links of one channel (present.ts)', () => {
    const p = policy({
      channels: [
        channel('oncall', { type: 'dingtalk', secret: 'env:S', mentions: { mobiles: ['13800000000'] }, mentionOn: ['critical', 'warning'] }),
        channel('lead', { type: 'feishu', secret: 'env:S', mentions: { users: ['ou_lead'] } }),
      ],
      routes: [{ name: 'cn', match: { areas: ['cn'] }, channels: ['oncall', 'lead'], mentions: { users: ['ou_route'] }, mentionOn: ['critical'] }],
      links: { repository: 'https://github.com/example-org/fleet.git' },
      runbooks: { 'drift-detected': 'https://wiki.example.com/runbooks/drift' },
    });
    const [oncall, lead] = p.channels as [(typeof p.channels)[0], (typeof p.channels)[0]];
    const notice = (kind: Parameters<typeof event>[0], occurrence: Notice['occurrence'] = 'alert', pullRequest?: number): Notice => ({
      event: event(kind),
      area: 'cn',
      occurrence,
      ...(pullRequest ? { pullRequest } : {}),
    });
    const mentionsOf = (ch: typeof oncall, n: Notice) => {
      const to = address(p, n.event, 'cn', n.occurrence, IN_WINDOW);
      return present(p, ch, n, to.mentions[ch.name]).mentions;
    };

    it('a channel mentions on the severities of its mentionOn (default critical), with its routes; never on a resolution', () => {
      assert.deepEqual(mentionsOf(oncall, notice('apply-failed')), { users: ['ou_route'], mobiles: ['13800000000'], groups: [], all: false });
      assert.deepEqual(mentionsOf(oncall, notice('drift-detected')), { users: [], mobiles: ['13800000000'], groups: [], all: false });
      assert.deepEqual(mentionsOf(lead, notice('apply-failed')), { users: ['ou_lead', 'ou_route'], mobiles: [], groups: [], all: false });
      assert.equal(mentionsOf(lead, notice('drift-detected')), undefined, 'warning is not in the default [critical]');
      assert.deepEqual(mentionsOf(oncall, notice('drift-detected', 'reminder')), { users: [], mobiles: ['13800000000'], groups: [], all: false });
      assert.equal(mentionsOf(oncall, notice('drift-resolved', 'resolved')), undefined);
      assert.equal(mentionsOf(oncall, notice('agent-recovered')), undefined);
    });

    it('links: commit and pull request from the repository URL, the runbook of the event kind', () => {
      assert.deepEqual(linksOf(p, notice('drift-detected', 'alert', 42)), {
        commit: `https://github.com/example-org/fleet/commit/${REV}`,
        pullRequest: 'https://github.com/example-org/fleet/pull/42',
        runbook: 'https://wiki.example.com/runbooks/drift',
      });
      assert.deepEqual(linksOf(p, notice('apply-failed')), { commit: `https://github.com/example-org/fleet/commit/${REV}` }, 'no pull request, no runbook');
      const templated = { links: { commit: 'https://git.example.com/fleet/-/commit/{revision}?site={site}' } };
      assert.deepEqual(linksOf(templated, notice('apply-failed')), { commit: `https://git.example.com/fleet/-/commit/${REV}?site=cn-shanghai` });
      assert.equal(linksOf(p, { ...notice('apply-failed'), event: event('apply-failed', { revision: 'unknown' }) }), undefined, 'no commit page for "unknown"');
    });
  });
});
