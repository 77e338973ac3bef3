// What the bundle tests share: a real OCI registry (Debian's docker-registry on a free port, its data in a
// temp dir), SSH signing keys with an allowed-signers file, the CLI run in-process, a throwaway git repository
// holding the example fleet, and a small HTTP proxy that records the requests it forwards (to count what a
// registry serves) and may alter what it hands back (a mirror that lies).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { gitSync } from '../support/git.js';

export const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The CLI, in this process: its exit code and what it wrote. */
export async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), color: false };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface TestRegistry {
  /** `http://127.0.0.1:PORT` */
  base: string;
  /** `127.0.0.1:PORT` */
  host: string;
  /** What the registry printed so far. */
  log(): string;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

/**
 * docker-registry serving from `dir`/data on a free port, once it answers /v2/. `config`: more top-level lines
 * of its configuration (e.g. `auth:`), with which a 401 from /v2/ counts as an answer too.
 */
export async function startRegistry(dir: string, opts: { config?: string[] } = {}): Promise<TestRegistry> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    ['version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, 'http:', `  addr: 127.0.0.1:${port}`]
      .concat([`  secret: ${randomBytes(8).toString('hex')}`, ...(opts.config ?? []), ''])
      .join('\n'),
  );
  let log = '';
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited:\n${log}`);
    const status = (await fetch(`${base}/v2/`).catch(() => undefined))?.status;
    if (status === 200 || (status === 401 && opts.config)) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    host: `127.0.0.1:${port}`,
    log: () => log,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone;
    },
  };
}

export interface SigningKey {
  /** The private key file (for `--sign-key file:...`). */
  key: string;
  /** The private key's contents (for signDigests). */
  privateKey: string;
  /** `principal ssh-ed25519 AAAA...`: a line of an allowed-signers file. */
  allowedLine: string;
}

/** A fresh ed25519 key without passphrase in `dir`/`name`. */
export function makeSigningKey(dir: string, name: string, principal: string): SigningKey {
  const key = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', principal, '-f', key]);
  return { key, privateKey: readFileSync(key, 'utf8'), allowedLine: `${principal} ${readFileSync(`${key}.pub`, 'utf8')}` };
}

export interface FleetRepo {
  dir: string;
  git(args: string[]): string;
  /** Replace text in a file of the repository; fails when `from` is not there. */
  replace(rel: string, from: string, to: string): void;
  /** git add -A and commit; the new commit's sha. */
  commit(message: string): string;
}

/** A git repository in `dir` with the example fleet (regions, hubs, harbor, policies) committed on main. */
export function makeFleetRepo(dir: string): FleetRepo {
  mkdirSync(dir, { recursive: true });
  const git = (args: string[]) => gitSync(dir, args);
  git(['init', '-q', '-b', 'main']);
  for (const d of ['regions', 'hubs', 'harbor', 'policies']) cpSync(join(repoRoot, d), join(dir, d), { recursive: true });
  const repo: FleetRepo = {
    dir,
    git,
    replace(rel, from, to) {
      const before = readFileSync(join(dir, rel), 'utf8');
      assert.ok(before.includes(from), `fixture: ${from} not found in ${rel}`);
      writeFileSync(join(dir, rel), before.replace(from, to));
    },
    commit(message) {
      git(['add', '-A']);
      git(['commit', '-q', '--allow-empty', '-m', message]);
      return git(['rev-parse', 'HEAD']);
    },
  };
  repo.commit('the example fleet');
  return repo;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query, as asked. */
  path: string;
}

export interface TestProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  /** Every request, in the order it arrived. */
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy to `upstream` (path and query kept, `ns` dropped as a mirror does): every request recorded as it
 * arrives. `answer` may answer a request itself with an error status (a registry or mirror in trouble); `alter`
 * may replace the body of an answer (the status and headers stay, the length follows the body).
 */
export async function startProxy(
  upstream: string,
  opts: { answer?: (req: ProxiedRequest) => number | undefined; alter?: (req: ProxiedRequest, body: Buffer) => Buffer } = {},
): Promise<TestProxy> {
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const asked: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    requests.push(asked);
    const status = opts.answer?.(asked);
    if (status !== undefined) {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `the test proxy answers ${status}` }] }));
      return;
    }
    const url = new URL(asked.path, upstream);
    url.searchParams.delete('ns');
    const headers = { ...req.headers, host: url.host };
    const up = http.request(url, { method: asked.method, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (d: Buffer) => chunks.push(d));
      answer.on('end', () => {
        const body = opts.alter ? opts.alter(asked, Buffer.concat(chunks)) : Buffer.concat(chunks);
        const out = { ...answer.headers };
        delete out['transfer-encoding'];
        if (asked.method !== 'HEAD') out['content-length'] = String(body.length);
        res.writeHead(answer.statusCode ?? 502, out);
        res.end(asked.method === 'HEAD' ? undefined : body);
      });
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}\n`);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
