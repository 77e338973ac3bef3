// The shipping part of `npm run bench` (issue 15): what a host installs.
//
// 1. `npm ci --omit=dev --ignore-scripts` of this repository's package.json and lock file in a temp directory: the
//    size of node_modules (file sizes, each hard-linked file once). Target <= 100 MB.
// 2. The single-file release (agent/scripts/release.js, without the .deb): the size of mirrornet.mjs, and the time
//    `mirrornet.mjs --version` takes from a directory with no node_modules (the start-up a host pays per command).
//
// Targets print PASS/MISS and never fail the run; a measurement that cannot run (no registry, no npm cache) says why.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median, table, type Out, type Row } from './report.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const RELEASE_SCRIPT = join(REPO, 'agent/scripts/release.js');
const INSTALL_TARGET_MB = 100;
const MB = 1024 * 1024;

/** Bytes of the files under `dir`, each inode once (npm may hard-link from its cache). */
function treeBytes(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !seen.has(`${st.dev}:${st.ino}`)) {
        seen.add(`${st.dev}:${st.ino}`);
        total += st.size;
      }
    }
  };
  walk(dir);
  return total;
}

function installSize(): Row {
  const what = 'install size, npm ci --omit=dev';
  const target = `<= ${INSTALL_TARGET_MB} MB`;
  const dir = mkdtempSync(join(tmpdir(), 'mirrornet-bench-install-'));
  try {
    for (const f of ['package.json', 'package-lock.json', 'agent/package.json']) cpSync(join(REPO, f), join(dir, f));
    const res = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (res.status !== 0) {
      const why = (res.stderr || res.error?.message || '').trim().split('\n').slice(-1)[0] ?? '';
      return { what, value: 'not measured', target, verdict: `npm ci failed: ${why.slice(0, 80)}` };
    }
    const mb = treeBytes(join(dir, 'node_modules')) / MB;
    return { what, value: `${mb.toFixed(1)} MB`, target, verdict: mb <= INSTALL_TARGET_MB ? 'PASS' : 'MISS' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function singleFile(): Row[] {
  const out = mkdtempSync(join(tmpdir(), 'mirrornet-bench-release-'));
  const empty = join(out, 'cwd');
  mkdirSync(empty);
  try {
    execFileSync(process.execPath, [RELEASE_SCRIPT, '--out', out, '--no-deb'], { stdio: 'ignore' });
    const file = join(out, 'mirrornet.mjs');
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      execFileSync(process.execPath, [file, '--version'], { cwd: empty, env: { PATH: process.env['PATH'] ?? '' } });
      times.push(performance.now() - t0);
    }
    return [
      { what: 'single-file release, mirrornet.mjs', value: `${(lstatSync(file).size / MB).toFixed(1)} MB` },
      { what: 'mirrornet.mjs --version (median of 5)', value: `${median(times).toFixed(0)} ms` },
    ];
  } catch (err) {
    return [{ what: 'single-file release, mirrornet.mjs', value: 'not measured', verdict: (err as Error).message.split('\n')[0]!.slice(0, 80) }];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function runInstallSizeBench(out: Out = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  out('\nWhat a host installs (agent/bench/install-size.ts)\n');
  table(out, [installSize(), ...singleFile()]);
  return 0;
}
