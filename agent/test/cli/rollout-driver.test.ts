// The publisher's rollout driver against an in-memory registry and a fake core (the request really signed):
// a restart resumes the rollout from rollout.json without a publish, a failed write or a crash neither loses
// nor repeats an alert, a channel rolled back by hand supersedes the rollout, and a revision without a rollout
// policy leaves a final status. The clock is fixed; every expected value is written out.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OciClient } from '../../src/bundle/oci.js';
import { RolloutDriver } from '../../src/cli/rollout-driver.js';
import { silentLogger } from '../../src/log.js';
import type { RolloutPlan } from '../../src/model/rollout.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import type { FleetStatus } from '../../src/report/site/schema.js';
import { oneGatewayFleetStatus, type GatewayView } from '../support/fleet-status.js';
import { makeSigningKey } from '../bundle/registry-fixture.js';
import { missingCommand, need } from '../support/capabilities.js';

const A = 'aaaaaaaaaaaa0000000000000000000000000000';
const B = 'bbbbbbbbbbbb0000000000000000000000000000';
const MONDAY = Date.parse('2026-12-07T03:00:00Z');
const MIN = 60_000;
const PLAN: RolloutPlan = {
  policy: {
    kind: 'RolloutPolicy',
    name: 'rollout',
    soakTime: '10m',
    healthy: ['applied', 'noDrift', 'ready'],
    waves: [
      { name: 'canary', sites: ['cn-shanghai'] },
      { name: 'overseas', match: { areas: ['overseas'] } },
    ],
  },
  waves: [
    { name: 'canary', sites: ['cn-shanghai'] },
    { name: 'overseas', sites: ['us-virginia'] },
  ],
  areaOf: { 'cn-shanghai': 'cn', 'us-virginia': 'overseas' },
};
const MANIFESTS = { 'cn-shanghai': 'sha256:m-shanghai', 'us-virginia': 'sha256:m-virginia' };

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry in memory: tags and digests to manifests, blobs by digest. */
class FakeRegistry {
  manifests = new Map<string, Buffer>();
  blobs = new Map<string, Buffer>();
  /** Blobs read (the channel's index is one). */
  blobReads = 0;
  /** The channel `main` holds `revision` (its bundle index). */
  channel(revision: string): void {
    const index = Buffer.from(JSON.stringify({ revision, sequence: 1, sites: {} }));
    this.blobs.set(digestOf(index), index);
    this.manifests.set('main', Buffer.from(JSON.stringify({ config: { digest: digestOf(index) } })));
  }
  client(): OciClient {
    return {
      target: { host: 'registry.test', repository: 'mirrornet/fleet', tag: 'main' },
      holds: () => undefined,
      manifestDigest: async (ref: string) => {
        const bytes = this.manifests.get(ref);
        return bytes && digestOf(bytes);
      },
      getManifest: async (ref: string) => {
        const bytes = this.manifests.get(ref) ?? (ref.startsWith('sha256:m-') ? Buffer.from(`{"site":"${ref}"}`) : undefined);
        return bytes && { bytes, digest: digestOf(bytes) };
      },
      putManifest: async (ref: string, bytes: Buffer) => {
        this.manifests.set(ref, bytes);
        return digestOf(bytes);
      },
      pushBlob: async (digest: string, bytes: Buffer) => void this.blobs.set(digest, bytes),
      getBlob: async (digest: string) => {
        this.blobReads += 1;
        return this.blobs.get(digest)!;
      },
    } as unknown as OciClient;
  }
  /** Which site manifest each site tag points at. */
  siteTags(): Record<string, string | undefined> {
    const at = (site: string) => (JSON.parse(this.manifests.get(`main.${site}`)?.toString() ?? '{}') as { site?: string }).site;
    return { 'cn-shanghai': at('cn-shanghai'), 'us-virginia': at('us-virginia') };
  }
  status(): { revision: string; superseded?: { by: string } } {
    const manifest = JSON.parse(this.manifests.get('main_rollout')!.toString()) as { layers: { digest: string }[] };
    return JSON.parse(this.blobs.get(manifest.layers[0]!.digest)!.toString()) as { revision: string; superseded?: { by: string } };
  }
}

type View = GatewayView;

describe('rollout driver', function () {
  this.timeout(30_000);
  let tmp: string;
  let key: string;
  let now: number;
  let sites: Record<string, View>;
  let registry: FakeRegistry;
  let events: AgentEvent[];
  let emit: (e: AgentEvent) => void;

  const status = (): FleetStatus => oneGatewayFleetStatus(sites, now);

  const driver = () =>
    new RolloutDriver({
      site: 'ap-singapore',
      stateDir: tmp,
      client: registry.client(),
      cores: { core: ['http://core.invalid:9464'], key },
      emit: (e) => emit(e),
      log: silentLogger(),
      clock: () => now,
      deps: { fetch: (async () => new Response(JSON.stringify(status()), { status: 200 })) as unknown as typeof fetch, clock: () => now },
    });
  const said = () => events.map((e) => `${e.kind}: ${e.message}`);

  before(function () {
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    tmp = mkdtempSync(join(tmpdir(), 'mn-rollout-driver-'));
    key = makeSigningKey(tmp, 'operator', 'publisher-operator').key;
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));
  beforeEach(() => {
    rmSync(join(tmp, 'rollout.json'), { recursive: true, force: true });
    now = MONDAY;
    sites = {};
    registry = new FakeRegistry();
    registry.channel(A);
    events = [];
    emit = (e) => events.push(e);
  });

  it('a restarted publisher that publishes nothing (B refused) moves the later waves of the rollout it holds', async () => {
    const first = driver();
    await first.follow(A, PLAN, MANIFESTS, undefined);
    await first.tick();
    assert.deepEqual(registry.siteTags(), { 'cn-shanghai': 'sha256:m-shanghai', 'us-virginia': undefined });
    // Restart: B was refused, so follow() is never called.
    const restarted = driver();
    sites = { 'cn-shanghai': { applied: A } };
    for (const minute of [1, 12]) {
      now = MONDAY + minute * MIN;
      await restarted.tick();
    }
    assert.deepEqual(registry.siteTags(), { 'cn-shanghai': 'sha256:m-shanghai', 'us-virginia': 'sha256:m-virginia' });
    assert.deepEqual(said(), [
      'rollout-advanced: aaaaaaaaaaaa goes to canary (wave 1): cn-shanghai.',
      'rollout-advanced: aaaaaaaaaaaa goes to overseas (wave 2 after canary soaked 10m): us-virginia.',
    ]);
  });

  it('a fetch error from the mirror leaves the wave waiting; an apply error halts it', async () => {
    const d = driver();
    await d.follow(A, PLAN, MANIFESTS, undefined);
    await d.tick();
    sites = { 'cn-shanghai': { applied: A, error: { step: 'fetch', message: 'ETIMEDOUT 10.128.1.10:443' } } };
    now = MONDAY + 20 * MIN;
    await d.tick();
    assert.deepEqual(said(), ['rollout-advanced: aaaaaaaaaaaa goes to canary (wave 1): cn-shanghai.']);
    sites = { 'cn-shanghai': { applied: A, error: { step: 'apply', message: 'hook dragonfly-restart exited 1' } } };
    await d.tick();
    assert.deepEqual(said().slice(1), [
      'rollout-halted: The rollout of aaaaaaaaaaaa is halted in canary: ' +
        'cn-shanghai failed to apply aaaaaaaaaaaa on gw1: apply: hook dragonfly-restart exited 1. ' +
        'overseas keeps the revision it has; a newer commit starts a new rollout.',
    ]);
  });

  it('a failed write of rollout.json loses no halt alert, and a crash before sending neither loses nor repeats it', async () => {
    const d = driver();
    await d.follow(A, PLAN, MANIFESTS, undefined);
    await d.tick();
    events = [];
    sites = { 'cn-shanghai': { applied: A, error: { step: 'apply', message: 'exit 1' } } };
    // rollout.json cannot be replaced (a directory in its place): the step fails, nothing is said.
    rmSync(join(tmp, 'rollout.json'));
    mkdirSync(join(tmp, 'rollout.json'));
    await assert.rejects(d.tick());
    assert.deepEqual(said(), []);
    rmSync(join(tmp, 'rollout.json'), { recursive: true });
    // The sink fails (the process dies) after the write: the alert is in the file, unsent.
    emit = () => {
      throw new Error('crash');
    };
    await assert.rejects(d.tick());
    assert.deepEqual(
      (JSON.parse(readFileSync(join(tmp, 'rollout.json'), 'utf8')) as { unsent: { kind: string }[] }).unsent.map((n) => n.kind),
      ['rollout-halted'],
    );
    emit = (e) => events.push(e);
    const restarted = driver();
    await restarted.tick();
    await restarted.tick();
    assert.deepEqual(
      events.map((e) => e.kind),
      ['rollout-halted'],
    );
  });

  it('a channel rolled back by hand supersedes the rollout: no tag moves, said once, shown in the status', async () => {
    const d = driver();
    await d.follow(A, PLAN, MANIFESTS, undefined);
    await d.tick();
    const reads = registry.blobReads;
    registry.channel(B);
    sites = { 'cn-shanghai': { applied: A } };
    for (const minute of [1, 12, 13]) {
      now = MONDAY + minute * MIN;
      await d.tick();
    }
    assert.equal(registry.blobReads - reads, 1, "the channel's index is read again only when its tag moved");
    assert.deepEqual(registry.siteTags(), { 'cn-shanghai': 'sha256:m-shanghai', 'us-virginia': undefined });
    assert.deepEqual(said().slice(1), [
      'rollout-superseded: The rollout of aaaaaaaaaaaa is superseded: the channel holds bbbbbbbbbbbb now (a rollback or a publish by hand): ' +
        'no tag of aaaaaaaaaaaa moves any more.',
    ]);
    assert.deepEqual(registry.status().superseded?.by, B);
  });

  it('a revision without a rollout policy writes a final status for the rollout it replaces', async () => {
    const d = driver();
    await d.follow(A, PLAN, MANIFESTS, undefined);
    await d.tick();
    registry.channel(B);
    await d.follow(B, undefined, {}, undefined);
    assert.deepEqual([registry.status().revision, registry.status().superseded?.by], [A, B]);
  });
});
