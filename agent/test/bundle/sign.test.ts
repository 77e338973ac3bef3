// Signing a bundle digest with a fresh SSH key and checking it against an allowed-signers file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signDigests, verifyDigest } from '../../src/bundle/sign.js';
import { localExec } from '../../src/host/exec.js';
import { missingCommand, need } from '../support/capabilities.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('bundle signature (ssh-keygen -Y)', function () {
  let dir: string;
  let key: string;
  let allowed: string;
  let otherKey: string;
  const exec = localExec();

  before(function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    dir = mkdtempSync(join(tmpdir(), 'mn-sign-'));
    const keygen = (name: string) => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
      return readFileSync(join(dir, name), 'utf8');
    };
    key = keygen('publisher');
    otherKey = keygen('stranger');
    allowed = join(dir, 'allowed_signers');
    writeFileSync(allowed, `publisher@example.org namespaces="mirrornet-bundle" ${readFileSync(join(dir, 'publisher.pub'), 'utf8')}`);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies a signature by an allowed signer, and names the signer', async () => {
    const signature = (await signDigests(exec, [DIGEST], key)).get(DIGEST)!;
    assert.match(signature, /^-----BEGIN SSH SIGNATURE-----/);
    assert.deepEqual(await verifyDigest(exec, DIGEST, signature, allowed), { ok: true, principal: 'publisher@example.org' });
  });

  it('refuses a signer that is not in the allowed list', async () => {
    const signature = (await signDigests(exec, [DIGEST], otherKey)).get(DIGEST)!;
    assert.deepEqual(await verifyDigest(exec, DIGEST, signature, allowed), {
      ok: false,
      reason: `the payload ${DIGEST} is not signed by a key in ${allowed}`,
    });
  });

  it('refuses a valid signature of another digest', async () => {
    const signature = (await signDigests(exec, [DIGEST], key)).get(DIGEST)!;
    const other = `sha256:${'cd'.repeat(32)}`;
    assert.deepEqual(await verifyDigest(exec, other, signature, allowed), {
      ok: false,
      reason: `the signature of the payload ${other} does not verify against ${allowed}`,
    });
  });

  it('refuses a key that is not an SSH private key, without repeating it', async () => {
    await assert.rejects(signDigests(exec, [DIGEST], 'not-a-key-0123456789'), (err: Error & { userMessage?: string }) => {
      assert.match(err.userMessage ?? '', /^ssh-keygen could not sign the bundle .*: --sign-key must reference an SSH private key without a passphrase\.$/);
      assert.ok(!err.userMessage!.includes('not-a-key-0123456789'));
      return true;
    });
  });
});
