// The bookkeeping behind the webhook's rate limit and replay protection, on a hand-driven clock: what it answers,
// and that a stream of new addresses or delivery ids cannot make it remember without bound.
import assert from 'node:assert/strict';
import { AddressRateLimiter, deliveryIdOf, rateLimitKey, RecentDeliveries, wellFormedSignature } from '../../src/server/guards.js';

describe('server guards', function () {
  it('the token bucket allows the burst, then answers the seconds to wait, and refills per second', function () {
    const clock = { now: 0 };
    const limiter = new AddressRateLimiter({ burst: 3, perSecond: 0.5 }, () => clock.now);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('192.0.2.1')),
      [0, 0, 0, 2],
    );
    assert.equal(limiter.take('192.0.2.2'), 0, 'another address has its own bucket');
    clock.now += 2000;
    assert.deepEqual([limiter.take('192.0.2.1'), limiter.take('192.0.2.1')], [0, 2]);
  });

  it('an IPv6 client counts per /64, an IPv4-mapped IPv6 address as its IPv4 address', function () {
    assert.equal(rateLimitKey('192.0.2.1'), '192.0.2.1');
    assert.equal(rateLimitKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(rateLimitKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(rateLimitKey('2001:DB8:1:2::9'), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(rateLimitKey('2001:db8:1:3::1'), '2001:db8:1:3:0:0:0:0/64');
    assert.equal(rateLimitKey('fe80::1%eth0'), 'fe80:0:0:0:0:0:0:0/64');
    assert.equal(rateLimitKey('unknown'), 'unknown');

    const limiter = new AddressRateLimiter({ burst: 2, perSecond: 1 }, () => 0);
    assert.deepEqual(
      ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2:a:b:c:d'].map((a) => limiter.take(a)),
      [0, 0, 1],
      'rotating addresses inside one /64 does not refill',
    );
    assert.equal(limiter.take('2001:db8:1:3::1'), 0, 'the next /64 is another client');
    assert.deepEqual(
      ['192.0.2.7', '::ffff:192.0.2.7', '192.0.2.7'].map((a) => limiter.take(a)),
      [0, 0, 1],
      'an IPv4 client seen through a dual-stack socket is the same client',
    );
  });

  it('the token bucket forgets addresses past its bound, keeping the ones still limited', function () {
    const clock = { now: 0 };
    const limiter = new AddressRateLimiter({ burst: 1, perSecond: 1 }, () => clock.now, 2);
    assert.equal(limiter.take('192.0.2.1'), 0);
    clock.now += 5000;
    assert.equal(limiter.take('192.0.2.2'), 0);
    assert.equal(limiter.take('192.0.2.3'), 0, 'a third address: 192.0.2.1 (refilled) is forgotten');
    assert.equal(limiter.take('192.0.2.2'), 1, '192.0.2.2 is still limited');
  });

  it('a delivery id is a replay within the window, new after it, and at most `max` ids are kept', function () {
    const clock = { now: 0 };
    const seen = new RecentDeliveries(1000, () => clock.now, 2);
    assert.deepEqual(
      ['a', 'a', 'b'].map((id) => seen.seenBefore(id)),
      [false, true, false],
    );
    clock.now += 1000;
    assert.equal(seen.seenBefore('a'), false, 'the window has passed');
    assert.equal(seen.seenBefore('c'), false);
    assert.equal(seen.seenBefore('d'), false);
    assert.equal(seen.seenBefore('a'), false, 'a was the oldest of three and was forgotten');
  });

  it('the signature shape and the delivery id are checked before anything is read or remembered', function () {
    assert.equal(wellFormedSignature(`sha256=${'ab'.repeat(32)}`), true);
    for (const bad of [undefined, ['sha256=00'], 'sha256=', `sha1=${'ab'.repeat(20)}`, `sha256=${'ab'.repeat(32)}0`, `sha256=${'zz'.repeat(32)}`]) {
      assert.equal(wellFormedSignature(bad), false, String(bad));
    }
    assert.equal(deliveryIdOf('72d3162e-cc78-11e3-81ab-4c9367dc0958'), '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.equal(deliveryIdOf('a'.repeat(65)), undefined);
    assert.equal(deliveryIdOf('a b'), undefined);
    assert.equal(deliveryIdOf(['x', 'y']), undefined);
  });
});
