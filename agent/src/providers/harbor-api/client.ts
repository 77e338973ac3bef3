// A Harbor v2.15 API client: basic auth, list calls that page through with page_size=100 following the
// `Link: <...>; rel="next"` header, responses checked with zod, Harbor's error bodies turned into typed
// errors with a sentence for the user, and bounded retries with exponential backoff and jitter on 429,
// 5xx and connection resets. It never logs or puts into an error the password, a robot secret or any
// request body (they carry secrets); logs hold method, path, status and attempt only.
import { MirrornetError } from '../../errors.js';
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { SecretResolver } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import {
  HarborErrorBody,
  Health,
  Project,
  Quota,
  Registry,
  ReplicationExecution,
  ReplicationPolicy,
  Robot,
  RobotCreated,
  RobotSec,
  SystemInfo,
  type ProjectReq,
  type RegistryCreateReq,
  type RegistryUpdateReq,
  type ReplicationPolicyReq,
  type RobotCreateReq,
  type RobotUpdateReq,
} from './schema.js';

export const API_PREFIX = '/api/v2.0';
export const PAGE_SIZE = 100;

/** What the provider needs from Harbor (tests and the lab may pass their own). */
export interface HarborApi {
  /** Where the API is, for messages (no credentials). */
  readonly baseUrl: string;
  ping(): Promise<string>;
  health(): Promise<Health>;
  systemInfo(): Promise<SystemInfo>;
  listProjects(): Promise<Project[]>;
  getProject(name: string): Promise<Project | undefined>;
  projectExists(name: string): Promise<boolean>;
  createProject(req: ProjectReq): Promise<number | undefined>;
  /** PUT /projects/{name} with X-Is-Resource-Name: true (Harbor changes the metadata only). */
  updateProject(name: string, req: ProjectReq): Promise<void>;
  deleteProject(name: string): Promise<boolean>;
  listQuotas(query?: { reference?: string; referenceId?: number }): Promise<Quota[]>;
  updateQuota(id: number, hard: Record<string, number>): Promise<void>;
  listRegistries(): Promise<Registry[]>;
  createRegistry(req: RegistryCreateReq): Promise<number>;
  updateRegistry(id: number, req: RegistryUpdateReq): Promise<void>;
  deleteRegistry(id: number): Promise<boolean>;
  listReplicationPolicies(): Promise<ReplicationPolicy[]>;
  createReplicationPolicy(req: ReplicationPolicyReq): Promise<number>;
  updateReplicationPolicy(id: number, req: ReplicationPolicyReq): Promise<void>;
  deleteReplicationPolicy(id: number): Promise<boolean>;
  startReplication(policyId: number): Promise<number | undefined>;
  listReplicationExecutions(policyId?: number): Promise<ReplicationExecution[]>;
  listRobots(): Promise<Robot[]>;
  /** The secret in the answer is the only time Harbor shows it; undefined when the robot was found after a retry. */
  createRobot(req: RobotCreateReq): Promise<{ id: number; name: string; secret?: string }>;
  updateRobot(id: number, req: RobotUpdateReq): Promise<void>;
  /** PATCH /robots/{id}: pins `secret`, or lets Harbor pick one (returned) when it is left out. */
  refreshRobotSecret(id: number, secret?: string): Promise<string | undefined>;
  deleteRobot(id: number): Promise<boolean>;
  /**
   * A keyed fingerprint (HMAC with this client's password) of a secret, to tell whether the secret Harbor
   * holds is the one on the host without ever reading it back. 16 hex digits.
   */
  fingerprint(kind: string, name: string, secret: string): Promise<string>;
}

// ---- Errors ----------------------------------------------------------------------------------------------

export type HarborErrorKind =
  'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'bad-request' | 'precondition' | 'throttled' | 'server' | 'network' | 'invalid-response' | 'other';

function kindOf(status: number): HarborErrorKind {
  if (status === 0) return 'network';
  if (status === 400 || status === 422) return 'bad-request';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 412) return 'precondition';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server';
  return 'other';
}

/** A failed Harbor call. `cause` is the network error or Harbor's `{"errors":[...]}` body. */
export class HarborApiError extends MirrornetError {
  readonly kind: HarborErrorKind;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** Harbor's error code (BAD_REQUEST, CONFLICT ...) or a network code (ECONNRESET ...). */
    readonly code: string,
    /** Harbor's message. */
    readonly harborMessage: string,
    readonly baseUrl: string,
    readonly attempts: number,
    opts?: { cause?: unknown },
  ) {
    const what = status ? `HTTP ${status} ${code}${harborMessage ? `: ${harborMessage}` : ''}` : `${code}${harborMessage ? ` (${harborMessage})` : ''}`;
    const kind = code === 'INVALID_RESPONSE' ? 'invalid-response' : kindOf(status);
    super(userSentence({ kind, baseUrl, method, path, harborMessage, attempts }, what), {
      cause: opts?.cause,
      message: `Harbor ${method} ${path} failed: ${what}`,
    });
    this.kind = kind;
  }
  /** Whether an earlier attempt of this call may have reached Harbor. */
  get retried(): boolean {
    return this.attempts > 1;
  }
}

function userSentence(e: Pick<HarborApiError, 'kind' | 'baseUrl' | 'method' | 'path' | 'harborMessage' | 'attempts'>, what: string): string {
  const at = `Harbor at ${e.baseUrl} answered ${e.method} ${e.path} with ${what}`;
  switch (e.kind) {
    case 'unauthorized':
      return `${at}. Check the Harbor admin username and the password its secret reference resolves to on this host.`;
    case 'forbidden':
      return `${at}. The account mirrornet uses lacks the permission: use a Harbor system administrator.`;
    case 'not-found':
      return `${at}. The object does not exist (any more); the next run reads Harbor again and converges.`;
    case 'conflict':
      return `${at}. An object with that name already exists in Harbor; the next run reads it and adopts or reports it.`;
    case 'precondition':
      return `${at}. Harbor refuses while something still uses the object (a replication policy or proxy-cache project on a registry, repositories in a project).`;
    case 'bad-request':
      if (/unhealthy/i.test(e.harborMessage)) {
        return `${at}. Harbor could not reach the remote registry at the endpoint's URL: check that the other core's Harbor answers from this core (network, DNS, TLS), then the next run creates it.`;
      }
      return `${at}. Harbor rejected the request: fix the value it names in the repository.`;
    case 'throttled':
    case 'server':
      return `${at} after ${e.attempts} attempt(s). Harbor is overloaded or failing; the next run retries.`;
    case 'network':
      return `Could not reach Harbor at ${e.baseUrl} for ${e.method} ${e.path} (${what}) after ${e.attempts} attempt(s). Check the URL and the network; the next run retries.`;
    case 'invalid-response':
      return `${at}, which mirrornet does not understand (is this Harbor 2.x?).`;
    default:
      return `${at}.`;
  }
}

export function isHarborError(err: unknown, kind?: HarborErrorKind): err is HarborApiError {
  return err instanceof HarborApiError && (kind === undefined || err.kind === kind);
}

function networkCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return 'ETIMEDOUT';
    e = (e as { cause?: unknown }).cause;
  }
  return 'ECONNRESET';
}

// ---- Client ------------------------------------------------------------------------------------------------

export interface HarborClientOptions {
  /** Harbor's URL (its external URL, or an override); `/api/v2.0` may be included or not. */
  url: string;
  username: string;
  /** The password, or how to get it (resolved on first use, never logged). */
  password: string | (() => Promise<string>);
  fetch?: typeof fetch;
  /** Injectable for tests (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  log?: Logger;
  userAgent?: string;
}

type RetryMode = 'idempotent' | 'create' | 'once';

interface Response {
  status: number;
  headers: Headers;
  text: string;
  attempts: number;
}

export class HarborApiClient implements HarborApi {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly api: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly retries: number;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly timeoutMs: number;
  private password?: Promise<string>;

  constructor(private readonly opts: HarborClientOptions) {
    const u = new URL(opts.url);
    const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v2\.0$/, '');
    this.origin = u.origin;
    this.baseUrl = `${u.origin}${path}`;
    this.api = `${this.baseUrl}${API_PREFIX}`;
    this.fetchFn = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
    this.retries = Math.max(0, opts.retries ?? 4);
    this.baseDelay = opts.baseDelayMs ?? 250;
    this.maxDelay = opts.maxDelayMs ?? 8_000;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  private async authorization(): Promise<string> {
    this.password ??= Promise.resolve(typeof this.opts.password === 'function' ? this.opts.password() : this.opts.password);
    let pw: string;
    try {
      pw = await this.password;
    } catch (err) {
      this.password = undefined;
      throw err;
    }
    return `Basic ${Buffer.from(`${this.opts.username}:${pw}`).toString('base64')}`;
  }

  async fingerprint(kind: string, name: string, secret: string): Promise<string> {
    this.password ??= Promise.resolve(typeof this.opts.password === 'function' ? this.opts.password() : this.opts.password);
    const key = await this.password;
    return createHmac('sha256', `mirrornet:${key}`).update(`${kind}\n${name}\n${secret}`).digest('hex').slice(0, 16);
  }

  private backoff(attempt: number, retryAfter: string | null): number {
    const exp = Math.min(this.maxDelay, this.baseDelay * 2 ** (attempt - 1));
    let delay = exp / 2 + (this.random() * exp) / 2;
    if (retryAfter && /^\d+$/.test(retryAfter)) delay = Math.max(delay, Math.min(this.maxDelay, Number(retryAfter) * 1000));
    return Math.round(delay);
  }

  /** One call with bounded retries. `create`: a POST whose duplicate is a 409, so it may be retried. */
  private async request(
    method: string,
    pathAndQuery: string,
    opts: { body?: unknown; headers?: Record<string, string>; retry?: RetryMode } = {},
  ): Promise<Response> {
    const mode: RetryMode = opts.retry ?? (method === 'POST' ? 'once' : 'idempotent');
    const url = pathAndQuery.startsWith('http') ? pathAndQuery : `${this.api}${pathAndQuery}`;
    const path = new URL(url).pathname;
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.opts.userAgent ?? 'mirrornet-agent',
      ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(opts.headers ?? {}),
      Authorization: await this.authorization(),
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const log = this.opts.log;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let res: globalThis.Response;
      try {
        res = await this.fetchFn(url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(this.timeoutMs),
          redirect: 'manual',
        });
      } catch (err) {
        const code = networkCode(err);
        // A POST that is not a create is retried only when it surely never reached Harbor.
        const retryable = mode !== 'once' || code === 'ECONNREFUSED';
        if (retryable && attempt <= this.retries) {
          const delay = this.backoff(attempt, null);
          log?.warn({ method, path, code, attempt, delayMs: delay }, 'Harbor request failed; retrying');
          await this.sleep(delay);
          continue;
        }
        throw new HarborApiError(method, path, 0, code, '', this.baseUrl, attempt, { cause: err });
      }
      const text = await res.text().catch(() => '');
      log?.debug({ method, path, status: res.status, attempt, ms: Date.now() - started }, 'Harbor request');
      if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, text, attempts: attempt };
      const transient = res.status === 429 || res.status === 500 || res.status === 502 || res.status === 503 || res.status === 504;
      const retryable = transient && (mode !== 'once' || res.status === 429 || res.status === 503);
      if (retryable && attempt <= this.retries) {
        const delay = this.backoff(attempt, res.headers.get('retry-after'));
        log?.warn({ method, path, status: res.status, attempt, delayMs: delay }, 'Harbor request failed; retrying');
        await this.sleep(delay);
        continue;
      }
      throw this.httpError(method, path, res.status, text, attempt);
    }
  }

  private httpError(method: string, path: string, status: number, text: string, attempts: number): HarborApiError {
    let parsed: HarborErrorBody | undefined;
    try {
      const r = HarborErrorBody.safeParse(JSON.parse(text));
      if (r.success) parsed = r.data;
    } catch {
      /* not JSON */
    }
    const first = parsed?.errors[0];
    const code = first?.code ?? (status >= 500 ? 'UNKNOWN' : `HTTP_${status}`);
    const message = (first?.message ?? (parsed ? '' : text.trim().slice(0, 200))).replace(/\s+/g, ' ').trim();
    return new HarborApiError(method, path, status, code, message, this.baseUrl, attempts, { cause: parsed ?? text.slice(0, 200) });
  }

  private parse<S extends z.ZodType>(schema: S, res: Response, method: string, path: string): z.infer<S> {
    let data: unknown;
    try {
      data = JSON.parse(res.text);
    } catch (cause) {
      throw new HarborApiError(method, path, res.status, 'INVALID_RESPONSE', 'not JSON', this.baseUrl, res.attempts, { cause });
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new HarborApiError(
        method,
        path,
        res.status,
        'INVALID_RESPONSE',
        `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'unexpected shape'}`,
        this.baseUrl,
        res.attempts,
        { cause: r.error },
      );
    }
    return r.data;
  }

  /** Every page of a list: page_size=100, following Link rel="next". */
  private async listAll<S extends z.ZodType>(path: string, item: S, query: Record<string, string> = {}): Promise<z.infer<S>[]> {
    const q = new URLSearchParams({ ...query, page: '1', page_size: String(PAGE_SIZE) });
    let next: string | undefined = `${this.api}${path}?${q.toString()}`;
    const out: z.infer<S>[] = [];
    const seen = new Set<string>();
    const arraySchema = (item as z.ZodType).array();
    while (next && !seen.has(next) && seen.size < 1000) {
      seen.add(next);
      const res = await this.request('GET', next);
      const page = this.parse(arraySchema, res, 'GET', path) as z.infer<S>[];
      out.push(...page);
      const link = nextLink(res.headers.get('link'));
      next = link && page.length ? new URL(link, this.origin).toString() : undefined;
    }
    return out;
  }

  private static idFromLocation(location: string | null): number | undefined {
    const m = location ? /\/(\d+)\/?$/.exec(location) : null;
    return m ? Number(m[1]) : undefined;
  }

  /** POST that creates a named object; a 409 after a retried attempt means our earlier attempt got through. */
  private async create(
    path: string,
    body: unknown,
    lookup: () => Promise<number | undefined>,
    headers?: Record<string, string>,
  ): Promise<{ id: number | undefined; res?: Response }> {
    try {
      const res = await this.request('POST', path, { body, retry: 'create', ...(headers ? { headers } : {}) });
      return { id: HarborApiClient.idFromLocation(res.headers.get('location')) ?? (await lookup()), res };
    } catch (err) {
      if (isHarborError(err, 'conflict') && err.retried) {
        const id = await lookup();
        if (id !== undefined) {
          this.opts.log?.info({ path }, 'Harbor create was retried and the object exists: using it');
          return { id };
        }
      }
      throw err;
    }
  }

  private async remove(path: string, headers?: Record<string, string>): Promise<boolean> {
    try {
      await this.request('DELETE', path, headers ? { headers } : {});
      return true;
    } catch (err) {
      if (isHarborError(err, 'not-found')) return false;
      throw err;
    }
  }

  async ping(): Promise<string> {
    return (await this.request('GET', '/ping')).text;
  }

  async health(): Promise<Health> {
    return this.parse(Health, await this.request('GET', '/health'), 'GET', '/health');
  }

  async systemInfo(): Promise<SystemInfo> {
    return this.parse(SystemInfo, await this.request('GET', '/systeminfo'), 'GET', '/systeminfo');
  }

  listProjects(): Promise<Project[]> {
    return this.listAll('/projects', Project);
  }

  async getProject(name: string): Promise<Project | undefined> {
    const path = `/projects/${encodeURIComponent(name)}`;
    try {
      return this.parse(Project, await this.request('GET', path, { headers: { 'X-Is-Resource-Name': 'true' } }), 'GET', path);
    } catch (err) {
      if (isHarborError(err, 'not-found')) return undefined;
      throw err;
    }
  }

  async projectExists(name: string): Promise<boolean> {
    try {
      await this.request('HEAD', `/projects?project_name=${encodeURIComponent(name)}`);
      return true;
    } catch (err) {
      if (isHarborError(err, 'not-found')) return false;
      throw err;
    }
  }

  async createProject(req: ProjectReq): Promise<number | undefined> {
    const name = req.project_name ?? '';
    return (await this.create('/projects', req, async () => (await this.getProject(name))?.project_id)).id;
  }

  async updateProject(name: string, req: ProjectReq): Promise<void> {
    await this.request('PUT', `/projects/${encodeURIComponent(name)}`, { body: req, headers: { 'X-Is-Resource-Name': 'true' } });
  }

  deleteProject(name: string): Promise<boolean> {
    return this.remove(`/projects/${encodeURIComponent(name)}`, { 'X-Is-Resource-Name': 'true' });
  }

  listQuotas(query: { reference?: string; referenceId?: number } = {}): Promise<Quota[]> {
    return this.listAll('/quotas', Quota, {
      ...(query.reference ? { reference: query.reference } : {}),
      ...(query.referenceId !== undefined ? { reference_id: String(query.referenceId) } : {}),
    });
  }

  async updateQuota(id: number, hard: Record<string, number>): Promise<void> {
    await this.request('PUT', `/quotas/${id}`, { body: { hard } });
  }

  listRegistries(): Promise<Registry[]> {
    return this.listAll('/registries', Registry);
  }

  private async registryIdByName(name: string): Promise<number | undefined> {
    const found = await this.listAll('/registries', Registry, { q: `name=${name}` });
    return found.find((r) => r.name === name)?.id;
  }

  async createRegistry(req: RegistryCreateReq): Promise<number> {
    const { id } = await this.create('/registries', req, () => this.registryIdByName(req.name));
    if (id === undefined)
      throw new HarborApiError(
        'POST',
        `${API_PREFIX}/registries`,
        201,
        'INVALID_RESPONSE',
        'no Location header and the registry cannot be found',
        this.baseUrl,
        1,
      );
    return id;
  }

  async updateRegistry(id: number, req: RegistryUpdateReq): Promise<void> {
    await this.request('PUT', `/registries/${id}`, { body: req });
  }

  deleteRegistry(id: number): Promise<boolean> {
    return this.remove(`/registries/${id}`);
  }

  listReplicationPolicies(): Promise<ReplicationPolicy[]> {
    return this.listAll('/replication/policies', ReplicationPolicy);
  }

  private async policyIdByName(name: string): Promise<number | undefined> {
    const found = await this.listAll('/replication/policies', ReplicationPolicy, { q: `name=${name}` });
    return found.find((p) => p.name === name)?.id;
  }

  async createReplicationPolicy(req: ReplicationPolicyReq): Promise<number> {
    const { id } = await this.create('/replication/policies', req, () => this.policyIdByName(req.name));
    if (id === undefined)
      throw new HarborApiError(
        'POST',
        `${API_PREFIX}/replication/policies`,
        201,
        'INVALID_RESPONSE',
        'no Location header and the policy cannot be found',
        this.baseUrl,
        1,
      );
    return id;
  }

  async updateReplicationPolicy(id: number, req: ReplicationPolicyReq): Promise<void> {
    await this.request('PUT', `/replication/policies/${id}`, { body: { ...req, id } });
  }

  deleteReplicationPolicy(id: number): Promise<boolean> {
    return this.remove(`/replication/policies/${id}`);
  }

  async startReplication(policyId: number): Promise<number | undefined> {
    const res = await this.request('POST', '/replication/executions', { body: { policy_id: policyId }, retry: 'once' });
    return HarborApiClient.idFromLocation(res.headers.get('location'));
  }

  listReplicationExecutions(policyId?: number): Promise<ReplicationExecution[]> {
    return this.listAll('/replication/executions', ReplicationExecution, policyId !== undefined ? { policy_id: String(policyId) } : {});
  }

  listRobots(): Promise<Robot[]> {
    return this.listAll('/robots', Robot);
  }

  async createRobot(req: RobotCreateReq): Promise<{ id: number; name: string; secret?: string }> {
    let fullName: string | undefined;
    const lookup = async (): Promise<number | undefined> => {
      const found = await this.listAll('/robots', Robot, { q: `name=${req.name}` });
      const hit = found.find((r) => r.name === req.name || r.name.endsWith(`$${req.name}`));
      fullName = hit?.name;
      return hit?.id;
    };
    const { id, res } = await this.create('/robots', req, lookup);
    if (res && res.text.trim()) {
      const created = this.parse(RobotCreated, res, 'POST', `${API_PREFIX}/robots`);
      return { id: created.id, name: created.name, ...(created.secret ? { secret: created.secret } : {}) };
    }
    if (id === undefined)
      throw new HarborApiError('POST', `${API_PREFIX}/robots`, 201, 'INVALID_RESPONSE', 'the robot cannot be found after it was created', this.baseUrl, 1);
    return { id, name: fullName ?? req.name };
  }

  async updateRobot(id: number, req: RobotUpdateReq): Promise<void> {
    await this.request('PUT', `/robots/${id}`, { body: req });
  }

  async refreshRobotSecret(id: number, secret?: string): Promise<string | undefined> {
    const res = await this.request('PATCH', `/robots/${id}`, { body: secret === undefined ? {} : { secret } });
    if (!res.text.trim()) return undefined;
    const parsed = this.parse(RobotSec, res, 'PATCH', `${API_PREFIX}/robots/${id}`);
    return parsed.secret || undefined;
  }

  deleteRobot(id: number): Promise<boolean> {
    return this.remove(`/robots/${id}`);
  }
}

/** The rel="next" URL of a Link header (`<url>; rel="prev" , <url>; rel="next"`). */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

// ---- Factory for the agent -------------------------------------------------------------------------------

export interface HarborClientFactoryOptions {
  /** Resolves the password's secret reference on the host. */
  secrets: SecretResolver;
  /**
   * Where this core's Harbor API is: a URL for every instance, a function, or nothing (the instance's
   * externalUrl). Wire to `--harbor-url` / MIRRORNET_HARBOR_URL.
   */
  url?: string | ((instance: HarborInstance) => string | undefined);
  /** Default `admin` (MIRRORNET_HARBOR_USERNAME). */
  username?: string;
  /** A secret reference for the password instead of the instance's adminPassword (MIRRORNET_HARBOR_PASSWORD_REF). */
  passwordRef?: string;
  log?: Logger;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  retries?: number;
  timeoutMs?: number;
}

/** `clientFor` for createHarborApiProvider: one client per instance, the password resolved on first use. */
export function harborClientFactory(opts: HarborClientFactoryOptions): (instance: HarborInstance) => HarborApi {
  const cache = new Map<string, HarborApi>();
  return (instance) => {
    const hit = cache.get(instance.name);
    if (hit) return hit;
    const url = (typeof opts.url === 'function' ? opts.url(instance) : opts.url) ?? instance.externalUrl;
    const ref = opts.passwordRef ?? instance.adminPassword;
    const client = new HarborApiClient({
      url,
      username: opts.username ?? 'admin',
      password: () => opts.secrets.resolve(ref),
      ...(opts.log ? { log: opts.log.child({ harbor: instance.name }) } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    cache.set(instance.name, client);
    return client;
  };
}

/** `name=url,name=url` (e.g. MIRRORNET_HARBOR_PEER_URLS) into a map. */
export function parseUrlMap(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (text ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}
