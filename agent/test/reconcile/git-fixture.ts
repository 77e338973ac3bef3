// Real git repositories for the agent's tests: a bare origin in a temp dir, a working clone that commits
// and pushes (a copy of the example fleet), a sandbox root for host files and a state directory. Plus an
// in-process Agent wired to them, and helpers to run the CLI agent as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localExec } from '../../src/host/exec.js';
import { HostFiles } from '../../src/host/files.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { silentLogger } from '../../src/log.js';
import { buildProviders } from '../../src/providers/registry.js';
import type { HostDeps } from '../../src/reconcile/engine.js';
import type { AgentEvent } from '../../src/reconcile/events.js';
import { Agent } from '../../src/reconcile/loop.js';
import { gitRevisions } from '../../src/reconcile/source.js';
import { createMetrics, type AgentMetrics } from '../../src/reconcile/metrics.js';
import { StateStore, type AgentState } from '../../src/reconcile/state.js';
import { GitSource } from '../../src/source/clone.js';
import { gitSync as git } from '../support/git.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const BIN = join(repoRoot, 'agent/bin/mirrornet.js');

/** The site the tests' agent runs for: a containerd region mirroring its Harbor and Docker Hub. */
export const SITE = 'us-virginia';
export const REGION_FILE = `regions/${SITE}.yaml`;
export const HARBOR_TOML = '/etc/containerd/certs.d/harbor.sg.mirrornet.internal/hosts.toml';
export const DOCKER_TOML = '/etc/containerd/certs.d/docker.io/hosts.toml';
export const DFDAEMON = '/etc/dragonfly/dfdaemon.yaml';
export const DAEMON_JSON = '/etc/docker/daemon.json';

/** Quote for sh -c. */
export function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface GitFixture {
  dir: string;
  origin: string;
  work: string;
  root: string;
  stateDir: string;
  /** Lines appended by the dragonfly restart hook. */
  restartsFile: string;
  reloadsFile: string;
  git(args: string[]): string;
  read(rel: string): string;
  write(rel: string, text: string): void;
  /** Replace text in a file of the working clone; fails when `from` is not there. */
  replace(rel: string, from: string | RegExp, to: string): void;
  remove(rel: string): void;
  /** git add -A, commit (signed with `signingKey` if given), push to origin; returns the new sha. */
  commit(message: string, opts?: { signingKey?: string }): string;
  originHead(): string;
  /** The sandbox path of a host path. */
  host(hostPath: string): string;
  hostText(hostPath: string): string | undefined;
  restarts(): number;
  reloads(): number;
  state(): AgentState & Record<string, unknown>;
  /** Fresh root and state directory (same origin), for another agent from scratch. */
  resetHost(): void;
  cleanup(): void;
}

/**
 * A bare origin with the example fleet committed on main. `prepare` edits the working clone before the
 * first commit (e.g. the test's own guardrails).
 */
export function createGitFixture(opts: { prepare?: (fx: GitFixture) => void; signingKey?: string } = {}): GitFixture {
  const dir = mkdtempSync(join(tmpdir(), 'mirrornet-agent-'));
  const origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  mkdirSync(work);
  git(dir, ['init', '-q', '--bare', '-b', 'main', origin]);
  git(work, ['init', '-q', '-b', 'main']);
  git(work, ['remote', 'add', 'origin', origin]);
  for (const d of ['hubs', 'regions', 'harbor', 'policies']) cpSync(join(repoRoot, d), join(work, d), { recursive: true });
  const fx: GitFixture = {
    dir,
    origin,
    work,
    root: join(dir, 'root'),
    stateDir: join(dir, 'state'),
    restartsFile: join(dir, 'restarts.log'),
    reloadsFile: join(dir, 'reloads.log'),
    git: (args) => git(work, args),
    read: (rel) => readFileSync(join(work, rel), 'utf8'),
    write: (rel, text) => {
      mkdirSync(join(work, rel, '..'), { recursive: true });
      writeFileSync(join(work, rel), text);
    },
    replace(rel, from, to) {
      const before = fx.read(rel);
      const after = before.replace(from, to);
      if (after === before) throw new Error(`fixture: ${String(from)} not found in ${rel}`);
      fx.write(rel, after);
    },
    remove: (rel) => rmSync(join(work, rel), { force: true }),
    commit(message, o = {}) {
      git(work, ['add', '-A']);
      const sign = o.signingKey ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${o.signingKey}`] : [];
      git(work, [...sign, 'commit', '-q', '--allow-empty', ...(o.signingKey ? ['-S'] : []), '-m', message]);
      git(work, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
      return git(work, ['rev-parse', 'HEAD']);
    },
    originHead: () => git(dir, ['--git-dir', origin, 'rev-parse', 'refs/heads/main']),
    host: (hostPath) => join(fx.root, hostPath),
    hostText(hostPath) {
      try {
        return readFileSync(fx.host(hostPath), 'utf8');
      } catch {
        return undefined;
      }
    },
    restarts: () => countLines(fx.restartsFile),
    reloads: () => countLines(fx.reloadsFile),
    state: () => JSON.parse(readFileSync(join(fx.stateDir, 'state.json'), 'utf8')) as AgentState & Record<string, unknown>,
    resetHost() {
      rmSync(fx.root, { recursive: true, force: true });
      rmSync(fx.stateDir, { recursive: true, force: true });
      rmSync(fx.restartsFile, { force: true });
      rmSync(fx.reloadsFile, { force: true });
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  opts.prepare?.(fx);
  fx.commit('the example fleet', opts.signingKey ? { signingKey: opts.signingKey } : {});
  return fx;
}

function countLines(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

/** Set keys of policies/guardrails.yaml in the working clone (line-based: the file is flat YAML). */
export function setGuardrails(
  fx: GitFixture,
  changes: { maxDeletionsPerApply?: number; maxSiteRemovals?: number; maxLinkRemovals?: number; drift?: Record<string, 'alert' | 'heal'> },
): void {
  let text = fx.read('policies/guardrails.yaml');
  for (const key of ['maxDeletionsPerApply', 'maxSiteRemovals', 'maxLinkRemovals'] as const) {
    const value = changes[key];
    if (value === undefined) continue;
    const next = text.replace(new RegExp(`^${key}: \\d+$`, 'm'), `${key}: ${value}`);
    if (next === text) throw new Error(`fixture: ${key} is not in policies/guardrails.yaml`);
    text = next;
  }
  for (const [component, mode] of Object.entries(changes.drift ?? {})) text = text.replace(new RegExp(`^(  ${component}): \\w+$`, 'm'), `$1: ${mode}`);
  fx.write('policies/guardrails.yaml', text);
}

export interface TestAgent {
  agent: Agent;
  events: AgentEvent[];
  metrics: AgentMetrics;
  store: StateStore;
  source: GitSource;
  deps: HostDeps;
}

function hostDepsFor(fx: GitFixture): HostDeps {
  const secrets = hostSecrets({ root: fx.root });
  return {
    // A node's providers, as the CLI builds them for --roles node.
    providers: buildProviders({ secrets }, ['node']).providers,
    exec: localExec(),
    files: new HostFiles(fx.root),
    secrets,
    log: silentLogger(),
    commands: { dragonflyRestart: `echo restart >> ${sh(fx.restartsFile)}`, dockerReload: `echo reload >> ${sh(fx.reloadsFile)}` },
  };
}

/** An Agent for `fx`, built the way the CLI builds it, with every event collected. */
export function makeAgent(fx: GitFixture, opts: { allowedSigners?: string; site?: string; url?: string } = {}): TestAgent {
  const events: AgentEvent[] = [];
  const metrics = createMetrics();
  const store = new StateStore(fx.stateDir);
  const source = new GitSource({
    url: opts.url ?? fx.origin,
    branch: 'main',
    dir: join(fx.stateDir, 'repo'),
    ...(opts.allowedSigners ? { allowedSigners: opts.allowedSigners } : {}),
  });
  const deps = hostDepsFor(fx);
  const agent = new Agent({ site: opts.site ?? SITE, roles: ['node'] }, gitRevisions(source), store, deps, silentLogger(), metrics, (e) => events.push(e));
  return { agent, events, metrics, store, source, deps };
}

export interface FileStamp {
  ino: number;
  mtimeMs: number;
  content: string;
}

/** Every regular file under `dir` (relative path -> inode, mtime, content): to prove nothing was written. */
export function snapshot(dir: string): Map<string, FileStamp> {
  const out = new Map<string, FileStamp>();
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out.set(relative(dir, p), { ino: st.ino, mtimeMs: st.mtimeMs, content: st.isFile() ? readFileSync(p, 'utf8') : '' });
    }
  };
  walk(dir);
  return out;
}

/** Files under `dir`, relative, sorted. */
export function listFiles(dir: string): string[] {
  return [...snapshot(dir).keys()];
}

// ---- the CLI as a child process ----

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Start the CLI. `detached` puts it in its own process group so a kill can take its git/hook children too. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MIRRORNET_LOG_LEVEL: 'warn', MIRRORNET_LOG_FORMAT: 'json', ...opts.env },
    detached: opts.detached ?? false,
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', (err) => {
      children.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  const { child, done } = startCli(args, opts);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

/** Kill every child (and its process group, when it has one) still running: for after hooks. */
export function killChildren(): void {
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* not a group leader */
    }
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
}

/** The node-role agent arguments for `fx`. */
export function agentArgs(fx: GitFixture, extra: string[] = []): string[] {
  return [
    'agent',
    '--region',
    SITE,
    '--roles',
    'node',
    '--repo-url',
    fx.origin,
    '--root',
    fx.root,
    '--state-dir',
    fx.stateDir,
    '--dragonfly-restart',
    `echo restart >> ${sh(fx.restartsFile)}`,
    '--docker-reload',
    `echo reload >> ${sh(fx.reloadsFile)}`,
    ...extra,
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}
