// Starting the lab's processes and waiting for what they bring up: every process is recorded in the state
// file as soon as it runs, a wait fails early (with the end of its log) when a process it watches exits.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { isSame, LabError, saveState, sleep, spawnDetached, type LabProcess, type LabState, type SpawnSpec } from './processes.js';

/** Where the lab's progress lines go. */
export type Say = (line: string) => void;

/** Ports handed out by this process: a second pick never repeats one whose process has not started yet. */
const handedOut = new Set<number>();

/**
 * A free port for a lab process to listen on later, below the kernel's ephemeral range: a port picked from
 * that range can be taken in the meantime as the source port of any outgoing connection (EADDRINUSE when the
 * process starts). Falls back to one the kernel picks when none below is free.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: the default */
  }
  for (let i = 0; i < 50 && low > 10_001; i++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (!handedOut.has(port) && (await bindable(port))) {
      handedOut.add(port);
      return port;
    }
  }
  return bound(0);
}

async function bindable(port: number): Promise<boolean> {
  return bound(port).then(
    () => true,
    () => false,
  );
}

async function bound(port: number): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(port, '127.0.0.1', () => res());
  });
  const got = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return got;
}

export function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

function record(state: LabState, p: LabProcess): void {
  state.processes.push(p);
  saveState(state);
}

export function start(state: LabState, spec: SpawnSpec): LabProcess {
  const p = spawnDetached(spec);
  record(state, p);
  return p;
}

export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, watch: LabProcess[] = []): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const p of watch) if (!isSame(p)) throw new LabError(`${p.name} exited while waiting for ${what}; its log (${p.log}):\n${tail(p.log)}`);
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > until)
      throw new LabError(
        `${what} did not happen within ${Math.round(timeoutMs / 1000)} s${watch.length ? `; see ${watch.map((p) => p.log).join(', ')}` : ''}.`,
      );
    await sleep(250);
  }
}
