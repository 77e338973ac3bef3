// A gateway's book of its site's hosts: the latest report of each without its events, when it came by the
// gateway's clock, stale after three intervals of silence, forgotten on request, and kept across a restart
// as JSON (a document that is not one is refused with a sentence).
import assert from 'node:assert/strict';
import { MirrornetError } from '../../../src/errors.js';
import { SiteBook } from '../../../src/report/site/book.js';
import { HostReport } from '../../../src/report/site/schema.js';

const T0 = Date.parse('2025-03-01T02:00:00.000Z');
const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';
const INTERVAL = 30_000;

function report(host: string, over: Record<string, unknown> = {}): HostReport {
  return HostReport.parse({
    site: 'cn-shanghai',
    host,
    roles: ['node'],
    agentVersion: '0.2.0',
    wanted: REV,
    applied: REV,
    appliedAt: '2025-03-01T01:59:00.000Z',
    at: '2025-03-01T01:59:59.000Z',
    ...over,
  });
}

const n3 = {
  site: 'cn-shanghai',
  host: 'n3',
  roles: ['node'],
  agentVersion: '0.2.0',
  wanted: REV,
  applied: REV,
  appliedAt: '2025-03-01T01:59:00.000Z',
  drift: {},
  steering: 0,
  suspended: false,
  at: '2025-03-01T01:59:59.000Z',
};

describe('site book', () => {
  it('keeps the latest report of each host, without its events, sorted by name, seen by the gateway clock', () => {
    const book = new SiteBook(INTERVAL);
    book.record(report('n7', { drift: { routes: 2 } }), T0);
    const event = { kind: 'applied', site: 'cn-shanghai', revision: REV, message: 'applied', fingerprint: 'f', at: '2025-03-01T01:59:00.000Z' };
    book.record(report('n3', { events: [event], droppedEvents: 4 }), T0 + 1000);
    assert.deepEqual(book.hosts(T0 + 2000), [
      { ...n3, lastSeen: '2025-03-01T02:00:01.000Z', stale: false },
      { ...n3, host: 'n7', drift: { routes: 2 }, lastSeen: '2025-03-01T02:00:00.000Z', stale: false },
    ]);
    book.record(report('n7', { applied: 'ffff000011112222333344445555666677778888' }), T0 + 5000);
    assert.deepEqual(
      book.hosts(T0 + 5000).map((h) => [h.host, h.applied, h.drift, h.lastSeen]),
      [
        ['n3', REV, {}, '2025-03-01T02:00:01.000Z'],
        ['n7', 'ffff000011112222333344445555666677778888', {}, '2025-03-01T02:00:05.000Z'],
      ],
    );
  });

  it('a host silent for more than three intervals is stale; exactly three is not', () => {
    const book = new SiteBook(INTERVAL);
    book.record(report('n3'), T0);
    assert.equal(book.hosts(T0 + 90_000)[0]?.stale, false);
    assert.equal(book.hosts(T0 + 90_001)[0]?.stale, true);
    book.record(report('n3'), T0 + 90_001);
    assert.equal(book.hosts(T0 + 90_001)[0]?.stale, false, 'a report makes it fresh again');
  });

  it('forgets a host on request', () => {
    const book = new SiteBook(INTERVAL);
    book.record(report('n3'), T0);
    book.record(report('n7'), T0);
    assert.equal(book.forget('n3'), true);
    assert.equal(book.forget('n3'), false);
    assert.deepEqual(
      book.hosts(T0).map((h) => h.host),
      ['n7'],
    );
  });

  it('survives a restart as JSON: the same hosts, the same lastSeen, stale by the new clock', () => {
    const book = new SiteBook(INTERVAL);
    book.record(report('n3'), T0);
    const json = JSON.parse(JSON.stringify(book)) as unknown;
    assert.deepEqual(json, { version: 1, hosts: [{ ...n3, lastSeen: '2025-03-01T02:00:00.000Z' }] });
    const again = SiteBook.fromJSON(json, INTERVAL);
    assert.deepEqual(again.hosts(T0 + 60_000), [{ ...n3, lastSeen: '2025-03-01T02:00:00.000Z', stale: false }]);
    assert.deepEqual(again.hosts(T0 + 100_000), [{ ...n3, lastSeen: '2025-03-01T02:00:00.000Z', stale: true }]);
  });

  it('refuses a saved book that is not one, with a sentence', () => {
    for (const bad of [{}, { version: 2, hosts: [] }, { version: 1, hosts: [{ ...n3, lastSeen: 'yesterday' }] }, 'text']) {
      assert.throws(
        () => SiteBook.fromJSON(bad, INTERVAL),
        (err: unknown) =>
          err instanceof MirrornetError &&
          /^The saved book of the site's hosts is not valid \(.+\): hosts are known again as they report\.$/.test(err.userMessage),
      );
    }
  });
});
