// The bundle builder over the example fleet: one layer per site, byte-identical builds of one revision, and
// no secret in any layer (desired state keeps references; a resolved secret in it is refused).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildBundle,
  BundleError,
  canonicalJson,
  sha256,
  signedDigestOf,
  SITE_ANNOTATION,
  siteManifest,
  siteTag,
  sitePayloads,
  type BundleInput,
  type SiteContent,
} from '../../src/bundle/build.js';
import { AGENT_VERSION } from '../../src/version.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { evaluateRepository } from '../../src/reconcile/pipeline.js';
import { SECRET_REFERENCE } from '../../src/redact.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const EXAMPLE_SITES = ['ap-jakarta', 'ap-singapore', 'cn-beijing', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];

async function exampleInput(): Promise<BundleInput> {
  const { report, sites: compiledSites } = await evaluateRepository({ repo: repoRoot, checkedOut: 'f'.repeat(40) }, 'all');
  assert.equal(report.valid, true);
  const sites = new Map<string, SiteContent>();
  for (const [site, compiled] of compiledSites) {
    assert.ok('byRole' in compiled, site);
    sites.set(site, { byRole: compiled.byRole });
  }
  return {
    revision: 'f'.repeat(40),
    commitTime: '2026-01-02T03:04:05+00:00',
    sequence: 42,
    guardrails: report.fleet.policies.guardrails!.value,
    sites,
  };
}

/** Every string in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('bundle builder', function () {
  let input: BundleInput;
  before(async () => {
    input = await exampleInput();
  });

  it('holds one layer per site of the example fleet, named by annotation, with the index as config', () => {
    const bundle = buildBundle(input);
    assert.deepEqual(
      bundle.layers.map((l) => l.annotations?.[SITE_ANNOTATION]),
      EXAMPLE_SITES,
    );
    const manifest = JSON.parse(bundle.manifest.toString()) as { artifactType: string; config: { mediaType: string; digest: string } };
    assert.equal(manifest.artifactType, 'application/vnd.mirrornet.bundle.v1');
    assert.equal(manifest.config.mediaType, 'application/vnd.mirrornet.bundle.index.v1+json');
    const index = JSON.parse(bundle.blobs.get(manifest.config.digest)!.toString()) as Record<string, unknown> & { sites: Record<string, { digest: string }> };
    assert.equal(index['schemaVersion'], 4);
    assert.equal(index['sequence'], 42);
    assert.equal(index['rollback'], false);
    assert.equal(index['signed'], false);
    assert.equal(index['minAgentVersion'], '0.2.0');
    assert.equal(index['commitTime'], '2026-01-02T03:04:05+00:00');
    assert.equal((index['guardrails'] as { maxDeletionsPerApply: number }).maxDeletionsPerApply, 20);
    for (const layer of bundle.layers) {
      assert.equal(layer.mediaType, 'application/vnd.mirrornet.bundle.site.v2+json');
      assert.equal(sha256(bundle.blobs.get(layer.digest)!), layer.digest);
      assert.equal(index.sites[layer.annotations![SITE_ANNOTATION]!]!.digest, layer.digest);
      assert.equal(JSON.parse(bundle.blobs.get(layer.digest)!.toString()).site, layer.annotations![SITE_ANNOTATION]);
    }
  });

  it('writes into each layer what it is: its site, revision, order, channel, schema and the oldest agent the repository declares', () => {
    const layerOf = (b: ReturnType<typeof buildBundle>, site: string) =>
      JSON.parse(b.blobs.get(b.index.sites[site]!.digest)!.toString()) as Record<string, unknown>;
    const statement = ({ byRole: _r, guardrails: _g, notifications: _n, area: _a, ...rest }: Record<string, unknown>) => rest;
    assert.deepEqual(statement(layerOf(buildBundle(input), 'cn-shanghai')), {
      site: 'cn-shanghai',
      revision: 'f'.repeat(40),
      commitTime: '2026-01-02T03:04:05+00:00',
      sequence: 42,
      channel: 'main',
      schemaVersion: 4,
      minAgentVersion: '0.2.0',
    });
    const declared = buildBundle({ ...input, minAgentVersion: '0.1.7', channel: 'canary', rollbackFrom: 43 });
    assert.equal(declared.index.minAgentVersion, '0.1.7');
    assert.deepEqual(statement(layerOf(declared, 'cn-shanghai')), {
      site: 'cn-shanghai',
      revision: 'f'.repeat(40),
      commitTime: '2026-01-02T03:04:05+00:00',
      sequence: 42,
      rollbackFrom: 43,
      channel: 'canary',
      schemaVersion: 4,
      minAgentVersion: '0.1.7',
    });
    assert.equal((layerOf(declared, 'cn-shanghai')['guardrails'] as { maxDeletionsPerApply: number }).maxDeletionsPerApply, 20);
  });

  it('gives each site a minimal manifest of its one layer, tagged <channel>.<site>: a few hundred bytes', () => {
    const bundle = buildBundle(input);
    const m = bundle.siteManifests.get('cn-shanghai')!;
    assert.equal(sha256(m.manifest), m.digest);
    const layer = bundle.index.sites['cn-shanghai']!;
    assert.equal(
      m.manifest.toString(),
      '{"artifactType":"application/vnd.mirrornet.bundle.site.v2",' +
        '"config":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",' +
        '"mediaType":"application/vnd.oci.empty.v1+json","size":2},' +
        `"layers":[{"digest":"${layer.digest}","mediaType":"application/vnd.mirrornet.bundle.site.v2+json","size":${layer.size}}],` +
        '"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}',
    );
    assert.ok(m.manifest.length < 480, `${m.manifest.length} bytes`);
    assert.deepEqual(siteManifest(layer), m, 'a function of the layer alone (what the rollout reads back from the index)');
    assert.equal(siteTag('main', 'cn-shanghai'), 'main.cn-shanghai');
  });

  it('signs what each layer says: the signature inside covers its canonical JSON without it', () => {
    const digests = new Map([...sitePayloads(input)].map(([site, p]) => [site, p.digest]));
    const signatures = new Map([...digests].map(([site, digest]) => [digest, `signature of ${site}`]));
    const bundle = buildBundle(input, signatures);
    assert.equal(bundle.index.signed, true);
    for (const site of EXAMPLE_SITES) {
      const layer = JSON.parse(bundle.blobs.get(bundle.index.sites[site]!.digest)!.toString()) as Record<string, unknown>;
      assert.equal(layer['signature'], `signature of ${site}`);
      assert.equal(signedDigestOf(layer), digests.get(site), site);
    }
    assert.throws(
      () => buildBundle(input, new Map([...signatures].filter(([digest]) => digest !== digests.get('ap-jakarta')))),
      (err: unknown) => err instanceof BundleError && err.userMessage === 'The layer of ap-jakarta was not signed: nothing was published.',
    );
  });

  it('writes canonical JSON: keys sorted by code unit at every depth (integer-like ones too), no whitespace, undefined left out', () => {
    assert.equal(
      canonicalJson({ b: [3, { z: 1, a: undefined, '10': 'x', '9': 'y' }], a: 'ü', '2': null, n: -0 }),
      '{"2":null,"a":"ü","b":[3,{"10":"x","9":"y","z":1}],"n":0}',
    );
    // What JSON.stringify writes otherwise: holes and undefined in arrays as null, toJSON's value, NaN as null.
    // eslint-disable-next-line no-sparse-arrays
    assert.equal(canonicalJson([1, , 3, undefined]), '[1,null,3,null]');
    assert.equal(canonicalJson({ a: { toJSON: () => undefined }, d: new Date(0), x: NaN }), '{"d":"1970-01-01T00:00:00.000Z","x":null}');
  });

  it('changes only what names the revision in the layer of a site whose desired state did not change', () => {
    const a = buildBundle(input);
    const b = buildBundle({ ...input, revision: 'e'.repeat(40), sequence: 43 });
    const layer = (x: ReturnType<typeof buildBundle>) => JSON.parse(x.blobs.get(x.index.sites['cn-shanghai']!.digest)!.toString()) as Record<string, unknown>;
    assert.deepEqual({ ...layer(b), revision: 'f'.repeat(40), sequence: 42 }, layer(a));
    assert.notEqual(a.siteManifests.get('cn-shanghai')!.digest, b.siteManifests.get('cn-shanghai')!.digest);
  });

  it('gives byte-identical blobs and manifest for the same revision, whatever the order of the sites', () => {
    const a = buildBundle(input);
    const b = buildBundle({ ...input, sites: new Map([...input.sites].reverse()) });
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.ok(a.manifest.equals(b.manifest));
    assert.deepEqual([...a.blobs.keys()], [...b.blobs.keys()]);
    for (const [digest, bytes] of a.blobs) assert.ok(bytes.equals(b.blobs.get(digest)!));
    assert.notEqual(buildBundle({ ...input, revision: 'e'.repeat(40) }).manifestDigest, a.manifestDigest);
  });

  it('keeps every secret as its reference: after an agent resolved them all, no resolved value is in any layer', async () => {
    const bundle = buildBundle(input);
    const layers = bundle.layers.map((l) => bundle.blobs.get(l.digest)!.toString());
    const refs = [...new Set(layers.flatMap((l) => strings(JSON.parse(l))).filter((s) => SECRET_REFERENCE.test(s)))].sort();
    assert.deepEqual(refs, [
      'env:HARBOR_ADMIN_PASSWORD',
      'env:HARBOR_DB_PASSWORD',
      'env:HARBOR_REDIS_PASSWORD',
      'env:HARBOR_ROBOT_CI_PUSH',
      'env:HARBOR_ROBOT_MIRRORNET_AGENT',
      'env:HARBOR_ROBOT_MIRRORNET_PUBLISHER',
      'env:HARBOR_ROBOT_REPLICATION',
      'env:HARBOR_ROBOT_REPLICATION_FROM_SINGAPORE',
      'env:HARBOR_S3_ACCESS_KEY',
      'env:HARBOR_S3_SECRET_KEY',
      'file:/etc/mirrornet/wireguard/ap-singapore-gw1.key',
      'file:/etc/mirrornet/wireguard/cn-beijing-gw1.key',
      'file:/etc/mirrornet/wireguard/cn-hangzhou-idc.key',
      'file:/etc/mirrornet/wireguard/eu-amsterdam-idc.key',
    ]);
    // Resolve every reference as a host would (each value registered with the redaction layer).
    const root = mkdtempSync(join(tmpdir(), 'mn-bundle-'));
    try {
      const env: NodeJS.ProcessEnv = {};
      const values: string[] = [];
      for (const [i, ref] of refs.entries()) {
        const value = `resolved-secret-value-${i}-${'x'.repeat(8)}`;
        values.push(value);
        if (ref.startsWith('env:')) env[ref.slice(4)] = value;
        else {
          mkdirSync(join(root, ref.slice(5), '..'), { recursive: true });
          writeFileSync(join(root, ref.slice(5)), value);
        }
      }
      const secrets = hostSecrets({ env, root });
      for (const ref of refs) await secrets.resolve(ref);
      const again = buildBundle(input);
      assert.equal(again.manifestDigest, bundle.manifestDigest);
      for (const blob of again.blobs.values()) for (const value of values) assert.ok(!blob.toString().includes(value));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a desired state that holds a resolved secret, without publishing anything', async () => {
    const value = 'resolved-psk-0123456789';
    await hostSecrets({ env: { LEAK_TEST_PSK: value } }).resolve('env:LEAK_TEST_PSK');
    const site = 'us-virginia';
    const leaking = structuredClone(input.sites.get(site)!);
    leaking.byRole.gateway!.notes = [...(leaking.byRole.gateway!.notes ?? []), `psk is ${value}`];
    assert.throws(
      () => buildBundle({ ...input, sites: new Map([...input.sites, [site, leaking]]) }),
      (err: unknown) =>
        err instanceof BundleError &&
        /^The desired state of us-virginia holds what looks like a credential/.test(err.userMessage) &&
        !err.userMessage.includes(value),
    );
  });
});

describe('the agent version a bundle requires', () => {
  it('is the version in package.json (mirrornet --version and minAgentVersion say the same)', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(AGENT_VERSION, pkg.version, 'bump AGENT_VERSION in agent/src/version.ts with the package version');
  });
});
