// `mirrornet status`: what every site of one or more cores is doing, as each core heard it from the sites'
// gateways — per host the wanted and applied revision, when it last reported, drift per component, what it
// flags (pending, drifting, failing, stale, silent, suspended) — then, per site, what needs a human: a
// suspension (by whom, why), steering a gateway has not taken yet, last errors, a silent gateway.
// Exit 0 when every site is in sync, 2 when anything is not, 1 when a core could not be asked.
import { FleetStatus } from '../report/site/schema.js';
import type { Io } from './io.js';
import { askCores, type CoreFlags, type OperatorDeps } from './operator.js';

export interface StatusOptions extends CoreFlags {
  site?: string;
  format: 'text' | 'json';
}

type SiteStatus = FleetStatus['sites'][number];
type HostStatus = SiteStatus['hosts'][number];

/** "45s ago", "3m ago", "5h ago", "2d ago": how long before `at` the time `then` was. */
function ago(then: string | undefined, at: string): string {
  if (then === undefined) return 'never';
  const s = Math.max(0, Math.floor((Date.parse(at) - Date.parse(then)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

const short = (revision: string | undefined) => revision?.slice(0, 12) ?? '-';

function drift(host: HostStatus): string {
  const open = Object.entries(host.drift)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b));
  return open.length ? open.map(([c, n]) => `${c}=${n}`).join(',') : '-';
}

/** What is not right with a host (none: in sync, or retired: it stopped on purpose). */
function hostFlags(site: SiteStatus, host: HostStatus): string[] {
  if (host.retired) return [];
  const wanted = host.wanted ?? site.summary.revision;
  const flags: string[] = [];
  if (site.summary.failing.includes(host.host)) flags.push('failing');
  if (drift(host) !== '-') flags.push('drifting');
  if (wanted !== undefined && host.applied !== wanted) flags.push('pending');
  if (host.stale) flags.push('stale');
  if (site.silent) flags.push('silent');
  if (host.suspended) flags.push('suspended');
  return flags;
}

/** Whether a site needs nothing: every host in sync, its gateway reporting, nothing suspended or still to take. */
function inSync(site: SiteStatus): boolean {
  return (
    (site.summary.state === 'in-sync' || site.summary.state === 'retired') &&
    !site.silent &&
    !site.wantedSteering.suspended &&
    site.steering.generation >= site.wantedSteering.generation &&
    site.hosts.every((h) => !hostFlags(site, h).length)
  );
}

/** Columns aligned two spaces apart, the last one unpadded. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

/** What needs a human about a site, one line each. */
function notes(site: SiteStatus, at: string): string[] {
  const out: string[] = [];
  const { suspended } = site.wantedSteering;
  if (site.summary.state === 'retired') out.push(`${site.site}: retired: its agents removed everything they created; its file may be deleted`);
  if (site.silent) out.push(`${site.site}: silent: its gateway ${site.gateway} last reported ${ago(site.lastSeen, at)}`);
  if (suspended) out.push(`${site.site}: suspended by ${suspended.by} ${ago(suspended.at, at)}: ${suspended.reason}`);
  if (site.steering.generation < site.wantedSteering.generation) {
    out.push(`${site.site}: steering generation ${site.wantedSteering.generation} not yet taken by the gateway (it holds ${site.steering.generation})`);
  }
  for (const host of site.hosts) {
    if (host.lastError) out.push(`${site.site}/${host.host}: last error in ${host.lastError.step} ${ago(host.lastError.at, at)}: ${host.lastError.message}`);
  }
  return out;
}

function render(statuses: FleetStatus[]): string {
  const rows = [['SITE', 'HOST', 'ROLES', 'VERSION', 'WANTED', 'APPLIED', 'SEEN', 'DRIFT', 'STATE']];
  const lines: string[] = [];
  for (const status of statuses) {
    for (const site of status.sites) {
      if (!site.hosts.length) rows.push([site.site, '-', '-', '-', short(site.summary.revision), '-', ago(site.lastSeen, status.at), '-', site.summary.state]);
      for (const host of site.hosts) {
        const flags = hostFlags(site, host);
        rows.push([
          site.site,
          host.host,
          host.roles.join(',') || '-',
          host.agentVersion,
          short(host.wanted ?? site.summary.revision),
          short(host.applied),
          ago(host.lastSeen, status.at),
          drift(host),
          host.retired ? 'retired' : flags.length ? flags.join(',') : 'in-sync',
        ]);
      }
      lines.push(...notes(site, status.at));
    }
  }
  return `${[...table(rows), ...(lines.length ? ['', ...lines] : [])].join('\n')}\n`;
}

export async function statusCommand(opts: StatusOptions, io: Io, deps: OperatorDeps = {}): Promise<number> {
  const path = opts.site === undefined ? '/v1/status' : `/v1/status?site=${encodeURIComponent(opts.site)}`;
  const answers = await askCores(opts, deps, 'GET', path);
  const statuses: FleetStatus[] = [];
  let failed = false;
  for (const answer of answers) {
    if ('error' in answer) {
      io.stderr(`mirrornet: ${answer.error}\n`);
      failed = true;
      continue;
    }
    const parsed = answer.status === 200 ? FleetStatus.safeParse(answer.body) : undefined;
    if (!parsed?.success) {
      io.stderr(`mirrornet: The core ${answer.core} did not answer with a fleet status (HTTP ${answer.status}): is it a mirrornet core of this version?\n`);
      failed = true;
      continue;
    }
    statuses.push(parsed.data);
  }
  const sites = statuses.flatMap((s) => s.sites);
  if (opts.format === 'json') io.stdout(`${JSON.stringify(statuses, null, 2)}\n`);
  else if (sites.length) io.stdout(render(statuses));
  if (failed) return 1;
  if (!sites.length) {
    const none = opts.site === undefined ? 'No site has reported to' : `No site "${opts.site}" has reported to`;
    io.stderr(`mirrornet: ${none} ${answers.map((a) => a.core).join(', ')} yet.\n`);
    return opts.site === undefined ? 2 : 1;
  }
  return sites.every(inSync) ? 0 : 2;
}
