// What the emulators share: reading a listen address and starting an HTTP server on it.
import type { Server } from 'node:http';
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
