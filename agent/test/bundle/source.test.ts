// An agent that follows a signed bundle channel (`mirrornet agent --source oci+http://...`), end to end against
// a real docker-registry, real ssh-keygen signatures and a real git repository: what it applies, every refusal
// leaving the host as it was, a registry that goes away, and a region's nodes fetching their layer through one
// mirror (the lab's dfdaemon stand-in) so the core serves it once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, siteManifest as siteManifestOf } from '../../src/bundle/build.js';
import { OciClient } from '../../src/bundle/oci.js';
import { signDigests } from '../../src/bundle/sign.js';
import type { AgentCliOptions } from '../../src/cli/agent.js';
import { sourcesOf } from '../../src/cli/agent-sources.js';
import { hostDeps } from '../../src/cli/host.js';
import { localExec } from '../../src/host/exec.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { Agent, type TickResult } from '../../src/reconcile/loop.js';
import { createMetrics } from '../../src/reconcile/metrics.js';
import { StateStore, type AgentState } from '../../src/reconcile/state.js';
import { startPeer } from '../../src/testbed/lab/peer.js';
import { missingCommand, need } from '../support/capabilities.js';
import { snapshot, type FileStamp } from '../reconcile/git-fixture.js';
import {
  cli,
  freePort,
  makeFleetRepo,
  makeSigningKey,
  OCI_MANIFEST,
  startProxy,
  startRegistry,
  type FleetRepo,
  type SigningKey,
  type TestRegistry,
} from './registry-fixture.js';

const SITE = 'us-virginia';
const STATE_DIR = 'var/lib/mirrornet';
const HARBOR_TOML = 'etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml';
const DOCKER_TOML = 'etc/containerd/certs.d/docker.io/hosts.toml';
const DFDAEMON = 'etc/dragonfly/dfdaemon.yaml';

/** One host of the site, following its own channel (so one test's refusals never meet another's). */
interface Host {
  root: string;
  channel: string;
  /** `--to` of publish (the registry itself). */
  to: string;
}

interface Once {
  code: number;
  result: TickResult;
  stderr: string;
}

describe('bundle source: an agent following a signed channel in a registry', function () {
  this.timeout(120_000);
  let tmp: string;
  let registry: TestRegistry;
  let repo: FleetRepo;
  let ci: SigningKey;
  let rogue: SigningKey;
  let allowedSigners: string;
  /** The example fleet, then us-virginia's dialTimeout raised from 2s to 5s. */
  let c1: string;
  let c2: string;
  let c3: string;
  let hosts = 0;
  /** MIRRORNET_LOG_LEVEL as it was before this suite silenced it (unset: the suite did not get that far). */
  let logLevel: { value: string | undefined } | undefined;

  before(async function () {
    need(this, missingCommand('docker-registry', 'docker-registry'));
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    need(this, missingCommand('git', 'git'));
    tmp = mkdtempSync(join(tmpdir(), 'mn-bundle-source-'));
    registry = await startRegistry(join(tmp, 'registry'));
    ci = makeSigningKey(tmp, 'ci', 'ci@example.org');
    rogue = makeSigningKey(tmp, 'rogue', 'rogue@example.org');
    allowedSigners = join(tmp, 'allowed_signers');
    writeFileSync(allowedSigners, ci.allowedLine);
    repo = makeFleetRepo(join(tmp, 'fleet'));
    c1 = repo.git(['rev-parse', 'HEAD']);
    repo.replace(`regions/${SITE}.yaml`, 'dialTimeout: 2s', 'dialTimeout: 5s');
    c2 = repo.commit(`${SITE}: dfdaemon gets 5s to answer`);
    repo.replace(`regions/${SITE}.yaml`, 'dialTimeout: 5s', 'dialTimeout: 7s');
    c3 = repo.commit(`${SITE}: dfdaemon gets 7s to answer`);
    // The in-process agent logs to stderr; the results and the state say what the tests check.
    logLevel = { value: process.env['MIRRORNET_LOG_LEVEL'] };
    process.env['MIRRORNET_LOG_LEVEL'] = 'silent';
  });
  after(async () => {
    if (logLevel && logLevel.value === undefined) delete process.env['MIRRORNET_LOG_LEVEL'];
    else if (logLevel) process.env['MIRRORNET_LOG_LEVEL'] = logLevel.value;
    await registry?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const newHost = (channel?: string, reg: { host: string } = registry): Host => {
    hosts += 1;
    const ch = channel ?? `t${hosts}`;
    return { root: join(tmp, `host${hosts}`), channel: ch, to: `oci+http://${reg.host}/mirrornet/fleet:${ch}` };
  };

  const client = () => new OciClient({ base: registry.base, host: registry.host, repository: 'mirrornet/fleet' });

  async function publish(h: Host, revision: string, opts: { key?: SigningKey | null; rollback?: boolean } = {}): Promise<void> {
    const key = opts.key === undefined ? ci : opts.key;
    const res = await cli([
      'publish',
      '--repo',
      repo.dir,
      '--revision',
      revision,
      '--to',
      h.to,
      ...(key ? ['--sign-key', `file:${key.key}`] : []),
      ...(opts.rollback ? ['--rollback'] : []),
    ]);
    assert.equal(res.code, 0, res.stderr);
  }

  /** `mirrornet agent --once` for `h`, through `source` (default: the registry itself). */
  async function agentOnce(h: Host, extra: string[] = [], source = `oci+http://${registry.host}/mirrornet/fleet:${h.channel}`): Promise<Once> {
    const res = await cli([
      'agent',
      '--once',
      '--no-chat',
      '--region',
      SITE,
      '--roles',
      'node',
      '--source',
      source,
      '--allowed-signers',
      allowedSigners,
      '--root',
      h.root,
      '--dragonfly-restart',
      'true',
      '--docker-reload',
      'true',
      ...extra,
    ]);
    let result: TickResult;
    try {
      result = JSON.parse(res.stdout) as TickResult;
    } catch {
      assert.fail(`agent --once printed no result (exit ${res.code}):\n${res.stdout}${res.stderr}`);
    }
    return { code: res.code, result, stderr: res.stderr };
  }

  const state = (h: Host) => JSON.parse(readFileSync(join(h.root, STATE_DIR, 'state.json'), 'utf8')) as AgentState;
  /** The host's files outside the state directory (inode, mtime, content). */
  const hostFiles = (h: Host): Map<string, FileStamp> => new Map([...snapshot(h.root)].filter(([p]) => !p.startsWith(`${STATE_DIR}/`)));
  const text = (h: Host, rel: string) => readFileSync(join(h.root, rel), 'utf8');

  /** Publish `revision` to the host's channel and apply it; the host's files after. */
  async function applied(h: Host, revision: string): Promise<Map<string, FileStamp>> {
    await publish(h, revision);
    const res = await agentOnce(h);
    assert.equal(res.code, 0, `${JSON.stringify(res.result)}\n${res.stderr}`);
    assert.equal(state(h).appliedRevision, revision);
    return hostFiles(h);
  }

  /** The refusal of `revision`: exit 3, its reason, and the host exactly as it was. */
  async function assertRefused(h: Host, before: Map<string, FileStamp>, appliedRevision: string, revision: string, reason: string): Promise<void> {
    const res = await agentOnce(h);
    assert.equal(res.code, 3, `${JSON.stringify(res.result)}\n${res.stderr}`);
    assert.equal(res.result.kind, 'refused', JSON.stringify(res.result));
    const refused = res.result as Extract<TickResult, { kind: 'refused' }>;
    assert.equal(refused.revision, revision);
    assert.equal(refused.reason, reason);
    assert.equal(state(h).appliedRevision, appliedRevision);
    assert.equal(state(h).refused?.revision, revision);
    assert.deepEqual(hostFiles(h), before);
  }

  /** The refusal of `revision` (`sequence` commits) by a host rolled back from c2. */
  const rolledBackFromC2 = (revision: string, sequence: number) =>
    `${revision.slice(0, 12)} (${sequence} commits) is at or before the revision this host was rolled back from (2 commits); ` +
    'publish a newer commit that reverts the rollback, or publish it with --rollback on purpose';

  async function siteManifest(channel: string): Promise<{ bytes: Buffer; digest: string; layer: string }> {
    const got = await client().getManifest(`${channel}.${SITE}`);
    assert.ok(got, `no manifest ${channel}.${SITE}`);
    const layer = (JSON.parse(got.bytes.toString('utf8')) as { layers: { digest: string }[] }).layers[0]!.digest;
    return { ...got, layer };
  }

  const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

  /** The JSON of the site's layer in `channel`. */
  async function layerOf(channel: string): Promise<Record<string, unknown>> {
    const { layer } = await siteManifest(channel);
    return JSON.parse((await client().getBlob(layer, 1 << 20)).toString('utf8')) as Record<string, unknown>;
  }

  /**
   * The site's layer in `channel` with `changes` made to what it says, signed by the allowed key (or carrying
   * `signature`), written as `write` writes it (canonical JSON), pushed with its manifest and put under the
   * site's tag. Its layer's and its manifest's digests.
   */
  async function relayered(
    channel: string,
    changes: Record<string, unknown>,
    opts: { signature?: string; write?: (layer: Record<string, unknown>) => string } = {},
  ): Promise<{ layer: string; manifest: string }> {
    const { signature: _published, ...payload } = await layerOf(channel);
    Object.assign(payload, changes);
    const digest = sha256(Buffer.from(canonicalJson(payload), 'utf8'));
    const signed = opts.signature ?? (await signDigests(localExec(), [digest], ci.privateKey)).get(digest)!;
    const bytes = Buffer.from((opts.write ?? canonicalJson)({ ...payload, signature: signed }), 'utf8');
    const oci = client();
    await oci.pushBlob(sha256(bytes), bytes);
    const m = siteManifestOf({ digest: sha256(bytes), size: bytes.length });
    await oci.putManifest(m.digest, m.manifest, OCI_MANIFEST);
    await oci.putManifest(`${channel}.${SITE}`, m.manifest, OCI_MANIFEST);
    return { layer: sha256(bytes), manifest: m.digest };
  }

  /** A site manifest of another format version (`v`) over the channel's layer, naming `revision`, under the site's tag; its digest. */
  async function otherFormat(channel: string, v: number, revision: string): Promise<string> {
    const published = await siteManifest(channel);
    const { layers, config } = JSON.parse(published.bytes.toString('utf8')) as { layers: { size: number }[]; config: unknown };
    const bytes = Buffer.from(
      canonicalJson({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: `application/vnd.mirrornet.bundle.site.v${v}`,
        config,
        layers: [{ mediaType: `application/vnd.mirrornet.bundle.site.v${v}+json`, digest: published.layer, size: layers[0]!.size }],
        annotations: { 'org.opencontainers.image.revision': revision, 'io.mirrornet.bundle.schema': '3' },
      }),
      'utf8',
    );
    await client().putManifest(`${channel}.${SITE}`, bytes, OCI_MANIFEST);
    return sha256(bytes);
  }

  /** One run of the agent applies c1 again: its files as they were at c1. */
  async function assertRolledBack(h: Host, atC1: Map<string, FileStamp>): Promise<void> {
    const res = await agentOnce(h);
    assert.equal(res.code, 0, `${JSON.stringify(res.result)}\n${res.stderr}`);
    assert.deepEqual(res.result, { kind: 'applied', revision: c1, changes: 2 });
    assert.equal(state(h).appliedRevision, c1);
    assert.match(text(h, HARBOR_TOML), /^\s*dial_timeout = "2s"$/m);
    // The files it manages as they were at c1 (beside them, the backups of what they replace).
    for (const file of [DOCKER_TOML, HARBOR_TOML, DFDAEMON]) assert.equal(text(h, file), atC1.get(file)?.content, file);
  }

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
