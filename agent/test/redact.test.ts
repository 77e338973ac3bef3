// Credentials written into a git URL never leave the agent: not in its log, its `--once` JSON, its error
// sentence, or the events that become chat messages and commit statuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactDeep, redactText } from '../src/redact.js';

const CLI = fileURLToPath(new URL('../../bin/mirrornet.js', import.meta.url));

describe('redaction of credentials in URLs', () => {
  it('masks the userinfo of http(s) URLs, a bare token included, wherever the URL stands in a text', () => {
    assert.equal(
      redactText('Cannot reach https://deploy:ghp_abc123@github.com/acme/fleet.git: fatal: auth failed'),
      'Cannot reach https://***@github.com/acme/fleet.git: fatal: auth failed',
    );
    assert.equal(redactText('clone https://ghp_abc123@github.com/acme/fleet.git'), 'clone https://***@github.com/acme/fleet.git');
    assert.equal(redactText('two: http://a:b@x/ and HTTPS://c:d@y/'), 'two: http://***@x/ and HTTPS://***@y/');
  });

  it('masks a password in other schemes but keeps an ssh user, scp-style remotes and secret references', () => {
    assert.equal(redactText('ssh://git:hunter2@git.example.com/fleet.git'), 'ssh://git:***@git.example.com/fleet.git');
    assert.equal(redactText('ssh://git@git.example.com/fleet.git'), 'ssh://git@git.example.com/fleet.git');
    assert.equal(redactText('git@github.com:acme/fleet.git'), 'git@github.com:acme/fleet.git');
    assert.equal(redactText('env:GITHUB_TOKEN and file:/etc/mirrornet/token'), 'env:GITHUB_TOKEN and file:/etc/mirrornet/token');
    assert.equal(redactText('https://github.com/acme/fleet.git'), 'https://github.com/acme/fleet.git');
  });

  it('masks every string of a record, errors included', () => {
    const err = new Error('fetch https://u:p4ss@h/r failed');
    assert.deepEqual(redactDeep({ repo: 'https://u:p4ss@h/r', list: ['https://t0k@h/'], n: 1, err }), {
      repo: 'https://***@h/r',
      list: ['https://***@h/'],
      n: 1,
      err: { type: 'Error', message: 'fetch https://***@h/r failed', stack: redactText(err.stack ?? '') },
    });
    assert.doesNotMatch(JSON.stringify(redactDeep({ err })), /p4ss/);
  });

  it('an agent whose repository URL carries a token never prints the token (log, --once JSON, exit)', function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'mn-redact-'));
    try {
      // Port 9 on loopback: nothing listens, git fails at once with the URL in its error.
      const url = 'https://deploy:ghp_SECRET0token@127.0.0.1:9/acme/fleet.git';
      const r = spawnSync(
        process.execPath,
        [CLI, 'agent', '--region', 'us-virginia', '--repo-url', url, '--once', '--root', dir, '--state-dir', join(dir, 'state'), '--no-chat'],
        { encoding: 'utf8', env: { ...process.env, MIRRORNET_LOG_FORMAT: 'json', MIRRORNET_LOG_LEVEL: 'debug' } },
      );
      assert.equal(r.status, 1, r.stderr);
      const result = JSON.parse(r.stdout) as { kind: string; reason: string };
      assert.equal(result.kind, 'failed');
      assert.match(result.reason, /https:\/\/\*\*\*@127\.0\.0\.1:9\/acme\/fleet\.git/);
      assert.doesNotMatch(r.stdout + r.stderr, /ghp_SECRET0token/);
      assert.match(r.stderr, /"repo":"https:\/\/\*\*\*@127\.0\.0\.1:9\/acme\/fleet\.git"|\*\*\*@127\.0\.0\.1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
