import { formatCidr, parseCidr } from '../net/cidr.js';
import { formatText } from '../policy/format.js';
import { validateRepo } from '../policy/validate.js';
import { renderRoutes } from './routes.js';
import type { Io } from './main.js';

/**
 * `npm start`: what this machine can show today — the example fleet validated, its address plan and the
 * routes every site gets. Later issues add the plans of each site and the whole-network lab.
 */
export async function startCommand(opts: { repo: string }, io: Io): Promise<number> {
  const report = validateRepo(opts.repo);
  io.stdout('== Validation\n');
  io.stdout(formatText(report, { color: io.color }));
  const { fleet } = report;
  io.stdout('\n== Address plan\n');
  const rows = [...fleet.sites.values()]
    .map((s) => ({ s, p: parseCidr(s.value.cidr) }))
    .sort((a, b) => (a.p.ok ? a.p.range.start : 0) - (b.p.ok ? b.p.range.start : 0));
  for (const { s, p } of rows) {
    io.stdout(`  ${(p.ok ? formatCidr(p.range) : s.value.cidr).padEnd(18)} ${s.name.padEnd(18)} ${s.role.padEnd(7)} ${s.value.area.padEnd(9)} ${s.value.provider}\n`);
  }
  io.stdout('\n== Routes per site\n');
  io.stdout(renderRoutes(fleet));
  return report.valid ? 0 : 1;
}
