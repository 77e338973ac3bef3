// A real agent HTTP server on 127.0.0.1 for the server tests, and the two ways they talk to it: fetch for
// well-formed requests, raw bytes over a socket for everything a well-behaved client would never send.
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import net from 'node:net';
import { silentLogger } from '../../src/log.js';
import { createMetrics, type AgentMetrics } from '../../src/reconcile/metrics.js';
import { createAgentServer, type ServerDeps } from '../../src/server/index.js';

// Mocha passes unhandled rejections from test code back to the process, where nothing would see them: in the agent
// they end the process, so here they are collected and every server test asserts there were none.
const processFaults: string[] = [];
process.on('unhandledRejection', (reason) => processFaults.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)));

/** The unhandled rejections since the last call (each would have killed the agent). */
export function takeProcessFaults(): string[] {
  return processFaults.splice(0);
}

export const SECRET = 'It is a secret to everybody, 32+ chars long';

export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Harness {
  server: Server;
  base: string;
  port: number;
  triggers: string[];
  flags: { ready: boolean; healthy: boolean };
  metrics: AgentMetrics;
}

export async function startServer(overrides: Partial<ServerDeps> = {}): Promise<Harness> {
  const triggers: string[] = [];
  const flags = { ready: false, healthy: true };
  const metrics = createMetrics();
  const server = createAgentServer({
    log: silentLogger(),
    registry: metrics.registry,
    webhookSecret: SECRET,
    branch: 'main',
    trigger: (reason) => triggers.push(reason),
    health: () => (flags.healthy ? { ok: true } : { ok: false, reason: 'hook dragonfly-restart running for 93 s', step: 'hook dragonfly-restart' }),
    ready: () => flags.ready,
    ...overrides,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, port, triggers, flags, metrics };
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function hook(base: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${base}/hooks/github`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

export interface RawAnswer {
  /** The status of the first response, or 0 when none came. */
  status: number;
  /** The bytes the server sent, as latin1 text. */
  text: string;
  /** Whether the server closed the connection before the wait was over. */
  closed: boolean;
  ms: number;
}

/** Sends `bytes` on a fresh connection (from `localAddress` if given; then half-closes it when `end`) and waits up to `waitMs` for the server to close it. */
export function raw(port: number, bytes: string | Buffer, opts: { end?: boolean; waitMs?: number; localAddress?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      resolve({ status: status ? Number(status) : 0, text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => done(false), opts.waitMs ?? 3000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
    socket.write(bytes);
    if (opts.end) socket.end();
  });
}

/** GET /healthz on a fresh connection: the server is still there and answering. */
export async function healthStatus(port: number): Promise<number> {
  return (await raw(port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n')).status;
}
