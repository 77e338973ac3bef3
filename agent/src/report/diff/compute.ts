// diffFleets(base, head): for every site, take its desired state in both revisions with every role that
// applies (gateway+node for regions, gateway+hub for cores), as the pipeline compiled it, split each into items
// (routes, tunnels, cloud routes, mirror settings, Harbor objects) and compare them field by field. Plus
// the links, the topology and the address plan of the head. Pure.
import microdiff from 'microdiff';
import type { Desired, Role } from '../../desired/types.js';
import { isRetiring, type Fleet } from '../../model/fleet.js';
import { waveOfSites } from '../../model/rollout.js';
import { desiredFileDiffs, restartsFor } from '../../reconcile/file-diff.js';
import { rolesOf, type Evaluation, type SiteDesired } from '../../reconcile/pipeline.js';
import { compatibilityChange } from './compatibility.js';
import { addressPlanTable, addressPolicyChanged } from './address.js';
import { guardrailTrips, type SiteChange } from './guardrails.js';
import {
  CATEGORIES,
  type Category,
  type DiffReport,
  type FieldChange,
  type FleetDiff,
  type ItemChange,
  type LinkDiff,
  type RevisionInfo,
  type SiteDiff,
  type Topology,
} from './model.js';

interface Item {
  summary: string;
  fields: Record<string, string>;
}

type Items = Map<Category, Map<string, Item>>;

/** Display string of a leaf value. */
function show(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  return JSON.stringify(v);
}

/**
 * An item's fields as a person reads them: dotted keys to display strings; arrays of scalars stay one value,
 * arrays of objects go by index. Display only: items are compared by microdiff (fieldChanges).
 */
function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value === undefined) return out;
  if (value === null || typeof value !== 'object') {
    out[prefix || 'value'] = show(value);
    return out;
  }
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) out[prefix || 'value'] = show(value);
    else value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
    return out;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (!entries.length && prefix) out[prefix] = '{}';
  for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

function add(items: Items, category: Category, id: string, summary: string, fields: Record<string, string>): void {
  let m = items.get(category);
  if (!m) items.set(category, (m = new Map()));
  m.set(id, { summary, fields });
}

/** Split a desired state into comparable items. */
function itemize(desired: Desired): Items {
  const items: Items = new Map();
  for (const r of desired.routes)
    add(items, 'routes', r.destination, `to ${r.target} over ${r.linkId}`, { target: r.target, link: r.linkId, interface: r.dev });
  for (const w of desired.wireguard) {
    add(
      items,
      'tunnels',
      w.linkId,
      `${w.name} to ${w.remoteSite}, listen ${w.listenPort}, MTU ${w.mtu}, peer ${w.peer.endpoint ?? '(no endpoint: it dials us)'}`,
      flatten({
        interface: w.name,
        remoteSite: w.remoteSite,
        listenPort: w.listenPort,
        privateKey: w.privateKey,
        mtu: w.mtu,
        mssClamp: w.mssClamp,
        peer: { publicKey: w.peer.publicKey, endpoint: w.peer.endpoint, allowedIps: w.peer.allowedIps, persistentKeepalive: w.peer.persistentKeepalive },
      }),
    );
  }
  if (desired.cloud) {
    const c = desired.cloud;
    add(
      items,
      'cloud-routes',
      'vpc',
      `${c.provider} ${c.region} project ${c.projectId}${c.vpcId ? ` VPC ${c.vpcId}` : ''}`,
      flatten({ provider: c.provider, region: c.region, projectId: c.projectId, vpcId: c.vpcId, marker: c.marker }),
    );
    for (const t of c.tables) {
      for (const r of t.routes)
        add(
          items,
          'cloud-routes',
          `${t.id} ${r.destination}`,
          `${r.destination} → ${r.type} ${r.nexthop} in ${t.id}`,
          flatten({ table: t.id, destination: r.destination, type: r.type, nexthop: r.nexthop, description: r.description }),
        );
    }
  }
  for (const reg of desired.containerd?.registries ?? []) {
    add(
      items,
      'containerd',
      reg.host,
      `mirror ${reg.mirror}, fallback ${reg.server}`,
      flatten({ server: reg.server, mirror: reg.mirror, dialTimeout: reg.dialTimeout }),
    );
  }
  if (desired.docker) {
    const d = desired.docker;
    add(
      items,
      'docker',
      'registry-mirrors',
      d.registryMirrors.length ? d.registryMirrors.join(', ') : '(none)',
      flatten({ 'registry-mirrors': d.registryMirrors, unsupported: d.unsupported }),
    );
  }
  if (desired.dragonfly) {
    for (const [key, value] of Object.entries(flatten(desired.dragonfly.config))) add(items, 'dragonfly', key, value, { value });
  }
  if (desired.harbor) {
    const inst = desired.harbor.instance;
    const { kind: _k, name: _n, projects, robots, endpoints: _e, replication, ...settings } = inst;
    void _k;
    void _n;
    void _e;
    for (const [key, value] of Object.entries(flatten(settings))) add(items, 'harbor-config', key, value, { value });
    for (const p of projects) {
      add(
        items,
        'harbor-projects',
        p.name,
        `${p.public ? 'public' : 'private'}${p.quota ? `, quota ${p.quota}` : ''}${p.proxyCache ? `, proxy cache of ${p.proxyCache.endpoint}` : ''}`,
        flatten({ public: p.public, quota: p.quota, proxyCache: p.proxyCache?.endpoint }),
      );
    }
    for (const r of robots) {
      add(
        items,
        'harbor-robots',
        r.name,
        `${r.permissions.map((p) => `${p.project}: ${p.access.join(' ')}`).join('; ')}; secret ${r.secret}`,
        flatten({
          description: r.description,
          duration: r.duration,
          secret: r.secret,
          permissions: r.permissions.map((p) => `${p.project}=${p.access.join('+')}`),
        }),
      );
    }
    // The endpoints as compiled (declared ones and one to each peer core), as the harbor-api provider creates them.
    for (const e of desired.harbor.objects.registries) {
      add(
        items,
        'harbor-endpoints',
        e.name,
        `${e.type} ${e.url}${e.peer ? ` (the core ${e.peer})` : ''}${e.secretRef ? `, secret ${e.secretRef}` : ''}`,
        flatten({ type: e.type, url: e.url, insecure: e.insecure, accessKey: e.accessKey, secret: e.secretRef, peer: e.peer }),
      );
    }
    for (const r of replication) {
      const trigger = r.trigger.type === 'scheduled' && r.trigger.cron ? `scheduled ${r.trigger.cron}` : r.trigger.type;
      add(
        items,
        'harbor-replication',
        r.name,
        `${r.source} → ${r.destination}, ${trigger}${r.enabled ? '' : ', disabled'}`,
        flatten({ ...r, name: undefined, filters: r.filters.map((f) => `${f.type}${f.decoration === 'excludes' ? '!=' : '='}${f.value}`) }),
      );
    }
  }
  return items;
}

/** The fields that differ, in the order of the item before (then the fields only after has). */
function fieldChanges(before: Record<string, string> | undefined, after: Record<string, string> | undefined): FieldChange[] {
  return microdiff(before ?? {}, after ?? {}).map((d) => ({
    field: String(d.path[0]),
    ...(d.type !== 'CREATE' ? { before: String(d.oldValue) } : {}),
    ...(d.type !== 'REMOVE' ? { after: String(d.value) } : {}),
  }));
}

function diffItems(before: Items, after: Items): ItemChange[] {
  const out: ItemChange[] = [];
  for (const category of CATEGORIES) {
    const b = before.get(category) ?? new Map<string, Item>();
    const a = after.get(category) ?? new Map<string, Item>();
    const ids = [...new Set([...b.keys(), ...a.keys()])].sort(naturalCompare);
    for (const id of ids) {
      const x = b.get(id);
      const y = a.get(id);
      if (!x && y) out.push({ category, id, action: 'add', summary: y.summary, fields: fieldChanges(undefined, y.fields) });
      else if (x && !y) out.push({ category, id, action: 'remove', summary: x.summary, fields: fieldChanges(x.fields, undefined) });
      else if (x && y) {
        const fields = fieldChanges(x.fields, y.fields);
        if (fields.length) out.push({ category, id, action: 'change', summary: y.summary, fields });
      }
    }
  }
  return out;
}

/** Numbers inside strings compare as numbers: 10.9.0.0 before 10.10.0.0. */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** A site's compiled desired state; one that does not compile is empty, with a note saying why. */
function desiredOf(name: string, roles: Role[], compiled: SiteDesired | undefined, notes: string[], which: string): Desired {
  if (compiled && 'desired' in compiled) return compiled.desired;
  notes.push(`${name}: the ${which} revision does not compile (${compiled?.error ?? 'not compiled'}).`);
  return { site: name, roles, routes: [], wireguard: [] };
}

/** One side of the comparison: a fleet and its sites' desired states (from the pipeline). */
interface FleetSide {
  fleet: Fleet;
  sites: ReadonlyMap<string, SiteDesired>;
}

function linkFields(link: unknown): Record<string, string> {
  const { to: _to, ...rest } = link as Record<string, unknown>;
  void _to;
  return flatten(rest);
}

function diffFleets(baseSide: FleetSide, headSide: FleetSide): FleetDiff {
  const notes: string[] = [];
  const base = baseSide.fleet;
  const head = headSide.fleet;
  const sites: SiteDiff[] = [];
  const compared: SiteChange[] = [];
  const names = [...new Set([...base.sites.keys(), ...head.sites.keys()])].sort();
  const waves = waveOfSites(head);
  for (const name of names) {
    const b = base.sites.get(name);
    const h = head.sites.get(name);
    const bd = b ? desiredOf(name, rolesOf(b), baseSide.sites.get(name), notes, 'base') : undefined;
    const hd = h ? desiredOf(name, rolesOf(h), headSide.sites.get(name), notes, 'head') : undefined;
    const changes = diffItems(bd ? itemize(bd) : new Map(), hd ? itemize(hd) : new Map());
    if (b && h && !changes.length) continue;
    const entry = (h ?? b)!;
    const counts = { add: 0, change: 0, remove: 0 };
    for (const c of changes) counts[c.action]++;
    // A removed site's agents refuse a revision without their site: they write and delete nothing on its hosts.
    const files = h ? desiredFileDiffs(bd, hd) : [];
    const siteDiff: SiteDiff = {
      site: name,
      role: entry.role,
      area: entry.value.area,
      provider: entry.value.provider,
      status: !b ? 'added' : !h ? 'removed' : 'changed',
      ...(isRetiring(h) ? { retiring: true as const } : {}),
      roles: rolesOf(entry),
      changes,
      counts,
      files: files.map(({ path, provider, action, diff }) => ({ path, provider, action, diff })),
      restarts: restartsFor(files),
      // What the agent will not do for this site (new with this revision), e.g. unmanaged cloud routes.
      notes: h
        ? (hd?.notes ?? []).filter((n) => !(bd?.notes ?? []).includes(n))
        : [`The agents of ${name} refuse a revision without their site: they change nothing on its hosts, which keep their files until taken down by hand.`],
      ...(waves?.has(name) ? { wave: waves.get(name)! } : {}),
    };
    sites.push(siteDiff);
    compared.push({ diff: siteDiff, ...(bd ? { before: bd } : {}), ...(hd ? { after: hd } : {}) });
  }

  // Links: by id (both ends sorted), the first declaration wins as in the route computation.
  const firstLinks = (fleet: Fleet) => {
    const m = new Map<string, Fleet['links'][number]>();
    for (const l of fleet.links) if (!m.has(l.id) && fleet.sites.has(l.local) && fleet.sites.has(l.remote) && l.local !== l.remote) m.set(l.id, l);
    return m;
  };
  const baseLinks = firstLinks(base);
  const headLinks = firstLinks(head);
  // A link's two sites in id order, from the link itself: a name may hold `--`, so an id is not split.
  const endsOf = (l: Fleet['links'][number]) => [l.local, l.remote].sort() as [string, string];
  const links: LinkDiff[] = [];
  for (const id of [...new Set([...baseLinks.keys(), ...headLinks.keys()])].sort()) {
    const b = baseLinks.get(id);
    const h = headLinks.get(id);
    const [a, z] = endsOf((h ?? b)!);
    if (b && h) {
      // The same link declared from the other side is the same link: compare it as seen from `a`.
      const fields = fieldChanges(linkFields(orient(b, a)), linkFields(orient(h, a)));
      if (fields.length) links.push({ id, a, b: z, type: h.link.type, status: 'changed', fields });
    } else if (h) links.push({ id, a, b: z, type: h.link.type, status: 'added', fields: fieldChanges(undefined, linkFields(orient(h, a))) });
    else if (b) links.push({ id, a, b: z, type: b.link.type, status: 'removed', fields: fieldChanges(linkFields(orient(b, a)), undefined) });
  }

  const siteStatus = new Map(sites.map((s) => [s.site, s.status]));
  const linkStatus = new Map(links.map((l) => [l.id, l.status]));
  const topology: Topology = { nodes: [], edges: [] };
  // A site that starts retiring goes away with its links (they stay in the files, ignored), as a removal would.
  const retiringNow = new Set(names.filter((n) => isRetiring(head.sites.get(n)) && !isRetiring(base.sites.get(n))));
  for (const name of names) {
    const s = head.sites.get(name) ?? base.sites.get(name)!;
    const retiring = retiringNow.has(name) ? { status: 'removed' as const, retiring: true as const } : {};
    topology.nodes.push({ name, area: s.value.area, role: s.role, cidr: s.value.cidr, status: siteStatus.get(name) ?? 'unchanged', ...retiring });
  }
  for (const id of [...new Set([...baseLinks.keys(), ...headLinks.keys()])].sort()) {
    const l = (headLinks.get(id) ?? baseLinks.get(id))!;
    const [a, z] = endsOf(l);
    const status = retiringNow.has(a) || retiringNow.has(z) ? 'removed' : (linkStatus.get(id) ?? 'unchanged');
    topology.edges.push({ id, a, b: z, type: l.link.type, mtu: l.link.mtu, status });
  }

  const guarded = guardrailTrips(base, head, compared);
  const summary = { sites: sites.length, add: 0, change: 0, destroy: 0 };
  for (const s of sites) {
    summary.add += s.counts.add;
    summary.change += s.counts.change;
    summary.destroy += s.counts.remove;
  }
  return {
    summary,
    sites,
    links,
    topology,
    addressPlan: addressPlanTable(base, head),
    addressPlanChanged: addressPolicyChanged(base, head),
    guardrails: guarded.trips,
    guardrailsChanged: guarded.changes,
    notes,
  };
}

/** A link as declared from `site`'s side (local/remote swapped when the other side declares it). */
function orient(l: Fleet['links'][number], site: string): unknown {
  if (l.local === site) return l.link;
  const link = l.link as Record<string, unknown>;
  const { local, remote, ...rest } = link;
  return { ...rest, ...(remote !== undefined ? { local: remote } : {}), ...(local !== undefined ? { remote: local } : {}) };
}

/** The pipeline's evaluations of the two revisions (`rev` as the user named it) -> the whole diff report. */
export function buildDiffReport(base: { rev: string; evaluation: Evaluation }, head: { rev: string; evaluation: Evaluation }): DiffReport {
  const info = (x: { rev: string; evaluation: Evaluation }): RevisionInfo => ({
    rev: x.rev,
    sha: x.evaluation.revision,
    valid: x.evaluation.report.valid,
    files: x.evaluation.report.files,
    errors: x.evaluation.report.errors,
    warnings: x.evaluation.report.warnings,
  });
  if (!head.evaluation.report.valid) {
    return {
      base: info(base),
      head: info(head),
      compared: false,
      changed: false,
      summary: { sites: 0, add: 0, change: 0, destroy: 0 },
      sites: [],
      links: [],
      topology: { nodes: [], edges: [] },
      addressPlan: [],
      addressPlanChanged: false,
      guardrails: [],
      guardrailsChanged: [],
      notes: [],
    };
  }
  const [b, h] = [base.evaluation, head.evaluation];
  const diff = diffFleets({ fleet: b.report.fleet, sites: b.sites }, { fleet: h.report.fleet, sites: h.sites });
  if (b.report.files === 0) diff.notes.unshift(`The base revision ${b.revision.slice(0, 12)} has no fleet yet: everything is new.`);
  else if (!b.report.valid)
    diff.notes.unshift(
      `The base revision ${b.revision.slice(0, 12)} is itself invalid (${b.report.errors.length} errors): what it would have applied is a best guess.`,
    );
  const changed = diff.sites.length > 0 || diff.links.length > 0 || diff.addressPlanChanged || diff.addressPlan.some((a) => a.rows.some((r) => r.change));
  const compatibility = compatibilityChange(b.report.fleet, h.report.fleet);
  return { base: info(base), head: info(head), compared: true, changed, ...diff, ...(compatibility ? { compatibility } : {}) };
}
