// The lab's part of `npm run bench` (issues 6 and 12, "Benchmark"), run last: the whole example fleet on this
// machine (agent/src/testbed/lab), 2 containerd nodes per region, in its own lab directory (a temp dir) and
// namespace prefix, with the lab's default delivery: signed per-site bundles (issue 12). One core's agent (the
// publisher) follows the git origin and publishes each revision into its core's registry; Harbor's event-based
// replication (the lab's stand-in) copies it to the other core; each core's registry notification is a webhook
// to the gateways that follow it; the gateways hand the head on to their node agents; a region fetches its
// site's layer through its peer. So what a merge costs is measured over that whole path:
//
// 1. Image egress per region: `labRun` pushes a test image to the China core, replicates it, pulls it on every
//    node of every region through the region's peer and without it (baseline). Target <= 1.1x per region.
// 2. Merge-to-applied on all agents: a commit that changes every agent's desired state (every link's WireGuard
//    persistentKeepalive: all gateways; every region's containerd dialTimeout: all node agents), then the time
//    until every agent's state.json shows it applied. By polling alone (pushes spread over the interval's phase)
//    and with a signed GitHub push webhook sent right after the push to the agents that follow git only — the
//    publisher, as GitHub sends its webhook to the one host that talks to it; the others learn of the revision
//    from their registry's notification and their gateway, as in production. Target: <= 2 s median (webhooks).
// 3. CPU per push: the agents' /proc times with their waited-for children (the publisher's git and ssh-keygen,
//    every agent's signature check, any evaluate child), from the push until all applied. Target <= 1/5 of the
//    8.3 CPU-s that every agent cloning and validating the fleet cost before issue 12. The lab's other
//    processes (services, registries, peers) are shown beside it, not counted. The agents log at debug level
//    here, so their step timings, the publisher's `bundle published` and the services' `replication done`
//    show where the time goes.
// 4. Requests to the git origin (GitHub's stand-in) per revision: every ls-remote/fetch of the agents that
//    follow git, counted exactly by a logging upload-pack wrapper (lab-delivery.ts OriginCounter). Target: 1.
// 5. Core egress per revision per region: what the cores' registries served to each region for a revision's
//    bundle (its peer's layer fetch through the tunnel, its agents' manifest requests), from their
//    access logs, against the region's layer. Target <= 1.1x.
// 6. Every agent's VmRSS (/proc), idle after the polled applies. Target <= 80 MB per agent.
//
// Targets print PASS/MISS and never fail the run. The lab is always taken down (`labDown`), also on an
// error or SIGINT/SIGTERM. Without root or the lab's packages it prints `skipped: <reason>` and returns 0.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { followsGit } from '../src/testbed/lab/delivery.js';
import { labDown } from '../src/testbed/lab/down.js';
import { originHead } from '../src/testbed/lab/origin.js';
import { missingForLab } from '../src/testbed/lab/preflight.js';
import { LabError, loadState, type LabState } from '../src/testbed/lab/processes.js';
import { formatRun, labRun, type RunReport } from '../src/testbed/lab/run.js';
import {
  CLK_TCK,
  cpuSeconds,
  egressRows,
  httpStatus,
  labAgents,
  labWebhookSecret,
  makePusher,
  mb,
  readDesired,
  readRss,
  restartWithSecret,
  signedPush,
  untilPhase,
  type LabAgent,
} from './lab-agents.js';
import { groupOf, GROUPS, OriginCounter, pushSample, type Fleet, type Sample } from './lab-delivery.js';
import { reportDelivery, reportPushes } from './lab-report.js';
import { table, type Out, type Row } from './report.js';

const NODES_PER_REGION = 2;
const INTERVAL_S = 10;
const IMAGE_BYTES = 16 * 1024 * 1024;
const POLL_SAMPLES = 3;
const WEBHOOK_SAMPLES = 5;
const RSS_TARGET_MB = 80;
const UP_TIMEOUT_MS = 120_000;
/** The example fleet: the repository this package lives in (agent/dist/bench -> the root). */
const FLEET = fileURLToPath(new URL('../../..', import.meta.url));

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtCpu = (s: number) => `${s.toFixed(2)} CPU-s`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---- the measurements on a lab that is up ----------------------------------------------------------------

async function measure(dir: string, report: RunReport, out: Out, rows: Row[], findings: string[]): Promise<void> {
  const state = loadState(dir);
  if (!state) throw new LabError(`the lab's state file in ${dir} is gone`);
  const agents = labAgents(state);
  const intervalMs = INTERVAL_S * 1000;
  const all = `all ${agents.length} agents`;
  let head = (await originHead(state))!;

  // Who talks to the origin: the agents that follow git (the publisher), and the agents given its URL.
  const gitAgents = agents.filter((a) => followsGit(state, a.rec));
  const withUrl = agents.filter((a) => a.proc.argv.includes('--repo-url')).map((a) => a.name);
  out(
    `lab bench: delivery ${state.bundle ? `by signed bundles, published by ${state.bundle.publisher}'s agent` : 'from git (every agent clones the origin)'}; ` +
      `agents given the git origin (--repo-url): ${withUrl.length}/${agents.length} (${withUrl.join(', ')})`,
  );
  if (withUrl.join() !== gitAgents.map((a) => a.name).join())
    findings.push(`the agents given --repo-url (${withUrl.join(', ')}) are not the ones the lab says follow git (${gitAgents.map((a) => a.name).join(', ')})`);
  const f: Fleet = {
    state,
    agents,
    publisher: state.bundle ? gitAgents[0] : undefined,
    origin: new OriginCounter(state, agents),
    push: makePusher(state),
  };
  if (!f.origin.clones.length) findings.push('no clone of the origin in the git-following agents’ state directories: requests to the origin are not counted');
  const samples: Sample[] = [];
  const busy0 = machineBusy(state);

  // --- polling alone: pushes at evenly spread phases of the interval ---
  const poll: Sample[] = [];
  const tickWait: number[] = [];
  let changedDesired: string[] = [];
  for (let k = 0; k < POLL_SAMPLES; k++) {
    await untilPhase(intervalMs, ((k + 0.5) / POLL_SAMPLES) * intervalMs, k === 0);
    const before = new Map(agents.map((a) => [a.name, readDesired(a)] as const));
    const s = await pushSample(f, async () => void tickWait.push(intervalMs - (Date.now() % intervalMs)), head, intervalMs + 60_000);
    poll.push(s);
    head = s.sha;
    if (k === 0) changedDesired = agents.filter((a) => readDesired(a) !== before.get(a.name)).map((a) => a.name);
  }
  samples.push(...poll);
  const pollAll = poll.map((s) => s.all);
  out(
    `lab bench: merge-to-applied by polling every ${INTERVAL_S}s, ${all}: ` +
      poll.map((s, i) => `${fmtS(s.all)} (next tick was ${fmtS(tickWait[i]!)} away; first agent ${fmtS(s.first)})`).join(', '),
  );
  const unchanged = agents.filter((a) => !changedDesired.includes(a.name)).map((a) => a.name);
  out(
    `lab bench: the pushed change altered the desired state of ${changedDesired.length}/${agents.length} agents` +
      `${unchanged.length ? ` (not: ${unchanged.join(', ')})` : ''}; every agent applied every push`,
  );
  rows.push({
    what: `merge-to-applied, polling ${INTERVAL_S}s, ${all} (${POLL_SAMPLES} pushes)`,
    value: fmtS(mean(pollAll)),
    target: `mean; ~${fmtS(intervalMs / 2)} tick wait + slowest reconcile`,
  });
  rows.push({
    what: `merge-to-applied, polling: slowest agent after the tick`,
    value: fmtS(mean(pollAll.map((m, i) => m - tickWait[i]!))),
    target: 'mean reconcile of the last agent after the tick',
  });

  // --- RSS: the lab's own agents, idle after the polled applies ---
  await sleep(1000);
  const rss = agents.map((a) => ({ a, r: readRss(a.proc.pid) }));
  let worst = 0;
  for (const { a, r } of rss) {
    if (!r) {
      findings.push(`could not read the RSS of agent ${a.name} (pid ${a.proc.pid})`);
      continue;
    }
    const v = mb(r.rssKb);
    worst = Math.max(worst, v);
    rows.push({
      what: `agent RSS ${a.name} (${a.rec.roles})`,
      value: `${v.toFixed(1)} MB`,
      target: `<= ${RSS_TARGET_MB} MB (peak ${mb(r.hwmKb).toFixed(1)} MB)`,
      verdict: verdict(v <= RSS_TARGET_MB),
    });
  }
  // One verdict per role group (issue 15: every role <= 80 MB idle): its largest agent decides.
  for (const g of GROUPS) {
    const mbs = rss.filter(({ a, r }) => r && groupOf(state, a) === g).map(({ r }) => mb(r!.rssKb));
    if (!mbs.length) continue;
    const top = Math.max(...mbs);
    rows.push({
      what: `agent RSS, ${g}${mbs.length > 1 ? `s (${mbs.length})` : ''}: idle, largest`,
      value: `${top.toFixed(1)} MB`,
      target: `<= ${RSS_TARGET_MB} MB each${mbs.length > 1 ? ` (smallest ${Math.min(...mbs).toFixed(1)} MB)` : ''}`,
      verdict: verdict(top <= RSS_TARGET_MB),
    });
  }
  const over = rss.filter(({ r }) => r && mb(r.rssKb) > RSS_TARGET_MB).map(({ a }) => a.name);
  if (over.length)
    findings.push(`agent RSS above ${RSS_TARGET_MB} MB on ${over.length}/${agents.length} agents (${over.join(', ')}); worst ${worst.toFixed(1)} MB`);

  // --- a signed GitHub push webhook to the agents that follow git (the publisher) ---
  const secret = await webhookSecret(state, gitAgents, head, out, findings);
  const sendHook = async (sha: string, before: string) => {
    const h = signedPush(secret, before, sha);
    const answers = await Promise.all(
      gitAgents.map((a) =>
        httpStatus(`http://${a.rec.listen}/hooks/github`, { method: 'POST', headers: { ...h.headers, 'x-github-delivery': randomUUID() }, body: h.body }),
      ),
    );
    const bad = answers.map((r, i) => ({ r, a: gitAgents[i]! })).filter((x) => x.r?.status !== 202);
    if (bad.length)
      throw new LabError(
        `the webhook was not accepted by ${bad.map((x) => `${x.a.name} (${x.r ? `HTTP ${x.r.status} ${x.r.body}` : 'no answer'})`).join(', ')}`,
      );
  };
  const hook: Sample[] = [];
  for (let k = 0; k < WEBHOOK_SAMPLES; k++) {
    // Just after the interval ticks finished, so the next tick is ~7 s away: only the webhook triggers.
    await untilPhase(intervalMs, 2500);
    const s = await pushSample(f, sendHook, head, 60_000);
    hook.push(s);
    head = s.sha;
  }
  samples.push(...hook);
  // Other work on this machine inflates every time and CPU figure here: say how busy it was.
  const busy = machineBusy(state);
  const wallS = busy.at - busy0.at;
  const elsewhere = busy.machine - busy0.machine - (busy.lab - busy0.lab);
  out(
    `lab bench: this machine was busy ${fmtCpu(busy.machine - busy0.machine)} over the ${wallS.toFixed(0)} s of pushes, ` +
      `the lab's processes and this bench ${fmtCpu(busy.lab - busy0.lab)}; ` +
      `${fmtCpu(elsewhere)} elsewhere (other work here, and the kernel's: WireGuard, veths)`,
  );
  if (elsewhere / wallS > 0.25)
    findings.push(
      `${fmtCpu(elsewhere)} of CPU went to other work on this machine while measuring (${(elsewhere / wallS).toFixed(2)} CPUs): times and CPU are inflated`,
    );
  reportPushes({ state, agents, poll, hook, out, rows, findings, intervalMs, all });
  reportDelivery(f, samples, poll, hook, out, rows, findings);

  // Image egress last in the table (measured first, by labRun).
  rows.push(...egressRows(report));
  for (const s of report.skipped) findings.push(`no egress measurement for ${s}`);
}

/** CPU seconds the machine spent busy (/proc/stat: all but idle and iowait), and those of the lab's processes and this bench, with their children. */
function machineBusy(state: LabState): { machine: number; lab: number; at: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f.reduce((a, b) => a + b, 0) - f[3]! - f[4]! - (f[8] ?? 0) - (f[9] ?? 0); // idle, iowait; guest is in user already
  return { machine: busy / CLK_TCK, lab: state.processes.reduce((n, p) => n + cpuSeconds(p.pid), cpuSeconds(process.pid)), at: performance.now() / 1000 };
}

/** The secret the lab gave the agents that follow git; a lab that gives none: they are restarted with one of the bench's. */
async function webhookSecret(state: LabState, gitAgents: LabAgent[], head: string, out: Out, findings: string[]): Promise<string> {
  const secrets = gitAgents.map((a) => labWebhookSecret(state, a));
  if (secrets.every((s) => s !== undefined) && new Set(secrets).size === 1) {
    out(`lab bench: the lab gives ${gitAgents.map((a) => a.name).join(', ')} a webhook secret; a signed push webhook goes there only`);
    return secrets[0]!;
  }
  const probe = randomBytes(16).toString('hex');
  const answers = await Promise.all(
    gitAgents.map(async (a) => {
      const h = signedPush(probe, head, head);
      return (await httpStatus(`http://${a.rec.listen}/hooks/github`, { method: 'POST', headers: h.headers, body: h.body }))?.status;
    }),
  );
  findings.push(
    `the lab starts ${gitAgents.map((a) => a.name).join(', ')} without --webhook-secret (agent/src/testbed/lab/agents.ts), so /hooks/github is off ` +
      `(a signed push got ${answers.map((s) => `HTTP ${s ?? 'no answer'}`).join(', ')}); the bench restarted it with a secret of its own`,
  );
  const secret = randomBytes(16).toString('hex');
  const t0 = performance.now();
  await restartWithSecret(state, gitAgents, secret);
  out(`lab bench: ${gitAgents.length} agent(s) restarted with a webhook secret and ready in ${fmtS(performance.now() - t0)}`);
  return secret;
}

// ---- entry ------------------------------------------------------------------------------------------

/** Runs the lab benchmark; 0 unless the benchmark itself could not run properly (a skip is 0). */
export async function runLabBench(out: Out = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  out('');
  const missing = missingForLab();
  if (missing.reasons.length) {
    out(`lab bench: skipped: ${missing.reasons.join('; ')}${missing.packages.length ? ` (apt-get install -y ${missing.packages.join(' ')})` : ''}`);
    return 0;
  }
  if (!existsSync(join(FLEET, 'hubs')) || !existsSync(join(FLEET, 'regions'))) {
    out(`lab bench: skipped: no example fleet (hubs/, regions/) in ${FLEET}`);
    return 0;
  }
  // Short: containerd's socket paths under the lab dir must stay within the 104-byte unix socket limit
  // (<dir>/sites/<region>/nodes/<node>/containerd/containerd.sock.ttrpc); the empty temp dir is the lab dir.
  const tmp = mkdtempSync(join(tmpdir().length <= 16 ? tmpdir() : '/tmp', 'mnb-'));
  const dir = tmp;
  const prefix = `mnb${(process.pid % 46656).toString(36)}`;
  const sayLog: string[] = [];
  const say = (line: string) => {
    sayLog.push(line);
  };

  let down: Promise<string[]> | undefined;
  const takeDown = (): Promise<string[]> => {
    down ??= (async () => {
      const problems: string[] = [];
      try {
        const r = await labDown({ dir, prefix, say });
        problems.push(...r.problems);
      } catch (err) {
        problems.push((err as Error).message);
      }
      try {
        rmSync(tmp, { recursive: true, force: true });
      } catch (err) {
        problems.push(`remove ${tmp}: ${(err as Error).message}`);
      }
      return problems;
    })();
    return down;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`lab bench: ${signal}: taking the lab down ...\n`);
    void takeDown().then((problems) => {
      for (const p of problems) process.stderr.write(`lab bench cleanup: ${p}\n`);
      process.kill(process.pid, signal);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: Row[] = [];
  const findings: string[] = [];
  let code = 0;
  let skipped = false;
  const started = performance.now();
  try {
    out(
      `lab bench: the example fleet with ${NODES_PER_REGION} containerd nodes per region, reconcile interval ${INTERVAL_S}s, ` +
        `lab in ${dir}, namespaces ${prefix}-*`,
    );
    let report: RunReport;
    // The lab's agents take their log level from here (agentEnv): debug, so they log their step timings.
    const level = process.env['MIRRORNET_LOG_LEVEL'];
    process.env['MIRRORNET_LOG_LEVEL'] = level ?? 'debug';
    try {
      report = await labRun({
        repo: FLEET,
        dir,
        nodes: NODES_PER_REGION,
        sites: [],
        prefix,
        peer: 'dfproxy',
        interval: `${INTERVAL_S}s`,
        timeoutMs: UP_TIMEOUT_MS,
        imageBytes: IMAGE_BYTES,
        down: false,
        say,
      });
    } catch (err) {
      const m = (err as LabError).userMessage ?? (err as Error).message;
      if (/another lab|already up|is up in/.test(m)) {
        out(`lab bench: skipped: ${m.split('\n')[0]}`);
        skipped = true;
        return 0;
      }
      throw err;
    } finally {
      if (level === undefined) delete process.env['MIRRORNET_LOG_LEVEL'];
      else process.env['MIRRORNET_LOG_LEVEL'] = level;
    }
    const state = loadState(dir)!;
    const t = state.topology!;
    out(
      `lab bench: up and pulled in ${fmtS(performance.now() - started)}: ${t.sites.length} sites, ${state.links?.length ?? 0} WireGuard links, ` +
        `${state.agents.length} agents (${state.agents.filter((a) => a.role === 'gateway').length} gateways, ` +
        `${state.agents.filter((a) => a.role === 'node').length} node agents); ` +
        `replication ${fmtS(report.replication.ms)}`,
    );
    for (const line of formatRun(report).trimEnd().split('\n')) out(`  ${line}`);
    await measure(dir, report, out, rows, findings);
  } catch (err) {
    out(`lab bench failed: ${(err as LabError).userMessage ?? (err as Error).message}`);
    if (sayLog.length)
      out(
        `  lab's last lines:\n${sayLog
          .slice(-12)
          .map((l) => `    ${l}`)
          .join('\n')}`,
      );
    code = 1;
  } finally {
    const problems = await takeDown();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (problems.length) {
      for (const p of problems) out(`lab bench cleanup problem: ${p}`);
      code = 1;
    } else if (!skipped)
      out(`lab bench: lab down (namespaces, tunnels, agents, registries, containerd, ${dir} removed); ${fmtS(performance.now() - started)} in all`);
  }
  if (rows.length) {
    out('');
    table(out, rows);
  }
  for (const f of findings) out(`finding: ${f}`);
  return code;
}

// `node agent/dist/bench/lab.js`: the lab part alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await runLabBench();
