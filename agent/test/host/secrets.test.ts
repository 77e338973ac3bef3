// Secret references resolved on the host: the value comes back, and from then on it is masked in whatever
// the process prints; a value given where a reference was expected is refused without being repeated.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostSecrets, SecretError } from '../../src/host/secrets.js';
import { redactText } from '../../src/redact.js';

describe('host secrets', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'mn-secrets-'));
    mkdirSync(join(root, 'etc/mirrornet'), { recursive: true });
    writeFileSync(join(root, 'etc/mirrornet/db-password'), 'file-secret-host-2f3e4d\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('resolves env: and file: references, and masks what they resolve to from then on', async () => {
    const secrets = hostSecrets({ env: { HARBOR_DB_PASSWORD: 'env-secret-host-7a8b9c' }, root });
    assert.equal(await secrets.resolve('env:HARBOR_DB_PASSWORD'), 'env-secret-host-7a8b9c');
    assert.equal(await secrets.resolve('file:/etc/mirrornet/db-password'), 'file-secret-host-2f3e4d');
    assert.equal(redactText('login failed with env-secret-host-7a8b9c, then with file-secret-host-2f3e4d'), 'login failed with ***, then with ***');
  });

  it('names the reference it cannot resolve', async () => {
    const secrets = hostSecrets({ env: {}, root });
    await assert.rejects(secrets.resolve('env:MIRRORNET_NOT_SET'), {
      userMessage: 'The secret env:MIRRORNET_NOT_SET cannot be resolved: the environment variable MIRRORNET_NOT_SET is not set on this host.',
    });
    await assert.rejects(secrets.resolve('file:/etc/mirrornet/missing'), {
      userMessage: 'The secret file:/etc/mirrornet/missing cannot be resolved: the file /etc/mirrornet/missing cannot be read (ENOENT).',
    });
  });

  it('refuses a value that is not a reference without repeating it, and masks it from then on', async () => {
    const err = await hostSecrets({ env: {} })
      .resolve('hunter2-literal-host-5c6d')
      .then(
        () => assert.fail('a literal secret must be refused'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof SecretError);
    assert.equal(
      err.userMessage,
      'A secret cannot be resolved: a secret reference was expected (env:NAME for an environment variable on the host, or ' +
        'file:/absolute/path for a file on it), and the value given is not one; it is not repeated here: if it is the secret itself, rotate it.',
    );
    assert.ok(!err.message.includes('hunter2-literal-host-5c6d'), err.message);
    assert.equal(redactText('echo hunter2-literal-host-5c6d'), 'echo ***');
  });
});
