// The signature between a site's agents and their parent: the derived site token and the signing headers against
// vectors computed with openssl, and every way a receiver refuses (nothing is believed, no id is spent).
import assert from 'node:assert/strict';
import { signSiteRequest, siteToken, verifySiteRequest, type ReplayMemory } from '../../../src/report/site/signing.js';
import { RecentDeliveries } from '../../../src/server/guards.js';

// printf '%s' 'mirrornet-site-token:cn-beijing' | openssl dgst -sha256 -hmac 'fleet report secret'
const CN_BEIJING_TOKEN = 'caa4e9878848670577d47199b808e8475756bffa674f486d7ce8fd65018ef41c';

const TOKEN = 'a site token';
const DELIVERY = '0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b';
const BODY = Buffer.from('{"site":"cn-beijing"}');
const NOW_MS = 1_700_000_000_000;
// printf '%s' '1700000000.0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b.{"site":"cn-beijing"}' | openssl dgst -sha256 -hmac 'a site token'
const SIGNED = {
  'x-mirrornet-site': 'cn-beijing',
  'x-mirrornet-timestamp': '1700000000',
  'x-mirrornet-delivery': DELIVERY,
  'x-mirrornet-signature-256': 'sha256=474c73295035d0d72ef07dbe9cdd729557e6bf3c214bd2eb6b955642593c97e4',
};

const tokens = (site: string) => ({ 'cn-beijing': TOKEN, 'cn-shanghai': 'another site token' })[site];

/** A replay memory that records what it was asked. */
function memory(): ReplayMemory & { asked: string[] } {
  const inner = new RecentDeliveries(600_000, () => NOW_MS);
  const asked: string[] = [];
  return { asked, seenBefore: (id) => (asked.push(id), inner.seenBefore(id)) };
}

describe('site request signing', function () {
  it("a site's token is hex HMAC-SHA256 of 'mirrornet-site-token:<site>' under the report secret", function () {
    assert.equal(siteToken('fleet report secret', 'cn-beijing'), CN_BEIJING_TOKEN);
  });

  it('signs the timestamp (seconds), the delivery id and the raw body', function () {
    assert.deepEqual(signSiteRequest(TOKEN, 'cn-beijing', BODY, NOW_MS + 999, DELIVERY), SIGNED);
  });

  it('a request signed with the token of the site it names, within the window, is believed once', function () {
    const replay = memory();
    assert.deepEqual(verifySiteRequest(SIGNED, BODY, tokens, NOW_MS, replay), { ok: true, site: 'cn-beijing', delivery: DELIVERY });
    assert.deepEqual(replay.asked, [`cn-beijing ${DELIVERY}`]);
    assert.deepEqual(verifySiteRequest(SIGNED, BODY, tokens, NOW_MS, replay), {
      ok: false,
      status: 401,
      refusal: 'replayed',
      reason: `delivery ${DELIVERY} was already received`,
    });
  });

  it('the signature is accepted with an uppercase hex digest', function () {
    const upper = { ...SIGNED, 'x-mirrornet-signature-256': 'sha256=474C73295035D0D72EF07DBE9CDD729557E6BF3C214BD2EB6B955642593C97E4' };
    assert.equal(verifySiteRequest(upper, BODY, tokens, NOW_MS, memory()).ok, true);
  });

  it('300 s either way is within the window; 301 s is not', function () {
    assert.equal(verifySiteRequest(SIGNED, BODY, tokens, NOW_MS + 300_999, memory()).ok, true);
    assert.equal(verifySiteRequest(SIGNED, BODY, tokens, NOW_MS - 300_000, memory()).ok, true);
    const stale = verifySiteRequest(SIGNED, BODY, tokens, NOW_MS + 301_000, memory());
    assert.deepEqual(stale, { ok: false, status: 401, refusal: 'bad-signature', reason: "the timestamp is 301 s from this agent's clock (at most 300 s)" });
    const future = verifySiteRequest(SIGNED, BODY, tokens, NOW_MS - 301_000, memory());
    assert.deepEqual(future, { ok: false, status: 401, refusal: 'bad-signature', reason: "the timestamp is 301 s from this agent's clock (at most 300 s)" });
  });

  for (const [name, headers, body, reason] of [
    ['another body', SIGNED, Buffer.from('{"site":"cn-beijing" }'), 'bad signature'],
    ['another site named (its token differs)', { ...SIGNED, 'x-mirrornet-site': 'cn-shanghai' }, BODY, 'bad signature'],
    ['a site without a token here', { ...SIGNED, 'x-mirrornet-site': 'ap-singapore' }, BODY, 'no token for site ap-singapore here'],
    ['another delivery id', { ...SIGNED, 'x-mirrornet-delivery': '0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2c' }, BODY, 'bad signature'],
    ['another timestamp', { ...SIGNED, 'x-mirrornet-timestamp': '1700000001' }, BODY, 'bad signature'],
    ['a signature of another token', signSiteRequest('another token', 'cn-beijing', BODY, NOW_MS, DELIVERY), BODY, 'bad signature'],
  ] as const) {
    it(`${name}: refused, and no delivery id is spent`, function () {
      const replay = memory();
      assert.deepEqual(verifySiteRequest(headers, body, tokens, NOW_MS, replay), { ok: false, status: 401, refusal: 'bad-signature', reason });
      assert.deepEqual(replay.asked, []);
    });
  }

  for (const [name, headers] of [
    ['no signature', { ...SIGNED, 'x-mirrornet-signature-256': undefined }],
    ['a signature without sha256=', { ...SIGNED, 'x-mirrornet-signature-256': '474c73295035d0d72ef07dbe9cdd729557e6bf3c214bd2eb6b955642593c97e4' }],
    ['a short signature', { ...SIGNED, 'x-mirrornet-signature-256': 'sha256=474c73295035d0d72ef07dbe9cdd7295' }],
    ['a signature that is not hex', { ...SIGNED, 'x-mirrornet-signature-256': `sha256=${'z'.repeat(64)}` }],
    ['two signatures', { ...SIGNED, 'x-mirrornet-signature-256': [SIGNED['x-mirrornet-signature-256'], SIGNED['x-mirrornet-signature-256']] }],
    ['no site', { ...SIGNED, 'x-mirrornet-site': undefined }],
    ['a site that is no name', { ...SIGNED, 'x-mirrornet-site': '../cn-beijing' }],
    ['a timestamp in milliseconds with a fraction', { ...SIGNED, 'x-mirrornet-timestamp': '1700000000.5' }],
    ['a negative timestamp', { ...SIGNED, 'x-mirrornet-timestamp': '-1' }],
    ['a delivery id that is not a UUID', { ...SIGNED, 'x-mirrornet-delivery': '1' }],
  ] as const) {
    it(`${name}: refused as malformed before a token is looked up`, function () {
      const looked: string[] = [];
      const verdict = verifySiteRequest(headers, BODY, (site) => (looked.push(site), TOKEN), NOW_MS, memory());
      assert.deepEqual(verdict, {
        ok: false,
        status: 401,
        refusal: 'bad-signature',
        reason: 'missing or malformed X-Mirrornet-Site, -Timestamp, -Delivery or -Signature-256',
      });
      assert.deepEqual(looked, []);
    });
  }
});
