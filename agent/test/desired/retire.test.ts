// A region marked `lifecycle: retiring` (issue 14, decommission): its uplink stays — the links to the sites it
// links to directly keep their tunnel and the routes between the two ends' CIDRs, at both ends, cloud routes
// included — and every other site loses what points to it. Its own desired state holds exactly that uplink
// (no mirror, no other route); its agents remove the uplink themselves once they reported retired over it.
// Over a copy of the example fleet, with written-out answers.
import assert from 'node:assert/strict';
import { buildBundle, SITE_ANNOTATION, type SiteContent } from '../../src/bundle/build.js';
import { SiteLayerSchema } from '../../src/bundle/schema.js';
import { compile } from '../../src/desired/compile.js';
import { computeRoutes } from '../../src/net/routes.js';
import { desiredForRoles, type DesiredByRole } from '../../src/desired/roles.js';
import type { Desired, Role } from '../../src/desired/types.js';
import type { Fleet } from '../../src/model/fleet.js';
import { validateRepo } from '../../src/policy/validate.js';
import { evaluateRepository } from '../../src/reconcile/pipeline.js';
import { createFleetRepo, type FleetRepo } from '../report/fixture.js';

const rolesOf = (fleet: Fleet, site: string): Role[] => (fleet.sites.get(site)!.role === 'hub' ? ['gateway', 'hub', 'node'] : ['gateway', 'node']);

const cloudRoutes = (d: Desired) => d.cloud?.tables.map((t) => ({ table: t.id, routes: t.routes.map((r) => `${r.destination} ${r.type} ${r.nexthop}`) }));
const kernelRoutes = (d: Desired) => d.routes.map((r) => `${r.destination} dev ${r.dev} (${r.linkId})`);
const tunnels = (d: Desired) => d.wireguard.map((w) => `${w.name} to ${w.remoteSite} allowed ${w.peer.allowedIps.join(',')}`);

describe('compile: a retiring region keeps only its uplink', function () {
  this.timeout(60_000);
  let repo: FleetRepo;

  beforeEach(() => {
    repo = createFleetRepo();
  });
  afterEach(() => repo.cleanup());

  function fleetNow(): Fleet {
    const report = validateRepo(repo.fleet);
    assert.deepEqual(
      report.errors.map((e) => `${e.rule} ${e.file}: ${e.message}`),
      [],
    );
    return report.fleet;
  }

  function retire(region: string): void {
    repo.replace(`regions/${region}.yaml`, 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
  }

  it('Amsterdam retires: Singapore keeps exactly its tunnel, route and cloud route to 10.152.0.0/16, Jakarta loses its route; nobody else changes', () => {
    const before = fleetNow();
    retire('eu-amsterdam-idc');
    const after = fleetNow();

    const sgBefore = compile(before, 'ap-singapore', ['gateway']);
    const sgAfter = compile(after, 'ap-singapore', ['gateway']);
    assert.deepEqual(kernelRoutes(sgBefore), ['10.152.0.0/16 dev mn264420ab (ap-singapore--eu-amsterdam-idc)']);
    assert.deepEqual(tunnels(sgBefore), ['mn264420ab to eu-amsterdam-idc allowed 10.152.0.0/16']);
    // The uplink stays at the core's end: the same route and tunnel as before.
    assert.deepEqual(kernelRoutes(sgAfter), ['10.152.0.0/16 dev mn264420ab (ap-singapore--eu-amsterdam-idc)']);
    assert.deepEqual(tunnels(sgAfter), ['mn264420ab to eu-amsterdam-idc allowed 10.152.0.0/16']);
    assert.deepEqual(cloudRoutes(sgAfter), [
      {
        table: 'rtb-sg-core-0001',
        routes: [
          '10.120.0.0/16 cc cc-mirrornet-global',
          '10.136.0.0/16 cc cc-mirrornet-global',
          '10.144.0.0/16 vpn vpngw-sg-0001',
          '10.152.0.0/16 ecs ecs-sg-gw1-2b8d4e60',
        ],
      },
    ]);
    // Jakarta reached Amsterdam through Singapore: not its uplink, so that route goes.
    assert.deepEqual(cloudRoutes(compile(before, 'ap-jakarta', ['gateway'])), [
      { table: 'rtb-jkt-0001', routes: ['10.128.0.0/16 cc cc-mirrornet-global', '10.152.0.0/16 cc cc-mirrornet-global'] },
    ]);
    assert.deepEqual(cloudRoutes(compile(after, 'ap-jakarta', ['gateway'])), [{ table: 'rtb-jkt-0001', routes: ['10.128.0.0/16 cc cc-mirrornet-global'] }]);
    // The one route computation: Amsterdam's table is its uplink; no site but its core routes to it.
    const plan = computeRoutes(after);
    const table = (site: string) => (plan.tables.get(site) ?? []).map((r) => `${r.destination} via ${r.via}`);
    assert.deepEqual(table('eu-amsterdam-idc'), ['10.128.0.0/16 via ap-singapore']);
    assert.deepEqual(
      [...plan.tables].filter(([, routes]) => routes.some((r) => r.destination === '10.152.0.0/16')).map(([site]) => site),
      ['ap-singapore'],
    );
    // Singapore's Harbor does not depend on a region: its objects stay as they were.
    assert.deepEqual(compile(after, 'ap-singapore', ['hub']).harbor, compile(before, 'ap-singapore', ['hub']).harbor);

    // The retiring region wants exactly its uplink: the tunnel and route to its core's CIDR, no mirror.
    const note =
      'eu-amsterdam-idc is retiring: its agents remove everything they created on this host and in its cloud except the uplink to the sites it ' +
      'links to directly, report retired over it, then remove the uplink too and exit.';
    const amsterdam = compile(after, 'eu-amsterdam-idc', ['gateway', 'node']);
    assert.deepEqual(kernelRoutes(amsterdam), ['10.128.0.0/16 dev mn9836f9ac (ap-singapore--eu-amsterdam-idc)']);
    assert.deepEqual(tunnels(amsterdam), ['mn9836f9ac to ap-singapore allowed 10.128.0.0/16']);
    assert.deepEqual(Object.keys(amsterdam).sort(), ['notes', 'retiring', 'roles', 'routes', 'site', 'wireguard']);
    assert.deepEqual(amsterdam.notes, [note]);
    assert.equal(amsterdam.retiring, true);
    // Its node-only hosts want nothing at all.
    assert.deepEqual(compile(after, 'eu-amsterdam-idc', ['node']), {
      site: 'eu-amsterdam-idc',
      roles: ['node'],
      routes: [],
      wireguard: [],
      notes: [note],
      retiring: true,
    });

    // Every site that never pointed to Amsterdam compiles exactly as before.
    for (const site of ['cn-beijing', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'us-virginia']) {
      assert.deepEqual(compile(after, site, rolesOf(after, site)), compile(before, site, rolesOf(before, site)), site);
    }
    // Singapore's node part (mirrors) and Jakarta's node part are untouched too.
    assert.deepEqual(compile(after, 'ap-jakarta', ['node']), compile(before, 'ap-jakarta', ['node']));
  });

  it('Jakarta (Huawei Cloud) retires: its route table keeps only the Cloud Connect route to its core, its p2p peer Amsterdam drops 10.136.0.0/16', () => {
    retire('ap-jakarta');
    const fleet = fleetNow();
    const jakarta = compile(fleet, 'ap-jakarta', ['gateway', 'node']);
    assert.deepEqual(jakarta.routes, []);
    assert.deepEqual(jakarta.wireguard, []);
    assert.equal(jakarta.containerd, undefined);
    assert.equal(jakarta.dragonfly, undefined);
    assert.equal(jakarta.retiring, true);
    assert.deepEqual(cloudRoutes(jakarta), [{ table: 'rtb-jkt-0001', routes: ['10.128.0.0/16 cc cc-mirrornet-global'] }]);
    assert.equal(jakarta.cloud?.marker, 'mirrornet:ap-jakarta');

    const amsterdam = compile(fleet, 'eu-amsterdam-idc', ['gateway']);
    assert.deepEqual(kernelRoutes(amsterdam), ['10.128.0.0/16 dev mn9836f9ac (ap-singapore--eu-amsterdam-idc)']);
    assert.deepEqual(tunnels(amsterdam), ['mn9836f9ac to ap-singapore allowed 10.128.0.0/16']);
    assert.deepEqual(cloudRoutes(compile(fleet, 'ap-singapore', ['gateway'])), [
      {
        table: 'rtb-sg-core-0001',
        routes: [
          '10.120.0.0/16 cc cc-mirrornet-global',
          '10.136.0.0/16 cc cc-mirrornet-global',
          '10.144.0.0/16 vpn vpngw-sg-0001',
          '10.152.0.0/16 ecs ecs-sg-gw1-2b8d4e60',
        ],
      },
    ]);
  });

  it('the pipeline and a bundle carry the retiring state per role, and a host joining its roles keeps it (one note)', async () => {
    retire('eu-amsterdam-idc');
    const evaluation = await evaluateRepository({ repo: repo.fleet, checkedOut: 'f'.repeat(40) }, 'all');
    assert.equal(evaluation.report.valid, true);
    const compiled = evaluation.sites.get('eu-amsterdam-idc')!;
    if ('error' in compiled) assert.fail(compiled.error);
    assert.deepEqual(Object.keys(compiled.byRole).sort(), ['gateway', 'node']);
    assert.equal(compiled.byRole.gateway?.retiring, true);
    assert.equal(compiled.byRole.node?.retiring, true);
    // What the site's agents read from its bundle layer (`<channel>.eu-amsterdam-idc`), joined for their roles.
    const bundle = buildBundle({
      revision: 'f'.repeat(40),
      commitTime: '2026-01-02T03:04:05+00:00',
      sequence: 1,
      guardrails: null,
      sites: new Map<string, SiteContent>([['eu-amsterdam-idc', { byRole: compiled.byRole }]]),
    });
    const descriptor = bundle.layers.find((l) => l.annotations![SITE_ANNOTATION] === 'eu-amsterdam-idc')!;
    const layer = SiteLayerSchema.parse(JSON.parse(bundle.blobs.get(descriptor.digest)!.toString('utf8')));
    const joined = desiredForRoles('eu-amsterdam-idc', layer.byRole as DesiredByRole, ['gateway', 'node']);
    if ('error' in joined) assert.fail(joined.error);
    assert.deepEqual(joined, compile(validateRepo(repo.fleet).fleet, 'eu-amsterdam-idc', ['gateway', 'node']));
    assert.deepEqual(kernelRoutes(joined), ['10.128.0.0/16 dev mn9836f9ac (ap-singapore--eu-amsterdam-idc)']);
    assert.deepEqual(joined.notes, [
      'eu-amsterdam-idc is retiring: its agents remove everything they created on this host and in its cloud except the uplink to the sites it ' +
        'links to directly, report retired over it, then remove the uplink too and exit.',
    ]);
    assert.equal(joined.retiring, true);
    assert.equal(joined.dragonfly, undefined);
  });

  it('links to a retiring region may stay in the files: the fleet is valid and the VPN link to Virginia carries only its uplink', () => {
    retire('us-virginia');
    const fleet = fleetNow();
    assert.deepEqual(
      compile(fleet, 'ap-singapore', ['gateway']).cloud?.tables[0]?.routes.map((r) => r.destination),
      ['10.120.0.0/16', '10.136.0.0/16', '10.144.0.0/16', '10.152.0.0/16'],
    );
    // Jakarta reached Virginia through Singapore: it loses that route.
    assert.deepEqual(
      compile(fleet, 'ap-jakarta', ['gateway']).cloud?.tables[0]?.routes.map((r) => r.destination),
      ['10.128.0.0/16', '10.152.0.0/16'],
    );
  });
});
