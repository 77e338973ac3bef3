// An operator's request to a core, signed with a fresh SSH key by ssh-keygen and checked against an
// allowed-signers file: who signed it, and every way it is refused (unknown key, altered request, another
// namespace, a replayed nonce, a clock too far off, no signature).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { localExec } from '../../../src/host/exec.js';
import { sshSign } from '../../../src/host/ssh-signature.js';
import { OPERATOR_NONCE_WINDOW_MS, signOperatorRequest, verifyOperatorRequest, type OperatorRequest } from '../../../src/report/site/operator-auth.js';
import { RecentDeliveries } from '../../../src/server/guards.js';
import { missingCommand, need } from '../../support/capabilities.js';
import { NOW, operatorKeys, type OperatorKeys } from './operator-fixture.js';

const BODY = '{"site":"cn-beijing","action":"suspend","reason":"maintenance"}';

describe('operator request signatures (ssh-keygen -Y, namespace mirrornet-operator)', function () {
  const exec = localExec();
  let keys: OperatorKeys;
  const nonces = () => new RecentDeliveries(OPERATOR_NONCE_WINDOW_MS, () => NOW);

  before(function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    keys = operatorKeys();
  });
  after(() => {
    if (keys) rmSync(keys.dir, { recursive: true, force: true });
  });

  async function signed(key: string, over: Partial<OperatorRequest> = {}, at = NOW): Promise<OperatorRequest> {
    const headers = await signOperatorRequest(exec, key, { method: 'POST', path: '/v1/steer', body: BODY }, at, 'nonce-0001');
    return { method: 'POST', path: '/v1/steer', headers, body: Buffer.from(BODY), ...over };
  }

  it('names the principal of a request signed by an allowed key', async () => {
    const req = await signed(keys.alice);
    assert.deepEqual(req.headers, {
      'x-mirrornet-operator-timestamp': '1740830400',
      'x-mirrornet-operator-nonce': 'nonce-0001',
      'x-mirrornet-operator-signature': req.headers['x-mirrornet-operator-signature'],
    });
    assert.match(Buffer.from(String(req.headers['x-mirrornet-operator-signature']), 'base64').toString(), /^-----BEGIN SSH SIGNATURE-----\n/);
    assert.deepEqual(await verifyOperatorRequest(req, keys.allowed, exec, NOW, nonces()), { ok: true, principal: 'alice@example.org' });
  });

  it('finds the header names whatever their case', async () => {
    const req = await signed(keys.alice);
    const upper = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toUpperCase(), v]));
    assert.deepEqual(await verifyOperatorRequest({ ...req, headers: upper }, keys.allowed, exec, NOW, nonces()), { ok: true, principal: 'alice@example.org' });
  });

  it('refuses a key that is not in the operators file', async () => {
    assert.deepEqual(await verifyOperatorRequest(await signed(keys.mallory), keys.allowed, exec, NOW, nonces()), {
      ok: false,
      status: 401,
      reason: "the request is not signed by a key in the core's operators file",
    });
  });

  it('refuses a signature of another body, path or method', async () => {
    const why = 'the signature does not verify: it was made for another method, path, time, nonce or body, or outside the mirrornet-operator namespace';
    const req = await signed(keys.alice);
    for (const altered of [
      { ...req, body: Buffer.from(BODY.replace('suspend', 'resume')) },
      { ...req, path: '/v1/steer?x=1' },
      { ...req, method: 'PUT' },
    ]) {
      assert.deepEqual(await verifyOperatorRequest(altered, keys.allowed, exec, NOW, nonces()), { ok: false, status: 401, reason: why });
    }
  });

  it('refuses a signature the key made in another namespace', async () => {
    const req = await signed(keys.alice);
    const text = `POST /v1/steer\n1740830400\nnonce-0001\n${createHash('sha256').update(BODY).digest('hex')}`;
    const { signatures } = await sshSign(exec, 'mirrornet-bundle', [text], { keyFile: keys.alice });
    const bundleSigned = { ...req, headers: { ...req.headers, 'x-mirrornet-operator-signature': Buffer.from(signatures.get(text)!).toString('base64') } };
    assert.deepEqual(await verifyOperatorRequest(bundleSigned, keys.allowed, exec, NOW, nonces()), {
      ok: false,
      status: 401,
      reason: 'the signature does not verify: it was made for another method, path, time, nonce or body, or outside the mirrornet-operator namespace',
    });
  });

  it('refuses the same nonce twice within the window, and only once the signature verified', async () => {
    const memory = nonces();
    const bad = await signed(keys.mallory);
    assert.equal((await verifyOperatorRequest(bad, keys.allowed, exec, NOW, memory)).ok, false);
    const req = await signed(keys.alice);
    assert.deepEqual(await verifyOperatorRequest(req, keys.allowed, exec, NOW, memory), { ok: true, principal: 'alice@example.org' });
    assert.deepEqual(await verifyOperatorRequest(req, keys.allowed, exec, NOW, memory), {
      ok: false,
      status: 401,
      reason: 'this nonce was already used: a replayed request is refused',
    });
  });

  it('refuses a request signed more than 300 s before or after the core’s clock', async () => {
    assert.deepEqual(await verifyOperatorRequest(await signed(keys.alice, {}, NOW - 301_000), keys.allowed, exec, NOW, nonces()), {
      ok: false,
      status: 401,
      reason: "the request was signed 301 s away from the core's clock (at most 300 s): check both clocks",
    });
    assert.equal((await verifyOperatorRequest(await signed(keys.alice, {}, NOW + 299_000), keys.allowed, exec, NOW, nonces())).ok, true);
  });

  it('refuses a request without the three headers, or with a signature that is not one', async () => {
    assert.deepEqual(await verifyOperatorRequest({ method: 'GET', path: '/v1/status', headers: {}, body: '' }, keys.allowed, exec, NOW, nonces()), {
      ok: false,
      status: 401,
      reason: 'the request is not signed: X-Mirrornet-Operator-Timestamp, X-Mirrornet-Operator-Nonce and X-Mirrornet-Operator-Signature are required',
    });
    const req = await signed(keys.alice);
    const garbled = { ...req, headers: { ...req.headers, 'x-mirrornet-operator-signature': 'bm90IGEgc2lnbmF0dXJl' } };
    assert.deepEqual(await verifyOperatorRequest(garbled, keys.allowed, exec, NOW, nonces()), {
      ok: false,
      status: 401,
      reason: 'X-Mirrornet-Operator-Signature is not the base64 of an armored SSH signature',
    });
  });

  it('fails with a sentence when the operators file cannot be read', async () => {
    const missing = join(keys.dir, 'no-such-file');
    await assert.rejects(verifyOperatorRequest(await signed(keys.alice), missing, exec, NOW, nonces()), {
      userMessage: `Cannot read the operators file ${missing} (ENOENT): no operator request is accepted; fix --operators.`,
    });
  });

  it('says what to do when the key cannot sign', async () => {
    const notAKey = join(keys.dir, 'operators');
    await assert.rejects(signOperatorRequest(exec, notAKey, { method: 'GET', path: '/v1/status', body: '' }, NOW), (err: Error & { userMessage?: string }) => {
      assert.match(
        err.userMessage ?? '',
        /^ssh-keygen could not sign the request with .*operators \(.*\): --key must name an SSH private key without a passphrase, or a public key whose private half ssh-agent holds\.$/,
      );
      return true;
    });
  });
});
