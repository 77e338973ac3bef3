// The agent's part of `npm run bench` (issue 3, "Benchmark"), run after the validator benchmark:
//
// 1. No-op reconcile of a gateway with 200 routes and 50 WireGuard peers (agent/bench/gateway-bench.ts).
// 2. Merge-to-applied latency: a bare git origin, the real CLI agent (`mirrornet agent --roles node`), a
//    pushed commit that changes the region's mirror settings, time until state.json's appliedRevision is
//    the pushed sha: with a signed GitHub push webhook, and with polling alone (pushes spread evenly over the
//    poll interval's phase, so the mean is the true average, ~interval/2 + one reconcile).
// 3. Idle agent RSS (VmRSS from /proc) against the 80 MB target.
//
// Targets print PASS/MISS and never fail the run. Everything it makes (namespace, wireguard-go daemons and
// their sockets, agents, temp dirs) is removed at the end, also on an error or SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { validateRepo } from '../src/policy/validate.js';
import {
  FleetOrigin,
  fmtS,
  httpRequest,
  readRss,
  reconcileMetrics,
  startAgent as startBenchAgent,
  stopAgent as stopBenchAgent,
  waitApplied as waitAppliedIn,
  waitReady,
  type RunningAgent,
} from './agent-process.js';
import { commandExists, gatewayBench, gatewaySkipReason, PLAN_REPS, PLAN_WARMUP, SkipError } from './gateway-bench.js';
import { generateGatewayFleet, regionFile, type GatewayFleet } from './gateway-fleet.js';
import { inSandbox, sleep, type Sandbox } from './netns.js';
import { median, type Out, type Row } from './report.js';

const REGIONS = 50;
const STATIC_PER_REGION = 3;
const WEBHOOK_SAMPLES = 5;
const POLL_INTERVAL_S = 10;
const POLL_SAMPLES = 4;
const RSS_TARGET_MB = 80;
const WEBHOOK_SECRET = randomBytes(16).toString('hex');

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---- 2. merge-to-applied latency and 3. idle RSS ---------------------------------------------------

async function latencyBench(sb: Sandbox, fleet: GatewayFleet, out: Out): Promise<{ rows: Row[]; findings: string[] }> {
  const findings: string[] = [];
  const rows: Row[] = [];
  const region = fleet.regions[0]!;
  const origin = new FleetOrigin(sb, fleet.repo, regionFile(fleet, region));
  let sha = origin.sha;
  const pushChange = () => origin.pushChange();
  const startAgent = (interval: string, level = 'info') => startBenchAgent(sb, origin, { region, interval, level, webhookSecret: WEBHOOK_SECRET });
  const waitApplied = (a: RunningAgent, revision: string, timeoutMs: number) => waitAppliedIn(a, origin.statePath, revision, timeoutMs);
  const stopAgent = async (a: RunningAgent, label: string) => {
    const problem = await stopBenchAgent(a, label);
    if (problem) findings.push(problem);
  };

  // --- with the webhook (interval 30s, so polling does not help) ---
  const hooked = await startAgent('30s', 'debug');
  const startedAt = performance.now();
  const firstApplied = await waitApplied(hooked, sha, 30_000);
  const rssFirst = readRss(hooked.child.pid!);
  await waitReady(hooked, 10_000);
  out(
    `agent ${region} (roles node, pid ${hooked.child.pid}): first revision applied ${fmtS(firstApplied - startedAt)} after start ` +
      '(clone, validate, compile, apply)',
  );
  const webhookMs: number[] = [];
  const stepsBefore = hooked.steps.length;
  for (let i = 0; i < WEBHOOK_SAMPLES; i++) {
    const before = sha;
    const pushed = pushChange();
    sha = pushed.sha;
    const body = JSON.stringify({ ref: 'refs/heads/main', before, after: sha, repository: { full_name: 'mirrornet/fleet' }, pusher: { name: 'bench' } });
    const signature = `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`;
    const res = await httpRequest(
      hooked.port,
      'POST',
      '/hooks/github',
      { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signature },
      body,
    );
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status} ${res.body.trim()}`);
    webhookMs.push((await waitApplied(hooked, sha, 20_000)) - pushed.pushedAt);
    await sleep(150);
  }
  out(`merge-to-applied with webhook: ${webhookMs.map((m) => fmtMs(m)).join(', ')}`);
  const bySteps = new Map<string, number>();
  for (const { step, ms } of hooked.steps.slice(stepsBefore)) bySteps.set(step, (bySteps.get(step) ?? 0) + ms / WEBHOOK_SAMPLES);
  if (bySteps.size) {
    const stepTotal = [...bySteps.values()].reduce((a, b) => a + b, 0);
    out(
      "  per push (mean, the agent's own step timings): " +
        `${[...bySteps].map(([k, v]) => `${k === 'fetch' ? 'fetch (ls-remote + fetch + checkout)' : k} ${fmtMs(v)}`).join(', ')}; ` +
        `the other ${fmtMs(mean(webhookMs) - stepTotal)} are the webhook request, lock, state files and this bench's 5 ms state polling`,
    );
  }
  rows.push({
    what: `merge-to-applied, signed webhook (${WEBHOOK_SAMPLES} pushes)`,
    value: `${fmtS(median(webhookMs))}`,
    target: `median; ${fmtS(Math.min(...webhookMs))}..${fmtS(Math.max(...webhookMs))}`,
  });

  // Idle: nothing to do since the last push.
  await sleep(2000);
  const rssHooked = readRss(hooked.child.pid!);
  await stopAgent(hooked, 'webhook');

  // --- polling alone (interval 10s); pushes at evenly spread phases of the interval ---
  const intervalMs = POLL_INTERVAL_S * 1000;
  const poller = await startAgent(`${POLL_INTERVAL_S}s`);
  await waitReady(poller, 30_000);
  const m0 = await reconcileMetrics(poller.port);
  const pollMs: number[] = [];
  const scheduleWait: number[] = [];
  let m1: { sum: number; count: number } | undefined;
  for (let k = 0; k < POLL_SAMPLES; k++) {
    const phase = ((k + 0.5) / POLL_SAMPLES) * intervalMs;
    const now = Date.now();
    let target = now - (now % intervalMs) + phase;
    // The first push waits for one idle tick to pass (to measure it); later ones only for their phase.
    if (k === 0) target = now - (now % intervalMs) + intervalMs + phase;
    while (target < now + 50) target += intervalMs;
    await sleep(target - Date.now());
    if (k === 0) m1 = await reconcileMetrics(poller.port);
    const pushed = pushChange();
    const at = Date.now() % intervalMs;
    scheduleWait.push(intervalMs - at);
    pollMs.push((await waitApplied(poller, pushed.sha, intervalMs + 20_000)) - pushed.pushedAt);
    sha = pushed.sha;
  }
  out(`merge-to-applied by polling every ${POLL_INTERVAL_S}s: ${pollMs.map((m, i) => `${fmtS(m)} (next tick in ${fmtS(scheduleWait[i]!)})`).join(', ')}`);
  rows.push({
    what: `merge-to-applied, polling ${POLL_INTERVAL_S}s (${POLL_SAMPLES} pushes)`,
    value: fmtS(mean(pollMs)),
    target: `mean; ~${fmtS(intervalMs / 2)} + reconcile (tick wait ${fmtS(mean(scheduleWait))})`,
  });
  if (m1 && m1.count > m0.count) {
    const idleMs = ((m1.sum - m0.sum) / (m1.count - m0.count)) * 1000;
    rows.push({ what: 'idle reconcile tick (agent histogram)', value: fmtMs(idleMs), target: `${m1.count - m0.count} tick(s), no new revision` });
  }
  await sleep(1000);
  const rssPoller = readRss(poller.child.pid!);
  await stopAgent(poller, 'polling');

  // --- 3. idle RSS, next to a bare Node process for scale ---
  const bare = sb.child(spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 30000)'], { stdio: 'ignore' }));
  await sleep(500);
  const rssBare = readRss(bare.pid!);
  bare.kill('SIGKILL');
  const mb = (kb: number) => (kb * 1024) / 1e6;
  const fmtMb = (r: { rssKb: number } | undefined) => (r ? `${mb(r.rssKb).toFixed(1)} MB` : 'n/a');
  out(
    `agent RSS: ${fmtMb(rssFirst)} right after its first apply, ${fmtMb(rssHooked)} idle after ${WEBHOOK_SAMPLES} more; ` +
      `${fmtMb(rssPoller)} for the polling agent; a bare \`node -e\` (${process.version}) is ${fmtMb(rssBare)}`,
  );
  let worst = 0;
  for (const [label, rss] of [
    [`after ${WEBHOOK_SAMPLES} webhook applies`, rssHooked],
    [`after ${POLL_SAMPLES} polled applies + idle ticks`, rssPoller],
  ] as const) {
    if (!rss) {
      findings.push(`could not read the agent's RSS ${label}`);
      continue;
    }
    const v = mb(rss.rssKb);
    worst = Math.max(worst, v);
    rows.push({
      what: `idle agent RSS ${label}`,
      value: `${v.toFixed(1)} MB`,
      target: `<= ${RSS_TARGET_MB} MB (peak ${mb(rss.hwmKb).toFixed(1)} MB)`,
      verdict: verdict(v <= RSS_TARGET_MB),
    });
  }
  if (worst > RSS_TARGET_MB) {
    findings.push(
      `idle agent RSS is up to ${worst.toFixed(1)} MB (target ${RSS_TARGET_MB} MB): Node alone is ${fmtMb(rssBare)}, ` +
        `the agent is at ${fmtMb(rssFirst)} right after its first apply and keeps what it grew to while applying later revisions ` +
        `(${fmtMb(rssHooked)} after ${WEBHOOK_SAMPLES} more, measured idle).`,
    );
  }
  return { rows, findings };
}

// ---- entry ------------------------------------------------------------------------------------------

/** Runs the agent benchmarks; 0 unless the benchmark itself could not run properly. */
export async function runAgentBench(out: Out = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  const token = `b${process.pid.toString(36)}${randomBytes(1).toString('hex')}`.slice(0, 10);
  const code = await inSandbox('agent bench', token, out, async (sb, { rows, findings }) => {
    out('');
    out(
      `agent bench: gateway with ${REGIONS * (1 + STATIC_PER_REGION)} routes and ${REGIONS} WireGuard peers ` +
        `(${PLAN_REPS} timed repetitions after ${PLAN_WARMUP} warm-up runs, medians); merge-to-applied; idle RSS`,
    );
    const fleetDir = sb.tmpDir('fleet');
    const fleet = generateGatewayFleet(join(fleetDir, 'repo'), join(fleetDir, 'root'), { token, regions: REGIONS, staticRoutesPerRegion: STATIC_PER_REGION });
    const report = validateRepo(fleet.repo);
    out(
      `generated core ${fleet.hub} + ${fleet.regions.length} IDC regions over WireGuard, ${REGIONS * STATIC_PER_REGION} static routes ` +
        `(keys from ${fleet.keySource}): validate: ${report.errors.length} errors, ${report.warnings.length} warnings`,
    );
    if (!report.valid) {
      for (const f of report.errors.slice(0, 10)) out(`  ${f.file}:${f.line}:${f.column} ${f.rule} ${f.message}`);
      out('agent bench: the generated fleet is not valid: fix agent/bench/gateway-fleet.ts.');
      return 1;
    }

    const skip = gatewaySkipReason();
    if (skip) {
      out(`gateway no-op reconcile: skipped: ${skip}`);
      rows.push({ what: 'no-op reconcile / raw reads', value: 'skipped', target: skip });
    } else {
      try {
        const g = await gatewayBench(sb, fleet, out);
        rows.push(...g.rows);
        findings.push(...g.findings);
      } catch (err) {
        if (!(err instanceof SkipError)) throw err;
        out(`gateway no-op reconcile: skipped: ${err.message}`);
        rows.push({ what: 'no-op reconcile / raw reads', value: 'skipped', target: err.message });
      }
    }

    if (!commandExists('git')) {
      out('merge-to-applied and idle RSS: skipped: git is not installed');
    } else {
      const l = await latencyBench(sb, fleet, out);
      rows.push(...l.rows);
      findings.push(...l.findings);
    }
  });
  if (!code) out('cleanup: namespace, wireguard-go daemons and sockets, agents and temp dirs removed');
  return code;
}

// `node agent/dist/bench/agent.js`: the agent part alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await runAgentBench();
