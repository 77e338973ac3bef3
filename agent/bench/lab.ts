// The lab's part of `npm run bench` (issue 6, "Benchmark"), run last: the whole example fleet on this
// machine (agent/src/lab), 2 containerd nodes per region, in its own lab directory (a temp dir) and its own
// namespace prefix.
//
// 1. Per-region core egress: `labRun` brings the lab up, pushes a test image to the China core, replicates
//    it, and pulls it on every node of every region through the region's peer and without it (baseline);
//    the bytes each core served to a region, over the image size. Target <= 1.1x per region.
// 2. Merge-to-applied across all sites: a commit to the lab's origin that changes every agent's desired
//    state (every link's WireGuard persistentKeepalive: all gateways; every region's containerd
//    dialTimeout: all node agents), then the time until every agent's state.json shows it applied. By
//    polling alone (the lab's reconcile interval, pushes spread over its phase, so the mean is the true
//    average), and with a signed GitHub push webhook the bench sends to every agent's /hooks/github right
//    after the push returns (the lab's own post-receive webhook, `pushWebhook`, stays off: it would fire
//    before the push returns and on the polling pushes too). The secret is the one the lab gives its agents
//    (`--webhook-secret env:NAME`, the value in state.secrets). A lab that gives none: the bench says so
//    (a finding, with what /hooks/github answered) and restarts each agent with the lab's own arguments plus
//    `--webhook-secret` — in its own lab only, recorded in the state file so `lab down` ends them.
//    CPU per push (the agents' /proc times, with their evaluate children and git) and the agents' own step
//    timings (the lab's agents log at debug level in this bench) show where the time goes.
// 3. Every agent's VmRSS (/proc), idle after the polled applies. Target <= 80 MB per agent.
//
// Targets print PASS/MISS and never fail the run. The lab is always taken down (`labDown`), also on an
// error or SIGINT/SIGTERM. Without root or the lab's packages it prints `skipped: <reason>` and returns 0.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { labDown } from '../src/testbed/lab/down.js';
import { originHead } from '../src/testbed/lab/origin.js';
import { missingForLab } from '../src/testbed/lab/preflight.js';
import { LabError, loadState } from '../src/testbed/lab/processes.js';
import { formatRun, labRun, type RunReport } from '../src/testbed/lab/run.js';
import {
  cpuOf,
  egressRows,
  httpStatus,
  labAgents,
  labWebhookSecret,
  logOffsets,
  makePusher,
  mb,
  readDesired,
  readRss,
  restartWithSecret,
  signedPush,
  stepTimings,
  untilPhase,
  waitAllApplied,
} from './lab-agents.js';
import { median, table, type Out, type Row } from './report.js';

const NODES_PER_REGION = 2;
const INTERVAL_S = 10;
const IMAGE_BYTES = 16 * 1024 * 1024;
const POLL_SAMPLES = 3;
const WEBHOOK_SAMPLES = 3;
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
  const push = makePusher(state);
  let head = (await originHead(state))!;
  const all = `all ${agents.length} agents`;

  // --- polling alone: pushes at evenly spread phases of the interval ---
  const pollAll: number[] = [];
  const pollFirst: number[] = [];
  const tickWait: number[] = [];
  const pollCpu: number[] = [];
  let changedDesired: string[] = [];
  for (let k = 0; k < POLL_SAMPLES; k++) {
    await untilPhase(intervalMs, ((k + 0.5) / POLL_SAMPLES) * intervalMs, k === 0);
    const before = new Map(agents.map((a) => [a.name, readDesired(a)] as const));
    const cpu0 = cpuOf(agents);
    const p = push();
    tickWait.push(intervalMs - (Date.now() % intervalMs));
    const done = await waitAllApplied(agents, p.sha, intervalMs + 60_000);
    const times = [...done.values()].map((t) => t - p.pushedAt);
    pollAll.push(Math.max(...times));
    pollFirst.push(Math.min(...times));
    pollCpu.push(cpuOf(agents) - cpu0);
    head = p.sha;
    if (k === 0) changedDesired = agents.filter((a) => readDesired(a) !== before.get(a.name)).map((a) => a.name);
  }
  out(
    `lab bench: merge-to-applied by polling every ${INTERVAL_S}s, ${all}: ` +
      pollAll.map((m, i) => `${fmtS(m)} (next tick was ${fmtS(tickWait[i]!)} away; first agent ${fmtS(pollFirst[i]!)})`).join(', '),
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
  const over = rss.filter(({ r }) => r && mb(r.rssKb) > RSS_TARGET_MB).map(({ a }) => a.name);
  if (over.length)
    findings.push(`agent RSS above ${RSS_TARGET_MB} MB on ${over.length}/${agents.length} agents (${over.join(', ')}); worst ${worst.toFixed(1)} MB`);

  // --- with a signed webhook to every agent ---
  let secret: string | undefined;
  const secrets = agents.map((a) => labWebhookSecret(state, a));
  if (secrets.every((s) => s !== undefined) && new Set(secrets).size === 1) {
    secret = secrets[0]!;
    out('lab bench: the lab gives its agents a webhook secret; using it');
  } else {
    // Show what the lab's agents do with a signed push now.
    const probe = randomBytes(16).toString('hex');
    const answers = await Promise.all(
      agents.map(async (a) => {
        const h = signedPush(probe, head, head);
        return (await httpStatus(`http://${a.rec.listen}/hooks/github`, { method: 'POST', headers: h.headers, body: h.body }))?.status;
      }),
    );
    const counts = new Map<string, number>();
    for (const s of answers) counts.set(String(s ?? 'no answer'), (counts.get(String(s ?? 'no answer')) ?? 0) + 1);
    findings.push(
      'the lab starts its agents without --webhook-secret (agent/src/testbed/lab/agents.ts: gateway and node agent argv), ' +
        'so their /hooks/github is off: a signed push got ' +
        `${[...counts].map(([s, n]) => `HTTP ${s} from ${n}`).join(', ')} of ${agents.length} agents. ` +
        'Merge-to-applied in the lab is polling only until the lab passes ' +
        `--webhook-secret env:<NAME> with a generated secret in its agent environment (and records it in state.secrets).`,
    );
    out(
      `lab bench: the lab's agents have no webhook secret (/hooks/github: ${[...counts].map(([s, n]) => `${n}x HTTP ${s}`).join(', ')}); ` +
        'restarting them with their lab arguments + --webhook-secret to measure webhooks ...',
    );
    secret = randomBytes(16).toString('hex');
    const t0 = performance.now();
    await restartWithSecret(state, agents, secret);
    out(`lab bench: ${agents.length} agents restarted and ready in ${fmtS(performance.now() - t0)}`);
  }
  const hookAll: number[] = [];
  const hookFirst: number[] = [];
  const hookCpu: number[] = [];
  let logsFrom: Map<string, number> | undefined;
  for (let k = 0; k < WEBHOOK_SAMPLES; k++) {
    // Just after the interval ticks finished, so the next tick is ~7 s away: only the webhook triggers.
    await untilPhase(intervalMs, 2500);
    const before = head;
    logsFrom ??= logOffsets(agents);
    const cpu0 = cpuOf(agents);
    const p = push();
    const h = signedPush(secret, before, p.sha);
    const answers = await Promise.all(
      agents.map((a) =>
        httpStatus(`http://${a.rec.listen}/hooks/github`, { method: 'POST', headers: { ...h.headers, 'x-github-delivery': randomUUID() }, body: h.body }),
      ),
    );
    const bad = answers.map((r, i) => ({ r, a: agents[i]! })).filter((x) => x.r?.status !== 202);
    if (bad.length)
      throw new LabError(
        `the webhook was not accepted by ${bad.map((x) => `${x.a.name} (${x.r ? `HTTP ${x.r.status} ${x.r.body}` : 'no answer'})`).join(', ')}`,
      );
    const done = await waitAllApplied(agents, p.sha, 60_000);
    const times = [...done.values()].map((t) => t - p.pushedAt);
    hookAll.push(Math.max(...times));
    hookFirst.push(Math.min(...times));
    hookCpu.push(cpuOf(agents) - cpu0);
    head = p.sha;
  }
  const cpus = availableParallelism();
  out(
    `lab bench: CPU per push, ${all} together (agent + evaluate child + git): ${fmtCpu(mean(hookCpu))} with webhooks, ${fmtCpu(mean(pollCpu))} by polling ` +
      `(incl. the tick's drift checks); ${cpus} CPU(s) here, so >= ${fmtS((mean(hookCpu) / cpus) * 1000)} of wall time when all apply at once`,
  );
  const steps = logsFrom ? stepTimings(agents, logsFrom) : new Map<string, number[]>();
  if (steps.size) {
    out(
      `lab bench: the agents' own step timings per webhook push (mean over agents, slowest): ` +
        [...steps]
          .map(([k, v]) => `${k} ${fmtS(v.reduce((a, b) => a + b, 0) / v.length / WEBHOOK_SAMPLES)} (${fmtS(Math.max(...v) / WEBHOOK_SAMPLES)})`)
          .join(', '),
    );
  }
  if (mean(hookCpu) / cpus > (0.5 * median(hookAll)) / 1000) {
    findings.push(
      `merge-to-applied across all sites is CPU-bound on this ${cpus}-CPU machine: ` +
        `one push costs ${fmtCpu(mean(hookCpu))} of CPU over ${agents.length} agents (${fmtCpu(mean(hookCpu) / agents.length)} each), ` +
        `against ${fmtS(median(hookAll))} wall; the lab's agents all apply at once (webhooks) or on the same cron second (polling).`,
    );
  }
  out(
    `lab bench: merge-to-applied with a signed webhook to each agent, ${all}: ` +
      hookAll.map((m, i) => `${fmtS(m)} (first agent ${fmtS(hookFirst[i]!)})`).join(', '),
  );
  if (hookAll.some((m) => m > intervalMs - 2500))
    findings.push(`a webhook push took longer than the time to the next interval tick (${fmtS(intervalMs - 2500)}): polling may have helped that sample`);
  rows.unshift({
    what: `merge-to-applied, signed webhooks, ${all} (${WEBHOOK_SAMPLES} pushes)`,
    value: fmtS(median(hookAll)),
    target: `median; ${fmtS(Math.min(...hookAll))}..${fmtS(Math.max(...hookAll))}; polling/webhook ${(mean(pollAll) / median(hookAll)).toFixed(1)}x`,
  });

  // Egress last in the table (measured first, by labRun).
  rows.push(...egressRows(report));
  for (const s of report.skipped) findings.push(`no egress measurement for ${s}`);
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
