// `mirrornet lab up|down|status|run`: the whole fleet on one machine (agent/src/testbed/lab).
import { MirrornetError } from '../../errors.js';
import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError, UserError } from '../../cli/errors.js';
import type { Io } from '../../cli/io.js';

export interface LabCliOptions {
  repo: string;
  dir: string;
  nodes: string;
  sites?: string;
  prefix: string;
  peer: 'dfproxy' | 'registry';
  interval: string;
  report?: string;
  pushWebhook?: boolean;
  delivery?: 'bundle' | 'git';
  imageMb?: string;
  down?: boolean;
  json?: boolean;
}

const DEFAULT_DIR = '/var/lib/mirrornet-lab';

/** The lab's subcommands, registered on `mirrornet lab`. */
export function registerLab(lab: Command, io: Io, setExit: (code: number) => void): void {
  const common = (cmd: Command) =>
    cmd
      .option('--repo <dir>', 'the fleet repository the lab is made from', '.')
      .option('--dir <dir>', 'the lab directory (state, sandboxes, logs, the git origin)', DEFAULT_DIR)
      .option('--nodes <n>', 'containerd nodes per region', '2')
      .option('--sites <names>', 'comma-separated regions to include (both cores always are); default all')
      .option('--prefix <prefix>', 'network namespace prefix', 'mnlab')
      .addOption(new Option('--peer <kind>', "what plays each region's dfdaemon").choices(['dfproxy', 'registry']).default('dfproxy'))
      .option('--interval <duration>', "the agents' reconcile interval", '10s')
      .addOption(
        new Option('--delivery <how>', 'bundle: one core publishes signed bundles the others follow; git: every agent clones the origin')
          .choices(['bundle', 'git'])
          .default('bundle'),
      )
      .option('--report <what>', 'report to local receivers: github (commit statuses), chat (signed webhook), or both: github,chat')
      .option('--push-webhook', 'send a signed GitHub push webhook to every agent when the origin receives a push');

  common(lab.command('up'))
    .description('Make the lab: a namespace per site, veths, keys, a git origin, emulators, registries, one agent per site and node.')
    .action(async (opts: LabCliOptions) => setExit(await labUpCommand(opts, io)));

  lab
    .command('down')
    .description('Remove every namespace, interface, process and file the lab made (also after a crash).')
    .option('--dir <dir>', 'the lab directory', DEFAULT_DIR)
    .option('--prefix <prefix>', 'namespace prefix, used when the state file is gone', 'mnlab')
    .action(async (opts: { dir: string; prefix: string }) => setExit(await labDownCommand(opts, io)));

  lab
    .command('status')
    .description('Show the lab: sites, tunnels (handshake age), agents (applied revision, drift).')
    .option('--dir <dir>', 'the lab directory', DEFAULT_DIR)
    .option('--json', 'JSON instead of tables')
    .action(async (opts: { dir: string; json?: boolean }) => setExit(await labStatusCommand(opts, io)));

  common(lab.command('run'))
    .description(
      'Lab up, push a test image to the China core, replicate it, pull it on every node with and without the mirrors, print the bytes each core served.',
    )
    .option('--image-mb <n>', 'size of the test image in MiB', '16')
    .option('--down', 'remove the lab when done')
    .option('--json', 'print the report as JSON')
    .action(async (opts: LabCliOptions) => setExit(await labRunCommand(opts, io)));
}

function parseNodes(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new UsageError(`--nodes ${text}: use a whole number from 0 to 64.`);
  return n;
}

function upOptions(opts: LabCliOptions, io: Io) {
  return {
    repo: opts.repo,
    dir: opts.dir,
    nodes: parseNodes(opts.nodes),
    sites: (opts.sites ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    prefix: opts.prefix,
    peer: opts.peer,
    interval: opts.interval,
    ...(opts.report ? { report: parseReport(opts.report) } : {}),
    ...(opts.pushWebhook ? { pushWebhook: true } : {}),
    ...(opts.delivery ? { delivery: opts.delivery } : {}),
    say: (line: string) => io.stderr(`${line}\n`),
  };
}

function parseReport(text: string): { github?: boolean; chat?: boolean } {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of parts) if (p !== 'github' && p !== 'chat') throw new UsageError(`--report ${text}: use github, chat or github,chat.`);
  return { ...(parts.includes('github') ? { github: true } : {}), ...(parts.includes('chat') ? { chat: true } : {}) };
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (err instanceof MirrornetError) throw new UserError(err.userMessage, 1, { cause: err });
    throw err;
  }
}

async function labUpCommand(opts: LabCliOptions, io: Io): Promise<number> {
  const { labUp } = await import('../lab/up.js');
  await guard(() => labUp(upOptions(opts, io)));
  return 0;
}

async function labDownCommand(opts: { dir: string; prefix: string }, io: Io): Promise<number> {
  const { labDown } = await import('../lab/down.js');
  const r = await guard(() => labDown({ dir: opts.dir, prefix: opts.prefix, say: (l) => io.stderr(`${l}\n`) }));
  for (const p of r.problems) io.stderr(`problem: ${p}\n`);
  return r.problems.length ? 1 : 0;
}

async function labStatusCommand(opts: { dir: string; json?: boolean }, io: Io): Promise<number> {
  const { labStatus, formatStatus } = await import('../lab/status.js');
  const s = await guard(() => labStatus(opts.dir));
  if (!s) {
    io.stderr(`No lab in ${opts.dir}: \`mirrornet lab up\` makes one.\n`);
    return 1;
  }
  io.stdout(opts.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  const healthy = s.sites.every((x) => x.up) && s.agents.every((a) => a.running) && s.processes.every((p) => p.running);
  return healthy ? 0 : 1;
}

export async function labRunCommand(opts: LabCliOptions, io: Io): Promise<number> {
  const { labRun, formatRun, runPassed } = await import('../lab/run.js');
  const mb = Number(opts.imageMb ?? '16');
  if (!(mb > 0 && mb <= 1024)) throw new UsageError(`--image-mb ${opts.imageMb}: use a size from 1 to 1024.`);
  const report = await guard(() => labRun({ ...upOptions(opts, io), imageBytes: Math.round(mb * 1024 * 1024), down: Boolean(opts.down) }));
  io.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatRun(report));
  return runPassed(report) ? 0 : 1;
}
