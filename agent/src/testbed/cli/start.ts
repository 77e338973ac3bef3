// `npm start`: the example fleet on this machine. As root, the whole network: the lab comes up, an image
// goes from Beijing to Singapore to every node of every region, and the bytes each core served are printed
// against a baseline without the mirrors. Without root: validation, the address plan and every site's plan,
// and the exact command for the rest.
import { spawnSync } from 'node:child_process';
import type { Desired } from '../../desired/types.js';
import { formatCidr, parseCidr } from '../../net/cidr.js';
import { formatText } from '../../policy/format.js';
import { evaluateRepository } from '../../reconcile/pipeline.js';
import { UserError } from '../../cli/errors.js';
import type { Io } from '../../cli/io.js';

export interface StartOptions {
  repo: string;
  nodes?: string;
  keep?: boolean;
  plansOnly?: boolean;
}

function summarizeDesired(d: Desired): string {
  const parts = [
    `${d.wireguard.length} tunnel(s)`,
    `${d.routes.length} host route(s)`,
    d.cloud ? `${d.cloud.tables.reduce((n, t) => n + t.routes.length, 0)} cloud route(s) in ${d.cloud.tables.length} table(s)` : undefined,
    d.containerd ? `containerd mirrors for ${d.containerd.registries.map((r) => r.host).join(', ')}` : undefined,
    d.docker ? `Docker registry-mirrors ${JSON.stringify(d.docker.registryMirrors)}` : undefined,
    d.dragonfly ? 'dfdaemon.yaml' : undefined,
    d.harbor
      ? `Harbor ${d.harbor.instance.name}: ${d.harbor.instance.projects.length} project(s), ${d.harbor.instance.robots.length} robot(s), ` +
        `${d.harbor.instance.replication.length} replication rule(s)`
      : undefined,
  ];
  return parts.filter(Boolean).join(', ');
}

export async function startCommand(opts: StartOptions, io: Io): Promise<number> {
  const { report, sites } = await evaluateRepository({ repo: opts.repo }, 'all');
  io.stdout('== Validation\n');
  io.stdout(formatText(report, { color: io.color }));
  if (!report.valid) return 1;
  const { fleet } = report;
  io.stdout('\n== Address plan\n');
  const rows = [...fleet.sites.values()]
    .map((s) => ({ s, p: parseCidr(s.value.cidr) }))
    .sort((a, b) => (a.p.ok ? a.p.range.start : 0) - (b.p.ok ? b.p.range.start : 0));
  for (const { s, p } of rows) {
    io.stdout(
      `  ${(p.ok ? formatCidr(p.range) : s.value.cidr).padEnd(18)} ${s.name.padEnd(18)} ${s.role.padEnd(7)} ${s.value.area.padEnd(9)} ${s.value.provider}\n`,
    );
  }
  io.stdout("\n== What each site's agent manages (desired state)\n");
  for (const s of [...fleet.sites.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const compiled = sites.get(s.name);
    if (!compiled || 'error' in compiled) throw new UserError(compiled?.error ?? `${s.name} was not compiled.`);
    const d = compiled.desired;
    io.stdout(`  ${s.name.padEnd(18)} ${summarizeDesired(d)}\n`);
    for (const n of d.notes ?? []) io.stdout(`  ${''.padEnd(18)} note: ${n}\n`);
  }
  if (opts.plansOnly) return 0;

  const { missingForLab } = await import('../lab/preflight.js');
  let missing = missingForLab();
  if (process.getuid?.() !== 0) {
    io.stdout(`\n== The whole network on this machine\nThe lab needs root (network namespaces, WireGuard, containerd). Run it with:\n  sudo npm start\n`);
    return 0;
  }
  if (missing.packages.length) {
    io.stdout(`\n== Installing what the lab needs\n${missing.reasons.join('; ')}: installing ${missing.packages.join(' ')} from Debian.\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install =
      update.status === 0 ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing.packages], { stdio: 'inherit', env }) : update;
    if (install.status !== 0) {
      throw new UserError(
        `Installing the lab's packages failed; run \`apt-get install -y --no-install-recommends ${missing.packages.join(' ')}\` and then \`npm start\` again.`,
      );
    }
    missing = missingForLab();
  }
  if (missing.reasons.length) throw new UserError(`The lab cannot run here: ${missing.reasons.join('; ')}.`);
  io.stdout('\n== The whole network on this machine (mirrornet lab run)\n');
  const { labRunCommand } = await import('./lab.js');
  return labRunCommand(
    {
      repo: opts.repo,
      dir: '/var/lib/mirrornet-lab',
      nodes: opts.nodes ?? '2',
      prefix: 'mnlab',
      peer: 'dfproxy',
      interval: '10s',
      imageMb: '16',
      ...(opts.keep ? {} : { down: true }),
    },
    io,
  );
}
