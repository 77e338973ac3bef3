// The one way a test skips for a missing capability: `need` skips with the reason shown, and under
// MIRRORNET_REQUIRE_ALL=1 (CI) it fails instead, so no capability can go missing there unnoticed.
import assert from 'node:assert/strict';
import { MissingCapabilityError, need } from './capabilities.js';

const REASON = 'wg is not installed (apt-get install wireguard-tools)';

class Skipped extends Error {}

/** A stand-in for mocha's test context that records the skip (mocha's own skip throws too). */
function fakeContext(): { ctx: Mocha.Context; skips: () => number } {
  let skips = 0;
  const ctx = {
    skip(): never {
      skips++;
      throw new Skipped();
    },
  } as unknown as Mocha.Context;
  return { ctx, skips: () => skips };
}

/** Runs `fn` with MIRRORNET_REQUIRE_ALL set to `value` (or unset) and stderr captured; both restored after. */
function withRequireAll<T>(value: string | undefined, fn: () => T): { result?: T; error?: unknown; stderr: string } {
  const saved = process.env['MIRRORNET_REQUIRE_ALL'];
  const write = process.stderr.write;
  let stderr = '';
  if (value === undefined) delete process.env['MIRRORNET_REQUIRE_ALL'];
  else process.env['MIRRORNET_REQUIRE_ALL'] = value;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { result: fn(), stderr };
  } catch (error) {
    return { error, stderr };
  } finally {
    process.stderr.write = write;
    if (saved === undefined) delete process.env['MIRRORNET_REQUIRE_ALL'];
    else process.env['MIRRORNET_REQUIRE_ALL'] = saved;
  }
}

describe('need (test capabilities)', () => {
  it('skips with the reason shown when MIRRORNET_REQUIRE_ALL is unset', () => {
    const { ctx, skips } = fakeContext();
    const run = withRequireAll(undefined, () => need(ctx, REASON));
    assert.ok(run.error instanceof Skipped, 'need calls skip()');
    assert.equal(skips(), 1);
    assert.equal(run.stderr, '      skipped: wg is not installed (apt-get install wireguard-tools)\n');
  });

  it('skips too when MIRRORNET_REQUIRE_ALL is anything but 1', () => {
    const { ctx, skips } = fakeContext();
    const run = withRequireAll('0', () => need(ctx, REASON));
    assert.ok(run.error instanceof Skipped);
    assert.equal(skips(), 1);
  });

  it('fails with the reason instead of skipping when MIRRORNET_REQUIRE_ALL=1', () => {
    const { ctx, skips } = fakeContext();
    const run = withRequireAll('1', () => need(ctx, REASON));
    assert.ok(run.error instanceof MissingCapabilityError, 'need throws MissingCapabilityError');
    assert.equal((run.error as Error).message, 'MIRRORNET_REQUIRE_ALL=1 but wg is not installed (apt-get install wireguard-tools)');
    assert.equal(skips(), 0);
    assert.equal(run.stderr, '');
  });

  it('does nothing when nothing is missing, whatever MIRRORNET_REQUIRE_ALL says', () => {
    for (const value of [undefined, '1']) {
      const { ctx, skips } = fakeContext();
      const run = withRequireAll(value, () => need(ctx, undefined));
      assert.equal(run.error, undefined);
      assert.equal(skips(), 0);
      assert.equal(run.stderr, '');
    }
  });

  it('restores MIRRORNET_REQUIRE_ALL after each case above', () => {
    const before = process.env['MIRRORNET_REQUIRE_ALL'];
    withRequireAll('1', () => undefined);
    assert.equal(process.env['MIRRORNET_REQUIRE_ALL'], before);
  });
});
