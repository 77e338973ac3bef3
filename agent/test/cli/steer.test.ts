// `mirrornet suspend`, `resume` and `reconcile` against two real local cores (operatorHandler behind
// node:http), signed with a fresh SSH key at a fixed time: what each core answered, the exit codes, what the
// core persisted and pushed, a refused key and a replayed request that change nothing, and usage errors.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Io } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { steerCommand, type SteerOptions } from '../../src/cli/steer.js';
import { missingCommand, need } from '../support/capabilities.js';
import { host, NOW, operatorKeys, siteReport, startCore, type Core, type OperatorKeys } from '../report/site/operator-fixture.js';

function capture(): { io: Io; out: { stdout: string; stderr: string } } {
  const out = { stdout: '', stderr: '' };
  return { io: { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s), color: false }, out };
}

const deps = { clock: () => NOW };

describe('mirrornet suspend / resume / reconcile', function () {
  let keys: OperatorKeys;
  let cn: Core;
  let sg: Core;

  before(function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    keys = operatorKeys();
  });
  after(() => {
    if (keys) rmSync(keys.dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    cn = await startCore('core-cn', keys, [
      { report: siteReport('cn-beijing', [host('cn-beijing', 'gw-bj')]), msBeforeNow: 10_000 },
      { report: siteReport('cn-shanghai', [host('cn-shanghai', 'gw-sh')]), msBeforeNow: 10_000 },
    ]);
    sg = await startCore('core-sg', keys, [{ report: siteReport('ap-singapore', [host('ap-singapore', 'gw-sg')]), msBeforeNow: 10_000 }]);
  });
  afterEach(async () => {
    await cn.close();
    await sg.close();
  });

  const opts = (over: Partial<SteerOptions> = {}): SteerOptions => ({ core: [cn.url, sg.url], key: keys.alice, ...over });
  const steeringOf = (core: Core) => JSON.parse(readFileSync(join(core.stateDir, 'steering.json'), 'utf8')) as unknown;

  it('suspends a site on the core that has it, prints what each core answered, and exits 0', async () => {
    const { io, out } = capture();
    assert.equal(await steerCommand('suspend', opts({ site: 'cn-beijing', reason: 'maintenance window' }), io, deps), 0);
    assert.equal(
      out.stdout,
      `${cn.url}: cn-beijing suspended by alice@example.org (generation 1740830400): maintenance window\n` +
        `${sg.url}: refused (HTTP 404): This core knows no site "cn-beijing" (its sites: ap-singapore); nothing was changed.\n`,
    );
    assert.equal(out.stderr, '');
    const steering = { generation: 1740830400, suspended: { by: 'alice@example.org', reason: 'maintenance window', at: '2025-03-01T12:00:00.000Z' } };
    assert.deepEqual(steeringOf(cn), { version: 1, sites: { 'cn-beijing': steering } });
    assert.deepEqual(cn.pushes, [{ site: 'cn-beijing', steering }]);
    assert.equal(existsSync(join(sg.stateDir, 'steering.json')), false);
  });

  it('resumes it, and asks every site of every core to reconcile with --all', async () => {
    await steerCommand('suspend', opts({ site: 'cn-beijing', reason: 'maintenance window' }), capture().io, deps);
    const resumed = capture();
    assert.equal(await steerCommand('resume', opts({ site: 'cn-beijing', core: [cn.url] }), resumed.io, deps), 0);
    assert.equal(resumed.out.stdout, `${cn.url}: cn-beijing resumed (generation 1740830401)\n`);
    const all = capture();
    assert.equal(await steerCommand('reconcile', opts({ all: true }), all.io, deps), 0);
    assert.equal(
      all.out.stdout,
      `${cn.url}: cn-beijing reconcile asked by alice@example.org (generation 1740830402)\n` +
        `${cn.url}: cn-shanghai reconcile asked by alice@example.org (generation 1740830400)\n` +
        `${sg.url}: ap-singapore reconcile asked by alice@example.org (generation 1740830400)\n`,
    );
  });

  it('exits 1 when no core accepted: a site nobody knows', async () => {
    const { io, out } = capture();
    assert.equal(await steerCommand('reconcile', opts({ site: 'eu-frankfurt' }), io, deps), 1);
    assert.equal(
      out.stdout,
      `${cn.url}: refused (HTTP 404): This core knows no site "eu-frankfurt" (its sites: cn-beijing, cn-shanghai); nothing was changed.\n` +
        `${sg.url}: refused (HTTP 404): This core knows no site "eu-frankfurt" (its sites: ap-singapore); nothing was changed.\n`,
    );
  });

  it('says what to do about a key the core does not know, changes nothing, and exits 1', async () => {
    const { io, out } = capture();
    assert.equal(await steerCommand('suspend', opts({ site: 'cn-beijing', reason: 'x', key: keys.mallory, core: [cn.url] }), io, deps), 1);
    assert.equal(out.stdout, '');
    assert.equal(
      out.stderr,
      `mirrornet: The core ${cn.url} refused the request (HTTP 401): The request is refused: the request is not signed by a key in the core's ` +
        `operators file. If your key is not in the core's --operators file, add its public key there as a line ` +
        '`you@example.org namespaces="mirrornet-operator" ssh-ed25519 AAAA...`.\n',
    );
    assert.equal(existsSync(join(cn.stateDir, 'steering.json')), false);
    assert.deepEqual(cn.pushes, []);
  });

  it('is refused when the same signed request is sent again (a replayed nonce)', async () => {
    const sent: { url: string; init: RequestInit }[] = [];
    const recording: typeof fetch = (url, init) => {
      sent.push({ url: String(url), init: init! });
      return fetch(url, init);
    };
    assert.equal(await steerCommand('reconcile', opts({ site: 'cn-beijing', core: [cn.url] }), capture().io, { ...deps, fetch: recording }), 0);
    const before = readFileSync(join(cn.stateDir, 'steering.json'), 'utf8');
    const replay = await fetch(sent[0]!.url, { ...sent[0]!.init, signal: null });
    assert.equal(replay.status, 401);
    assert.deepEqual(await replay.json(), { error: 'The request is refused: this nonce was already used: a replayed request is refused.' });
    assert.equal(readFileSync(join(cn.stateDir, 'steering.json'), 'utf8'), before);
    assert.equal(cn.pushes.length, 1);
  });

  it('are the commands `mirrornet suspend|resume|reconcile`, with usage errors for what is missing (exit 2, the first line says what)', async () => {
    const usage = async (argv: string[]) => {
      const { io, out } = capture();
      return [await run(argv, io), out.stderr.split('\n')[0]];
    };
    const core = ['--core', 'http://127.0.0.1:1', '--key', keys.alice];
    assert.deepEqual(await usage(['suspend', ...core, '--site', 'cn-beijing']), [2, "error: required option '--reason <text>' not specified"]);
    assert.deepEqual(await usage(['suspend', ...core, '--site', 'cn-beijing', '--reason', ' ']), [
      2,
      'mirrornet: Say why with --reason TEXT: whoever finds the site suspended reads it.',
    ]);
    assert.deepEqual(await usage(['reconcile', ...core]), [2, 'mirrornet: Name one site with --site NAME, or every site with --all.']);
    assert.deepEqual(await usage(['reconcile', ...core, '--site', 'cn-beijing', '--all']), [
      2,
      'mirrornet: Name one site with --site NAME, or every site with --all.',
    ]);
    assert.deepEqual(await usage(['resume', ...core]), [2, "error: required option '--site <name>' not specified"]);
  });
});
