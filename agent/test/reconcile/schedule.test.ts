// The agent's --interval: a model duration read by its length, whatever its unit, that a six-field cron
// expression can repeat without drifting (seconds or minutes that divide 60, hours that divide 24).
import assert from 'node:assert/strict';
import { IntervalError, intervalMs, intervalToCron, nextTickAt, rearmFrom, scheduleTicks } from '../../src/reconcile/schedule.js';

describe('the agent interval schedule', () => {
  const cases: [string, string][] = [
    ['10s', '*/10 * * * * *'],
    ['30000ms', '*/30 * * * * *'],
    ['60s', '0 */1 * * * *'],
    ['1m', '0 */1 * * * *'],
    ['120s', '0 */2 * * * *'],
    ['15m', '0 */15 * * * *'],
    ['60m', '0 0 */1 * * *'],
    ['3600s', '0 0 */1 * * *'],
    ['2h', '0 0 */2 * * *'],
    ['120m', '0 0 */2 * * *'],
    ['7200s', '0 0 */2 * * *'],
    ['24h', '0 0 */24 * * *'],
    ['1440m', '0 0 */24 * * *'],
    ['1d', '0 0 */24 * * *'],
    [' 5m ', '0 */5 * * * *'],
  ];
  for (const [interval, cron] of cases) {
    it(`repeats ${JSON.stringify(interval)} as ${cron}`, () => {
      assert.equal(intervalToCron(interval), cron);
    });
  }

  it('takes the same length in any unit (120m and 7200s as 2h, 1d as 24h)', () => {
    assert.deepEqual(
      ['2h', '120m', '7200s', '24h', '1d'].map((i) => intervalMs(i)),
      [7_200_000, 7_200_000, 7_200_000, 86_400_000, 86_400_000],
    );
  });

  it('gives the length in milliseconds', () => {
    assert.deepEqual(
      ['10s', '30000ms', '1m', '5m', '1h'].map((i) => intervalMs(i)),
      [10_000, 30_000, 60_000, 300_000, 3_600_000],
    );
  });

  for (const bad of ['', '0s', '0m', '7s', '45s', '90m', '5h', '48h', '2d', '1500ms', '1h30m', '1.5h', '-1m', '30', 'm', '5 m', '99999999999999999999h']) {
    it(`refuses ${JSON.stringify(bad)}, saying what works`, () => {
      for (const f of [intervalToCron, intervalMs]) {
        assert.throws(
          () => f(bad),
          (err: unknown) => {
            assert.ok(err instanceof IntervalError);
            assert.equal(
              err.userMessage,
              `--interval ${bad} is not supported: use seconds or minutes that divide 60 (e.g. 10s, 30s, 1m, 5m, 15m) or hours that divide 24 (1h, 2h, 24h).`,
            );
            return true;
          },
        );
      }
    });
  }

  it('counts the next slot from the slot that fired, from now when the timer was late, and from now when the clock was stepped back', () => {
    const at = Date.parse('2026-12-05T07:00:10.000Z');
    assert.equal(rearmFrom(at, at - 20), at, 'a timer 20 ms early');
    assert.equal(rearmFrom(at, at + 1500), at + 1500, 'a timer 1.5 s late');
    const stepped = Date.parse('2026-12-05T06:00:10.000Z');
    assert.equal(rearmFrom(at, stepped), stepped, 'the clock stepped back an hour while the timer waited');
  });

  describe('when the next tick is due (the wall-clock times the cron expression names)', () => {
    const utc = () => 0;
    const iso = (t: number) => new Date(t).toISOString();

    it('10s: the next multiple of 10 seconds of the minute, strictly after now', () => {
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T00:00:03.500Z'), 10_000, utc)), '2026-01-01T00:00:10.000Z');
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T00:00:10.000Z'), 10_000, utc)), '2026-01-01T00:00:20.000Z');
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T00:00:59.999Z'), 10_000, utc)), '2026-01-01T00:01:00.000Z');
    });

    it('5m: minutes 0, 5, 10 ... of the hour at second 0', () => {
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T10:07:30.000Z'), 300_000, utc)), '2026-01-01T10:10:00.000Z');
    });

    it('2h and 24h follow the local day: UTC+5:30 ticks at local 06:00, UTC-1 at local midnight', () => {
      // getTimezoneOffset is UTC minus local time in minutes: -330 for UTC+5:30, 60 for UTC-1.
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T00:00:00.000Z'), 7_200_000, () => -330)), '2026-01-01T00:30:00.000Z');
      assert.equal(iso(nextTickAt(Date.parse('2026-01-01T00:30:00.000Z'), 86_400_000, () => 60)), '2026-01-01T01:00:00.000Z');
    });

    it('1h across the spring-forward gap (Berlin, 2026-03-29): local 02:00 does not exist, the tick is at 03:00 CEST', () => {
      const berlin = (t: number) => (t < Date.parse('2026-03-29T01:00:00.000Z') ? -60 : -120);
      assert.equal(iso(nextTickAt(Date.parse('2026-03-29T00:30:00.000Z'), 3_600_000, berlin)), '2026-03-29T01:00:00.000Z');
      assert.equal(iso(nextTickAt(Date.parse('2026-03-29T01:00:00.000Z'), 3_600_000, berlin)), '2026-03-29T02:00:00.000Z');
    });

    it('runs the tick at whole seconds for 1s, skips the ticks due while one still runs, and stops', async function () {
      this.timeout(10_000);
      const starts: number[] = [];
      let release: () => void = () => undefined;
      const task = scheduleTicks(
        '1s',
        () => {
          starts.push(Date.now());
          // The first tick runs for ~2.2 s: the two ticks due meanwhile are skipped, not queued.
          return starts.length === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
        },
        () => 0,
      );
      try {
        await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 200)); // 200 ms after the first tick
        assert.equal(starts.length, 1);
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal(starts.length, 1, 'no tick while one runs');
        release();
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(starts.length, 2, 'the next due tick runs once the first has ended');
        for (const t of starts) assert.ok(t % 1000 < 300, `a tick at ${t % 1000} ms past the second`);
      } finally {
        task.stop();
      }
      const n = starts.length;
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(starts.length, n, 'no tick after stop');
    });
  });
});
