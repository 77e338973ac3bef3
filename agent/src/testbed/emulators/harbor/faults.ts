// Faults injected into the Harbor emulator for tests and benchmarks: which requests they hit (method, path
// prefix or pattern, before or after the request is processed, how many times) and the error bodies Harbor's
// front would answer with (429, 5xx) or a dropped connection.
import { API_BASE } from './api/common.js';

export interface FaultSpec {
  method?: string;
  /** A path (with or without /api/v2.0) the request path starts with, or a regular expression. */
  path?: string | RegExp;
  /** Answer with this status (429, 500, 503 ...) and Harbor's error body. */
  status?: number;
  /** Drop the connection without an answer. */
  reset?: boolean;
  /** `before` (default): the request is not processed. `after`: processed (state changed), then the fault. */
  when?: 'before' | 'after';
  /** How many matching requests the fault hits (default 1). */
  times?: number;
  delayMs?: number;
}

interface ActiveFault extends FaultSpec {
  left: number;
}

/** Harbor's error code for an injected status. */
export const STATUS_CODES: Record<number, string> = {
  429: 'TOO_MANY_REQUESTS',
  500: 'UNKNOWN',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

/** Harbor's error body, as sent on the wire. */
export function errorBody(code: string, message: string): string {
  return `${JSON.stringify({ errors: [{ code, message }] })}\n`;
}

/** The faults waiting for requests; each is used up by the matching requests it hits. */
export class FaultList {
  private readonly faults: ActiveFault[] = [];

  inject(fault: FaultSpec): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The first fault that hits this request at this moment, counted as used. */
  take(method: string, path: string, when: 'before' | 'after'): FaultSpec | undefined {
    for (const f of this.faults) {
      if (f.left <= 0 || (f.when ?? 'before') !== when) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path !== undefined) {
        if (typeof f.path === 'string') {
          const p = f.path.startsWith(API_BASE) ? f.path : `${API_BASE}${f.path}`;
          if (!path.startsWith(p)) continue;
        } else if (!f.path.test(path)) continue;
      }
      f.left--;
      return f;
    }
    return undefined;
  }
}
