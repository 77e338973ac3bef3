// What the emulators share: reading a listen address, starting and stopping an HTTP server on it, reading a
// request body up to a limit, decoding path segments, and comparing a presented secret with the expected one
// in constant time.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ListenSpec = string | number | { host?: string; port?: number } | undefined;

/** `127.0.0.1:8080`, `:8080`, `8080`, `[::1]:8080`, a port number or {host, port}; default 127.0.0.1 and a free port. */
export function parseListen(listen: ListenSpec): { host: string; port: number } {
  if (listen === undefined) return { host: '127.0.0.1', port: 0 };
  if (typeof listen === 'number') return { host: '127.0.0.1', port: listen };
  if (typeof listen === 'object') return { host: listen.host ?? '127.0.0.1', port: listen.port ?? 0 };
  const s = listen.trim();
  if (/^\d+$/.test(s)) return checked(listen, '127.0.0.1', s);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new Error(`--listen ${listen}: give host:port, :port or a port, e.g. 127.0.0.1:8080`);
  return checked(listen, m[1] ?? (m[2] || '127.0.0.1'), m[3]!);
}

function checked(text: string, host: string, port: string): { host: string; port: number } {
  const n = Number(port);
  if (n > 65535) throw new Error(`--listen ${text}: the port must be a number from 0 to 65535`);
  return { host, port: n };
}

/** Listen and return the server's base URL (0.0.0.0 shown as 127.0.0.1, IPv6 in brackets). */
export async function listenOn(server: Server, at: { host: string; port: number }): Promise<{ url: string; address: AddressInfo }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  return { url: `http://${host}:${address.port}`, address };
}

/** Stop listening and drop every open connection (keep-alive ones too). */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The whole body as UTF-8 text; past `limit` bytes the rest is dropped and `tooLarge` says so. */
export function readBody(req: IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > limit }));
  });
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A percent-decoded path segment, or the segment as it is when it does not decode. */
export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
