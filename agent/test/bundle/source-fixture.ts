// The fixture of the bundle-source tests (source.test.ts, source-order.test.ts): a real docker-registry, real
// ssh-keygen keys (the allowed one and a rogue one), the example fleet in a git repository with three commits of
// us-virginia's dfdaemon timeout (2s, 5s, 7s), and helpers that publish, run `mirrornet agent --once` for one
// host (each on its own channel, so one test's refusals never meet another's) and look at what it left.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, siteManifest as siteManifestOf } from '../../src/bundle/build.js';
import { OciClient } from '../../src/bundle/oci.js';
import { signDigests } from '../../src/bundle/sign.js';
import { localExec } from '../../src/host/exec.js';
import type { TickResult } from '../../src/reconcile/loop.js';
import type { AgentState } from '../../src/reconcile/state.js';
import { missingCommand, need } from '../support/capabilities.js';
import { snapshot, type FileStamp } from '../reconcile/git-fixture.js';
import { cli, makeFleetRepo, makeSigningKey, OCI_MANIFEST, startRegistry, type FleetRepo, type SigningKey, type TestRegistry } from './registry-fixture.js';

export const SITE = 'us-virginia';
export const STATE_DIR = 'var/lib/mirrornet';
export const HARBOR_TOML = 'etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml';
export const DOCKER_TOML = 'etc/containerd/certs.d/docker.io/hosts.toml';
export const DFDAEMON = 'etc/dragonfly/dfdaemon.yaml';

/** One host of the site, following its own channel (so one test's refusals never meet another's). */
export interface Host {
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

/** Registers the suite's before/after hooks (call it first in a describe) and gives its helpers. */
export function useBundleSource() {
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

  return {
    get tmp() {
      return tmp;
    },
    get registry() {
      return registry;
    },
    get repo() {
      return repo;
    },
    get ci() {
      return ci;
    },
    get rogue() {
      return rogue;
    },
    get allowedSigners() {
      return allowedSigners;
    },
    get c1() {
      return c1;
    },
    get c2() {
      return c2;
    },
    get c3() {
      return c3;
    },
    newHost,
    client,
    publish,
    agentOnce,
    state,
    hostFiles,
    text,
    applied,
    assertRefused,
    rolledBackFromC2,
    siteManifest,
    sha256,
    layerOf,
    relayered,
    otherFormat,
    assertRolledBack,
  };
}
