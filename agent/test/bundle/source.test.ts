// An agent that follows a signed bundle channel (`mirrornet agent --source oci+http://...`), end to end against
// a real docker-registry, real ssh-keygen signatures and a real git repository: what it applies, and every
// refusal leaving the host as it was (source-fixture.ts). The order of revisions, rollbacks, a registry that
// goes away and a region's nodes behind one mirror are in source-order.test.ts.
import assert from 'node:assert/strict';
import { canonicalJson } from '../../src/bundle/build.js';
import { OCI_MANIFEST, startProxy, type TestRegistry, type SigningKey, type FleetRepo } from './registry-fixture.js';
import { SITE, HARBOR_TOML, DOCKER_TOML, DFDAEMON, useBundleSource } from './source-fixture.js';

describe('bundle source: an agent following a signed channel in a registry', function () {
  this.timeout(120_000);
  const fx = useBundleSource();
  const {
    newHost,
    client,
    publish,
    agentOnce,
    state,
    hostFiles,
    text,
    applied,
    assertRefused,
    siteManifest,
    layerOf,
    relayered,
    otherFormat,
    assertRolledBack,
  } = fx;
  let c1: string;
  let c2: string;
  let registry: TestRegistry;
  let allowedSigners: string;
  let rogue: SigningKey;
  let repo: FleetRepo;
  before(() => ({ c1, c2, registry, allowedSigners, rogue, repo } = fx));
  it("applies its site's layer of a signed bundle: exit 0, the commit recorded as applied, the node's files under --root", async () => {
    const h = newHost();
    await publish(h, c1);
    const res = await agentOnce(h);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(res.result, { kind: 'applied', revision: c1, changes: 3 });
    assert.equal(state(h).appliedRevision, c1);
    assert.deepEqual([...hostFiles(h).keys()], [DOCKER_TOML, HARBOR_TOML, DFDAEMON]);
    assert.match(text(h, HARBOR_TOML), /^\s*dial_timeout = "2s"$/m);
    assert.match(text(h, DFDAEMON), /^\s*idc: us-virginia$/m);

    // Nothing new in the channel: the next run keeps it.
    const again = await agentOnce(h);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.result, { kind: 'in-sync', revision: c1 });
  });

  describe('refuses, and changes nothing on the host (exit 3; 4 when it needs a newer agent)', () => {
    it('a bundle signed by a key that is not in --allowed-signers', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2, { key: rogue });
      // Named by its manifest's digest: nothing an unverified layer says (its revision) is repeated.
      const { layer, digest } = await siteManifest(h.channel);
      await assertRefused(h, before, c1, digest, `the layer ${layer} of ${SITE} is not signed by a key in ${allowedSigners}`);
    });

    it('a bundle published without --sign-key', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2, { key: null });
      assert.equal((await layerOf(h.channel))['signature'], undefined);
      const { layer, digest } = await siteManifest(h.channel);
      await assertRefused(h, before, c1, digest, `the layer ${layer} of ${SITE} is not signed: publish it with --sign-key (agents apply only signed bundles)`);
    });

    it("a layer that carries the allowed key's signature of another layer (c1's, in c2's layer)", async () => {
      const h = newHost();
      const before = await applied(h, c1);
      const c1Signature = (await layerOf(h.channel))['signature'] as string;
      assert.match(c1Signature, /^-----BEGIN SSH SIGNATURE-----\n/);
      await publish(h, c2);
      const { layer, manifest } = await relayered(h.channel, {}, { signature: c1Signature });
      await assertRefused(h, before, c1, manifest, `the signature of the layer ${layer} of ${SITE} does not verify against ${allowedSigners}`);
    });

    it('a layer whose content was changed after it was signed (its digest still right)', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      const signature = (await layerOf(h.channel))['signature'] as string;
      // The publisher's own signature, over a layer that now says it needs no newer agent than 0.0.1.
      const { layer, manifest } = await relayered(h.channel, { minAgentVersion: '0.0.1' }, { signature });
      await assertRefused(h, before, c1, manifest, `the signature of the layer ${layer} of ${SITE} does not verify against ${allowedSigners}`);
    });

    it('a signed layer written otherwise than as the canonical JSON its signature covers (its digest still right)', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      // The same content and the allowed key's signature of it, with whitespace: the bytes applied must be the bytes signed.
      const { layer, manifest } = await relayered(h.channel, {}, { write: (l) => JSON.stringify(JSON.parse(canonicalJson(l)), null, 1) });
      await assertRefused(h, before, c1, manifest, `the layer ${layer} of ${SITE} is not a mirrornet site layer`);
    });

    it('a layer the registry mirror hands over with other bytes than its digest is never applied: the registry decides', async () => {
      const h = newHost();
      await applied(h, c1);
      await publish(h, c2);
      const { layer } = await siteManifest(h.channel);
      // A mirror that serves every blob with us-virginia's dfdaemon timeout changed (200, a plausible layer).
      const mirror = await startProxy(registry.base, {
        alter: (req, body) => (req.method === 'GET' && req.path.includes('/blobs/') ? Buffer.from(body.toString('utf8').replaceAll('5s', '9s')) : body),
      });
      try {
        const res = await agentOnce(h, ['--registry-mirror', mirror.url]);
        // The altered bytes (9s) fail their digest; the layer is then taken from the registry itself (5s).
        assert.equal(res.code, 0, `${JSON.stringify(res.result)}\n${res.stderr}`);
        assert.equal(res.result.kind, 'applied');
        assert.deepEqual(
          mirror.requests.map((r) => `${r.method} ${r.path}`),
          [`GET /v2/mirrornet/fleet/blobs/${layer}?ns=${encodeURIComponent(registry.host)}`],
        );
        assert.equal(state(h).appliedRevision, c2);
        const files = [...hostFiles(h).values()].map((f) => f.content).join('\n');
        assert.ok(files.includes('5s') && !files.includes('9s'), "the registry's bytes, not the mirror's");
      } finally {
        await mirror.close();
      }
    });

    it('a bundle that needs a newer agent, signed by the allowed key: outdated (exit 4), naming the version and what to do', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      await relayered(h.channel, { minAgentVersion: '99.0.0' });
      const reason =
        `the bundle of ${c2.slice(0, 12)} needs mirrornet ≥ 99.0.0 (bundle schema 4); this agent is 0.2.0 (reads bundle schema 4): ` +
        'upgrade mirrornet on this host';
      const res = await agentOnce(h);
      assert.equal(res.code, 4, `${JSON.stringify(res.result)}\n${res.stderr}`);
      assert.deepEqual(res.result, { kind: 'outdated', revision: c2, reason });
      assert.equal(state(h).appliedRevision, c1);
      assert.deepEqual(
        { ...state(h).refused, at: undefined },
        { revision: c2, reason, at: undefined, offer: state(h).refused?.offer, code: 'agent-too-old', agentVersion: '0.2.0' },
      );
      assert.deepEqual(hostFiles(h), before);
      // Said once: the next run keeps c1 and exits 0.
      const again = await agentOnce(h);
      assert.deepEqual([again.code, again.result], [0, { kind: 'in-sync', revision: c1 }]);
    });

    it("a bundle of a newer bundle schema is outdated too; the minimum published is the repository's declaration", async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      await relayered(h.channel, { schemaVersion: 5 });
      const res = await agentOnce(h);
      assert.equal(res.code, 4, `${JSON.stringify(res.result)}\n${res.stderr}`);
      assert.deepEqual(res.result, {
        kind: 'outdated',
        revision: c2,
        reason:
          `the bundle of ${c2.slice(0, 12)} needs mirrornet ≥ 0.2.0 (bundle schema 5); this agent is 0.2.0 (reads bundle schema 4): ` +
          'upgrade mirrornet on this host',
      });
      assert.deepEqual(hostFiles(h), before);
      // The example fleet declares 0.2.0 in policies/agent.yaml; a repository that declares 0.1.7 publishes 0.1.7.
      assert.equal((await layerOf(h.channel))['minAgentVersion'], '0.2.0');
      repo.replace('policies/agent.yaml', 'minAgentVersion: 0.2.0', 'minAgentVersion: 0.1.7');
      const c4 = repo.commit('the fleet may be applied by mirrornet 0.1.7');
      const h2 = newHost();
      await publish(h2, c4);
      assert.equal((await layerOf(h2.channel))['minAgentVersion'], '0.1.7');
    });

    it('a bundle published by an older mirrornet (site artifact v1, its signature beside it), saying to publish again, named by its digest', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      const digest = await otherFormat(h.channel, 1, c2);
      await assertRefused(
        h,
        before,
        c1,
        digest,
        `the bundle ${digest} was published by an older mirrornet (site artifact v1; this agent reads v2): ` +
          'publish the revision again with this version of mirrornet',
      );
    });

    it('a bundle in a newer format (site artifact v3): outdated (exit 4), before any layer is read', async () => {
      const h = newHost();
      const before = await applied(h, c1);
      await publish(h, c2);
      const digest = await otherFormat(h.channel, 3, c2);
      const res = await agentOnce(h);
      assert.equal(res.code, 4, `${JSON.stringify(res.result)}\n${res.stderr}`);
      // Its revision annotation is not repeated: nothing of a format this agent cannot verify is believed.
      assert.deepEqual(res.result, {
        kind: 'outdated',
        revision: digest,
        reason: `the bundle ${digest} is in a newer format (site artifact v3); this agent is 0.2.0 (reads v2): upgrade mirrornet on this host`,
      });
      assert.deepEqual(hostFiles(h), before);
    });

    it('a revision older than the one applied (the old site manifest put back under the tag)', async () => {
      const h = newHost();
      await applied(h, c1);
      const old = await siteManifest(h.channel);
      const before = await applied(h, c2);
      assert.match(text(h, HARBOR_TOML), /^\s*dial_timeout = "5s"$/m);
      await client().putManifest(`${h.channel}.${SITE}`, old.bytes, OCI_MANIFEST);
      await assertRefused(
        h,
        before,
        c2,
        c1,
        `${c1.slice(0, 12)} is older than the revision applied here (1 commits against 2); ` +
          'publish a newer commit that reverts, or publish it with --rollback on purpose',
      );
    });

    it("a signed manifest of another channel put under this channel's tag", async () => {
      const h = newHost();
      const before = await applied(h, c1);
      // c2, signed by the allowed key, but for the channel "other": copied under this host's channel tag.
      const other = newHost(`${h.channel}x`);
      await publish(other, c2);
      const foreign = await siteManifest(other.channel);
      await client().putManifest(`${h.channel}.${SITE}`, foreign.bytes, OCI_MANIFEST);
      await assertRefused(
        h,
        before,
        c1,
        c2,
        `${registry.host}/mirrornet/fleet:${h.channel}.${SITE} holds a bundle published for the channel ${other.channel}, not ${h.channel}`,
      );
    });

    // A refusal holds for the manifest refused (state.refused.offer): the same commit published again as a
    // rollback is another manifest, and is looked at again.
    it('an older revision refused once is applied when it is published again with --rollback', async () => {
      const h = newHost();
      const atC1 = await applied(h, c1);
      const old = await siteManifest(h.channel);
      await applied(h, c2);
      await client().putManifest(`${h.channel}.${SITE}`, old.bytes, OCI_MANIFEST);
      assert.equal((await agentOnce(h)).code, 3);
      await publish(h, c1, { rollback: true });
      await assertRolledBack(h, atC1);
    });
  });
});
