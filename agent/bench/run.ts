// `npm run bench`: how fast is `mirrornet validate` on a big fleet?
//
// Generates valid fleets of 1,000 and 5,000 regions (with links) into temp directories and, in the same
// run, times (a) the whole validator, `validateRepo(dir)`, and (b) a baseline that only reads every file
// and parses it with `yaml`'s `parse`. Warm-up runs first, then several alternating repetitions; medians.
// Prints the ratio validate/parse (target <= 2) and how validation scales from 1,000 to 5,000 regions
// (target <= 6x). The targets are reported as PASS/MISS; they never fail the run. An invalid generated
// fleet does (exit 1), because then the benchmark would not measure real validation.
//
// Options: --reps N (timed repetitions per measurement), --keep (leave the generated fleets on disk).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parse } from 'yaml';
import { MODEL_DIRECTORIES } from '../src/model/loader.js';
import { validateRepo } from '../src/policy/validate.js';
import { generateFleet, type GeneratedFleet } from './generate-fleet.js';
import { median } from './report.js';

const SIZES = [1000, 5000] as const;
const WARMUP = 2;
const RATIO_TARGET = 2;
const SCALING_TARGET = 6;

interface Measurement {
  fleet: GeneratedFleet;
  parseMs: number[];
  validateMs: number[];
}

function parseArgs(argv: string[]): { reps: number; keep: boolean } {
  let reps = 5;
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') keep = true;
    else if (a === '--reps') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) usage(`--reps needs a positive integer, got ${argv[i]}`);
      reps = n;
    } else usage(`unknown argument ${a}`);
  }
  return { reps, keep };
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: node agent/dist/bench/run.js [--reps N] [--keep]\n`);
  process.exit(2);
}

/** The baseline: list the model directories, read every YAML file, parse it with `yaml` and nothing else. */
function readAndParse(root: string): number {
  let keys = 0;
  for (const dir of MODEL_DIRECTORIES) {
    let entries: string[];
    try {
      entries = readdirSync(join(root, dir)).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.endsWith('.yaml') && !entry.endsWith('.yml')) continue;
      const data: unknown = parse(readFileSync(join(root, dir, entry), 'utf8'));
      if (data && typeof data === 'object') keys += Object.keys(data).length;
    }
  }
  return keys;
}

function validate(root: string): number {
  const report = validateRepo(root);
  return report.files + report.errors.length;
}

/** A full garbage collection before every timed run, so one run's garbage is not billed to the next. */
function gcFunction(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
const gc = gcFunction();

let sink = 0;
function timeOnce(fn: () => number): number {
  gc?.();
  const t0 = performance.now();
  sink += fn();
  return performance.now() - t0;
}

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function main(): number {
  const { reps, keep } = parseArgs(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), 'mirrornet-bench-'));
  const cleanup = () => {
    if (!keep) rmSync(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`mirrornet bench: node ${process.version}, ${reps} timed repetitions after ${WARMUP} warm-up runs, medians${gc ? ', full GC before each run' : ''}`);

    // Generate, then check every fleet is valid before timing anything.
    const fleets: GeneratedFleet[] = [];
    let invalid = false;
    for (const size of SIZES) {
      const fleet = generateFleet(join(root, `fleet-${size}`), { regions: size });
      fleets.push(fleet);
      const report = validateRepo(fleet.root);
      const p = fleet.byProvider;
      out(
        `generated ${size} regions (${p.huaweicloud} huaweicloud/cloud-connect, ${p.aws} aws/vpn-ipsec, ${p.idc} idc/wireguard; ` +
          `${fleet.links} links, ${fleet.p2pPairs} p2p pairs): ${fleet.files} files, ${(fleet.bytes / 1024 / 1024).toFixed(2)} MiB; ` +
          `validate: ${report.errors.length} errors, ${report.warnings.length} warnings`,
      );
      if (!report.valid || report.fleet.regions.size !== size) {
        invalid = true;
        for (const f of [...report.errors, ...report.warnings].slice(0, 10)) out(`  ${f.file}:${f.line}:${f.column} ${f.severity} ${f.rule} ${f.message}`);
      }
    }
    if (invalid) {
      out('bench: a generated fleet is not valid, so timing it would not measure real validation: fix agent/bench/generate-fleet.ts.');
      return 1;
    }

    // Time: warm up both paths on every fleet, then alternate parse/validate so drift hits both alike.
    const results: Measurement[] = [];
    for (const fleet of fleets) {
      for (let i = 0; i < WARMUP; i++) {
        timeOnce(() => readAndParse(fleet.root));
        timeOnce(() => validate(fleet.root));
      }
      const m: Measurement = { fleet, parseMs: [], validateMs: [] };
      for (let i = 0; i < reps; i++) {
        m.parseMs.push(timeOnce(() => readAndParse(fleet.root)));
        m.validateMs.push(timeOnce(() => validate(fleet.root)));
      }
      results.push(m);
    }

    out('');
    const header = ['regions', 'files', 'read+parse', 'validate', 'validate/parse'];
    const rows = results.map((m) => {
      const p = median(m.parseMs);
      const v = median(m.validateMs);
      return [String(m.fleet.regions), String(m.fleet.files), fmtMs(p), fmtMs(v), `${(v / p).toFixed(2)}x`];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    out(line(header));
    out(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) out(line(r));
    out('');

    const small = results[0]!;
    const large = results[results.length - 1]!;
    const ratio = median(large.validateMs) / median(large.parseMs);
    const scaling = median(large.validateMs) / median(small.validateMs);
    const parseScaling = median(large.parseMs) / median(small.parseMs);
    const sizeFactor = large.fleet.regions / small.fleet.regions;
    out(`validate/parse at ${large.fleet.regions} regions: ${ratio.toFixed(2)}x (target <= ${RATIO_TARGET}x) ${verdict(ratio <= RATIO_TARGET)}`);
    out(
      `validate ${large.fleet.regions} vs ${small.fleet.regions} regions: ${scaling.toFixed(2)}x for ${sizeFactor}x the regions ` +
        `(target <= ${SCALING_TARGET}x; read+parse scales ${parseScaling.toFixed(2)}x) ${verdict(scaling <= SCALING_TARGET)}`,
    );
    if (keep) out(`fleets kept in ${root}`);
    return 0;
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (sink === -1) process.stdout.write(''); // keep the timed work observable
  }
}

process.exitCode = main();

// What a host installs (agent/bench/install-size.ts): npm ci --omit=dev, the single-file release.
const { runInstallSizeBench } = await import('./install-size.js');
await runInstallSizeBench();

// API calls of a no-op reconcile against the cloud emulators (agent/bench/cloud.ts).
const { runCloudBench } = await import('./cloud.js');
await runCloudBench();

// The agent's benchmarks (agent/bench/agent.ts): gateway no-op reconcile, merge-to-applied latency, idle RSS.
const { runAgentBench } = await import('./agent.js');
const agentCode = await runAgentBench();
if (!process.exitCode) process.exitCode = agentCode;

// The trust benchmarks (agent/bench/trust.ts): validation of 10k-100k-key files, RSS under slow clients, hook hang to 503.
const { runTrustBench } = await import('./trust.js');
const trustCode = await runTrustBench();
if (!process.exitCode) process.exitCode = trustCode;

// The bundle benchmarks (agent/bench/bundle.ts): one host of a 5,000-region fleet takes a new revision, git vs signed bundle.
const { runBundleBench } = await import('./bundle.js');
const bundleCode = await runBundleBench();
if (!process.exitCode) process.exitCode = bundleCode;

// The lab's benchmarks (agent/bench/lab.ts): merge-to-applied across all sites, core egress per region, agent RSS.
const { runLabBench } = await import('./lab.js');
const labCode = await runLabBench();
if (!process.exitCode) process.exitCode = labCode;
