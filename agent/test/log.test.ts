// The log never holds a credential: a resolved secret (env: or file:), a credential environment variable or
// a URL's user info is masked in the message, the fields, errors and their causes, and a child's bindings.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostSecrets } from '../src/host/secrets.js';
import { createLogger } from '../src/log.js';

describe('log redaction', () => {
  it('masks resolved secrets and credential variables in messages, fields, errors and bindings', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mn-log-'));
    process.env['MIRRORNET_LOG_TEST_TOKEN'] = 'envvar-secret-log-0c1d2e';
    try {
      mkdirSync(join(root, 'etc'), { recursive: true });
      writeFileSync(join(root, 'etc/psk'), 'file-secret-log-3f4a5b\n');
      const secrets = hostSecrets({ env: { PSK_LOG: 'env-secret-log-6c7d8e' }, root });
      const fromEnv = await secrets.resolve('env:PSK_LOG');
      const fromFile = await secrets.resolve('file:/etc/psk');
      const lines: string[] = [];
      const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
      const child = log.child({ component: 'test', peer: `psk ${fromFile}` });
      child.warn(
        { detail: `wg refused ${fromEnv}`, err: new Error(`psk ${fromFile} rejected`, { cause: new Error(`token envvar-secret-log-0c1d2e`) }) },
        `setting the key ${fromEnv} failed`,
      );
      child.info(`clone https://deploy:${fromFile}@git.example.com/fleet.git`);
      // An error logged without a message: pino makes its message the line's msg.
      child.error(new Error(`bad key ${fromEnv}`));
      child.error({ err: new Error(`bad psk ${fromFile}`) });
      const text = lines.join('');
      for (const secret of ['env-secret-log-6c7d8e', 'file-secret-log-3f4a5b', 'envvar-secret-log-0c1d2e'])
        assert.ok(!text.includes(secret), `the log holds ${secret}`);
      const [first, second, third, fourth] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual([third!['msg'], fourth!['msg']], ['bad key ***', 'bad psk ***']);
      assert.equal(first!['msg'], 'setting the key *** failed');
      assert.equal(first!['detail'], 'wg refused ***');
      assert.equal(first!['peer'], 'psk ***');
      const err = first!['err'] as { type: string; message: string; cause: { message: string } };
      assert.deepEqual([err.type, err.message, err.cause.message], ['Error', 'psk *** rejected', 'token ***']);
      assert.equal(second!['msg'], 'clone https://***@git.example.com/fleet.git');
    } finally {
      delete process.env['MIRRORNET_LOG_TEST_TOKEN'];
      rmSync(root, { recursive: true, force: true });
    }
  });
});
