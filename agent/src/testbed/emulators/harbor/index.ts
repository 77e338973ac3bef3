// A local Harbor v2.15 API emulator (real HTTP), like LocalStack for the Harbor objects mirrornet manages:
// projects, quotas, registries, replication policies and executions, robot accounts. Basic auth with
// Harbor's error bodies, 409 on duplicates, 400 "the registry is unhealthy" when a remote does not answer,
// secrets read back as `*****`, pagination headers. Extras for tests and benchmarks, outside /api/v2.0:
// `GET|DELETE /_emulator/log` (method, path, status; never credentials) and `POST|DELETE /_emulator/faults`.
// The state can persist in a file (written atomically, mode 0600: it holds registry credentials).
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import writeFileAtomic from 'write-file-atomic';
import { parse as parseYaml } from 'yaml';
import {
  API_BASE,
  handleApi,
  isAnonymousEndpoint,
  type ApiEnv,
  type ExecutionResult,
  type Principal,
  type RegistryCheck,
  type RemoteCheck,
  type Reply,
} from './api.js';
import { EmulatorState, Seed, type ExecutionRec, type PolicyRec, type RegistryRec, type SeedInput } from './schema.js';
import { HarborFault, freshHarborState, emptyState, hashSecret, iso, randomRobotSecret, validateHttpUrl, validateRobotPermissions, NAME_RE } from './store.js';
import { listenOn, parseListen } from '../http.js';

export type { ExecutionResult, RegistryCheck, RemoteCheck } from './api.js';
export type { EmulatorState, SeedInput } from './schema.js';
export { replicationCronProblem, isValidRobotSecret } from './store.js';

export interface RequestLogEntry {
  time: string;
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string (never holds credentials: Harbor takes them in the Authorization header). */
  query: string;
  status: number;
  ms: number;
  /** `reset` when an injected fault dropped the connection. */
  fault?: string;
}

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

/** The policy as the API shows it, handed to the execution hook. */
export interface PolicyView {
  id: number;
  name: string;
  srcRegistry?: RegistryRec;
  destRegistry?: RegistryRec;
  record: PolicyRec;
}

export interface HarborEmulatorOptions {
  /** `host:port`, `:port` or a port; default 127.0.0.1 on a free port. */
  listen?: string | { host?: string; port?: number };
  /** The admin account (basic auth). Falls back to the seed's `admin`. */
  admin?: { username: string; password: string };
  /** Harbor version shown by /systeminfo (default v2.15.2). */
  version?: string;
  /** Persist the state here (atomically, after every change); loaded at start when it exists. */
  stateFile?: string;
  /** Objects to start with when there is no state file. */
  seed?: SeedInput;
  /** A JSON or YAML file with the same shape as `seed`. */
  seedFile?: string;
  /** Whether the remote of a registry answers (default: an HTTP GET of its /v2/ or Harbor /api/v2.0/ping). */
  remoteCheck?: RemoteCheck;
  /** Runs a replication execution (e.g. copies artifacts between real registries); default: succeeds at once. */
  onExecution?: (policy: PolicyView, emulator: HarborEmulator) => Promise<ExecutionResult | void> | ExecutionResult | void;
  /** external_url in /systeminfo (default: the emulator's own URL). */
  externalUrl?: string;
  /** Harbor's robot name prefix (default `robot$`). */
  robotPrefix?: string;
  /** Start like a fresh Harbor with its public `library` project (default true). */
  fresh?: boolean;
  now?: () => Date;
  /** Keep at most this many log entries (default 10000). */
  logLimit?: number;
}

export interface HarborEmulator {
  /** `http://host:port` (the API is under /api/v2.0). */
  url: string;
  /** The live state (tests may read it; change it only through the API). */
  readonly state: EmulatorState;
  /** The request log (live). */
  readonly log: RequestLogEntry[];
  clearLog(): void;
  inject(fault: FaultSpec): void;
  clearFaults(): void;
  /** The stored access secret of a registry, for execution hooks that copy artifacts. */
  registrySecret(id: number): string | undefined;
  save(): Promise<void>;
  close(): Promise<void>;
}

/** Default health check of a remote registry, as Harbor's adapters ping it: any HTTP answer below 500. */
export async function defaultRemoteCheck(url: string, registry: RegistryCheck): Promise<boolean> {
  const target = registry.type === 'harbor' ? `${url}/api/v2.0/ping` : `${url}/v2/`;
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(5000), redirect: 'manual' });
    await res.body?.cancel();
    return res.status < 500;
  } catch {
    return false;
  }
}

export { parseListen };

export function loadSeedFile(path: string): SeedInput {
  const text = readFileSync(path, 'utf8');
  const data: unknown = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  const r = Seed.safeParse(data ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`seed file ${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return data as SeedInput;
}

/** Put the seed's objects into a state (no remote checks: the seed is trusted). */
export function applySeed(state: EmulatorState, input: SeedInput, now: Date): void {
  const seed = Seed.parse(input);
  const t = iso(now);
  for (const r of seed.registries) {
    if (state.registries.some((x) => x.name === r.name)) continue;
    state.registries.push({
      id: state.nextId.registry++,
      name: r.name,
      url: validateHttpUrl(r.url),
      type: r.type,
      description: r.description ?? '',
      insecure: r.insecure ?? false,
      ...(r.credential ? { credential: { type: r.credential.type, access_key: r.credential.access_key, access_secret: r.credential.access_secret } } : {}),
      status: 'healthy',
      creation_time: t,
      update_time: t,
    });
  }
  const regId = (name: string | undefined): number => {
    if (!name) return 0;
    const r = state.registries.find((x) => x.name === name);
    if (!r) throw new Error(`seed: there is no registry "${name}"`);
    return r.id;
  };
  for (const p of seed.projects) {
    if (!NAME_RE.test(p.name)) throw new Error(`seed: project name "${p.name}" is not a Harbor project name`);
    const existing = state.projects.find((x) => x.name === p.name);
    const metadata = { ...(p.metadata ?? {}), public: String(p.public ?? existing?.metadata['public'] === 'true') };
    if (existing) {
      existing.metadata = { ...existing.metadata, ...metadata };
      if (p.repo_count !== undefined) existing.repo_count = p.repo_count;
      continue;
    }
    const id = state.nextId.project++;
    state.projects.push({
      project_id: id,
      name: p.name,
      owner_id: 1,
      owner_name: 'admin',
      registry_id: regId(p.registry),
      repo_count: p.repo_count ?? 0,
      metadata,
      creation_time: t,
      update_time: t,
    });
    state.quotas.push({
      id: state.nextId.quota++,
      project_id: id,
      hard: { storage: p.storage_limit ?? -1 },
      used: { storage: 0 },
      creation_time: t,
      update_time: t,
    });
  }
  for (const r of seed.robots) {
    if (state.robots.some((x) => x.name === r.name)) continue;
    const permissions = validateRobotPermissions(state, 'system', r.duration ?? -1, r.permissions);
    const salt = randomBytes(8).toString('hex');
    state.robots.push({
      id: state.nextId.robot++,
      name: r.name,
      description: r.description ?? '',
      level: 'system',
      project_id: 0,
      duration: r.duration ?? -1,
      expires_at: -1,
      disable: r.disable ?? false,
      permissions,
      salt,
      secret_hash: hashSecret(r.secret ?? randomRobotSecret(), salt),
      creation_time: t,
      update_time: t,
    });
  }
  for (const p of seed.policies) {
    if (state.policies.some((x) => x.name === p.name)) continue;
    state.policies.push({
      id: state.nextId.policy++,
      name: p.name,
      description: p.description ?? '',
      creator: 'admin',
      src_registry_id: regId(p.src_registry),
      dest_registry_id: regId(p.dest_registry),
      dest_namespace: p.dest_namespace ?? '',
      dest_namespace_replace_count: -1,
      filters: (p.filters ?? []).map((f) => ({ type: f.type, value: f.value, ...(f.decoration ? { decoration: f.decoration } : {}) })),
      ...(p.trigger ? { trigger: { type: p.trigger.type, trigger_settings: { cron: p.trigger.cron ?? '' } } } : {}),
      deletion: p.deletion ?? false,
      override: p.override ?? true,
      enabled: p.enabled ?? true,
      speed: Math.max(0, p.speed ?? 0),
      copy_by_chunk: p.copy_by_chunk ?? false,
      single_active_replication: false,
      creation_time: t,
      update_time: t,
    });
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface ActiveFault extends FaultSpec {
  left: number;
}

function errorBody(code: string, message: string): string {
  return `${JSON.stringify({ errors: [{ code, message }] })}\n`;
}

const STATUS_CODES: Record<number, string> = {
  429: 'TOO_MANY_REQUESTS',
  500: 'UNKNOWN',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

export async function startHarborEmulator(opts: HarborEmulatorOptions): Promise<HarborEmulator> {
  const now = opts.now ?? (() => new Date());
  const seedInput = opts.seed ?? (opts.seedFile ? loadSeedFile(opts.seedFile) : undefined);
  const admin = opts.admin ?? (seedInput?.admin ? { username: seedInput.admin.username, password: seedInput.admin.password } : undefined);
  if (!admin || !admin.username || !admin.password) throw new Error('the Harbor emulator needs an admin username and password (options or seed file `admin`)');
  const robotPrefix = opts.robotPrefix ?? 'robot$';
  const logLimit = opts.logLimit ?? 10_000;

  let state: EmulatorState;
  if (opts.stateFile && existsSync(opts.stateFile) && readFileSync(opts.stateFile, 'utf8').trim()) {
    const parsed = EmulatorState.safeParse(JSON.parse(readFileSync(opts.stateFile, 'utf8')));
    if (!parsed.success) throw new Error(`the state file ${opts.stateFile} is not a Harbor emulator state: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    state = parsed.data;
  } else {
    state = opts.fresh === false ? emptyState() : freshHarborState(iso(now()));
    if (seedInput) applySeed(state, seedInput, now());
  }

  const log: RequestLogEntry[] = [];
  const faults: ActiveFault[] = [];
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    if (!opts.stateFile) return Promise.resolve();
    const file = opts.stateFile;
    saving = saving.then(() => writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 }));
    return saving;
  };
  const pending = new Set<Promise<unknown>>();
  let emulator!: HarborEmulator;

  const env: ApiEnv = {
    state,
    now,
    version: opts.version ?? 'v2.15.2',
    externalUrl: '',
    robotPrefix,
    remoteCheck: opts.remoteCheck ?? defaultRemoteCheck,
    runExecution(policy: PolicyRec, e: ExecutionRec) {
      const view: PolicyView = {
        id: policy.id,
        name: policy.name,
        record: policy,
        ...(policy.src_registry_id ? { srcRegistry: state.registries.find((r) => r.id === policy.src_registry_id)! } : {}),
        ...(policy.dest_registry_id ? { destRegistry: state.registries.find((r) => r.id === policy.dest_registry_id)! } : {}),
      };
      const finish = (r: ExecutionResult | void, error?: unknown): void => {
        e.status = error ? 'Failed' : (r?.status ?? 'Succeed');
        e.status_text = error ? String((error as Error).message ?? error) : (r?.statusText ?? '');
        e.total = r?.total ?? 0;
        e.succeed = r?.succeed ?? (e.status === 'Succeed' ? e.total : 0);
        e.failed = r?.failed ?? (e.status === 'Failed' ? e.total : 0);
        e.in_progress = 0;
        e.end_time = iso(now());
        void save();
      };
      if (!opts.onExecution) return finish(undefined);
      const p = (async () => {
        try {
          finish(await opts.onExecution!(view, emulator));
        } catch (err) {
          finish(undefined, err);
        }
      })();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
  };

  const principalOf = (header: string | undefined): Principal | 'invalid' => {
    if (!header) return { kind: 'anonymous' };
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m) return 'invalid';
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return 'invalid';
    const user = decoded.slice(0, i);
    const pass = decoded.slice(i + 1);
    if (sameText(user, admin.username) && sameText(pass, admin.password)) return { kind: 'admin', username: user };
    if (user.startsWith(robotPrefix)) {
      const robot = state.robots.find((r) => `${robotPrefix}${r.name}` === user);
      const nowSec = Math.floor(now().getTime() / 1000);
      if (robot && !robot.disable && (robot.expires_at === -1 || robot.expires_at > nowSec) && sameText(hashSecret(pass, robot.salt), robot.secret_hash))
        return { kind: 'robot', robot };
    }
    return 'invalid';
  };

  const takeFault = (method: string, path: string, when: 'before' | 'after'): ActiveFault | undefined => {
    for (const f of faults) {
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
  };

  const record = (entry: RequestLogEntry): void => {
    log.push(entry);
    if (log.length > logLimit) log.splice(0, log.length - logLimit);
  };

  const send = (res: http.ServerResponse, reply: Reply, requestId: string, head: boolean): void => {
    const headers: Record<string, string> = { 'X-Request-Id': requestId, ...(reply.headers ?? {}) };
    let payload = '';
    if (reply.text !== undefined) {
      headers['Content-Type'] = 'text/plain';
      payload = reply.text;
    } else if (reply.body !== undefined) {
      headers['Content-Type'] = 'application/json; charset=utf-8';
      payload = `${JSON.stringify(reply.body)}\n`;
    }
    headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(head ? undefined : payload);
  };

  const control = async (req: http.IncomingMessage, res: http.ServerResponse, path: string, body: unknown): Promise<void> => {
    const json = (status: number, b: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(`${JSON.stringify(b)}\n`);
    };
    if (path === '/_emulator/log' && req.method === 'GET') return json(200, { entries: log });
    if (path === '/_emulator/log' && req.method === 'DELETE') {
      log.length = 0;
      return json(200, {});
    }
    if (path === '/_emulator/faults' && req.method === 'POST') {
      const f = (body ?? {}) as FaultSpec & { path?: string };
      emulator.inject({ ...f });
      return json(201, {});
    }
    if (path === '/_emulator/faults' && req.method === 'DELETE') {
      faults.length = 0;
      return json(200, {});
    }
    json(404, { errors: [{ code: 'NOT_FOUND', message: `no emulator endpoint ${req.method} ${path}` }] });
  };

  const server = http.createServer((req, res) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://emulator');
        const method = (req.method ?? 'GET').toUpperCase();
        const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id']) || randomUUID();
        const entry = (status: number, fault?: string): RequestLogEntry => ({
          time: iso(now()),
          method,
          path: url.pathname,
          query: url.search.replace(/^\?/, ''),
          status,
          ms: Date.now() - started,
          ...(fault ? { fault } : {}),
        });
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        let bodyError = false;
        if (text.trim()) {
          try {
            body = JSON.parse(text);
          } catch {
            bodyError = true;
          }
        }
        if (url.pathname.startsWith('/_emulator/')) return control(req, res, url.pathname, body);
        const before = takeFault(method, url.pathname, 'before');
        if (before) {
          if (before.delayMs) await new Promise((r) => setTimeout(r, before.delayMs));
          if (before.reset) {
            record(entry(0, 'reset'));
            req.socket.destroy();
            return;
          }
          if (before.status) {
            const code = STATUS_CODES[before.status] ?? 'UNKNOWN';
            const message = before.status >= 500 ? 'internal server error' : before.status === 429 ? 'too many requests' : 'injected fault';
            res.writeHead(before.status, { 'Content-Type': 'application/json; charset=utf-8', 'X-Request-Id': requestId });
            res.end(errorBody(code, message));
            record(entry(before.status, 'status'));
            return;
          }
        }
        let reply: Reply;
        try {
          if (size > 1024 * 1024) throw new HarborFault(413, 'REQUEST_ENTITY_TOO_LARGE', 'the request body is too large');
          if (!url.pathname.startsWith(`${API_BASE}/`)) throw new HarborFault(404, 'NOT_FOUND', `path ${url.pathname} was not found`);
          const path = url.pathname.slice(API_BASE.length).replace(/\/+$/, '') || '/';
          if (bodyError) throw new HarborFault(400, 'BAD_REQUEST', 'parsing body body from "" failed, because invalid character in JSON');
          const auth = principalOf(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
          const anonymousOk = isAnonymousEndpoint(method, path);
          if (auth === 'invalid') {
            if (!anonymousOk || path === '/projects') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
          }
          const principal: Principal = auth === 'invalid' ? { kind: 'anonymous' } : auth;
          if (principal.kind === 'anonymous' && !anonymousOk) throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
          if (principal.kind === 'robot' && method !== 'GET' && method !== 'HEAD') throw new HarborFault(403, 'FORBIDDEN', 'forbidden');
          const apiReq = {
            method: method === 'HEAD' && path !== '/projects' ? 'GET' : method,
            path,
            query: url.searchParams,
            headers: req.headers,
            body,
            principal,
          };
          env.externalUrl = opts.externalUrl ?? `http://${req.headers.host ?? 'localhost'}`;
          reply = await handleApi(env, apiReq);
          if (reply.mutated) await save();
        } catch (err) {
          if (err instanceof HarborFault) reply = { status: err.status, body: { errors: [{ code: err.code, message: err.message }] } };
          else reply = { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] } };
        }
        const after = takeFault(method, url.pathname, 'after');
        if (after) {
          if (after.delayMs) await new Promise((r) => setTimeout(r, after.delayMs));
          if (after.reset) {
            record(entry(0, 'reset'));
            req.socket.destroy();
            return;
          }
          if (after.status)
            reply = { status: after.status, body: { errors: [{ code: STATUS_CODES[after.status] ?? 'UNKNOWN', message: 'internal server error' }] } };
        }
        send(res, reply, requestId, method === 'HEAD');
        record(entry(reply.status, after ? 'status' : undefined));
      })().catch(() => {
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(errorBody('UNKNOWN', 'internal server error'));
        }
      });
    });
  });
  server.keepAliveTimeout = 5_000;

  const { url } = await listenOn(server, parseListen(opts.listen));
  if (!opts.stateFile || !existsSync(opts.stateFile)) await save();

  emulator = {
    url,
    get state() {
      return state;
    },
    log,
    clearLog() {
      log.length = 0;
    },
    inject(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    registrySecret(id) {
      return state.registries.find((r) => r.id === id)?.credential?.access_secret;
    },
    save,
    async close() {
      await Promise.allSettled([...pending]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await saving.catch(() => undefined);
    },
  };
  return emulator;
}
