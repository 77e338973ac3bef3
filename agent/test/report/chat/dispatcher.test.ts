// The chat dispatcher with an injected clock and sleep, against local receivers: routing by area,
// region and event; dedup of identical failures; per-channel rate limits and bounded queues; retries
// with backoff; secret hygiene; the drift lifecycle end to end; persistence across a restart; close().
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { hostSecrets } from '../../../src/host/secrets.js';
import type { Notifications } from '../../../src/model/schema.js';
import type { DingTalkBody } from '../../../src/report/chat/dingtalk/index.js';
import { NO_NOTIFICATIONS, type ChatState } from '../../../src/report/chat/decisions.js';
import { createChatDispatcher, type ChatDispatcher, type ChatDispatcherOptions } from '../../../src/report/chat/dispatcher.js';
import { CHAT_STATE_FILE, fileStateStore } from '../../../src/report/chat/store.js';
import type { WebhookBody } from '../../../src/report/chat/webhook/index.js';
import { captureLog, event, fakeTime, HOUR, MINUTE, policy, siteArea, START, type Captured, type FakeTime } from './harness.js';
import { startDingTalk, startWebhook, type Receiver } from './receivers.js';

const SECRET = 'whsec-dispatch-5e8d';
const receivers: Receiver[] = [];
const dispatchers: ChatDispatcher[] = [];
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.close({ timeoutMs: 1000 })));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** Webhook receivers by channel name, all checking signatures against `time`. */
async function hooks(time: FakeTime, ...names: string[]): Promise<Record<string, Receiver>> {
  const out: Record<string, Receiver> = {};
  for (const name of names) {
    const r = await startWebhook({ secret: SECRET, now: time.clock });
    receivers.push(r);
    out[name] = r;
  }
  return out;
}

function envOf(rs: Record<string, Receiver>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOOK_SECRET: SECRET };
  for (const [name, r] of Object.entries(rs)) env[`URL_${name.replace(/-/g, '_').toUpperCase()}`] = r.url;
  return env;
}

function channel(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'webhook', url: `env:URL_${name.replace(/-/g, '_').toUpperCase()}`, secret: 'env:HOOK_SECRET', ...extra };
}

function dispatcher(p: Notifications, env: NodeJS.ProcessEnv, time: FakeTime, cap: Captured, extra: Partial<ChatDispatcherOptions> = {}): ChatDispatcher {
  const d = createChatDispatcher({
    policy: p,
    siteArea,
    resolve: hostSecrets({ env }),
    log: cap.log,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 1,
    tickIntervalMs: 0,
    retry: { attempts: 3, baseMs: 1000, maxMs: 8000 },
    ...extra,
  });
  dispatchers.push(d);
  return d;
}

const bodies = (r: Receiver): WebhookBody[] => r.accepted.map((x) => x.json as WebhookBody);
const seen = (r: Receiver): string[] => bodies(r).map((b) => `${b.event.kind}@${b.event.site}`);

describe('chat dispatcher', function () {
  describe('routing', () => {
    it('matches area (of the site), region (site) and event; a channel named by two routes hears once', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'cn', 'oncall', 'intl', 'audit');
      const p = policy({
        channels: [channel('cn'), channel('oncall'), channel('intl'), channel('audit')],
        routes: [
          { match: { areas: ['cn'] }, channels: ['cn'] },
          { match: { areas: ['cn'], events: ['apply-failed'] }, channels: ['cn', 'oncall'] },
          { match: { regions: ['cn-shanghai'], events: ['apply-failed', 'revision-refused'] }, channels: ['oncall'] },
          { match: { areas: ['overseas'] }, channels: ['intl'] },
          { channels: ['audit'] },
        ],
      });
      const d = dispatcher(p, envOf(rs), time, cap);
      d.sink(event('apply-failed', { site: 'cn-shanghai' }));
      d.sink(event('drift-detected', { site: 'cn-beijing' }));
      d.sink(event('revision-refused', { site: 'cn-beijing' }));
      d.sink(event('applied', { site: 'ap-jakarta' }));
      d.sink(event('applied', { site: 'ap-jakarta', changes: [], fingerprint: 'nothing-to-do' }));
      d.sink(event('apply-started', { site: 'cn-shanghai' }));
      d.sink(event('guardrail-blocked', { site: 'site-without-area' }));
      await d.flush();
      assert.deepEqual(seen(rs['cn']!), ['apply-failed@cn-shanghai', 'drift-detected@cn-beijing', 'revision-refused@cn-beijing']);
      assert.deepEqual(seen(rs['oncall']!), ['apply-failed@cn-shanghai']);
      assert.deepEqual(seen(rs['intl']!), ['applied@ap-jakarta']);
      assert.deepEqual(seen(rs['audit']!), [
        'apply-failed@cn-shanghai',
        'drift-detected@cn-beijing',
        'revision-refused@cn-beijing',
        'applied@ap-jakarta',
        'guardrail-blocked@site-without-area',
      ]);
      for (const r of Object.values(rs)) assert.deepEqual(r.rejected, []);
    });

    it('setPolicy() routes later events by the newly applied policy', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'old', 'new');
      const d = dispatcher(policy({ channels: [channel('old'), channel('new')], routes: [{ channels: ['old'] }] }), envOf(rs), time, cap);
      d.sink(event('apply-failed', { fingerprint: 'f1' }));
      await d.flush();
      d.setPolicy(policy({ channels: [channel('old'), channel('new')], routes: [{ channels: ['new'] }] }));
      d.sink(event('apply-failed', { fingerprint: 'f2' }));
      await d.flush();
      assert.equal(rs['old']!.accepted.length, 1);
      assert.equal(rs['new']!.accepted.length, 1);
    });
  });

  describe('noise control', () => {
    it('sends identical failures (same fingerprint) once per dedup window; the next one says how many were left out', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      const d = dispatcher(policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }], dedupWindow: '5m' }), envOf(rs), time, cap);
      const failure = event('apply-failed', { fingerprint: 'same-failure' });
      for (let i = 0; i < 3; i++) {
        d.sink(failure);
        await d.flush();
        time.advance(MINUTE);
      }
      d.sink(event('apply-failed', { fingerprint: 'other-failure' }));
      await d.flush();
      assert.equal(rs['ops']!.accepted.length, 2, 'one of the three identical, and the different one');
      time.advance(3 * MINUTE); // 6 minutes after the first
      d.sink(failure);
      await d.flush();
      const got = bodies(rs['ops']!);
      assert.deepEqual(
        got.map((b) => [b.event.fingerprint, b.suppressed ?? 0]),
        [
          ['same-failure', 0],
          ['other-failure', 0],
          ['same-failure', 2],
        ],
      );
      assert.equal(d.stats().suppressed, 2);
    });

    it('holds a channel to rateLimit.perMinute: the excess waits in order and goes out as the window frees', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'slow');
      const d = dispatcher(policy({ channels: [channel('slow', { rateLimit: { perMinute: 2 } })], routes: [{ channels: ['slow'] }] }), envOf(rs), time, cap);
      for (const fp of ['a', 'b', 'c', 'd', 'e']) d.sink(event('apply-failed', { fingerprint: fp, message: `failure ${fp}` }));
      await d.flush();
      const r = rs['slow']!;
      assert.deepEqual(
        bodies(r).map((b) => b.event.fingerprint),
        ['a', 'b', 'c', 'd', 'e'],
        'in order, none lost',
      );
      assert.deepEqual(
        r.accepted.map((x) => x.at - START),
        [0, 0, MINUTE, MINUTE, 2 * MINUTE],
      );
      const waits = cap.records('rate limit reached');
      assert.ok(waits.length >= 2);
      assert.equal(waits[0]!['channel'], 'slow');
    });

    it('drops the oldest waiting message beyond maxQueue, with a log line', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'tiny');
      const d = dispatcher(policy({ channels: [channel('tiny', { rateLimit: { perMinute: 1 } })], routes: [{ channels: ['tiny'] }] }), envOf(rs), time, cap, {
        maxQueue: 2,
      });
      for (const fp of ['1', '2', '3', '4', '5']) d.sink(event('apply-failed', { fingerprint: fp }));
      await d.flush();
      assert.deepEqual(
        bodies(rs['tiny']!).map((b) => b.event.fingerprint),
        ['1', '4', '5'],
      );
      assert.equal(d.stats().dropped, 2);
      const drops = cap.records('queue full');
      assert.equal(drops.length, 2);
      assert.equal(drops[0]!['channel'], 'tiny');
    });
  });

  describe('delivery', () => {
    it('retries failures with exponential backoff and jitter, bounded by attempts, in the background', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'down');
      const r = rs['down']!;
      r.reply(...Array.from({ length: 10 }, () => ({ status: 500, body: 'internal error' })));
      const d = dispatcher(policy({ channels: [channel('down')], routes: [{ channels: ['down'] }] }), envOf(rs), time, cap, {
        retry: { attempts: 4, baseMs: 1000, maxMs: 3000 },
        random: () => 0,
      });
      assert.doesNotThrow(() => d.sink(event('apply-failed')));
      await d.flush();
      assert.equal(r.requests.length, 4);
      assert.deepEqual(time.sleeps, [500, 1000, 1500], 'base * 2^n capped at maxMs, halved by the lowest jitter');
      assert.deepEqual(d.stats(), { sent: 0, failed: 1, dropped: 0, suppressed: 0, muted: 0, retries: 3 });
      const last = cap.records('not delivered');
      assert.equal(last.length, 1);
      assert.equal(last[0]!['attempt'], 4);
      assert.equal(last[0]!['reason'], 'HTTP 500 internal error');
    });

    it('the highest jitter doubles the delay; the delays grow exponentially', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'down');
      rs['down']!.reply(...Array.from({ length: 3 }, () => ({ status: 503, body: 'busy' })));
      const d = dispatcher(policy({ channels: [channel('down')], routes: [{ channels: ['down'] }] }), envOf(rs), time, cap, {
        retry: { attempts: 5, baseMs: 1000, maxMs: 60_000 },
        random: () => 1,
      });
      d.sink(event('apply-failed'));
      await d.flush();
      assert.deepEqual(time.sleeps, [1000, 2000, 4000]);
      assert.equal(d.stats().sent, 1);
    });

    it('never throws into the agent and never logs a URL or secret (network errors, throwing fetch, bad secrets)', async () => {
      const time = fakeTime();
      const cap = captureLog();
      // A port nobody listens on: the URL carries a token in its path and query.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const env: NodeJS.ProcessEnv = {
        URL_REFUSED: `http://127.0.0.1:${port}/services/T000/B000/tok-refused-6a5b4c?key=key-refused-1f2e`,
        URL_THROWS: 'http://127.0.0.1:9/hook/tok-throws-9c8d7e',
        URL_NOT_A_URL: 'tok-not-a-url-3b2a1c',
        HOOK_SECRET: SECRET,
      };
      const p = policy({
        channels: [
          channel('refused'),
          channel('throws'),
          channel('not-a-url'),
          { name: 'unresolved', type: 'dingtalk', url: 'env:URL_NEVER_SET', secret: 'env:HOOK_SECRET' },
        ],
        routes: [{ channels: ['refused', 'throws', 'not-a-url', 'unresolved'] }],
      });
      const realFetch = globalThis.fetch;
      const fetchFn: typeof fetch = (input, init) => {
        if (String(input).includes('tok-throws')) throw new TypeError(`Failed to parse URL from ${String(input)}`);
        return realFetch(input, init);
      };
      const d = dispatcher(p, env, time, cap, { fetch: fetchFn });
      assert.doesNotThrow(() => d.sink(event('apply-failed')));
      await d.flush();
      assert.deepEqual(d.stats(), { sent: 0, failed: 4, dropped: 0, suppressed: 0, muted: 0, retries: 4 });
      const text = cap.text();
      for (const secret of ['tok-refused-6a5b4c', 'key-refused-1f2e', 'tok-throws-9c8d7e', 'tok-not-a-url-3b2a1c', SECRET, `127.0.0.1:${port}`]) {
        assert.ok(!text.includes(secret), `the logs contain ${secret}:\n${text}`);
      }
      const failures = cap.records('not delivered').concat(cap.records('not sent'));
      assert.deepEqual(failures.map((f) => f['channel']).sort(), ['not-a-url', 'refused', 'throws', 'unresolved']);
      assert.ok(failures.some((f) => f['reason'] === 'network error (ECONNREFUSED)'));
      assert.ok(
        failures.some((f) => String(f['reason']).includes('env:URL_NEVER_SET')),
        'names the reference, not a value',
      );
      assert.ok(failures.some((f) => f['reason'] === 'The value of env:URL_NOT_A_URL (the URL of the channel not-a-url) is not an http(s) URL.'));
    });

    it('a message never carries a secret: resolved ones (env: and file:), credential variables, webhook URLs', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      const root = mkdtempSync(join(tmpdir(), 'mirrornet-chat-'));
      process.env['MIRRORNET_CHAT_TEST_TOKEN'] = 'envvar-secret-chat-7b8c9d';
      try {
        writeFileSync(join(root, 'pg'), 'file-secret-chat-1b2c3d\n');
        // What a provider resolved before it failed, and echoed in its error.
        const provider = hostSecrets({ env: { PG_PASSWORD: 'env-secret-chat-4e5f6a' }, root });
        await provider.resolve('env:PG_PASSWORD');
        await provider.resolve('file:/pg');
        const hook = rs['ops']!.url;
        const d = dispatcher(policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] }), envOf(rs), time, cap);
        d.sink(
          event('apply-failed', {
            message: `cn-shanghai failed to apply (postgres): env-secret-chat-4e5f6a / file-secret-chat-1b2c3d refused; envvar-secret-chat-7b8c9d; ${hook}`,
            changes: [{ provider: 'postgres', id: 'role harbor', action: 'update', reason: 'password file-secret-chat-1b2c3d' }],
          }),
        );
        await d.flush();
        assert.equal(rs['ops']!.accepted.length, 1);
        const body = bodies(rs['ops']!)[0]!;
        assert.equal(body.event.message, `cn-shanghai failed to apply (postgres): *** / *** refused; ***; ${new URL(hook).origin}/***`);
        assert.deepEqual(body.event.changes, [{ provider: 'postgres', id: 'role harbor', action: 'update', reason: 'password ***' }]);
        const raw = rs['ops']!.accepted[0]!.raw.toString('utf8');
        for (const secret of ['env-secret-chat-4e5f6a', 'file-secret-chat-1b2c3d', 'envvar-secret-chat-7b8c9d', hook, rs['ops']!.credential]) {
          assert.ok(!raw.includes(secret), `the message holds ${secret}`);
        }
      } finally {
        delete process.env['MIRRORNET_CHAT_TEST_TOKEN'];
        rmSync(root, { recursive: true, force: true });
      }
    });

    it('close() delivers what it can within its timeout, then drops the rest with a log line', async () => {
      const hanging = createServer(() => undefined);
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
      const cap = captureLog();
      const d = createChatDispatcher({
        policy: policy({ channels: [{ name: 'slowpoke', type: 'webhook', url: 'env:U' }], routes: [{ channels: ['slowpoke'] }] }),
        siteArea,
        resolve: hostSecrets({ env: { U: url } }),
        log: cap.log,
        tickIntervalMs: 0,
      });
      d.sink(event('apply-failed', { fingerprint: 'x1' }));
      d.sink(event('apply-failed', { fingerprint: 'x2' }));
      const t0 = Date.now();
      await d.close({ timeoutMs: 200 });
      assert.ok(Date.now() - t0 < 5000, 'close() does not wait for the request timeout');
      assert.ok(d.stats().dropped >= 1);
      assert.equal(cap.records('dropped').length >= 1, true);
      d.sink(event('apply-failed', { fingerprint: 'after-close' }));
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    });
  });

  describe('drift lifecycle, end to end with an injected clock', () => {
    it('detect -> one alert -> no repeat within the interval -> reminder after it -> resolved once', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const DING_SECRET = 'SECd1f2e3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2';
      const ding = await startDingTalk({ secret: DING_SECRET, now: time.clock, keywords: ['mirrornet'] });
      receivers.push(ding);
      const rs = await hooks(time, 'audit');
      const p = policy({
        channels: [{ name: 'oncall', type: 'dingtalk', url: 'env:DING_URL', secret: 'env:DING_SECRET' }, channel('audit')],
        routes: [{ match: { areas: ['cn'], events: ['drift-detected'] }, channels: ['oncall'] }, { channels: ['audit'] }],
      });
      assert.equal(p.reminder, '24h', 'the default reminder');
      const d = dispatcher(p, { ...envOf(rs), DING_URL: ding.url, DING_SECRET }, time, cap);
      const detected = event('drift-detected');
      const resolved = event('drift-resolved', { fingerprint: 'resolved-fp' });
      const at = async (ms: number) => {
        time.advance(START + ms - time.clock());
        await d.tick();
        await d.flush();
      };

      d.sink(detected);
      await d.flush();
      assert.equal(ding.accepted.length, 1, 'one alert');
      assert.equal(rs['audit']!.accepted.length, 1);

      // The same drift again (e.g. an agent restarted without its state), and ticks within the interval: silence.
      time.advance(MINUTE);
      d.sink(detected);
      await d.flush();
      for (const t of [HOUR, 12 * HOUR, 24 * HOUR - 1]) await at(t);
      assert.equal(ding.accepted.length, 1, 'no repeat within the interval');
      assert.equal(rs['audit']!.accepted.length, 1);

      await at(24 * HOUR);
      assert.equal(ding.accepted.length, 2, 'a reminder after 24h');
      await at(25 * HOUR);
      await at(47 * HOUR);
      assert.equal(ding.accepted.length, 2, 'one reminder per interval');
      await at(48 * HOUR);
      assert.equal(ding.accepted.length, 3, 'and again after the next interval');

      time.advance(HOUR);
      d.sink(resolved);
      d.sink(resolved);
      await d.flush();
      await at(200 * HOUR);

      const titles = ding.accepted.map((x) => (x.json as DingTalkBody).markdown.title);
      assert.deepEqual(
        titles,
        [
          'mirrornet · ⚠️ 检测到配置漂移 Drift detected: cn-shanghai',
          'mirrornet · ⏰ 配置漂移仍未恢复 Drift still present: cn-shanghai',
          'mirrornet · ⏰ 配置漂移仍未恢复 Drift still present: cn-shanghai',
          'mirrornet · ✅ 配置漂移已恢复 Drift resolved: cn-shanghai',
        ],
        'the channel that heard the alert hears "resolved" once, although its route only matches drift-detected',
      );
      assert.match((ding.accepted[1]!.json as DingTalkBody).markdown.text, /起始时间 Since\*\*: 2025-03-01T02:00:00.000Z/);
      const audit = bodies(rs['audit']!);
      assert.deepEqual(
        audit.map((b) => b.occurrence),
        ['alert', 'reminder', 'reminder', 'resolved'],
      );
      assert.deepEqual(
        audit.map((b) => (Date.parse(b.sentAt) - START) / HOUR),
        [0, 24, 48, 49],
      );
      assert.equal(audit[3]!.since, new Date(START).toISOString());
      assert.deepEqual(ding.rejected, [], 'every signature was valid (fresh timestamps on each message)');
      assert.deepEqual(d.state().drifts, {});
    });

    it('a drift that changes (new fingerprint) alerts again; another component is its own drift', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      const d = dispatcher(policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] }), envOf(rs), time, cap);
      d.sink(event('drift-detected', { fingerprint: 'v1' }));
      d.sink(event('drift-detected', { fingerprint: 'v1' }));
      d.sink(event('drift-detected', { fingerprint: 'v2' }));
      d.sink(event('drift-detected', { component: 'containerd', fingerprint: 'c1' }));
      d.sink(event('drift-resolved', { component: 'containerd' }));
      d.sink(event('drift-resolved'));
      await d.flush();
      assert.deepEqual(
        bodies(rs['ops']!).map((b) => `${b.occurrence}:${b.event.component}:${b.event.fingerprint}`),
        [
          'alert:routes:v1',
          'alert:routes:v2',
          'alert:containerd:c1',
          'resolved:containerd:drift-resolved-cn-shanghai-0001',
          'resolved:routes:drift-resolved-cn-shanghai-0001',
        ],
      );
    });

    it('keeps its state across a restart through load/save: no second alert, the reminder on time, one resolved', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      let saved: string | undefined;
      const store = { load: () => (saved === undefined ? undefined : JSON.parse(saved)), save: (s: ChatState) => void (saved = JSON.stringify(s)) };
      const p = policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] });
      const first = dispatcher(p, envOf(rs), time, cap, { store });
      first.sink(event('drift-detected'));
      await first.close();
      assert.ok(saved && JSON.parse(saved).drifts['cn-shanghai/routes'], 'the open drift is saved');

      time.advance(2 * HOUR);
      const second = dispatcher(p, envOf(rs), time, cap, { store });
      second.sink(event('drift-detected'));
      await second.flush();
      assert.equal(rs['ops']!.accepted.length, 1, 'no second alert after the restart');
      time.advance(22 * HOUR);
      await second.tick();
      await second.flush();
      assert.deepEqual(
        bodies(rs['ops']!).map((b) => b.occurrence),
        ['alert', 'reminder'],
        '24h after the first alert, not after the restart',
      );
      second.sink(event('drift-resolved'));
      await second.close();

      const third = dispatcher(p, envOf(rs), time, cap, { store });
      third.sink(event('drift-resolved'));
      await third.flush();
      assert.deepEqual(
        bodies(rs['ops']!).map((b) => b.occurrence),
        ['alert', 'reminder', 'resolved'],
      );
    });

    it("the agent's path: starts with no policy, gets the applied one, keeps state in a 0600 file without secrets", async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      const dir = mkdtempSync(join(tmpdir(), 'mirrornet-chat-'));
      try {
        const d = dispatcher(NO_NOTIFICATIONS, envOf(rs), time, cap, { store: fileStateStore(dir) });
        d.sink(event('revision-refused'));
        await d.flush();
        assert.equal(rs['ops']!.requests.length, 0, 'nothing is routed before a policy is known');
        d.setPolicy(policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] }));
        d.sink(event('drift-detected'));
        await d.close();
        assert.equal(rs['ops']!.accepted.length, 1);
        const file = join(dir, CHAT_STATE_FILE);
        assert.equal(statSync(file).mode & 0o777, 0o600);
        const text = readFileSync(file, 'utf8');
        assert.ok(JSON.parse(text).drifts['cn-shanghai/routes']);
        for (const secret of [SECRET, rs['ops']!.url, rs['ops']!.credential]) assert.ok(!text.includes(secret));
        writeFileSync(file, '{ not json');
        const again = dispatcher(NO_NOTIFICATIONS, envOf(rs), time, cap, { store: fileStateStore(dir) });
        await again.flush();
        assert.equal(cap.records('chat state cannot be loaded').length, 1);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('starts empty, with a log line, when the saved state is not valid', async () => {
      const time = fakeTime();
      const cap = captureLog();
      const rs = await hooks(time, 'ops');
      const d = dispatcher(policy({ channels: [channel('ops')], routes: [{ channels: ['ops'] }] }), envOf(rs), time, cap, {
        store: { load: () => ({ version: 99, drifts: 'nope' }), save: () => undefined },
      });
      d.sink(event('drift-detected'));
      await d.flush();
      assert.equal(rs['ops']!.accepted.length, 1);
      assert.equal(cap.records('chat state is not valid').length, 1);
    });
  });
});
