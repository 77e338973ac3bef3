// A bundle carries each site's desired state per role and a host joins the roles it runs (desired/roles.ts);
// an agent that follows bundles must end up with what an agent that follows git compiles. Checked over the
// example fleet for every site and every order of every role set it can take, as joined in process and as
// read back from the published layer; plus written-out answers for a few hosts.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildBundle, SITE_ANNOTATION, type SiteContent } from '../../src/bundle/build.js';
import { SiteLayerSchema } from '../../src/bundle/schema.js';
import { compile } from '../../src/desired/compile.js';
import { desiredForRoles, type DesiredByRole } from '../../src/desired/roles.js';
import type { Desired, Role } from '../../src/desired/types.js';
import { evaluateRepository } from '../../src/reconcile/pipeline.js';
import type { Report } from '../../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** Every ordering of every subset of `roles` (the empty set included). */
function arrangements(roles: readonly Role[]): Role[][] {
  const out: Role[][] = [[]];
  const extend = (prefix: Role[]) => {
    for (const r of roles) {
      if (prefix.includes(r)) continue;
      const next = [...prefix, r];
      out.push(next);
      extend(next);
    }
  };
  extend([]);
  return out;
}

function ok(value: Desired | { error: string }): Desired {
  if ('error' in value) assert.fail(value.error);
  return value;
}

describe('desired state joined per role (desiredForRoles)', function () {
  let report: Report;
  let byRole: Map<string, DesiredByRole>;

  before(async function () {
    const evaluation = await evaluateRepository({ repo: repoRoot, checkedOut: 'f'.repeat(40) }, 'all');
    report = evaluation.report;
    assert.equal(report.valid, true);
    byRole = new Map();
    for (const [site, compiled] of evaluation.sites) {
      if ('error' in compiled) assert.fail(`${site}: ${compiled.error}`);
      byRole.set(site, compiled.byRole);
    }
  });

  it('the example fleet gives the cores gateway, node and hub, and the regions gateway and node', function () {
    assert.deepEqual(Object.fromEntries([...byRole].map(([site, roles]) => [site, Object.keys(roles).sort()])), {
      'ap-jakarta': ['gateway', 'node'],
      'ap-singapore': ['gateway', 'hub', 'node'],
      'cn-beijing': ['gateway', 'hub', 'node'],
      'cn-guangzhou': ['gateway', 'node'],
      'cn-hangzhou-idc': ['gateway', 'node'],
      'cn-shanghai': ['gateway', 'node'],
      'eu-amsterdam-idc': ['gateway', 'node'],
      'us-virginia': ['gateway', 'node'],
    });
  });

  it('for every site and every order of every role set it can take, the joined roles are what compile gives for those roles', function () {
    let checked = 0;
    for (const [site, roles] of byRole) {
      for (const asked of arrangements(Object.keys(roles) as Role[])) {
        assert.deepEqual(desiredForRoles(site, roles, asked), compile(report.fleet, site, asked), `${site} ${JSON.stringify(asked)}`);
        checked++;
      }
    }
    // 6 regions x 5 arrangements of {gateway, node} + 2 cores x 16 arrangements of {gateway, node, hub}.
    assert.equal(checked, 62);
  });

  it('what a host reads from its published layer joins to what compile gives, for every site and its own roles', function () {
    const sites = new Map<string, SiteContent>([...byRole].map(([site, roles]) => [site, { byRole: roles }]));
    const bundle = buildBundle({ revision: 'f'.repeat(40), commitTime: '2026-01-02T03:04:05+00:00', sequence: 1, guardrails: null, sites });
    assert.equal(bundle.layers.length, 8);
    for (const descriptor of bundle.layers) {
      const site = descriptor.annotations![SITE_ANNOTATION]!;
      const layer = SiteLayerSchema.parse(JSON.parse(bundle.blobs.get(descriptor.digest)!.toString('utf8')));
      const roles: Role[] = report.fleet.sites.get(site)!.role === 'hub' ? ['gateway', 'hub'] : ['gateway', 'node'];
      const joined = desiredForRoles(site, layer.byRole as DesiredByRole, roles);
      // The layer is JSON: compare with compile's answer as JSON (no undefined members).
      assert.deepEqual(joined, JSON.parse(JSON.stringify(compile(report.fleet, site, roles))), site);
    }
  });

  it('a region asked for the hub role gives the sentence naming the roles it takes and the flag to check', function () {
    const regionRoles = byRole.get('cn-shanghai')!;
    assert.deepEqual(desiredForRoles('cn-shanghai', regionRoles, ['hub']), {
      error: 'cn-shanghai has no hub role (it takes gateway, node): check --roles on this host.',
    });
    assert.deepEqual(desiredForRoles('cn-shanghai', regionRoles, ['gateway', 'hub']), {
      error: 'cn-shanghai has no hub role (it takes gateway, node): check --roles on this host.',
    });
  });

  it('a site with no role compiled says it takes none', function () {
    assert.deepEqual(desiredForRoles('nowhere', {}, ['gateway', 'node']), {
      error: 'nowhere has no gateway, node role (it takes none): check --roles on this host.',
    });
  });

  it('a node-only host of a region has no routes, tunnels, cloud routes or gateway notes, but its mirror and dfdaemon', function () {
    const node = ok(desiredForRoles('us-virginia', byRole.get('us-virginia')!, ['node']));
    assert.deepEqual(node.roles, ['node']);
    assert.deepEqual(node.routes, []);
    assert.deepEqual(node.wireguard, []);
    assert.deepEqual(node.notes, []);
    assert.equal(node.cloud, undefined);
    assert.equal(node.harbor, undefined);
    assert.equal(node.dragonfly?.path, '/etc/dragonfly/dfdaemon.yaml');
    assert.ok(node.containerd, 'containerd mirror settings');
  });

  it("a region's gateway-only host has its routes and tunnel and the note about its cloud, but no mirror settings", function () {
    const gw = ok(desiredForRoles('eu-amsterdam-idc', byRole.get('eu-amsterdam-idc')!, ['gateway']));
    assert.deepEqual(gw.routes, [
      { destination: '10.128.0.0/16', dev: 'mn9836f9ac', linkId: 'ap-singapore--eu-amsterdam-idc', target: 'ap-singapore' },
      { destination: '10.136.0.0/16', dev: 'mn9836f9ac', linkId: 'ap-singapore--eu-amsterdam-idc', target: 'ap-jakarta' },
    ]);
    assert.deepEqual(
      gw.wireguard.map((w) => [w.name, w.remoteSite]),
      [['mn9836f9ac', 'ap-singapore']],
    );
    assert.equal(gw.dragonfly, undefined);
    assert.equal(gw.containerd, undefined);
    assert.equal(gw.docker, undefined);
    const aws = ok(desiredForRoles('us-virginia', byRole.get('us-virginia')!, ['gateway', 'node']));
    assert.deepEqual(aws.notes, [
      'us-virginia is on aws: mirrornet manages Huawei Cloud route tables only; program these routes in the aws console or with its tools.',
    ]);
  });

  it("a core's hub-only host has its Harbor and the peer its replication names, and nothing of the gateway", function () {
    const hub = ok(desiredForRoles('cn-beijing', byRole.get('cn-beijing')!, ['hub']));
    assert.equal(hub.harbor?.instance.name, 'harbor-cn-beijing');
    // Its Harbor objects are compiled with it: the endpoint to the peer its replication names.
    assert.deepEqual(
      hub.harbor?.objects.registries.filter((r) => r.peer).map((r) => [r.name, r.peer, r.url]),
      [['mirrornet-harbor-ap-singapore', 'harbor-ap-singapore', 'https://harbor.sg.mirrornet.internal']],
    );
    assert.deepEqual(hub.routes, []);
    assert.deepEqual(hub.wireguard, []);
    assert.equal(hub.cloud, undefined);
  });
});
