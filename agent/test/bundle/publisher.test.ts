// The publisher role end to end: a real git origin (a bare repository seeded with the example fleet) and a
// real OCI registry (Debian's docker-registry on a free port) behind a small proxy that records every request,
// so a test can say what was pushed and what was not. Also `mirrornet publish`'s refusal of an older revision
// than the channel holds, and --rollback. Last, how the example fleet's harbor/ delivers the bundles.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOciReference, type OciTarget } from '../../src/bundle/oci.js';
import { cli } from '../support/cli.js';
import { Publisher } from '../../src/cli/publisher.js';
import { silentLogger } from '../../src/log.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { evaluateRepository } from '../../src/reconcile/pipeline.js';
import { GitSource } from '../../src/source/clone.js';
import { missingCommand, need } from '../support/capabilities.js';
import { createGitFixture, setGuardrails, type GitFixture } from '../reconcile/git-fixture.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SITES = ['ap-jakarta', 'ap-singapore', 'cn-beijing', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('publisher (git origin to registry)', function () {
  this.timeout(120_000);
  let tmp: string;
  let registry: ChildProcess | undefined;
  let proxy: http.Server | undefined;
  let log = '';
  /** The registry itself, read by the tests. */
  let direct: string;
  /** host:port of the proxy in front of it, written to by the publisher. */
  let via: string;
  /** Every request through the proxy, as `METHOD /path` (no query). */
  let requests: string[] = [];
  /** While set, the proxy answers every request 503, as a registry that is down behind its load balancer. */
  let failing = false;
  let signingKey: string;
  const fixtures: GitFixture[] = [];

  before(async function () {
    need(this, missingCommand('docker-registry', 'docker-registry'));
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    need(this, missingCommand('git', 'git'));
    tmp = mkdtempSync(join(tmpdir(), 'mn-publisher-'));
    const port = await freePort();
    direct = `http://127.0.0.1:${port}`;
    mkdirSync(join(tmp, 'data'));
    const config = join(tmp, 'config.yml');
    writeFileSync(
      config,
      ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(tmp, 'data')}`]
        .concat(['http:', `  addr: 127.0.0.1:${port}`, `  secret: ${randomBytes(8).toString('hex')}`, ''])
        .join('\n'),
    );
    registry = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    registry.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    registry.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const until = Date.now() + 10_000;
    for (;;) {
      if (registry.exitCode !== null) throw new Error(`docker-registry exited:\n${log}`);
      if ((await fetch(`${direct}/v2/`).catch(() => undefined))?.status === 200) break;
      if (Date.now() > until) throw new Error(`docker-registry did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The proxy passes the Host header on, so the registry's upload locations point back at the proxy.
    proxy = http.createServer((req, res) => {
      if (failing) {
        res.writeHead(503).end();
        return;
      }
      requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
      const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', () => resolve()));
    via = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'publisher', '-f', join(tmp, 'key')]);
    signingKey = readFileSync(join(tmp, 'key'), 'utf8');
  });
  after(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    registry?.kill('SIGKILL');
    for (const fx of fixtures) fx.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    requests = [];
    failing = false;
  });

  function fixture(opts: Parameters<typeof createGitFixture>[0] = {}): GitFixture {
    const fx = createGitFixture(opts);
    fixtures.push(fx);
    return fx;
  }

  function target(repository: string): OciTarget {
    const t = parseOciReference(`oci+http://${via}/${repository}`);
    if ('error' in t) throw new Error(t.error);
    return t;
  }

  /** A publisher of `fx`'s origin into `repository`, as `mirrornet agent --publish-to` builds it, with its events. */
  function publisherOf(fx: GitFixture, repository: string): { publisher: Publisher; events: AgentEvent[] } {
    const events: AgentEvent[] = [];
    const git = new GitSource({ url: fx.origin, branch: 'main', dir: join(fx.stateDir, 'publish') });
    const publisher = new Publisher({
      site: 'ap-singapore',
      git,
      target: target(repository),
      signingKey,
      log: silentLogger(),
      emit: (e) => events.push(e),
    });
    return { publisher, events };
  }

  /** What the channel tag holds now, read from the registry itself. */
  async function channel(repository: string, tag = 'main'): Promise<{ revision: string; sequence: number; rollback: boolean } | undefined> {
    const res = await fetch(`${direct}/v2/${repository}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
    if (res.status === 404) return undefined;
    assert.equal(res.status, 200);
    const manifest = (await res.json()) as { config: { digest: string } };
    const index = (await (await fetch(`${direct}/v2/${repository}/blobs/${manifest.config.digest}`)).json()) as {
      revision: string;
      sequence: number;
      rollback: boolean;
    };
    return { revision: index.revision, sequence: index.sequence, rollback: index.rollback };
  }

  /** The tags (not digests) that manifest PUTs moved through the proxy, sorted. */
  function tagsMoved(repository: string): string[] {
    const prefix = `PUT /v2/${repository}/manifests/`;
    return requests
      .filter((r) => r.startsWith(prefix))
      .map((r) => r.slice(prefix.length))
      .filter((ref) => !ref.startsWith('sha256:'))
      .sort();
  }

  function manifestPuts(repository: string): number {
    return requests.filter((r) => r.startsWith(`PUT /v2/${repository}/manifests/`)).length;
  }

  it('publishes the branch head once, and a commit pushed to origin on the next run', async () => {
    const fx = fixture();
    const first = fx.originHead();
    const { publisher, events } = publisherOf(fx, 'mirrornet/head');

    await publisher.run('start');
    assert.deepEqual(await channel('mirrornet/head'), { revision: first, sequence: 1, rollback: false });
    assert.deepEqual(tagsMoved('mirrornet/head'), [first, 'main', ...SITES.map((s) => `main.${s}`)].sort());
    // The bundle and eight site manifests, each by digest (the signatures are inside the layers), then 8 site tags and 2 bundle tags.
    assert.equal(manifestPuts('mirrornet/head'), 19);

    requests = [];
    await publisher.run('poll');
    assert.equal(manifestPuts('mirrornet/head'), 0);
    assert.deepEqual(await channel('mirrornet/head'), { revision: first, sequence: 1, rollback: false });

    // A publisher started again (its clone kept) finds the channel holding the revision: nothing pushed either.
    requests = [];
    await publisherOf(fx, 'mirrornet/head').publisher.run('start');
    assert.equal(manifestPuts('mirrornet/head'), 0);
    assert.deepEqual(
      requests.filter((r) => r.startsWith('POST ')),
      [],
    );

    fx.replace('regions/us-virginia.yaml', 'team: platform-intl', 'team: platform-americas');
    const second = fx.commit('us-virginia belongs to the americas team');
    requests = [];
    await publisher.run('webhook');
    assert.deepEqual(await channel('mirrornet/head'), { revision: second, sequence: 2, rollback: false });
    assert.deepEqual(tagsMoved('mirrornet/head'), [second, 'main', ...SITES.map((s) => `main.${s}`)].sort());
    assert.deepEqual(events, []);
  });

  it('folds runs asked for while one runs into one more run, which publishes nothing again', async () => {
    const fx = fixture();
    const { publisher } = publisherOf(fx, 'mirrornet/folded');
    await Promise.all([publisher.run('start'), publisher.run('webhook'), publisher.run('poll')]);
    assert.deepEqual(tagsMoved('mirrornet/folded'), [fx.originHead(), 'main', ...SITES.map((s) => `main.${s}`)].sort());
  });

  it('keeps an invalid revision out of the channel, with one revision-refused event that says why, and publishes the next valid commit', async () => {
    const fx = fixture();
    const first = fx.originHead();
    const { publisher, events } = publisherOf(fx, 'mirrornet/invalid');
    await publisher.run('start');

    fx.replace('regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.144.0.0/33');
    const broken = fx.commit('a broken CIDR');
    requests = [];
    await publisher.run('webhook');
    await publisher.run('poll');
    assert.equal(manifestPuts('mirrornet/invalid'), 0);
    assert.deepEqual(await channel('mirrornet/invalid'), { revision: first, sequence: 1, rollback: false });
    assert.equal(events.length, 1);
    const [event] = events;
    assert.deepEqual(
      { kind: event!.kind, site: event!.site, revision: event!.revision, component: event!.component, origin: event!.origin },
      // A revision event: the commit's status says it was not published.
      { kind: 'revision-refused', site: 'ap-singapore', revision: broken, component: 'publish', origin: 'revision' },
    );
    assert.equal(
      event!.message,
      `The fleet at ${broken.slice(0, 12)} is invalid (1 error: regions/us-virginia.yaml:12 cidr/invalid); nothing was published. ` + 'Fix it and try again.',
    );

    fx.replace('regions/us-virginia.yaml', 'cidr: 10.144.0.0/33', 'cidr: 10.144.0.0/16');
    const fixed = fx.commit('the CIDR fixed');
    await publisher.run('poll');
    assert.deepEqual(await channel('mirrornet/invalid'), { revision: fixed, sequence: 3, rollback: false });
    assert.equal(events.length, 1);
  });

  it('refuses a commit that deletes a region that was not retiring (a push that skipped validate --base), and publishes it once it was', async () => {
    const fx = fixture();
    const first = fx.originHead();
    const { publisher, events } = publisherOf(fx, 'mirrornet/unretired');
    await publisher.run('start');
    fx.remove('regions/us-virginia.yaml');
    const removal = fx.commit('us-virginia goes');
    await publisher.run('webhook');
    assert.deepEqual(await channel('mirrornet/unretired'), { revision: first, sequence: 1, rollback: false });
    assert.deepEqual(
      events.map((e) => [e.kind, e.revision, e.message]),
      [
        [
          'revision-refused',
          removal,
          `${removal.slice(0, 12)} was not published: against ${first.slice(0, 12)}, which the channel holds: ` +
            `It deletes us-virginia, which was not retiring at ${first.slice(0, 12)}: ` +
            'mark it `lifecycle: retiring` first and delete it once its agents reported retired.',
        ],
      ],
    );
  });

  it("refuses a commit that removes more sites than the guardrails of the channel's revision allow, with the guardrail's sentence", async () => {
    const fx = fixture({ prepare: (f) => setGuardrails(f, { maxSiteRemovals: 1 }) });
    const first = fx.originHead();
    const { publisher, events } = publisherOf(fx, 'mirrornet/removals');
    await publisher.run('start');

    fx.remove('regions/us-virginia.yaml');
    fx.remove('regions/cn-hangzhou-idc.yaml');
    const removal = fx.commit('two regions go at once');
    requests = [];
    await publisher.run('webhook');
    assert.equal(manifestPuts('mirrornet/removals'), 0);
    assert.deepEqual(await channel('mirrornet/removals'), { revision: first, sequence: 1, rollback: false });
    assert.deepEqual(
      events.map((e) => [e.kind, e.revision, e.message]),
      [
        [
          'revision-refused',
          removal,
          `${removal.slice(0, 12)} was not published: against ${first.slice(0, 12)}, which the channel holds: ` +
            'This revision removes 2 sites (cn-hangzhou-idc, us-virginia), more than the fleet-wide limit ' +
            '(maxSiteRemovals: 1 in policies/guardrails.yaml of the revision before it). To remove them on purpose, either mark each ' +
            '`lifecycle: retiring` in its file in a change of its own and let the agents apply it before the change that deletes it, ' +
            'or name them with a reason in policies/acknowledged-removals.yaml in the change that deletes them. ' +
            `It deletes cn-hangzhou-idc, which was not retiring at ${first.slice(0, 12)}: ` +
            'mark it `lifecycle: retiring` first and delete it once its agents reported retired. ' +
            `It deletes us-virginia, which was not retiring at ${first.slice(0, 12)}: ` +
            'mark it `lifecycle: retiring` first and delete it once its agents reported retired.',
        ],
      ],
    );
  });

  it('tries a revision again on the next run when the registry failed, without a refusal event', async () => {
    const fx = fixture();
    const { publisher, events } = publisherOf(fx, 'mirrornet/retried');
    failing = true;
    await publisher.run('start');
    failing = false;
    assert.equal(await channel('mirrornet/retried'), undefined);
    await publisher.run('poll');
    assert.deepEqual(await channel('mirrornet/retried'), { revision: fx.originHead(), sequence: 1, rollback: false });
    assert.deepEqual(events, []);
  });

  it('refuses a commit that is not signed by an allowed signer, once', async () => {
    const fx = fixture();
    writeFileSync(join(fx.dir, 'allowed_signers'), `publisher@example.org ${readFileSync(join(tmp, 'key.pub'), 'utf8')}`);
    const events: AgentEvent[] = [];
    const publisher = new Publisher({
      site: 'ap-singapore',
      git: new GitSource({ url: fx.origin, branch: 'main', dir: join(fx.stateDir, 'publish'), allowedSigners: join(fx.dir, 'allowed_signers') }),
      target: target('mirrornet/unsigned'),
      signingKey,
      log: silentLogger(),
      emit: (e) => events.push(e),
    });
    const head = fx.originHead();
    await publisher.run('start');
    await publisher.run('poll');
    assert.equal(await channel('mirrornet/unsigned'), undefined);
    assert.deepEqual(requests, []);
    assert.deepEqual(
      events.map((e) => [e.kind, e.revision, e.message]),
      [['revision-refused', head, `${head.slice(0, 12)} was not published: commit ${head.slice(0, 12)} is not signed by an allowed signer (no signature).`]],
    );
  });

  describe('mirrornet publish --revision of an older commit', () => {
    it('refuses it (exit 1) with a sentence naming --rollback, and publishes it with --rollback', async () => {
      const fx = fixture();
      const first = fx.originHead();
      fx.replace('regions/us-virginia.yaml', 'team: platform-intl', 'team: platform-americas');
      const second = fx.commit('us-virginia belongs to the americas team');
      const to = `oci+http://${via}/mirrornet/rollback`;
      const key = `file:${join(tmp, 'key')}`;

      const head = await cli(['publish', '--repo', fx.work, '--to', to, '--sign-key', key]);
      assert.equal(head.code, 0, head.stderr);
      assert.deepEqual(await channel('mirrornet/rollback'), { revision: second, sequence: 2, rollback: false });

      requests = [];
      const older = await cli(['publish', '--repo', fx.work, '--revision', first, '--to', to, '--sign-key', key]);
      assert.equal(older.code, 1);
      assert.equal(older.stdout, '');
      assert.equal(
        older.stderr,
        `mirrornet: ${first.slice(0, 12)} is older than ${second.slice(0, 12)}, which main holds (1 commit against 2); nothing was published. ` +
          'Publish a newer commit that reverts, or publish it again with --rollback on purpose.\n',
      );
      assert.equal(manifestPuts('mirrornet/rollback'), 0);
      assert.deepEqual(await channel('mirrornet/rollback'), { revision: second, sequence: 2, rollback: false });

      const rollback = await cli(['publish', '--repo', fx.work, '--revision', first, '--to', to, '--sign-key', key, '--rollback']);
      assert.equal(rollback.code, 0, rollback.stderr);
      assert.equal(rollback.stderr, '');
      assert.deepEqual(await channel('mirrornet/rollback'), { revision: first, sequence: 1, rollback: true });
    });

    it('is not undone by a publisher started again on the branch head it rolled back from; the next commit is published', async () => {
      const fx = fixture();
      const first = fx.originHead();
      fx.replace('regions/us-virginia.yaml', 'team: platform-intl', 'team: platform-americas');
      const second = fx.commit('us-virginia belongs to the americas team');
      await publisherOf(fx, 'mirrornet/kept').publisher.run('start');
      assert.deepEqual(await channel('mirrornet/kept'), { revision: second, sequence: 2, rollback: false });
      const rollback = await cli(['publish', '--repo', fx.work, '--revision', first, '--to', `oci+http://${via}/mirrornet/kept`, '--rollback']);
      assert.equal(rollback.code, 0, rollback.stderr);

      const { publisher, events } = publisherOf(fx, 'mirrornet/kept');
      requests = [];
      await publisher.run('start');
      await publisher.run('poll');
      assert.equal(manifestPuts('mirrornet/kept'), 0);
      assert.deepEqual(await channel('mirrornet/kept'), { revision: first, sequence: 1, rollback: true });
      assert.deepEqual(
        events.map((e) => [e.kind, e.revision, e.message]),
        [
          [
            'revision-refused',
            second,
            `${second.slice(0, 12)} was published before, and main was rolled back from it to ${first.slice(0, 12)} on purpose (--rollback): ` +
              `it is not published again. The next commit is published as usual; \`mirrornet publish --revision ${second.slice(0, 12)} --rollback\` ` +
              'publishes this one again by hand.',
          ],
        ],
      );
      // By hand too, only on purpose: agents that took the rollback refuse anything up to the revision it rolled back from.
      const byHand = await cli(['publish', '--repo', fx.work, '--revision', second, '--to', `oci+http://${via}/mirrornet/kept`]);
      assert.equal(byHand.code, 1);
      assert.equal(
        byHand.stderr,
        `mirrornet: ${second.slice(0, 12)} (2 commits) is at or before the revision main was rolled back from (2 commits), so agents would refuse it; ` +
          'nothing was published. Publish a newer commit that reverts the rollback, or publish it with --rollback on purpose.\n',
      );
      assert.equal(manifestPuts('mirrornet/kept'), 0);

      fx.replace('regions/us-virginia.yaml', 'team: platform-americas', 'team: platform-intl');
      const third = fx.commit('us-virginia back with the international team');
      await publisher.run('webhook');
      assert.deepEqual(await channel('mirrornet/kept'), { revision: third, sequence: 3, rollback: false });
    });
  });
});

describe("the example fleet's delivery of bundles (harbor/)", () => {
  /** What the harbor-api provider would create on a core for the mirrornet project, from the example fleet. */
  async function deliveryOf(site: string) {
    const { sites } = await evaluateRepository({ repo: repoRoot }, [{ site, roles: ['hub'] }]);
    const compiled = sites.get(site);
    assert.ok(compiled && 'desired' in compiled && compiled.desired.harbor, `${site} compiles with its Harbor`);
    const o = compiled.desired.harbor.objects;
    return {
      project: o.projects.find((p) => p.name === 'mirrornet'),
      registries: o.registries.map((r) => [r.name, r.accessKey ?? null, r.secretRef ?? null]),
      policies: o.policies.map((p) => [p.name, p.direction, p.registry, p.filters, p.trigger, p.deletion, p.override, p.copyByChunk]),
      robots: o.robots
        .filter((r) => r.permissions.some((p) => p.namespace === 'mirrornet'))
        .map((r) => [r.name, r.secretRef, r.permissions.map((p) => [p.namespace, p.access.map((a) => `${a.resource}:${a.action}`)])]),
    };
  }

  it('publishes into a private project on Singapore, replicated event-based to Beijing with the robot Beijing declares for it', async () => {
    assert.deepEqual(await deliveryOf('ap-singapore'), {
      project: { name: 'mirrornet', public: false, storageLimit: 10737418240 },
      registries: [
        ['docker-hub', null, null],
        ['mirrornet-harbor-cn-beijing', 'robot$replication-from-singapore', 'env:HARBOR_ROBOT_REPLICATION_FROM_SINGAPORE'],
      ],
      policies: [
        ['bundles-to-beijing', 'push', 'mirrornet-harbor-cn-beijing', [{ type: 'name', value: 'mirrornet/**' }], { type: 'event_based' }, false, true, true],
      ],
      robots: [
        ['mirrornet-publisher', 'env:HARBOR_ROBOT_MIRRORNET_PUBLISHER', [['mirrornet', ['repository:push', 'repository:pull']]]],
        ['mirrornet-agent', 'env:HARBOR_ROBOT_MIRRORNET_AGENT', [['mirrornet', ['repository:pull']]]],
      ],
    });
  });

  it('gives Beijing the same private project, a robot for that replication and a pull-only robot for agents, and no publisher', async () => {
    const beijing = await deliveryOf('cn-beijing');
    assert.deepEqual(beijing.project, { name: 'mirrornet', public: false, storageLimit: 10737418240 });
    assert.deepEqual(beijing.robots, [
      ['replication-from-singapore', 'env:HARBOR_ROBOT_REPLICATION_FROM_SINGAPORE', [['mirrornet', ['repository:push', 'repository:pull', 'artifact:read']]]],
      ['mirrornet-agent', 'env:HARBOR_ROBOT_MIRRORNET_AGENT', [['mirrornet', ['repository:pull']]]],
    ]);
    // Beijing's own rules replicate images only: bundles flow one way, from the publisher's core.
    assert.deepEqual(
      beijing.policies.map((p) => [p[0], p[3]]),
      [
        ['to-singapore', [{ type: 'name', value: '{library,base}/**' }]],
        ['nightly-full-sync', [{ type: 'name', value: '{library,base}/**' }]],
      ],
    );
  });
});
