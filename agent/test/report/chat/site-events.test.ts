// The chat side of a site's events (issue 13): a silent site opens like a stall and is reminded of like a
// drift until the site is back (one resolved message, and none for a silence never sent); a drift found and
// healed is one message, deduplicated per site and component, that never opens or closes a drift; the
// severities of the new kinds; their cards in English and Chinese.
import assert from 'node:assert/strict';
import { decideEvent, decideReminders, emptyChatState, type Routing } from '../../../src/report/chat/decisions.js';
import { compose } from '../../../src/report/chat/message.js';
import { mentionable, severityOf } from '../../../src/report/chat/routing.js';
import { event, HOUR, MINUTE, policy, siteArea, START } from './harness.js';

const channel = (name: string) => ({ name, type: 'webhook', url: `env:URL_${name.toUpperCase()}` });

/** oncall hears critical events (site-silent among them); ops hears site-back and drift-healed. */
const routing: Routing = {
  policy: policy({
    channels: [channel('oncall'), channel('ops')],
    routes: [
      { match: { severities: ['critical'] }, channels: ['oncall'] },
      { match: { events: ['site-back', 'drift-healed', 'drift-detected'] }, channels: ['ops'] },
    ],
  }),
  siteArea,
};
const SILENT = 'cn-shanghai/site-silent';

describe('chat: site events', () => {
  it('the severities of the new kinds', () => {
    assert.deepEqual(
      (['drift-healed', 'site-silent', 'site-back', 'site-suspended', 'site-resumed'] as const).map((k) => `${k}=${severityOf(k)}`),
      ['drift-healed=info', 'site-silent=critical', 'site-back=info', 'site-suspended=warning', 'site-resumed=info'],
    );
    assert.equal(mentionable('site-back', 'alert'), false, 'a site back mentions nobody');
    assert.equal(mentionable('site-silent', 'reminder'), true);
  });

  it('a silent site: one alert, silence while it lasts, a reminder per interval, one resolved to the channels that heard it', () => {
    const silent = event('site-silent', { fingerprint: 's' });
    const s1 = decideEvent(emptyChatState(), routing, silent, START);
    assert.deepEqual(s1.decision, { action: 'send', channels: ['oncall'], notice: { event: silent, area: 'cn', occurrence: 'alert' } });
    assert.deepEqual(Object.keys(s1.state.drifts), [SILENT]);

    const again = decideEvent(s1.state, routing, event('site-silent', { fingerprint: 's2' }), START + MINUTE);
    assert.deepEqual(again, { state: s1.state, decision: { action: 'suppress', suppression: { why: 'silent-open', key: 'cn-shanghai' } }, save: false });

    const due = decideReminders(s1.state, routing, START + 24 * HOUR);
    assert.deepEqual(due.decision, [
      { drift: SILENT, channels: ['oncall'], notice: { event: silent, area: 'cn', occurrence: 'reminder', since: '2025-03-01T02:00:00.000Z' } },
    ]);

    const back = event('site-back', { fingerprint: 'b' });
    const b1 = decideEvent(due.state, routing, back, START + 25 * HOUR);
    assert.deepEqual(b1.decision, {
      action: 'send',
      channels: ['ops', 'oncall'],
      notice: { event: back, area: 'cn', occurrence: 'resolved', since: '2025-03-01T02:00:00.000Z' },
    });
    assert.deepEqual(b1.state.drifts, {});
    assert.deepEqual(decideReminders(b1.state, routing, START + 49 * HOUR).decision, [], 'no reminder once the site is back');

    const b2 = decideEvent(b1.state, routing, back, START + 26 * HOUR);
    assert.deepEqual(b2, { state: b1.state, decision: { action: 'suppress', suppression: { why: 'not-silent', key: 'cn-shanghai' } }, save: false });
  });

  it('a site back whose silence was never sent says nothing; silence and drift of one site are separate', () => {
    const back = decideEvent(emptyChatState(), routing, event('site-back'), START);
    assert.deepEqual(back.decision, { action: 'suppress', suppression: { why: 'not-silent', key: 'cn-shanghai' } });
    const drift = decideEvent(emptyChatState(), routing, event('drift-detected'), START);
    const silent = decideEvent(drift.state, routing, event('site-silent'), START + MINUTE);
    assert.deepEqual(Object.keys(silent.state.drifts), ['cn-shanghai/routes', SILENT]);
  });

  it('a drift found and healed: one message per dedup window, and an open drift of the site stays open', () => {
    const drift = decideEvent(emptyChatState(), routing, event('drift-detected', { fingerprint: 'd' }), START);
    const healed = event('drift-healed', { fingerprint: 'h' });
    const h1 = decideEvent(drift.state, routing, healed, START + MINUTE);
    assert.deepEqual(h1.decision, { action: 'send', channels: ['ops'], notice: { event: healed, area: 'cn', occurrence: 'alert' } });
    assert.deepEqual(Object.keys(h1.state.drifts), ['cn-shanghai/routes']);
    const h2 = decideEvent(h1.state, routing, healed, START + 2 * MINUTE);
    assert.deepEqual(h2.decision, { action: 'suppress', suppression: { why: 'dedup', key: 'h' } });
    const h3 = decideEvent(h2.state, routing, healed, START + 6 * MINUTE);
    assert.deepEqual(h3.decision, { action: 'send', channels: ['ops'], notice: { event: healed, area: 'cn', occurrence: 'alert', suppressed: 1 } });
  });

  it('their cards: titles and what to do, in English and Chinese', () => {
    const card = (kind: Parameters<typeof event>[0], occurrence: 'alert' | 'reminder' | 'resolved', lang: 'en' | 'zh' | 'both' = 'en') =>
      compose({ event: event(kind), area: 'cn', occurrence }, lang);
    assert.deepEqual(
      [
        card('drift-healed', 'alert').title,
        card('site-silent', 'alert').title,
        card('site-silent', 'reminder').title,
        card('site-back', 'resolved').title,
        card('site-suspended', 'alert').title,
        card('site-resumed', 'alert').title,
        card('site-silent', 'alert', 'zh').title,
        card('drift-healed', 'alert', 'both').title,
      ],
      [
        'mirrornet · 🩹 Drift found and healed: cn-shanghai',
        'mirrornet · 📵 Site silent: cn-shanghai',
        'mirrornet · ⏰ Site still silent: cn-shanghai',
        'mirrornet · ✅ Site reporting again: cn-shanghai',
        'mirrornet · ⏸️ Site suspended: cn-shanghai',
        'mirrornet · ▶️ Site resumed: cn-shanghai',
        'mirrornet · 📵 站点停止上报: cn-shanghai',
        'mirrornet · 🩹 发现配置漂移并已自动修复 Drift found and healed: cn-shanghai',
      ],
    );
    const healed = card('drift-healed', 'alert');
    assert.equal(healed.headline, 'routes drifted on n3, n7 and was healed');
    assert.equal(healed.tone, 'info');
    assert.deepEqual(healed.action, [
      'Nothing to do now: the agent restored routes on cn-shanghai. If this repeats, find what changes it outside the repository ' +
        '(a person, a script, another daemon) and stop it, or commit the change to the repository.',
    ]);
    assert.equal(card('site-silent', 'alert').tone, 'danger');
    assert.match(card('site-silent', 'alert').action[0]!, /^The gateway of cn-shanghai has not reported to its core for more than three intervals\./);
    assert.match(card('site-silent', 'alert', 'zh').action[0]!, /^cn-shanghai 的网关已超过三个周期未向核心上报。/);
    assert.match(card('site-suspended', 'alert').action[0]!, /^The agents of cn-shanghai apply no new revision and heal no drift/);
    assert.equal(card('site-suspended', 'alert', 'both').action.length, 2);
    assert.deepEqual(card('site-back', 'resolved').action, ['Nothing to do.']);
  });
});
