// `mirrornet routes`: the routes every site gets from the links and the routing policy, computed from the
// fleet as the one pipeline validates it; an invalid fleet is refused with its findings, as plan refuses it.
import type { Fleet } from '../model/fleet.js';
import { RepoNotFoundError } from '../model/loader.js';
import { computeRoutes } from '../net/routes.js';
import { formatText } from '../policy/format.js';
import { validateRepo } from '../policy/validate.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

/** Exit 0 printed, 1 invalid fleet or unknown site, 2 no repository. */
export function routesCommand(opts: { repo: string; site?: string }, io: Io): number {
  let report;
  try {
    report = validateRepo(opts.repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
  if (!report.valid) {
    io.stderr(formatText(report));
    throw new UserError(`The repository is invalid (${report.errors.length} errors, above): no routes were computed. Fix it and try again.`, 1);
  }
  const { fleet } = report;
  if (opts.site && !fleet.sites.has(opts.site)) throw new UserError(`There is no site "${opts.site}": use one of ${[...fleet.sites.keys()].join(', ')}.`);
  io.stdout(renderRoutes(fleet, opts.site));
  return 0;
}

function renderRoutes(fleet: Fleet, only?: string): string {
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
