// Root hooks for every test: block network access beyond loopback, so a test can never reach the
// internet (or a private address it does not own) by accident.
import net from 'node:net';

const allowed = (host: string | undefined): boolean => {
  if (host === undefined || host === '' || host === 'localhost') return true;
  if (host.startsWith('127.') || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const extra = process.env['MIRRORNET_TEST_ALLOW_HOSTS']?.split(',') ?? [];
  return extra.includes(host);
};

const originalConnect = net.Socket.prototype.connect;

export class NetworkBlockedError extends Error {
  constructor(host: string) {
    super(`tests may only connect to loopback; blocked a connection to ${host} (set MIRRORNET_TEST_ALLOW_HOSTS to allow it)`);
    this.name = 'NetworkBlockedError';
  }
}

function blockingConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const first = args[0];
  let host: string | undefined;
  let isPath = false;
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const opts = first as { host?: string; path?: string };
    if (opts.path) isPath = true;
    host = opts.host;
  } else if (Array.isArray(first)) {
    const opts = first[0] as { host?: string; path?: string } | undefined;
    if (opts?.path) isPath = true;
    host = opts?.host;
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    isPath = true;
  } else if (typeof args[1] === 'string') {
    host = args[1];
  }
  if (!isPath && !allowed(host)) throw new NetworkBlockedError(String(host));
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
}

export const mochaHooks = {
  beforeAll(): void {
    net.Socket.prototype.connect = blockingConnect as typeof net.Socket.prototype.connect;
  },
  afterAll(): void {
    net.Socket.prototype.connect = originalConnect;
  },
};
