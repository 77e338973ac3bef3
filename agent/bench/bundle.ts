// The bundle part of `npm run bench` (issue 12, signed per-site bundles): what one host of a 5,000-region fleet
// spends to take a new revision from the git repository (fetch, validate the whole fleet in a child process,
// compile, apply) against from its site's signed bundle in a registry (its manifest and one layer, which
// carries the signature).
// Real processes throughout: `mirrornet agent --once` under GNU time (CPU of the agent and all its children,
// peak RSS of the largest), the same agents long-running (their /proc counters around one revision), git daemon
// and docker-registry behind counting TCP proxies (bytes and requests per host), and `mirrornet publish`.
// Targets — bundle <= 1/20 of the git path's CPU and <= 80 MB peak, <= 1% of the repository fetched per host,
// 1 request to the git server per revision — print PASS/MISS and never fail the run; what one host costs its
// core per revision is shown (the per-region egress target is the lab bench's, lab.ts). Registry, git daemon,
// agents and temp dirs go at the end, also on an error or a signal.
//
// Alone: `node agent/dist/bench/bundle.js [--reps N]` (5 to 9 minutes, most of it two 5,000-site publishes).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AGENT_NODE_FLAGS } from '../src/cli/agent.js';
import { git, runGit } from '../src/source/git.js';
import { FleetOrigin, freePort, httpRequest, readRss, stopAgent, waitApplied, waitReady, type RunningAgent } from './agent-process.js';
import { commandExists } from './gateway-bench.js';
import { generateFleet } from './generate-fleet.js';
import { CountingProxy, hasGnuTime, procCpuS, timed, type Timed, type Traffic } from './measure.js';
import { descendants, inSandbox, sh, sleep, type Sandbox } from './netns.js';
import { median, type Out, type Row } from './report.js';

const REGIONS = 5000;
/** A containerd region of the generated fleet: its node role writes hosts.toml and dfdaemon.yaml under --root. */
const SITE = 'cn-shanghai-0001';
const CPU_TARGET = 1 / 20;
const RSS_TARGET_MB = 80;
const BYTES_TARGET_PCT = 1;
const GIT_REQUESTS_TARGET = 1;
const CLI = fileURLToPath(new URL('../../bin/mirrornet.js', import.meta.url));
const DIST = fileURLToPath(new URL('../src/', import.meta.url));
const SECRET = randomBytes(16).toString('hex');
const HOOK_TOKEN = randomBytes(16).toString('hex');
const ENV = { ...process.env, SECRET, HOOK_TOKEN, MIRRORNET_LOG_FORMAT: 'json', MIRRORNET_LOG_LEVEL: 'info', NO_COLOR: '1' };

const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
const mb = (kb: number) => (kb * 1024) / 1e6;
const fmtMb = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} MB` : 'n/a');
const fmtS = (s: number) => `${s.toFixed(s < 1 ? 3 : 2)} s`;
const fmtKb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(part / whole < 0.01 ? 3 : 2)}%`;

/** The agent's --once verdict on stdout (its last line): must be `applied` of `revision`. */
function checkApplied(t: Timed, revision: string, label: string): void {
  const last = t.stdout.trim().split('\n').pop() ?? '';
  let result: { kind?: string; revision?: string } = {};
  try {
    result = JSON.parse(last) as typeof result;
  } catch {
    /* below */
  }
  if (t.code !== 0 || result.kind !== 'applied' || result.revision !== revision)
    throw new Error(`the ${label} agent did not apply ${revision.slice(0, 12)} (exit ${t.code}): ${last}\n${t.stderr.slice(-2000)}`);
}

function startDaemon(sb: Sandbox, port: number, args: string[]): RunningAgent {
  const child = sb.child(
    spawn(process.execPath, [...AGENT_NODE_FLAGS, CLI, 'agent', ...args, '--interval', '1h', '--listen', `127.0.0.1:${port}`], { env: ENV }),
  );
  let tail = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (tail = (tail + d).slice(-20_000)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (tail = (tail + d).slice(-20_000)));
  return { child, port, log: () => tail, steps: [] };
}

/** A long-running agent takes `revision` after `trigger`: its CPU and its children's (/proc), and the peak RSS of any of them. */
async function daemonTakes(a: RunningAgent, statePath: string, revision: string, trigger: () => Promise<void>): Promise<{ cpuS: number; peakMb: number }> {
  const pid = a.child.pid!;
  let peakKb = 0;
  const sample = () => {
    const kb = [readRss(pid)?.rssKb, ...descendants(pid).map((p) => readRss(p)?.hwmKb)].filter((k): k is number => Number.isFinite(k));
    peakKb = Math.max(peakKb, ...kb);
  };
  const cpu0 = procCpuS(pid);
  const timer = setInterval(sample, 5);
  try {
    await trigger();
    await waitApplied(a, statePath, revision, 120_000);
    for (let i = 0; i < 400 && descendants(pid).length; i++) await sleep(5); // children reaped, so counted
    await sleep(50);
    sample();
  } finally {
    clearInterval(timer);
  }
  return { cpuS: procCpuS(pid) - cpu0, peakMb: mb(peakKb) };
}

async function waitFor(what: string, ok: () => Promise<boolean>, log: () => string): Promise<void> {
  for (const until = Date.now() + 15_000; !(await ok().catch(() => false)); await sleep(50)) {
    if (Date.now() > until) throw new Error(`${what} did not start:\n${log().slice(-2000)}`);
  }
}

// ---- the benchmark --------------------------------------------------------------------------------

interface Paths {
  git: { once: Timed[]; traffic: Traffic[]; daemon?: { cpuS: number; peakMb: number } };
  bundle: { once: Timed[]; traffic: Traffic[]; daemon?: { cpuS: number; peakMb: number } };
}

async function bundleBench(sb: Sandbox, reps: number, out: Out, rows: Row[], findings: string[]): Promise<void> {
  const dir = sb.tmpDir('bundle');
  const t0 = performance.now();
  const fleet = generateFleet(join(dir, 'fleet'), { regions: REGIONS });
  const origin = new FleetOrigin(sb, fleet.root, join(fleet.root, 'regions', `${SITE}.yaml`));
  await git(origin.origin, ['gc', '-q']);
  const packDir = join(origin.origin, 'objects/pack');
  const packBytes = readdirSync(packDir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + statSync(join(packDir, f)).size, 0);
  out(
    `generated ${fleet.regions} regions: ${fleet.files} files, ${(fleet.bytes / 1e6).toFixed(2)} MB on disk, ` +
      `a ${(packBytes / 1e6).toFixed(2)} MB git pack (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  // The git server and the registry, each behind a counting proxy (the publisher has its own to the registry).
  const gitPort = await freePort();
  const gitDaemon = join((await git(dir, ['--exec-path'])).trim(), 'git-daemon');
  const base = dirname(origin.origin);
  const daemon = sb.child(
    spawn(gitDaemon, ['--export-all', `--base-path=${base}`, '--reuseaddr', '--listen=127.0.0.1', `--port=${gitPort}`, base], { stdio: 'ignore' }),
  );
  const regPort = await freePort();
  writeFileSync(
    join(dir, 'registry.yml'),
    ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'registry')}`]
      .concat(['http:', `  addr: 127.0.0.1:${regPort}`, `  secret: ${randomBytes(8).toString('hex')}`, ''])
      .join('\n'),
  );
  const registry = sb.child(spawn('docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let regLog = '';
  for (const s of [registry.stdout!, registry.stderr!]) s.setEncoding('utf8').on('data', (d: string) => (regLog = (regLog + d).slice(-5000)));
  const proxies = [new CountingProxy(gitPort), new CountingProxy(regPort), new CountingProxy(regPort)] as const;
  try {
    const [gitProxy, regProxy, pubProxy] = proxies;
    await Promise.all(proxies.map((p) => p.start()));
    await waitFor(
      'docker-registry',
      async () => (await httpRequest(regPort, 'GET', '/v2/')).status === 200,
      () => regLog,
    );
    await waitFor(
      'git daemon',
      async () => (await runGit(dir, ['ls-remote', `git://127.0.0.1:${gitPort}/origin.git`])).code === 0,
      () => '',
    );
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', join(dir, 'key')]);
    writeFileSync(join(dir, 'allowed_signers'), `bench@mirrornet.invalid ${readFileSync(join(dir, 'key.pub'), 'utf8')}`);
    const gitUrl = `git://127.0.0.1:${gitProxy.port}/origin.git`;
    const common = ['--region', SITE, '--roles', 'node', '--dragonfly-restart', 'true', '--docker-reload', 'true', '--no-chat'];
    const gitArgs = (root: string) => ['--repo-url', gitUrl, '--root', root, ...common];
    const source = `oci+http://127.0.0.1:${regProxy.port}/mirrornet/fleet`;
    const bundleArgs = (root: string) => ['--source', source, '--allowed-signers', join(dir, 'allowed_signers'), '--root', root, ...common];
    const once = (args: string[]) => timed(sb, dir, process.execPath, [...AGENT_NODE_FLAGS, CLI, 'agent', '--once', ...args], ENV);
    const stateOf = (root: string) => join(root, 'var/lib/mirrornet/state.json');

    // The publisher: its own clone (one git fetch per revision), `mirrornet publish` into the registry.
    const pubRepo = join(dir, 'publisher');
    if ((await runGit(dir, ['clone', '-q', '--no-tags', '--single-branch', '--branch', 'main', gitUrl, pubRepo])).code !== 0)
      throw new Error('the publisher could not clone the fleet');
    gitProxy.take();
    const publish = async (label: string) => {
      gitProxy.take();
      const fetch = await runGit(pubRepo, ['fetch', '-q', '--no-tags', 'origin', 'main']);
      if (fetch.code !== 0) throw new Error(`the publisher's git fetch failed: ${fetch.stderr}`);
      const fetched = gitProxy.take();
      const revision = (await git(pubRepo, ['rev-parse', 'FETCH_HEAD'])).trim();
      const reg0 = procCpuS(registry.pid!);
      const to = `oci+http://127.0.0.1:${pubProxy.port}/mirrornet/fleet`;
      const t = await timed(
        sb,
        dir,
        process.execPath,
        [CLI, 'publish', '--repo', pubRepo, '--revision', revision, '--to', to, '--sign-key', `file:${join(dir, 'key')}`],
        ENV,
      );
      if (t.code !== 0) throw new Error(`publish ${label} failed (exit ${t.code}): ${t.stderr.slice(-2000)}${regLog.slice(-1000)}`);
      const traffic = pubProxy.take();
      const registryCpuS = procCpuS(registry.pid!) - reg0;
      out(
        `published ${label} ${revision.slice(0, 12)}: ${fmtS(t.wallS)}, publisher ${fmtS(t.cpuS)} CPU (${fmtMb(t.rssMb)} peak), ` +
          `registry ${fmtS(registryCpuS)} CPU, ${traffic.requests} requests, ${(traffic.up / 1e6).toFixed(1)} MB pushed`,
      );
      return { revision, t, traffic, registryCpuS, fetched };
    };

    // Revision 1 everywhere: published, taken by a git and a bundle --once agent and by two long-running ones.
    const rev1 = await publish('revision 1');
    if (rev1.revision !== origin.sha) throw new Error(`the publisher fetched ${rev1.revision}, the origin holds ${origin.sha}`);
    const roots = { git: join(dir, 'git-once'), bundle: join(dir, 'bundle-once'), gitD: join(dir, 'git-daemon'), bundleD: join(dir, 'bundle-daemon') };
    gitProxy.take();
    checkApplied(await once(gitArgs(roots.git)), rev1.revision, 'git');
    const gitFirst = gitProxy.take();
    regProxy.take();
    checkApplied(await once(bundleArgs(roots.bundle)), rev1.revision, 'bundle');
    const bundleFirst = regProxy.take();
    const snapshot = join(dir, 'bundle-once-at-1');
    cpSync(roots.bundle, snapshot, { recursive: true });
    const gitD = startDaemon(sb, await freePort(), [...gitArgs(roots.gitD), '--webhook-secret', 'env:SECRET']);
    const bundleD = startDaemon(sb, await freePort(), [...bundleArgs(roots.bundleD), '--registry-hook-token', 'env:HOOK_TOKEN']);
    for (const [a, root] of [
      [gitD, roots.gitD],
      [bundleD, roots.bundleD],
    ] as const) {
      await waitApplied(a, stateOf(root), rev1.revision, 120_000);
      await waitReady(a, 10_000);
    }

    // Revision 2: a change of the site's mirror settings, pushed and published.
    let pushed = origin.pushChange().sha;
    const rev2 = await publish('revision 2');
    if (rev2.revision !== pushed) throw new Error(`the publisher fetched ${rev2.revision}, the origin holds ${pushed}`);
    const site = await siteObjects(regPort);

    const paths: Paths = { git: { once: [], traffic: [] }, bundle: { once: [], traffic: [] } };
    // The long-running agents take revision 2 (a signed GitHub push webhook; a registry webhook).
    gitProxy.take();
    paths.git.daemon = await daemonTakes(gitD, stateOf(roots.gitD), rev2.revision, async () => {
      const body = JSON.stringify({ ref: 'refs/heads/main', after: rev2.revision, repository: { full_name: 'mirrornet/fleet' } });
      const sig = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
      const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': sig };
      const res = await httpRequest(gitD.port, 'POST', '/hooks/github', headers, body);
      if (res.status !== 202) throw new Error(`the git agent's webhook answered ${res.status}`);
    });
    regProxy.take();
    paths.bundle.daemon = await daemonTakes(bundleD, stateOf(roots.bundleD), rev2.revision, async () => {
      const res = await httpRequest(
        bundleD.port,
        'POST',
        '/hooks/registry',
        { authorization: `Bearer ${HOOK_TOKEN}`, 'content-type': 'application/json' },
        '{}',
      );
      if (res.status !== 202) throw new Error(`the bundle agent's registry webhook answered ${res.status}`);
    });
    for (const [a, label] of [
      [gitD, 'long-running git'],
      [bundleD, 'long-running bundle'],
    ] as const) {
      const problem = await stopAgent(a, label);
      if (problem) findings.push(problem);
    }

    // --once: one warm-up, then `reps` timed runs of each path. The git agent takes a new commit each time
    // (revision 2, then 3, ...); the bundle agent is put back at revision 1 each time and takes revision 2.
    for (let i = 0; i <= reps; i++) {
      if (i > 0) pushed = origin.pushChange().sha;
      gitProxy.take();
      const g = await once(gitArgs(roots.git));
      checkApplied(g, pushed, 'git');
      const gt = gitProxy.take();
      rmSync(roots.bundle, { recursive: true, force: true });
      cpSync(snapshot, roots.bundle, { recursive: true });
      regProxy.take();
      const b = await once(bundleArgs(roots.bundle));
      checkApplied(b, rev2.revision, 'bundle');
      const bt = regProxy.take();
      if (i === 0) continue;
      paths.git.once.push(g);
      paths.git.traffic.push(gt);
      paths.bundle.once.push(b);
      paths.bundle.traffic.push(bt);
    }
    out(`the bundle agent's requests for a new revision: ${paths.bundle.traffic[0]!.lines.join(', ')}`);
    report(paths, { packBytes, filesBytes: fleet.bytes, site, gitFirst, bundleFirst, rev2, reps }, rows);
    await breakdown(sb, dir, regPort, paths, out, findings);
  } finally {
    for (const p of proxies) p.close();
    daemon.kill('SIGTERM');
    registry.kill('SIGTERM');
  }
}

interface SiteObjects {
  layer: number;
  manifest: number;
}

/** The sizes of what the site's head is made of in the channel: its manifest and its layer. */
async function siteObjects(port: number): Promise<SiteObjects> {
  const get = async (reference: string) => {
    const res = await httpRequest(port, 'GET', `/v2/mirrornet/fleet/manifests/${reference}`, { accept: 'application/vnd.oci.image.manifest.v1+json' });
    const size = (JSON.parse(res.body) as { layers?: { size?: number }[] }).layers?.[0]?.size;
    if (res.status !== 200 || !size) throw new Error(`no ${reference} with a layer in the channel (HTTP ${res.status})`);
    return { bytes: Buffer.byteLength(res.body), size };
  };
  const m = await get(`main.${SITE}`);
  return { layer: m.size, manifest: m.bytes };
}

interface Context {
  packBytes: number;
  filesBytes: number;
  site: SiteObjects;
  gitFirst: Traffic;
  bundleFirst: Traffic;
  rev2: { t: Timed; traffic: Traffic; registryCpuS: number; fetched: Traffic };
  reps: number;
}

function report(p: Paths, c: Context, rows: Row[]): void {
  const med = (xs: number[]) => median(xs);
  const cpu = { git: med(p.git.once.map((t) => t.cpuS)), bundle: med(p.bundle.once.map((t) => t.cpuS)) };
  const rss = { git: med(p.git.once.map((t) => t.rssMb)), bundle: med(p.bundle.once.map((t) => t.rssMb)) };
  const wall = { git: med(p.git.once.map((t) => t.wallS)), bundle: med(p.bundle.once.map((t) => t.wallS)) };
  const bytes = { git: med(p.git.traffic.map((t) => t.down)), bundle: med(p.bundle.traffic.map((t) => t.down)) };
  const reqs = { git: med(p.git.traffic.map((t) => t.connections)), bundle: med(p.bundle.traffic.map((t) => t.requests)) };
  const n = `median of ${c.reps}`;
  const ratio = cpu.bundle / cpu.git;
  rows.push(
    { what: '--once, git path: CPU (agent + children)', value: fmtS(cpu.git), target: `${n}; ${fmtS(wall.git)} wall` },
    { what: '--once, bundle path: CPU (agent + children)', value: fmtS(cpu.bundle), target: `${n}; ${fmtS(wall.bundle)} wall` },
    // A host takes a revision in its running agent (the systemd service); a --once process also pays node's start and
    // module loading on every run, which is shown here but judged in the running-agent rows below.
    { what: '--once, bundle/git CPU', value: `1/${(1 / ratio).toFixed(1)}`, target: 'process start included (judged: running agent)' },
    { what: '--once, git path: peak RSS (largest process)', value: fmtMb(rss.git), target: 'the validator child' },
    { what: '--once, bundle path: peak RSS', value: fmtMb(rss.bundle), target: `<= ${RSS_TARGET_MB} MB`, verdict: verdict(rss.bundle <= RSS_TARGET_MB) },
  );
  for (const [label, d] of [
    ['git', p.git.daemon],
    ['bundle', p.bundle.daemon],
  ] as const) {
    if (d) rows.push({ what: `running agent, ${label} path: CPU, peak RSS`, value: fmtS(d.cpuS), target: `one revision; peak ${fmtMb(d.peakMb)}` });
  }
  if (p.git.daemon && p.bundle.daemon) {
    const r = p.bundle.daemon.cpuS / p.git.daemon.cpuS;
    rows.push({ what: 'running agent, bundle/git CPU', value: `1/${(1 / r).toFixed(1)}`, target: `<= 1/${1 / CPU_TARGET}`, verdict: verdict(r <= CPU_TARGET) });
    rows.push({
      what: 'running agent, bundle path: peak RSS',
      value: fmtMb(p.bundle.daemon.peakMb),
      target: `<= ${RSS_TARGET_MB} MB`,
      verdict: verdict(p.bundle.daemon.peakMb <= RSS_TARGET_MB),
    });
  }
  const ofRepo = (b: number) => `${pct(b, c.packBytes)} of the pack, ${pct(b, c.filesBytes)} of the files`;
  rows.push(
    { what: 'fetched per host, git path (git protocol bytes)', value: fmtKb(bytes.git), target: ofRepo(bytes.git) },
    {
      what: 'fetched per host, bundle path (registry bytes)',
      value: fmtKb(bytes.bundle),
      target: `<= ${BYTES_TARGET_PCT}% of the pack: ${ofRepo(bytes.bundle)}`,
      verdict: verdict((100 * bytes.bundle) / c.packBytes <= BYTES_TARGET_PCT),
    },
    { what: 'first revision on a new host, git path (clone)', value: fmtKb(c.gitFirst.down), target: `${c.gitFirst.connections} git requests` },
    { what: 'first revision on a new host, bundle path', value: fmtKb(c.bundleFirst.down), target: `${c.bundleFirst.requests} registry requests` },
    { what: 'requests per host per revision, git path', value: String(reqs.git), target: 'git server connections (ls-remote, fetch)' },
    { what: 'requests per host per revision, bundle path', value: String(reqs.bundle), target: 'registry requests' },
  );
  const gitReqs = c.rev2.fetched.connections;
  rows.push({
    what: 'git server requests per revision, whole fleet (bundle path)',
    value: String(gitReqs),
    target: `<= ${GIT_REQUESTS_TARGET} (the publisher's fetch; git path: ${reqs.git} per host x every host)`,
    verdict: verdict(gitReqs <= GIT_REQUESTS_TARGET),
  });
  const { layer, manifest } = c.site;
  // One host of a synthetic fleet, by TCP bytes (HTTP headers included): what a host costs its core. The
  // per-region target (<= 1.1x the region's layer) is judged by the lab bench, where each region has its peer.
  const egress = bytes.bundle / layer;
  rows.push({
    what: 'core egress per host per revision / its layer',
    value: `${egress.toFixed(2)}x`,
    target: `${fmtKb(bytes.bundle)}: layer ${layer} B, manifest ${manifest} B, HTTP headers ${bytes.bundle - layer - manifest} B; ` + 'per region: lab bench',
  });
  const pub = c.rev2;
  rows.push({
    what: 'publish a new revision (5,000 sites)',
    value: fmtS(pub.t.wallS),
    target: `publisher ${fmtS(pub.t.cpuS)} CPU, ${fmtMb(pub.t.rssMb)}; registry ${fmtS(pub.registryCpuS)} CPU; ${pub.traffic.requests} requests`,
  });
}

interface Cost {
  label: string;
  cpuS: number;
  rssMb: number;
}

/** Where the bundle path's CPU and memory go: node itself, the agent's modules, the first fetch(), against node:http. */
async function breakdown(sb: Sandbox, dir: string, regPort: number, p: Paths, out: Out, findings: string[]): Promise<void> {
  const url = (rel: string) => pathToFileURL(join(DIST, rel)).href;
  const probes: [string, string][] = [
    ['node itself', '0'],
    ['+ the modules of `mirrornet agent`', `await import('${url('cli/main.js')}'); await import('${url('cli/agent.js')}')`],
    ['the validator alone (policy/validate.js)', `await import('${url('policy/validate.js')}')`],
    ['one fetch() to the registry', `await (await fetch('http://127.0.0.1:${regPort}/v2/')).arrayBuffer()`],
    [
      'one node:http GET to the registry',
      `const { get } = await import('node:http'); await new Promise((r) => get('http://127.0.0.1:${regPort}/v2/', (res) => res.resume().on('end', r)))`,
    ],
  ];
  const cost: Cost[] = [];
  for (const [label, code] of probes) {
    const runs: Timed[] = [];
    for (let i = 0; i < 3; i++) runs.push(await timed(sb, dir, process.execPath, [...AGENT_NODE_FLAGS, '--input-type=module', '-e', code]));
    if (runs.some((r) => r.code !== 0)) throw new Error(`the probe "${label}" failed: ${runs.find((r) => r.code)!.stderr.slice(-1000)}`);
    cost.push({ label, cpuS: median(runs.map((r) => r.cpuS)), rssMb: median(runs.map((r) => r.rssMb)) });
  }
  const costs = cost.map((c) => `${c.label} ${fmtS(c.cpuS)} ${fmtMb(c.rssMb)}`).join('; ');
  out(`where a --once bundle agent goes (node ${process.version}, agent flags, medians of 3): ${costs}`);
  const cpu = median(p.bundle.once.map((t) => t.cpuS));
  const rss = median(p.bundle.once.map((t) => t.rssMb));
  const [bare, agent, validator, fetch, http] = [0, 1, 2, 3, 4].map((i) => cost[i]!) as [Cost, Cost, Cost, Cost, Cost];
  const daemon = p.bundle.daemon;
  if (cpu / median(p.git.once.map((t) => t.cpuS)) > CPU_TARGET || rss > RSS_TARGET_MB) {
    findings.push(
      `the --once bundle agent spends ${fmtS(cpu)} CPU and peaks at ${fmtMb(rss)}; starting is most of it: node itself ${fmtS(bare.cpuS)} / ` +
        `${fmtMb(bare.rssMb)}, loading the modules of \`mirrornet agent\` ${fmtS(agent.cpuS)} / ${fmtMb(agent.rssMb)} (the validator alone, ` +
        `which a bundle agent never runs, is ${fmtS(validator.cpuS)} / ${fmtMb(validator.rssMb)}), and the first fetch() (undici) ` +
        `${fmtS(fetch.cpuS - http.cpuS)} / ${fmtMb(fetch.rssMb - http.rssMb)} more than a node:http GET.` +
        (daemon ? ` A running agent takes the same revision for ${fmtS(daemon.cpuS)} CPU.` : ''),
    );
  }
}

// ---- entry ------------------------------------------------------------------------------------------

/** Runs the bundle benchmark; 0 unless the benchmark itself could not run properly. */
export async function runBundleBench(out: Out = (s) => process.stdout.write(`${s}\n`), reps = 3): Promise<number> {
  const token = `u${process.pid.toString(36)}${randomBytes(1).toString('hex')}`.slice(0, 10);
  return inSandbox('bundle bench', token, out, async (sb, { rows, findings }) => {
    out('');
    out(
      `bundle bench: one host of a ${REGIONS}-region fleet takes a new revision, git path vs signed bundle path ` +
        `(--once: ${reps} timed runs after a warm-up, medians; a long-running agent: one revision)`,
    );
    const missing = ['git', 'docker-registry', 'ssh-keygen'].filter((c) => !commandExists(c));
    if (missing.length) {
      out(`bundle bench: skipped: ${missing.join(', ')} not installed`);
      rows.push({ what: 'bundle vs git path', value: 'skipped', target: `needs ${missing.join(', ')}` });
      return;
    }
    if (!hasGnuTime()) findings.push(`/usr/bin/time is missing (apt-get install time): CPU from /proc, no peak RSS of --once runs`);
    await bundleBench(sb, reps, out, rows, findings);
  });
}

// `node agent/dist/bench/bundle.js [--reps N]`: the bundle part alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--reps');
  const reps = i > 0 ? Number(process.argv[i + 1]) : 3;
  if (!Number.isInteger(reps) || reps < 1) {
    process.stderr.write('usage: node agent/dist/bench/bundle.js [--reps N]\n');
    process.exit(2);
  }
  process.exitCode = await runBundleBench(undefined, reps);
}
