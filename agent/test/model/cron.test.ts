// Mute-window schedules: which expressions a window may use, and when an expression last fired before an
// instant in a time zone (wall clock from Intl), across a daylight-saving change. Instants are literal.
import assert from 'node:assert/strict';
import { cronProblem, lastFire, parseCron, timeZoneProblem, type CronSchedule } from '../../src/model/cron.js';

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

function cron(expr: string): CronSchedule {
  const c = parseCron(expr);
  assert.ok(c, `${expr} parses`);
  return c;
}

describe('mute window schedules (model/cron.ts)', () => {
  it('accepts five fields, names and nicknames; refuses seconds, bad values and L/W/#, saying why', () => {
    assert.equal(cronProblem('0 2 * * 6'), undefined);
    assert.equal(cronProblem('30 22 * * mon-fri'), undefined);
    assert.equal(cronProblem('@daily'), undefined);
    assert.equal(cronProblem('0 0 2 * * 6'), 'needs five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * 6" for Saturdays at 02:00');
    assert.equal(cronProblem('61 2 * * *'), '61 is a invalid expression for minute');
    assert.equal(cronProblem('0 2 L * *'), 'uses L, W or #, which mute windows do not support: list the days instead');
    assert.equal(parseCron('0 0 2 * * 6'), undefined);
  });

  it('knows IANA time zones and says what it wants otherwise', () => {
    assert.equal(timeZoneProblem('Asia/Shanghai'), undefined);
    assert.equal(timeZoneProblem('UTC'), undefined);
    assert.equal(timeZoneProblem('China/Beijing'), 'is not an IANA time zone such as Asia/Shanghai, Europe/Amsterdam or UTC');
  });

  it('Saturdays 02:00 in Shanghai: the last fire within two hours, on the Beijing wall clock', () => {
    const saturday = cron('0 2 * * 6');
    // 2025-03-01 is a Saturday; 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before.
    assert.equal(iso(lastFire(saturday, 'Asia/Shanghai', at('2025-02-28T19:30:00Z'), at('2025-02-28T19:30:00Z') - 2 * HOUR)), '2025-02-28T18:00:00.000Z');
    assert.equal(iso(lastFire(saturday, 'Asia/Shanghai', at('2025-02-28T18:00:00Z'), at('2025-02-28T18:00:00Z') - 2 * HOUR)), '2025-02-28T18:00:00.000Z');
    assert.equal(
      lastFire(saturday, 'Asia/Shanghai', at('2025-02-28T20:00:00Z'), at('2025-02-28T20:00:00Z') - 2 * HOUR),
      undefined,
      'the window closes at 04:00',
    );
    assert.equal(lastFire(saturday, 'Asia/Shanghai', at('2025-02-28T17:59:00Z'), at('2025-02-28T17:59:00Z') - 2 * HOUR), undefined, 'not yet open at 01:59');
    // The same instant in UTC is a Friday evening: no Saturday 02:00 has happened there.
    assert.equal(lastFire(saturday, 'UTC', at('2025-02-28T19:30:00Z'), at('2025-02-28T19:30:00Z') - 2 * HOUR), undefined);
    // A week back finds last Saturday.
    assert.equal(iso(lastFire(saturday, 'Asia/Shanghai', at('2025-03-06T12:00:00Z'), at('2025-03-06T12:00:00Z') - 7 * 24 * HOUR)), '2025-02-28T18:00:00.000Z');
  });

  it('every 20 minutes: the latest minute of the set at or before the instant', () => {
    assert.equal(iso(lastFire(cron('*/20 * * * *'), 'UTC', at('2025-03-01T10:59:30Z'), at('2025-03-01T09:00:00Z'))), '2025-03-01T10:40:00.000Z');
  });

  it('02:30 does not exist in Amsterdam on the night clocks go forward: the day before is the last fire', () => {
    // 2025-03-30 02:00 CET jumps to 03:00 CEST.
    const daily = cron('30 2 * * *');
    assert.equal(lastFire(daily, 'Europe/Amsterdam', at('2025-03-30T04:00:00Z'), at('2025-03-30T04:00:00Z') - 24 * HOUR), undefined);
    assert.equal(iso(lastFire(daily, 'Europe/Amsterdam', at('2025-03-30T04:00:00Z'), at('2025-03-30T04:00:00Z') - 48 * HOUR)), '2025-03-29T01:30:00.000Z');
    // The next night is summer time: 02:30 CEST is 00:30 UTC.
    assert.equal(iso(lastFire(daily, 'Europe/Amsterdam', at('2025-03-31T04:00:00Z'), at('2025-03-31T04:00:00Z') - 24 * HOUR)), '2025-03-31T00:30:00.000Z');
  });
});
