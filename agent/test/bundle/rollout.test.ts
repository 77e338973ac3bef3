// Rollout waves against a real registry (Debian's docker-registry): the publisher pushes a revision with the
// site tags held, then moves them wave by wave as the cores report the sites healthy (a fake core answers
// GET /v1/status; the request is really signed), halts on a failure and says so once, holds a revision
// outside the change windows unless its commit carries the emergency trailer. The clock is fixed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOciReference, OciClient, type OciTarget } from '../../src/bundle/oci.js';
import { publishRevision } from '../../src/cli/publish.js';
import { Publisher } from '../../src/cli/publisher.js';
import { RolloutDriver } from '../../src/cli/rollout-driver.js';
import { silentLogger } from '../../src/log.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import type { FleetStatus } from '../../src/report/site/schema.js';
import { HOOK_FAILED, oneGatewayFleetStatus, type GatewayView } from '../support/fleet-status.js';
import { GitSource } from '../../src/source/clone.js';
import { missingCommand, need } from '../support/capabilities.js';
import { createGitFixture, type GitFixture } from '../reconcile/git-fixture.js';
import { cli, makeSigningKey, startRegistry, type TestRegistry } from './registry-fixture.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Monday 2026-12-07 03:00 UTC: 11:00 in Shanghai and Singapore, inside both areas' windows. */
const MONDAY = Date.parse('2026-12-07T03:00:00Z');
/** Saturday 2026-12-05 06:00 UTC: outside every window of the example fleet. */
const SATURDAY = Date.parse('2026-12-05T06:00:00Z');
const MIN = 60_000;
const SITES = ['ap-jakarta', 'ap-singapore', 'cn-beijing', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];

type SiteView = GatewayView;

describe('rollout waves (publisher to registry)', function () {
  this.timeout(120_000);
  let tmp: string;
  let registry: TestRegistry;
  let fx: GitFixture;
  let target: OciTarget;
  let now = MONDAY;
  /** What the fake cores say of each site. */
  let sites: Record<string, SiteView> = {};
  const events: AgentEvent[] = [];
  let publisher: Publisher;
  let startPublisher: () => Publisher;
  /** The publisher's bundle signing key (its contents). */
  let bundleKey: string;

  const status = (): FleetStatus => oneGatewayFleetStatus(sites, now);

  before(async function () {
    need(this, missingCommand('docker-registry', 'docker-registry'));
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    need(this, missingCommand('git', 'git'));
    tmp = mkdtempSync(join(tmpdir(), 'mn-rollout-'));
    registry = await startRegistry(join(tmp, 'registry'));
    const t = parseOciReference(`oci+http://${registry.host}/mirrornet/fleet`);
    if ('error' in t) throw new Error(t.error);
    target = t;
    fx = createGitFixture();
    const signing = makeSigningKey(tmp, 'bundle', 'publisher');
    bundleKey = signing.privateKey;
    const operator = makeSigningKey(tmp, 'operator', 'publisher-operator');
    const fakeCore = (async () => new Response(JSON.stringify(status()), { status: 200 })) as unknown as typeof fetch;
    const emit = (e: AgentEvent) => events.push(e);
    // As `mirrornet agent --publish-to ... --rollout-core ... --rollout-key ...` builds it; again after a restart.
    startPublisher = () =>
      new Publisher({
        site: 'ap-singapore',
        git: new GitSource({ url: fx.origin, branch: 'main', dir: join(fx.stateDir, 'publish') }),
        target,
        signingKey: signing.privateKey,
        log: silentLogger(),
        emit,
        rollout: new RolloutDriver({
          site: 'ap-singapore',
          stateDir: fx.stateDir,
          client: new OciClient(target),
          cores: { core: ['http://core.invalid:9464'], key: operator.key },
          emit,
          log: silentLogger(),
          clock: () => now,
          deps: { fetch: fakeCore, clock: () => now },
        }),
      });
    publisher = startPublisher();
  });
  after(async () => {
    await registry?.kill();
    fx?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The revision each site's tag holds now (undefined: no tag), read from the registry: its layer names it. */
  async function tags(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const site of SITES) {
      const res = await fetch(`${registry.base}/v2/mirrornet/fleet/manifests/main.${site}`, { headers: { accept: OCI_MANIFEST } });
      out[site] = undefined;
      if (res.status !== 200) continue;
      const layer = ((await res.json()) as { layers: { digest: string }[] }).layers[0]!.digest;
      out[site] = ((await (await fetch(`${registry.base}/v2/mirrornet/fleet/blobs/${layer}`)).json()) as { revision: string }).revision;
    }
    return out;
  }

  const kinds = () => events.map((e) => e.kind);
  const only = (held: Record<string, string | undefined>, names: string[]) =>
    Object.fromEntries(SITES.map((s) => [s, names.includes(s) ? held[s] : undefined]));

  it('moves the first wave only, then the next after the soak, and halts once on a failure', async () => {
    const rev = fx.originHead();
    const all = Object.fromEntries(SITES.map((s) => [s, rev]));
    await publisher.run('test');
    const cores = ['ap-singapore', 'cn-beijing'];
    const canary = ['ap-jakarta', 'cn-hangzhou-idc'];
    assert.deepEqual(await tags(), only(all, cores));

    const shown = await cli(['rollout', 'status', '--source', `oci+http://${registry.host}/mirrornet/fleet`]);
    assert.equal(shown.code, 2, shown.stderr);
    assert.deepEqual(shown.stdout.split('\n').slice(2, 7), [
      'WAVE      SITES                         STATE',
      "cores     ap-singapore,cn-beijing       its tags moved 2026-12-07T03:00:00.000Z; waiting for its sites' reports",
      'canary    ap-jakarta,cn-hangzhou-idc    pending',
      'china     cn-guangzhou,cn-shanghai      pending',
      'overseas  eu-amsterdam-idc,us-virginia  pending',
    ]);

    sites = Object.fromEntries(cores.map((s) => [s, { applied: rev }]));
    now = MONDAY + MIN;
    await publisher.run('tick');
    now = MONDAY + 30 * MIN;
    await publisher.run('tick');
    assert.deepEqual(await tags(), only(all, cores), 'soaked 29 minutes of 30: the canaries wait');
    now = MONDAY + 31 * MIN;
    await publisher.run('tick');
    assert.deepEqual(await tags(), only(all, [...cores, ...canary]));

    sites['cn-hangzhou-idc'] = { applied: rev, error: HOOK_FAILED };
    for (const minute of [32, 33, 90]) {
      now = MONDAY + minute * MIN;
      await publisher.run('tick');
    }
    assert.deepEqual(kinds(), ['rollout-advanced', 'rollout-advanced', 'rollout-halted']);
    assert.deepEqual(await tags(), only(all, [...cores, ...canary]), 'china and overseas never get the halted revision');
    assert.match(
      events[2]!.message,
      /halted in canary: cn-hangzhou-idc failed to apply [0-9a-f]{12} on gw1: apply: hook dragonfly-restart exited 1\. china, overseas keep the revision they have/,
    );
  });

  it('holds a newer revision outside the change windows, and lets an emergency commit through', async () => {
    const before = await tags();
    events.length = 0;
    now = SATURDAY;
    fx.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 21');
    fx.commit('raise maxDeletionsPerApply');
    await publisher.run('push');
    assert.deepEqual(await tags(), before, 'Saturday: no window is open, no tag moves');
    const held = await cli(['rollout', 'status', '--source', `oci+http://${registry.host}/mirrornet/fleet`, '--format', 'json']);
    const state = JSON.parse(held.stdout) as { waves: { state: string; waitingUntil?: string }[] };
    assert.deepEqual([state.waves[0]!.state, state.waves[0]!.waitingUntil], ['waiting', '2026-12-07T01:00:00.000Z']);

    fx.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 21', 'maxDeletionsPerApply: 22');
    const urgent = fx.commit('raise maxDeletionsPerApply again\n\nMirrornet-Emergency: the mirror drops pulls, INC-4711');
    await publisher.run('push');
    const after = await tags();
    assert.deepEqual(
      SITES.map((s) => after[s] === urgent),
      SITES.map((s) => ['ap-singapore', 'cn-beijing'].includes(s)),
    );
    assert.deepEqual(
      events.map((e) => e.message.replace(/[0-9a-f]{12}/g, 'REV')),
      ['REV goes to cores (wave 1): ap-singapore, cn-beijing (emergency: the mirror drops pulls, INC-4711).'],
    );
  });
  it('a restarted publisher goes on where it was without saying anything twice; one that lost its state starts the revision over', async () => {
    const before = await tags();
    events.length = 0;
    await startPublisher().run('startup');
    assert.deepEqual([events, await tags()], [[], before], 'the state in the state dir: nothing moves, nothing is said again');
    rmSync(join(fx.stateDir, 'rollout.json'));
    await startPublisher().run('startup');
    assert.deepEqual(
      events.map((e) => e.message.replace(/[0-9a-f]{12}/g, 'REV')),
      ['REV goes to cores (wave 1): ap-singapore, cn-beijing (emergency: the mirror drops pulls, INC-4711).'],
      'the manifests of a revision the channel held already are found by their digests, from its index',
    );
    assert.deepEqual(await tags(), before);
  });

  it('moves the tags it moved already to the new manifests when its revision is published again signed (or by a newer mirrornet)', async () => {
    now = MONDAY;
    const t = parseOciReference(`oci+http://${registry.host}/mirrornet/resign`);
    if ('error' in t) throw new Error(t.error);
    const client = new OciClient(t);
    const driver = new RolloutDriver({
      site: 'ap-singapore',
      stateDir: mkdtempSync(join(tmp, 'resign-')),
      client,
      emit: () => {},
      log: silentLogger(),
      clock: () => now,
    });
    const rev = fx.originHead();
    const tagsNow = () => Promise.all(SITES.map((site) => client.manifestDigest(`main.${site}`)));
    const wave1 = (manifests: Record<string, string>) => SITES.map((s) => (['ap-singapore', 'cn-beijing'].includes(s) ? manifests[s] : undefined));

    const unsigned = await publishRevision({ repo: fx.origin, revision: rev, target: t, waves: true });
    await driver.follow(rev, unsigned.rollout, unsigned.siteManifests, undefined);
    await driver.tick();
    assert.deepEqual(await tagsNow(), wave1(unsigned.siteManifests));

    const signed = await publishRevision({ repo: fx.origin, revision: rev, target: t, waves: true, signingKey: bundleKey });
    assert.deepEqual([signed.unchanged, signed.signed, signed.revision], [false, true, rev]);
    assert.notEqual(signed.siteManifests['ap-singapore'], unsigned.siteManifests['ap-singapore']);
    await driver.follow(rev, signed.rollout, signed.siteManifests, undefined);
    await driver.tick();
    assert.deepEqual(await tagsNow(), wave1(signed.siteManifests), 'wave 1 follows the signed manifests; the later waves are still held');
  });
});
