// The VPC emulator's test and benchmark hooks under /_emulator/ (no signature needed; the emulator listens
// on loopback by default): the request log, the fault queue, the whole state, and a way to replace a
// table's routes behind the client's back (drift).
import { z } from 'zod';
import type { FaultQueue } from './faults.js';
import type { Reply } from './gateway.js';
import { EmuState, FaultSpec } from './schema.js';
import type { RequestLogEntry } from './server.js';
import { VpcApiError, type RouteTableStore } from './store.js';
import { decodeSegment } from '../http.js';

export interface ControlOptions {
  store: RouteTableStore;
  log: RequestLogEntry[];
  faults: FaultQueue;
}

export type ControlApi = (method: string, path: string, body: Buffer) => Promise<Reply>;

export function controlApi({ store, log, faults }: ControlOptions): ControlApi {
  return async (method, path, body) => {
    const json = (): unknown => {
      try {
        return JSON.parse(body.toString('utf8') || 'null');
      } catch {
        throw new VpcApiError(400, 'EMULATOR.0001', 'the body is not JSON');
      }
    };
    if (path === '/_emulator/health' && method === 'GET') return { status: 200, body: { status: 'ok' } };
    if (path === '/_emulator/log') {
      if (method === 'GET') return { status: 200, body: { entries: log } };
      if (method === 'DELETE') {
        log.length = 0;
        return { status: 200, body: { entries: [] } };
      }
    }
    if (path === '/_emulator/faults') {
      if (method === 'GET') return { status: 200, body: { faults: faults.list() } };
      if (method === 'DELETE') {
        faults.clear();
        return { status: 200, body: { faults: faults.list() } };
      }
      if (method === 'POST') {
        const raw = json();
        const list = Array.isArray(raw) ? raw : (raw as { faults?: unknown } | null)?.faults;
        const parsed = z.array(FaultSpec).safeParse(list);
        if (!parsed.success) return { status: 400, body: { error: `faults: ${parsed.error.message}` } };
        faults.add(parsed.data);
        return { status: 200, body: { faults: faults.list() } };
      }
    }
    if (path === '/_emulator/state') {
      if (method === 'GET') return { status: 200, body: store.snapshot() };
      if (method === 'PUT') {
        const parsed = EmuState.safeParse(json());
        if (!parsed.success) return { status: 400, body: { error: `state: ${parsed.error.message}` } };
        await store.replaceState(parsed.data);
        return { status: 200, body: store.snapshot() };
      }
    }
    const m = /^\/_emulator\/projects\/([^/]+)\/routetables\/([^/]+)\/routes$/.exec(path);
    if (m && method === 'PUT') {
      const routes = z
        .array(z.object({ type: z.string(), destination: z.string(), nexthop: z.string().default(''), description: z.string().optional() }))
        .safeParse(json());
      if (!routes.success) return { status: 400, body: { error: `routes: ${routes.error.message}` } };
      const pid = decodeSegment(m[1]!);
      const id = decodeSegment(m[2]!);
      if (!store.table(pid, id)) await store.putTable(pid, { id });
      await store.setRoutes(pid, id, routes.data);
      return { status: 200, body: { routetable: store.table(pid, id) } };
    }
    return { status: 404, body: { error: `no emulator endpoint ${method} ${path}` } };
  };
}
