// Starting the lab's processes and waiting for what they bring up: every process is recorded in the state
// file as soon as it runs, a wait fails early (with the end of its log) when a process it watches exits.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { isSame, LabError, saveState, sleep, spawnDetached, type LabProcess, type LabState, type SpawnSpec } from './processes.js';

/** Where the lab's progress lines go. */
export type Say = (line: string) => void;

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
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
