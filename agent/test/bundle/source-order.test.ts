// An agent that follows a signed bundle channel, continued (source-fixture.ts): the order of revisions and
// rollbacks (a rollback's floor), a layer that cannot be had for now, a registry that goes away, and a region's
// nodes fetching their layer through one mirror (the lab's dfdaemon stand-in) so the core serves it once.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentCliOptions } from '../../src/cli/agent.js';
import { sourcesOf } from '../../src/cli/agent-sources.js';
import { hostDeps } from '../../src/cli/host.js';
import { localExec } from '../../src/host/exec.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { Agent } from '../../src/reconcile/loop.js';
import { createMetrics } from '../../src/reconcile/metrics.js';
import { StateStore } from '../../src/reconcile/state.js';
import { startPeer } from '../../src/testbed/lab/peer.js';
import { freePort, OCI_MANIFEST, startProxy, startRegistry, type TestRegistry } from './registry-fixture.js';
import { SITE, STATE_DIR, HARBOR_TOML, useBundleSource } from './source-fixture.js';

describe('bundle source: the order of revisions, and a registry or mirror that fails', function () {
  this.timeout(120_000);
  const fx = useBundleSource();
  const { newHost, client, publish, agentOnce, state, hostFiles, text, applied, assertRefused, rolledBackFromC2, siteManifest, layerOf, assertRolledBack } = fx;
  let c1: string;
  let c2: string;
  let c3: string;
  let registry: TestRegistry;
  let tmp: string;
  let allowedSigners: string;
  before(() => ({ c1, c2, c3, registry, tmp, allowedSigners } = fx));
  it('refuses a rollback put back under the tag after the fleet moved past the revision it rolled back from', async () => {
    const h = newHost();
    const atC1 = await applied(h, c1);
    await applied(h, c2);
    await publish(h, c1, { rollback: true });
    await assertRolledBack(h, atC1);
    const rollback = await siteManifest(h.channel);
    const before = await applied(h, c3);
    await client().putManifest(`${h.channel}.${SITE}`, rollback.bytes, OCI_MANIFEST);
    await assertRefused(
      h,
      before,
      c3,
      c1,
      `${c1.slice(0, 12)} is a rollback from the revision of 2 commits, but this host is past the revision of 3 commits: ` +
        'a rollback is not taken again after the fleet moved on; publish a newer commit that reverts, or publish it again with --rollback',
    );
  });

  it('refuses the revision it was rolled back from, put back under the tag, and takes the next commit', async () => {
    const h = newHost();
    const atC1 = await applied(h, c1);
    await applied(h, c2);
    const rolledBackFrom = await siteManifest(h.channel);
    await publish(h, c1, { rollback: true });
    await assertRolledBack(h, atC1);
    const rolledBack = hostFiles(h);
    await client().putManifest(`${h.channel}.${SITE}`, rolledBackFrom.bytes, OCI_MANIFEST);
    await assertRefused(h, rolledBack, c1, c2, rolledBackFromC2(c2, 2));
    await applied(h, c3);
  });

  it('keeps the floor of a rollback: an old publish of the revision rolled back to, replayed, does not undo it', async () => {
    const h = newHost();
    await applied(h, c1);
    const plainC1 = await siteManifest(h.channel);
    await applied(h, c2);
    const c2Published = await siteManifest(h.channel);
    await publish(h, c1, { rollback: true });
    assert.equal((await agentOnce(h)).code, 0);
    const rolledBack = hostFiles(h);
    // c1 as first published (no rollback), then c2: both refused, whatever order they come in.
    await client().putManifest(`${h.channel}.${SITE}`, plainC1.bytes, OCI_MANIFEST);
    await assertRefused(h, rolledBack, c1, c1, rolledBackFromC2(c1, 1));
    await client().putManifest(`${h.channel}.${SITE}`, c2Published.bytes, OCI_MANIFEST);
    await assertRefused(h, rolledBack, c1, c2, rolledBackFromC2(c2, 2));
  });

  it('takes the floor of a rollback to the revision it has applied already (it never took the one rolled back from)', async () => {
    const h = newHost();
    const atC1 = await applied(h, c1);
    await publish(h, c2);
    const c2Published = await siteManifest(h.channel);
    // This host never ran while c2 was out: the rollback to c1 is the revision it has, as another bundle.
    await publish(h, c1, { rollback: true });
    const res = await agentOnce(h);
    assert.deepEqual([res.code, res.result], [0, { kind: 'in-sync', revision: c1 }]);
    assert.deepEqual(hostFiles(h), atC1);
    await client().putManifest(`${h.channel}.${SITE}`, c2Published.bytes, OCI_MANIFEST);
    await assertRefused(h, atC1, c1, c2, rolledBackFromC2(c2, 2));
  });

  it('applies a rollback published unsigned once it is signed (publish --sign-key without --rollback keeps it a rollback)', async () => {
    const h = newHost();
    const atC1 = await applied(h, c1);
    await applied(h, c2);
    await publish(h, c1, { key: null, rollback: true });
    assert.equal((await agentOnce(h)).code, 3, 'unsigned: refused');
    await publish(h, c1);
    assert.equal((await layerOf(h.channel))['rollbackFrom'], 2);
    await assertRolledBack(h, atC1);
  });

  it('applies an older revision published with --rollback on purpose', async () => {
    const h = newHost();
    const atC1 = await applied(h, c1);
    await applied(h, c2);
    assert.match(text(h, HARBOR_TOML), /^\s*dial_timeout = "5s"$/m);
    await publish(h, c1, { rollback: true });
    await assertRolledBack(h, atC1);
  });

  it("fails the run (exit 1), refusing nothing, while the host's allowed-signers file cannot be read", async () => {
    const h = newHost();
    await publish(h, c1);
    const missing = join(tmp, 'no-such-allowed-signers');
    const res = await agentOnce(h, ['--allowed-signers', missing]);
    assert.equal(res.code, 1, `${JSON.stringify(res.result)}\n${res.stderr}`);
    assert.deepEqual(
      [res.result.kind, (res.result as { step?: string }).step, (res.result as { reason?: string }).reason],
      ['failed', 'fetch', `Cannot read the allowed-signers file ${missing} (ENOENT): nothing applied; fix --allowed-signers.`],
    );
    assert.equal(existsSync(join(h.root, STATE_DIR, 'state.json')) ? state(h).refused : undefined, undefined);
    // Fixed, the next run applies it.
    assert.deepEqual((await agentOnce(h)).result, { kind: 'applied', revision: c1, changes: 3 });
  });

  describe('a layer that cannot be had for now is no refusal', () => {
    it("takes its layer from the registry when the region's mirror answers with an error (HTTP 502)", async () => {
      const h = newHost();
      await applied(h, c1);
      await publish(h, c2);
      const { layer } = await siteManifest(h.channel);
      const mirror = await startProxy(registry.base, { answer: () => 502 });
      try {
        const res = await agentOnce(h, ['--registry-mirror', mirror.url]);
        assert.equal(res.code, 0, `${JSON.stringify(res.result)}\n${res.stderr}`);
        assert.deepEqual(res.result, { kind: 'applied', revision: c2, changes: 2 });
        assert.deepEqual(
          mirror.requests.map((r) => `${r.method} ${r.path}`),
          [`GET /v2/mirrornet/fleet/blobs/${layer}?ns=${encodeURIComponent(registry.host)}`],
        );
        assert.equal(state(h).appliedRevision, c2);
        assert.match(text(h, HARBOR_TOML), /^\s*dial_timeout = "5s"$/m);
      } finally {
        await mirror.close();
      }
    });

    it('fails the run (exit 1) when the registry cannot serve the layer (HTTP 500), and applies it on the next run', async () => {
      const h = newHost();
      await applied(h, c1);
      await publish(h, c2);
      const { layer } = await siteManifest(h.channel);
      const blob = `/v2/mirrornet/fleet/blobs/${layer}`;
      let broken = true;
      const front = await startProxy(registry.base, { answer: (req) => (broken && req.path === blob ? 500 : undefined) });
      try {
        const source = `oci+http://${front.host}/mirrornet/fleet:${h.channel}`;
        const before = hostFiles(h);
        const failed = await agentOnce(h, [], source);
        assert.equal(failed.code, 1, `${JSON.stringify(failed.result)}\n${failed.stderr}`);
        // The layer names the revision: before it is read, the run is about the applied one.
        assert.deepEqual(failed.result, {
          kind: 'failed',
          revision: c1,
          step: 'fetch',
          reason: `The registry ${front.host} could not read the blob ${layer} of mirrornet/fleet (HTTP 500: UNAVAILABLE the test proxy answers 500).`,
        });
        assert.equal(state(h).appliedRevision, c1);
        assert.equal(state(h).refused, undefined);
        assert.deepEqual(hostFiles(h), before);

        broken = false;
        const res = await agentOnce(h, [], source);
        assert.equal(res.code, 0, `${JSON.stringify(res.result)}\n${res.stderr}`);
        assert.deepEqual(res.result, { kind: 'applied', revision: c2, changes: 2 });
        assert.equal(front.requests.filter((r) => r.method === 'GET' && r.path === blob).length, 2);
      } finally {
        await front.close();
      }
    });
  });

  it('keeps the applied revision when the registry is down, and says so on the drift channel', async () => {
    const own = await startRegistry(join(tmp, 'registry-down'));
    try {
      const h = newHost(undefined, own);
      await publish(h, c1);
      const opts = {
        region: SITE,
        roles: 'node',
        root: h.root,
        source: h.to,
        allowedSigners,
        branch: 'main',
        interval: '30s',
        listen: '127.0.0.1:0',
        dragonflyRestart: 'true',
        dockerReload: 'true',
      } as AgentCliOptions;
      const stateDir = join(h.root, STATE_DIR);
      const sources = await sourcesOf(opts, ['node'], stateDir, hostSecrets({ root: h.root }), localExec());
      const deps = hostDeps({ ...opts, repo: '', format: 'text' }, silentLogger());
      const events: AgentEvent[] = [];
      const agent = new Agent({ site: SITE, roles: ['node'] }, sources.revisions, new StateStore(stateDir), deps, silentLogger(), createMetrics(), (e) =>
        events.push(e),
      );
      assert.deepEqual(await agent.tick('test'), { kind: 'applied', revision: c1, changes: 3 });
      const before = hostFiles(h);
      const port = own.host.split(':')[1]!;

      await own.kill();
      events.length = 0;
      const res = await agent.tick('test');
      assert.deepEqual(res, {
        kind: 'failed',
        revision: c1,
        step: 'fetch',
        reason:
          `Cannot reach the registry 127.0.0.1:${port} (ECONNREFUSED) to check mirrornet/fleet:${h.channel}.${SITE}: ` +
          'check the address and that the registry is running.',
      });
      assert.deepEqual(
        events.map((e) => [e.kind, e.origin, e.component, e.revision]),
        [['apply-failed', 'drift', 'source', c1]],
      );
      assert.equal(
        events[0]!.message,
        `${SITE} cannot reach its configuration source: Cannot reach the registry 127.0.0.1:${port} (ECONNREFUSED) to check ` +
          `mirrornet/fleet:${h.channel}.${SITE}: check the address and that the registry is running. ` +
          `It keeps ${c1.slice(0, 12)} applied and keeps checking drift against it.`,
      );
      assert.equal(state(h).appliedRevision, c1);
      assert.equal(state(h).refused, undefined);
      assert.deepEqual(hostFiles(h), before);
    } finally {
      await own.kill();
    }
  });

  it("serves a site's layer from the core once when its three nodes fetch it through the region's mirror", async () => {
    // The core's registry, behind a proxy that counts what it is asked; the region's dfdaemon (the lab's stand-in).
    const core = await startProxy(registry.base);
    const peerLog: { path?: unknown; mode?: unknown; status?: unknown }[] = [];
    const peer = await startPeer({
      host: '127.0.0.1',
      port: await freePort(),
      cacheDir: join(tmp, 'peer-cache'),
      registryMirror: core.url,
      rules: [/blobs\/sha256.*/],
      log: (e) => peerLog.push(e),
    });
    try {
      const nodes = [newHost('region'), newHost('region'), newHost('region')];
      await publish(nodes[0]!, c1);
      const { layer } = await siteManifest('region');
      const source = `oci+http://${core.host}/mirrornet/fleet:region`;
      const runs = await Promise.all(nodes.map((h) => agentOnce(h, ['--registry-mirror', peer.url], source)));
      for (const [i, res] of runs.entries()) {
        assert.equal(res.code, 0, `node ${i + 1}: ${JSON.stringify(res.result)}\n${res.stderr}`);
        assert.deepEqual(res.result, { kind: 'applied', revision: c1, changes: 3 });
        assert.equal(state(nodes[i]!).appliedRevision, c1);
        assert.match(text(nodes[i]!, HARBOR_TOML), /^\s*dial_timeout = "2s"$/m);
      }
      const blob = `/v2/mirrornet/fleet/blobs/${layer}`;
      assert.equal(core.requests.filter((r) => r.method === 'GET' && r.path.split('?')[0] === blob).length, 1);
      const atPeer = peerLog.filter((e) => e.path === blob);
      assert.equal(atPeer.length, 3);
      assert.deepEqual(
        atPeer.map((e) => e.status),
        [200, 200, 200],
      );
      assert.equal(atPeer.filter((e) => e.mode === 'miss').length, 1);
    } finally {
      peer.server.closeAllConnections();
      await new Promise<void>((resolve) => peer.server.close(() => resolve()));
      await core.close();
    }
  });
});
