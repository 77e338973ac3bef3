// Credentials never leave the agent: written into a git URL, resolved from a secret reference, or held in
// a credential environment variable, they are masked in its log, its `--once` JSON, its error sentences and
// the events that become chat messages and commit statuses. Each test uses values of its own: the secrets a
// process resolved are masked process-wide from then on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasUrlCredentials, isCredentialVariable, isSecretReference, redactDeep, redactText, registerSecret } from '../src/redact.js';

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
    // A password without a user name: the usual form of a Redis URL.
    assert.equal(redactText('redis://:s3cretpass@10.0.0.1:6379/0'), 'redis://:***@10.0.0.1:6379/0');
    assert.equal(hasUrlCredentials('redis://:s3cretpass@10.0.0.1:6379/0'), true);
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

  it('says whether a text holds a URL with credentials', () => {
    assert.equal(hasUrlCredentials('externalUrl: https://admin:Harbor12345@harbor.example.com'), true);
    assert.equal(hasUrlCredentials('https://ghp_abc@github.com/acme/fleet.git'), true);
    assert.equal(hasUrlCredentials('https://harbor.example.com/api/v2.0'), false);
    assert.equal(hasUrlCredentials('git@github.com:acme/fleet.git'), false);
  });
});

describe('redaction of resolved secrets', () => {
  it('masks a registered secret wherever it stands: as written, URL-encoded, JSON-escaped, line by line', () => {
    registerSecret('Tr0ub4dor&3-unit-a');
    assert.equal(redactText('the password Tr0ub4dor&3-unit-a was rejected'), 'the password *** was rejected');
    assert.equal(redactText('postgres://harbor:Tr0ub4dor%263-unit-a@db:5432/registry'), 'postgres://harbor:***@db:5432/registry');
    registerSecret('say "hi"\\unit-b');
    assert.equal(redactText('{"secret":"say \\"hi\\"\\\\unit-b"}'), '{"secret":"***"}');
    registerSecret('-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END KEY-----\n');
    assert.equal(redactText('bad key line QUJDREVGR0hJSktMTU5PUA== in file'), 'bad key line *** in file');
  });

  it('leaves secret references, and values too short to be worth masking, readable', () => {
    registerSecret('env:MIRRORNET_UNIT_REF');
    registerSecret('file:/etc/mirrornet/unit-ref');
    registerSecret('ab12c');
    assert.equal(
      redactText('env:MIRRORNET_UNIT_REF, file:/etc/mirrornet/unit-ref and ab12c stay'),
      'env:MIRRORNET_UNIT_REF, file:/etc/mirrornet/unit-ref and ab12c stay',
    );
    assert.equal(isSecretReference('env:GITHUB_TOKEN'), true);
    assert.equal(isSecretReference('file:/etc/mirrornet/token'), true);
    assert.equal(isSecretReference('ghp_notareference'), false);
    assert.equal(isSecretReference('file:relative/path'), false);
  });

  it('shows a chat webhook URL by its origin only, and masks its token wherever it appears alone', () => {
    registerSecret('https://oapi.dingtalk.com/robot/send?access_token=9f8e7d6c5b4a39281706f5e4d3c2b1a0');
    assert.equal(
      redactText('POST https://oapi.dingtalk.com/robot/send?access_token=9f8e7d6c5b4a39281706f5e4d3c2b1a0&timestamp=1&sign=x failed'),
      'POST https://oapi.dingtalk.com/***&timestamp=1&sign=x failed',
    );
    assert.equal(redactText('GET /robot/send?access_token=9f8e7d6c5b4a39281706f5e4d3c2b1a0 -> 300001'), 'GET /*** -> 300001');
    assert.equal(redactText('token 9f8e7d6c5b4a39281706f5e4d3c2b1a0 is not valid'), 'token *** is not valid');
    registerSecret('https://hooks.slack.com/services/T0A1B2C3D/B0E1F2G3H/abcdefghijklmnopqrstuvwx');
    assert.equal(redactText('invalid_token for services/T0A1B2C3D/B0E1F2G3H/abcdefghijklmnopqrstuvwx'), 'invalid_token for services/***/***/***');
    assert.equal(redactText('see https://hooks.slack.com/services/T0A1B2C3D/B0E1F2G3H/abcdefghijklmnopqrstuvwx'), 'see https://hooks.slack.com/***');
  });

  it('masks the values of credential environment variables while they are set', () => {
    process.env['MIRRORNET_UNIT_API_TOKEN'] = 'envtok-5f4e3d2c1b';
    process.env['MIRRORNET_UNIT_SHORT_TOKEN'] = 'abc1234';
    process.env['MIRRORNET_UNIT_DB_PASSWORD'] = 'env:ANOTHER_VARIABLE';
    try {
      assert.equal(
        redactText('clone of https://127.0.0.1:9/envtok-5f4e3d2c1b.git failed; abc1234; env:ANOTHER_VARIABLE'),
        'clone of https://127.0.0.1:9/***.git failed; abc1234; env:ANOTHER_VARIABLE',
      );
    } finally {
      delete process.env['MIRRORNET_UNIT_API_TOKEN'];
      delete process.env['MIRRORNET_UNIT_SHORT_TOKEN'];
      delete process.env['MIRRORNET_UNIT_DB_PASSWORD'];
    }
    assert.equal(redactText('envtok-5f4e3d2c1b'), 'envtok-5f4e3d2c1b', 'masked only while the variable holds it');
  });

  it('knows a credential variable by its name, and a variable that only says where one is', () => {
    const credentials = [
      'GITHUB_TOKEN',
      'GH_TOKEN',
      'HUAWEICLOUD_SDK_AK',
      'HUAWEICLOUD_SDK_SK',
      'MIRRORNET_PSK_US_VIRGINIA',
      'MIRRORNET_WEBHOOK_SECRET',
      'HARBOR_DB_PASSWORD',
      'PGPASSWORD',
      'AWS_SECRET_ACCESS_KEY',
      'MN_FEISHU_SECRET',
      'OPENAI_API_KEY',
    ];
    const others = [
      'PATH',
      'HOME',
      'MIRRORNET_LOG_LEVEL',
      'MIRRORNET_HARBOR_PASSWORD_REF',
      'GITHUB_TOKEN_FILE',
      'SSH_AUTH_SOCK',
      'KEYBOARD',
      'MONKEY_BUSINESS',
    ];
    assert.deepEqual(
      credentials.filter((n) => !isCredentialVariable(n)),
      [],
    );
    assert.deepEqual(
      others.filter((n) => isCredentialVariable(n)),
      [],
    );
  });

  it('masks credentials by their shape: signed and bearer Authorization values, GitHub and Slack tokens', () => {
    assert.equal(
      redactText('Authorization: SDK-HMAC-SHA256 Access=MNAK0001, SignedHeaders=host;x-sdk-date, Signature=abcdef0123\nnext line'),
      'Authorization: SDK-HMAC-SHA256 ***\nnext line',
    );
    assert.equal(redactText('{"authorization":"Bearer abc.def.ghi","accept":"json"}'), '{"authorization":"Bearer ***","accept":"json"}');
    assert.equal(redactText('Authorization: Basic YWRtaW46SGFyYm9yMTIzNDU='), 'Authorization: Basic ***');
    assert.equal(redactText('token ghp_0123456789abcdefghijABCDEFGHIJ012345 refused'), 'token ghp_*** refused');
    assert.equal(redactText('hook xoxb-1234567890-abcdefghij failed'), 'hook xoxb-*** failed');
    assert.equal(redactText('Bearer tokens expire'), 'Bearer tokens expire');
  });

  it('takes values and patterns a caller holds as an input (a vendor client with its own key pair)', () => {
    assert.equal(
      redactText('key K-UNIT-INPUT-1 refused, see the Authorization header', { secrets: ['K-UNIT-INPUT-1'], patterns: [[/authorization/gi, 'auth header']] }),
      'key *** refused, see the auth header header',
    );
    assert.equal(redactText('K-UNIT-INPUT-1'), 'K-UNIT-INPUT-1', 'an input is not registered');
  });

  it('masks records deeply, the causes of errors included', () => {
    registerSecret('deep-secret-unit-c9');
    const err = new Error('outer', { cause: new Error('inner deep-secret-unit-c9') });
    const out = redactDeep({ list: [{ v: 'x deep-secret-unit-c9' }], err }) as { list: unknown; err: { cause: { message: string } } };
    assert.deepEqual(out.list, [{ v: 'x ***' }]);
    assert.equal(out.err.cause.message, 'inner ***');
  });

  it('an agent never prints a secret from a file: reference or a credential variable (log, --once JSON)', function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'mn-redact-'));
    try {
      mkdirSync(join(dir, 'etc/mirrornet'), { recursive: true });
      writeFileSync(join(dir, 'etc/mirrornet/github-token'), 'file-secret-agent-4b3c2d1e\n');
      // Both secrets end up in the repository URL's path: git fails on port 9 with the URL in its error.
      const url = 'http://127.0.0.1:9/env-secret-agent-8a7b6c5d/file-secret-agent-4b3c2d1e.git';
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'agent',
          '--region',
          'us-virginia',
          '--repo-url',
          url,
          '--once',
          '--root',
          dir,
          '--state-dir',
          join(dir, 'state'),
          '--no-chat',
          '--github-repo',
          'acme/fleet',
          '--github-token',
          'file:/etc/mirrornet/github-token',
          '--github-api-url',
          'http://127.0.0.1:9',
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, MIRRORNET_LOG_FORMAT: 'json', MIRRORNET_LOG_LEVEL: 'debug', MIRRORNET_DEPLOY_TOKEN: 'env-secret-agent-8a7b6c5d' },
        },
      );
      assert.equal(r.status, 1, r.stderr);
      const result = JSON.parse(r.stdout) as { kind: string; reason: string };
      assert.equal(result.kind, 'failed');
      assert.match(result.reason, /http:\/\/127\.0\.0\.1:9\/\*\*\*\/\*\*\*\.git/);
      assert.match(r.stderr, /127\.0\.0\.1:9\/\*\*\*\/\*\*\*\.git/, 'the log says what failed, masked');
      assert.doesNotMatch(r.stdout + r.stderr, /env-secret-agent-8a7b6c5d|file-secret-agent-4b3c2d1e/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
