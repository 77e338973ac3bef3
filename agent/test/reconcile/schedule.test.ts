// The agent's --interval: a model duration read by its length, whatever its unit, that a six-field cron
// expression can repeat without drifting (seconds or minutes that divide 60, hours that divide 24).
import assert from 'node:assert/strict';
import { IntervalError, intervalMs, intervalToCron } from '../../src/reconcile/schedule.js';

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
});
