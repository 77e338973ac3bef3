// A clone that fails says what git said (redacted), not only "check the URL": the operator sees the missing
// repository, the refused connection or the unknown host key in the agent's own sentence.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MirrornetError } from '../../src/errors.js';
import { GitSource } from '../../src/source/clone.js';

async function cloneError(url: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mirrornet-clone-'));
  try {
    await new GitSource({ url, branch: 'main', dir: join(dir, 'repo') }).head();
  } catch (err) {
    assert.ok(err instanceof MirrornetError, `a MirrornetError, not ${String(err)}`);
    return err.userMessage;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.fail('the clone did not fail');
}

describe('source: a failed clone', function () {
  it("names git's own error: a repository that does not exist", async function () {
    assert.equal(
      await cloneError('/nonexistent/fleet.git'),
      "Cannot clone /nonexistent/fleet.git (branch main): git said: fatal: repository '/nonexistent/fleet.git' does not exist. " +
        "Check the URL, the branch and the agent's credentials (SSH: its key and known_hosts, GIT_SSH_COMMAND).",
    );
  });

  it("names git's own error without the credentials in the URL", async function () {
    const message = await cloneError('https://robot:tok3nSecretValue@127.0.0.1:1/fleet.git');
    assert.match(
      message,
      /^Cannot clone https:\/\/\*\*\*@127\.0\.0\.1:1\/fleet\.git \(branch main\): git said: fatal: unable to access 'https:\/\/127\.0\.0\.1:1\/fleet\.git\/': /,
    );
    assert.ok(!message.includes('tok3nSecretValue'), message);
  });
});
