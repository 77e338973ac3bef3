// A drift alert carries the diff of what was found on the host against what the repository says: masked (a
// resolved secret in a hand-edited file never reaches chat), bounded (a long diff is cut with a line saying how
// much), and shown by every chat vendor in its message; WeCom's 4096 bytes leave it out before anything else.
import assert from 'node:assert/strict';
import type { Change } from '../../src/providers/types.js';
import { driftDiff } from '../../src/reconcile/file-diff.js';
import { agentEvent } from '../../src/reconcile/events.js';
import { registerSecret } from '../../src/redact.js';
import { compose } from '../../src/report/chat/message.js';
import { render as renderFeishu } from '../../src/report/chat/feishu/index.js';
import { render as renderWecom } from '../../src/report/chat/wecom/index.js';
import type { Notice } from '../../src/report/chat/types.js';

const PATH = '/etc/dragonfly/dfdaemon.yaml';
const SECRET = 'drift-secret-Qw7e9Rt';

function change(before: string, after: string): Change {
  return { provider: 'dragonfly', id: PATH, action: 'update', reason: 'dfdaemon.yaml differs from the repository', file: { path: PATH, before, after } };
}

const numbered = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}: ${i}\n`).join('');

describe('drift alerts carry the diff of what was found', () => {
  before(() => registerSecret(SECRET));

  it('a changed key: the unified diff, host side first, with a secret the host file holds masked', () => {
    const diff = driftDiff([change(`proxy:\n  port: 65001\ntoken: ${SECRET}\n`, 'proxy:\n  port: 4001\n')]);
    assert.equal(diff, [`--- ${PATH}`, `+++ ${PATH}`, '@@ -1,3 +1,2 @@', ' proxy:', '-  port: 65001', '-token: ***', '+  port: 4001', ''].join('\n'));
  });

  it('masks credentials nobody registered that a host file holds: a TOML array, a one-line JSON, a YAML key; references stay', () => {
    const toml = (auth: string) => `server = "https://harbor.example"\n[host."http://127.0.0.1:4001".header]\n  authorization = ${auth}\n`;
    const hosts = driftDiff([change(toml('["Basic cm9ib3Q6aHVudGVyMg=="]'), toml('["Basic ZnJlc2g="]'))]);
    assert.equal(hosts, `--- ${PATH}\n+++ ${PATH}\n(only a masked credential differs)\n`);
    const json = driftDiff([
      change('{"registry-mirrors":["http://127.0.0.1:4001"],"password":"hunter2","x":1}\n', '{"registry-mirrors":["http://127.0.0.1:4001"]}\n'),
    ]);
    assert.equal(
      json,
      [
        `--- ${PATH}`,
        `+++ ${PATH}`,
        '@@ -1,1 +1,1 @@',
        '-{"registry-mirrors":["http://127.0.0.1:4001"],"password":"***","x":1}',
        '+{"registry-mirrors":["http://127.0.0.1:4001"]}',
        '',
      ].join('\n'),
    );
    const yaml = driftDiff([change('seedPeer:\n  apiToken: s3cr3t-value\n  keyRef: env:DF_KEY\n', 'seedPeer:\n  apiToken: env:DF_TOKEN\n')]);
    assert.equal(
      yaml,
      [`--- ${PATH}`, `+++ ${PATH}`, '@@ -1,3 +1,2 @@', ' seedPeer:', '-  apiToken: ***', '-  keyRef: env:DF_KEY', '+  apiToken: env:DF_TOKEN', ''].join('\n'),
    );
  });

  it('a long diff is cut to 30 lines with a line saying how many were cut', () => {
    const diff = driftDiff([change(numbered(100, 'old'), numbered(100, 'new'))])!;
    const lines = diff.replace(/\n$/, '').split('\n');
    assert.equal(lines.length, 31);
    assert.equal(lines[30], '… 173 more lines of the diff cut (run `mirrornet plan` on the host for all of it).');
  });

  it('a diff of very long lines stays within 2000 characters', () => {
    const long = (c: string) => `${c.repeat(400)}\n`.repeat(20);
    const diff = driftDiff([change(long('a'), long('b'))])!;
    assert.ok(diff.length <= 2100, `${diff.length} characters`);
    assert.match(diff, /cut \(run `mirrornet plan` on the host for all of it\)\.\n$/);
  });

  it('changes that write no file carry no diff', () => {
    assert.equal(driftDiff([{ provider: 'routes', id: '10.1.0.0/16', action: 'create', reason: 'missing' }]), undefined);
  });

  it('the chat message shows it as a diff block; WeCom leaves it out when the message would pass 4096 bytes', () => {
    const diff = driftDiff([change('proxy:\n  port: 65001\n', 'proxy:\n  port: 4001\n')])!;
    const event = agentEvent('drift-detected', 'cn-shanghai', 'a'.repeat(40), 'cn-shanghai: dragonfly drifted.', { component: 'dragonfly', diff });
    const notice: Notice = { event, occurrence: 'alert', language: 'en' };
    const card = compose(notice);
    assert.equal(card.diffLabel, 'Diff (host against repository)');
    assert.equal(card.diff, diff);
    assert.ok(
      JSON.stringify(renderFeishu(notice)).includes(
        JSON.stringify(`\`\`\`diff\n--- ${PATH}\n+++ ${PATH}\n@@ -1,2 +1,2 @@\n proxy:\n-  port: 65001\n+  port: 4001\n\`\`\``).slice(1, -1),
      ),
    );
    assert.ok(renderWecom(notice).markdown.content.includes('-  port: 65001\n+  port: 4001'));

    const big = driftDiff([change(numbered(15, `${'x'.repeat(120)}-old`), numbered(15, `${'x'.repeat(120)}-new`))])!;
    // Ten changes with long reasons, in both languages (WeCom's default): with the diff it would not fit.
    const changes = Array.from({ length: 10 }, (_, i) => ({ provider: 'dragonfly', id: `/etc/dragonfly/f${i}`, action: 'update', reason: 'r'.repeat(100) }));
    const crowded: Notice = { ...notice, language: 'both', event: { ...event, diff: big, changes } };
    const content = renderWecom(crowded).markdown.content;
    assert.ok(Buffer.byteLength(content) <= 4096);
    assert.ok(!content.includes('```diff'), 'the diff is left out first');
    assert.ok(content.includes('cn-shanghai: dragonfly drifted.'));
    assert.ok(content.includes('/etc/dragonfly/f9'), 'the changes are kept');
  });
});
