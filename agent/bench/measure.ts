// Measuring real processes for the benchmarks: a TCP proxy that counts what passes between a client and a
// server (exact wire bytes each way, connections, HTTP request lines), a command run to its end under GNU time
// (CPU of the process and of every child it waited for, peak RSS of the largest of them), and the CPU counters
// of a running process (/proc).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Sandbox } from './netns.js';

const GNU_TIME = '/usr/bin/time';
const mb = (kb: number) => (kb * 1024) / 1e6;

export const hasGnuTime = () => existsSync(GNU_TIME);

// ---- counting proxy --------------------------------------------------------------------------------

export interface Traffic {
  connections: number;
  /** HTTP request lines the client sent (the registry); for git://, one request is one connection. */
  requests: number;
  /** Bytes the server sent (what the client fetched), and the client sent. */
  down: number;
  up: number;
  lines: string[];
}

/** Not anchored at a line start: a request that follows a body without a newline starts mid-line. */
const REQUEST_LINE = /(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/1\.[01]\r\n/g;

/** A TCP proxy on 127.0.0.1 to 127.0.0.1:`to` that counts what passes: exact wire bytes, requests. */
export class CountingProxy {
  private t: Traffic = { connections: 0, requests: 0, down: 0, up: 0, lines: [] };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly to: number) {
    this.server = createServer({ allowHalfOpen: true }, (client) => {
      this.t.connections++;
      const upstream = connect({ port: this.to, host: '127.0.0.1', allowHalfOpen: true });
      let tail = '';
      client.on('data', (d: Buffer) => {
        this.t.up += d.length;
        const text = tail + d.toString('latin1');
        for (const m of text.matchAll(REQUEST_LINE)) {
          if (m.index + m[0].length <= tail.length) continue; // counted with the previous chunk
          this.t.requests++;
          if (this.t.lines.length < 50) this.t.lines.push(`${m[1]} ${m[2]!.replace(/sha256([:-])([0-9a-f]{8})[0-9a-f]{56}/g, 'sha256$1$2…')}`);
        }
        tail = text.slice(-512);
      });
      upstream.on('data', (d: Buffer) => (this.t.down += d.length));
      client.pipe(upstream);
      upstream.pipe(client);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => (client.destroy(), upstream.destroy()));
        s.on('close', () => this.sockets.delete(s));
      }
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** What passed since the last take, and start counting again. */
  take(): Traffic {
    const t = this.t;
    this.t = { connections: 0, requests: 0, down: 0, up: 0, lines: [] };
    return t;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

// ---- processes and their cost ------------------------------------------------------------------------

export interface Timed {
  wallS: number;
  /** User + system CPU of the process and every child it waited for. */
  cpuS: number;
  /** The largest resident set of the process or any of those children (NaN without GNU time). */
  rssMb: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** CPU of this process's children that were waited for (/proc/self/stat cutime + cstime), without GNU time. */
function childrenCpuS(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** utime + stime + cutime + cstime of a running process, in seconds. */
export function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

let timedFiles = 0;
/** Run a command to its end (asynchronously: the proxies of this process keep serving it), under GNU time when there is one. */
export async function timed(sb: Sandbox, dir: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const gnu = hasGnuTime();
  const file = join(dir, `time-${++timedFiles}`);
  const before = childrenCpuS();
  const t0 = performance.now();
  const child = sb.child(spawn(gnu ? GNU_TIME : cmd, gnu ? ['-o', file, '-f', '%e %U %S %M', cmd, ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-2_000_000)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
  const code = await new Promise<number>((resolve, reject) => child.once('error', reject).once('close', (c) => resolve(c ?? 128)));
  const wallS = (performance.now() - t0) / 1000;
  if (!gnu) return { wallS, cpuS: childrenCpuS() - before, rssMb: NaN, code, stdout, stderr };
  const [, user, sys, kb] = readFileSync(file, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number, number];
  return { wallS, cpuS: user + sys, rssMb: mb(kb), code, stdout, stderr };
}
