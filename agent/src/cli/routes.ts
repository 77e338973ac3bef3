import { buildFleet } from '../model/fleet.js';
import { loadRepo, RepoNotFoundError } from '../model/loader.js';
import { computeRoutes } from '../net/routes.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

export function routesCommand(opts: { repo: string; site?: string }, io: Io): number {
  let load;
  try {
    load = loadRepo(opts.repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
  const { fleet } = buildFleet(load);
  if (opts.site && !fleet.sites.has(opts.site)) throw new UserError(`There is no site "${opts.site}": use one of ${[...fleet.sites.keys()].join(', ')}.`);
  io.stdout(renderRoutes(fleet, opts.site));
  return 0;
}

function renderRoutes(fleet: ReturnType<typeof buildFleet>['fleet'], only?: string): string {
  const plan = computeRoutes(fleet);
  const lines: string[] = [];
  for (const [site, routes] of [...plan.tables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (only && site !== only) continue;
    const entry = fleet.sites.get(site)!;
    lines.push(`${site} (${entry.role}, ${entry.value.area}, ${entry.value.provider}, ${entry.value.cidr})`);
    if (!routes.length) lines.push('  (no routes)');
    for (const r of routes) {
      lines.push(`  ${r.destination.padEnd(18)} via ${r.via.padEnd(16)} ${r.link.link.type.padEnd(13)} ${r.origin === 'static' ? 'static' : `to ${r.owner}`}`);
    }
  }
  for (const u of plan.unreachable) lines.push(`unreachable: ${u.a} <-> ${u.b} (${u.reason})`);
  return `${lines.join('\n')}\n`;
}
