// The trust part of `npm run bench` (issue 10, "Tests and benchmark"):
//
// 1. Validation time of one region file of 10k, 50k and 100k keys (under the 1 MiB file limit; labels, all
//    valid, and unknown keys, all findings), against a baseline measured in the same run: `yaml`'s `parse` of
//    the same files (without its duplicate-key check, which is quadratic). Target: validate/parse <= 3x at every size, so time grows linearly with the input.
// 2. Agent RSS under 100 slow unsigned clients: a real `mirrornet agent` with a webhook secret; 100 clients
//    send a webhook with a well-formed but wrong signature and a 1 MiB Content-Length, then trickle the body,
//    reconnecting whenever the agent closes them, for 15 s. Peak RSS during the flood against the idle RSS
//    before it. Target <= 1.2x. The agent must still answer /healthz and must not reconcile.
// 3. From a hook that hangs to /healthz 503: the agent (interval 2 s) applies a change whose dfdaemon
//    restart hook hangs; the time from the hook's start to the first 503, in intervals. Target <= 2.
//
// Targets print PASS/MISS and never fail the run. Agents, hooks and temp dirs are removed at the end.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { MODEL_DIRECTORIES } from '../src/model/loader.js';
import { validateFiles } from '../src/policy/validate.js';
import {
  FleetOrigin,
  httpRequest,
  readRss,
  reconcileMetrics,
  startAgent,
  stopAgent,
  waitApplied,
  waitReady,
  waitStatus,
  type RunningAgent,
} from './agent-process.js';
import { commandExists } from './gateway-bench.js';
import { generateGatewayFleet, regionFile } from './gateway-fleet.js';
import { inSandbox, sleep, type Sandbox } from './netns.js';
import { median, type Out, type Row } from './report.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/fleet-small', import.meta.url));
const BIG_FILE = 'regions/ap-jakarta.yaml';
const KEY_COUNTS = [10_000, 50_000, 100_000] as const;
const VALIDATE_REPS = 3;
const VALIDATE_TARGET = 3;
const SLOW_CLIENTS = 100;
const FLOOD_MS = 15_000;
const RSS_TARGET = 1.2;
const HANG_INTERVAL_S = 2;
const HANG_TARGET_INTERVALS = 2;

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const fmtMb = (kb: number) => `${((kb * 1024) / 1e6).toFixed(1)} MB`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

// ---- 1. validation time against YAML parse ----------------------------------------------------------

/** `x0`, `x1`, ... in base 36: short, never numbers, none a key of a region. */
const keyName = (i: number) => `x${i.toString(36)}`;

function fleetWith(text: string): { path: string; content: string }[] {
  const paths = MODEL_DIRECTORIES.flatMap((dir) => readdirSync(join(FIXTURE, dir)).map((entry) => `${dir}/${entry}`));
  return paths.map((path) => ({ path, content: path === BIG_FILE ? text : readFileSync(join(FIXTURE, path), 'utf8') }));
}

function timeMs(run: () => unknown): number {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
}

function validationBench(out: Out): Row[] {
  const rows: Row[] = [];
  const region = readFileSync(join(FIXTURE, BIG_FILE), 'utf8');
  for (const kind of ['labels (valid)', 'unknown keys (invalid)'] as const) {
    for (const keys of KEY_COUNTS) {
      const body =
        kind === 'labels (valid)'
          ? `labels:\n${Array.from({ length: keys }, (_, i) => ` ${keyName(i)}: v\n`).join('')}`
          : Array.from({ length: keys }, (_, i) => `${keyName(i)}: 1\n`).join('');
      const files = fleetWith(region + body);
      const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
      // `uniqueKeys: false`: yaml's own duplicate check is quadratic (10k keys take seconds); the validator has a linear one.
      const parseAll = () => files.map((f) => parse(f.content, { uniqueKeys: false }) as unknown);
      let findings = 0;
      const validate = () => {
        const report = validateFiles(files);
        findings = report.errors.length;
      };
      parseAll();
      validate();
      const parseMs: number[] = [];
      const validateMs: number[] = [];
      for (let i = 0; i < VALIDATE_REPS; i++) {
        parseMs.push(timeMs(parseAll));
        validateMs.push(timeMs(validate));
      }
      const ratio = median(validateMs) / median(parseMs);
      out(
        `validate ${keys} ${kind}: ${(bytes / 1024).toFixed(0)} KiB, ` +
          `parse ${fmtMs(median(parseMs))}, validate ${fmtMs(median(validateMs))}, ${findings} errors`,
      );
      rows.push({
        what: `validate ${keys / 1000}k ${kind} / yaml parse`,
        value: `${ratio.toFixed(2)}x`,
        target: `<= ${VALIDATE_TARGET}x (${fmtMs(median(validateMs))})`,
        verdict: verdict(ratio <= VALIDATE_TARGET),
      });
    }
  }
  return rows;
}

// ---- 2. RSS under slow unsigned clients ------------------------------------------------------------

/** One slow client: a webhook with a wrong (well-formed) signature, its body trickled; reconnects when closed. */
function slowClient(port: number, until: number, stats: { connections: number; answers: Map<string, number> }): Promise<void> {
  return new Promise((resolve) => {
    const open = () => {
      if (performance.now() >= until) return resolve();
      stats.connections++;
      const socket: Socket = connect(port, '127.0.0.1');
      let timer: NodeJS.Timeout | undefined;
      let answered = false;
      socket.on('connect', () => {
        socket.write(
          'POST /hooks/github HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n' +
            `X-GitHub-Delivery: ${randomBytes(8).toString('hex')}\r\nX-Hub-Signature-256: sha256=${randomBytes(32).toString('hex')}\r\n` +
            `Content-Length: ${1024 * 1024}\r\n\r\n{"ref":"refs/heads/main","pad":"`,
        );
        timer = setInterval(() => socket.write('x'.repeat(512)), 200);
      });
      socket.on('data', (d: Buffer) => {
        if (answered) return;
        answered = true;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? 'other';
        stats.answers.set(status, (stats.answers.get(status) ?? 0) + 1);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        if (!answered) stats.answers.set('closed', (stats.answers.get('closed') ?? 0) + 1);
        setTimeout(open, 50);
      });
      // The flood ends: close from this side.
      setTimeout(() => socket.destroy(), Math.max(0, until - performance.now()));
    };
    open();
  });
}

async function floodBench(sb: Sandbox, origin: FleetOrigin, region: string, out: Out): Promise<{ rows: Row[]; findings: string[] }> {
  const findings: string[] = [];
  const agent = await startAgent(sb, origin, { region, interval: '1h', webhookSecret: randomBytes(16).toString('hex') });
  try {
    await waitApplied(agent, origin.statePath, origin.sha, 60_000);
    await waitReady(agent, 10_000);
    await sleep(3000);
    const idle: number[] = [];
    for (let i = 0; i < 10; i++) {
      idle.push(readRss(agent.child.pid!)?.rssKb ?? NaN);
      await sleep(100);
    }
    const idleKb = median(idle);
    const before = await reconcileMetrics(agent.port);
    const stats = { connections: 0, answers: new Map<string, number>() };
    const until = performance.now() + FLOOD_MS;
    let peakKb = 0;
    const health: number[] = [];
    const sampler = (async () => {
      while (performance.now() < until) {
        peakKb = Math.max(peakKb, readRss(agent.child.pid!)?.rssKb ?? 0);
        health.push((await httpRequest(agent.port, 'GET', '/healthz').catch(() => ({ status: 0 }))).status);
        await sleep(200);
      }
    })();
    await Promise.all([...Array.from({ length: SLOW_CLIENTS }, () => slowClient(agent.port, until, stats)), sampler]);
    const after = await reconcileMetrics(agent.port);
    const ratio = peakKb / idleKb;
    const answers = [...stats.answers].map(([k, v]) => `${k}: ${v}`).join(', ');
    out(
      `${SLOW_CLIENTS} slow unsigned clients for ${FLOOD_MS / 1000} s: ${stats.connections} connections (${answers}); ` +
        `RSS idle ${fmtMb(idleKb)}, peak ${fmtMb(peakKb)}; /healthz during the flood: ${health.filter((s) => s === 200).length}/${health.length} answered 200`,
    );
    if (after.count !== before.count) findings.push(`the agent reconciled ${after.count - before.count} time(s) during a flood of unsigned webhooks`);
    if (health.some((s) => s !== 200)) findings.push(`/healthz did not always answer 200 during the flood: ${[...new Set(health)].join(', ')}`);
    return {
      rows: [
        {
          what: `agent RSS under ${SLOW_CLIENTS} slow unsigned clients / idle`,
          value: `${ratio.toFixed(2)}x`,
          target: `<= ${RSS_TARGET}x (${fmtMb(idleKb)} -> ${fmtMb(peakKb)})`,
          verdict: verdict(ratio <= RSS_TARGET),
        },
      ],
      findings,
    };
  } finally {
    const problem = await stopAgent(agent, 'flooded');
    if (problem) findings.push(problem);
  }
}

// ---- 3. from a hanging hook to /healthz 503 --------------------------------------------------------

async function hangBench(sb: Sandbox, origin: FleetOrigin, region: string, out: Out): Promise<{ rows: Row[]; findings: string[] }> {
  const findings: string[] = [];
  const dir = sb.tmpDir('hook');
  const trigger = join(dir, 'hang');
  const started = join(dir, 'started');
  const hook = join(dir, 'restart-dragonfly');
  // Returns at once until the bench asks it to hang; then marks its start and hangs (killed at --hook-timeout).
  writeFileSync(hook, `#!/bin/sh\n[ -e ${trigger} ] || exit 0\ntouch ${started}\nexec sleep 120\n`);
  chmodSync(hook, 0o755);
  const intervalMs = HANG_INTERVAL_S * 1000;
  const agent: RunningAgent = await startAgent(sb, origin, {
    region,
    interval: `${HANG_INTERVAL_S}s`,
    webhookSecret: randomBytes(16).toString('hex'),
    dragonflyRestart: hook,
    extraArgs: ['--hook-timeout', '60'],
  });
  try {
    await waitApplied(agent, origin.statePath, origin.sha, 60_000);
    await waitStatus(agent, '/healthz', 200, 10_000);
    writeFileSync(trigger, '');
    origin.pushReplace(/^ {4}location: (.*)$/m, '    location: overseas|bench|moved');
    const end = performance.now() + 60_000;
    while (!existsSync(started)) {
      if (performance.now() > end) throw new Error(`the restart hook did not run within 60 s:\n${agent.log().slice(-3000)}`);
      await sleep(10);
    }
    const hookAt = performance.now();
    const unhealthyAt = await waitStatus(agent, '/healthz', 503, 10 * intervalMs, 10);
    const intervals = (unhealthyAt - hookAt) / intervalMs;
    out(`hook hang to /healthz 503: ${fmtMs(unhealthyAt - hookAt)} with --interval ${HANG_INTERVAL_S}s`);
    return {
      rows: [
        {
          what: 'hook hang to /healthz 503',
          value: `${intervals.toFixed(2)} intervals`,
          target: `<= ${HANG_TARGET_INTERVALS} intervals (${fmtMs(unhealthyAt - hookAt)})`,
          verdict: verdict(intervals <= HANG_TARGET_INTERVALS),
        },
      ],
      findings,
    };
  } finally {
    const problem = await stopAgent(agent, 'hanging-hook');
    if (problem) findings.push(problem);
  }
}

// ---- entry ------------------------------------------------------------------------------------------

/** Runs the trust benchmarks; 0 unless the benchmark itself could not run properly. */
export async function runTrustBench(out: Out = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  const token = `t${process.pid.toString(36)}${randomBytes(1).toString('hex')}`.slice(0, 10);
  return inSandbox('trust bench', token, out, async (sb, { rows, findings }) => {
    out('');
    out(`trust bench: validation of 10k-100k-key files against yaml parse (${VALIDATE_REPS} repetitions, medians); RSS under slow clients; hook hang`);
    rows.push(...validationBench(out));
    if (!commandExists('git')) {
      out('slow clients and hook hang: skipped: git is not installed');
      return;
    }
    const fleetDir = sb.tmpDir('fleet');
    const fleet = generateGatewayFleet(join(fleetDir, 'repo'), join(fleetDir, 'root'), { token, regions: 2, staticRoutesPerRegion: 1 });
    const region = fleet.regions[0]!;
    for (const part of [floodBench, hangBench]) {
      const origin = new FleetOrigin(sb, fleet.repo, regionFile(fleet, region));
      const r = await part(sb, origin, region, out);
      rows.push(...r.rows);
      findings.push(...r.findings);
    }
  });
}

// `node agent/dist/bench/trust.js`: the trust part alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await runTrustBench();
