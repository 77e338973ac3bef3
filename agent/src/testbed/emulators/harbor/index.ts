// A local Harbor v2.15 API emulator (real HTTP), like LocalStack for the Harbor objects mirrornet manages:
// projects, quotas, registries, replication policies and executions, robot accounts. Basic auth with
// Harbor's error bodies, 409 on duplicates, 400 "the registry is unhealthy" when a remote does not answer,
// secrets read back as `*****`, pagination headers. Extras for tests and benchmarks, outside /api/v2.0:
// `GET|DELETE /_emulator/log` (method, path, status; never credentials) and `POST|DELETE /_emulator/faults`.
// The state can persist in a file (written atomically, mode 0600: it holds registry credentials).
//
// This file starts the emulator: options, loading or seeding the state, persisting it, running replication
// executions through the caller's hook. The HTTP front is server.ts, the API api/, the seed seed.ts.
import { existsSync, readFileSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import type { ApiEnv, RegistryCheck, RemoteCheck } from './api/common.js';
import { replicateOnPush } from './api/replication.js';
import { FaultList, type FaultSpec } from './faults.js';
import { EmulatorState, type ExecutionRec, type PolicyRec, type RegistryRec, type SeedInput } from './schema.js';
import { applySeed, loadSeedFile } from './seed.js';
import type { HarborRequest } from './openapi.js';
import { createHarborServer, type RequestLogEntry, type RequestViolation } from './server.js';
import { emptyState, freshHarborState, iso } from './store.js';
import { closeServer, listenOn, parseListen } from '../http.js';

/** What a replication execution hook reports; missing counts follow the status. */
export interface ExecutionResult {
  status?: 'Succeed' | 'Failed' | 'Stopped';
  statusText?: string;
  total?: number;
  succeed?: number;
  failed?: number;
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
  /**
   * Checks every API request before Harbor's handlers see it (tests pass Harbor's API description, openapi.ts);
   * a request with problems is answered 422 and kept in `violations`.
   */
  requestCheck?: (req: HarborRequest) => string[];
}

export interface HarborEmulator {
  /** `http://host:port` (the API is under /api/v2.0). */
  url: string;
  /** The live state (tests may read it; change it only through the API). */
  readonly state: EmulatorState;
  /** The request log (live). */
  readonly log: RequestLogEntry[];
  /** The requests `requestCheck` refused (live). */
  readonly violations: RequestViolation[];
  clearLog(): void;
  inject(fault: FaultSpec): void;
  clearFaults(): void;
  /** The stored access secret of a registry, for execution hooks that copy artifacts. */
  registrySecret(id: number): string | undefined;
  /** An artifact was pushed into this Harbor's registry: its event-based replications run; their execution ids. */
  pushed(repository: string): number[];
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
  const violations: RequestViolation[] = [];
  const faults = new FaultList();
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    if (!opts.stateFile) return Promise.resolve();
    const file = opts.stateFile;
    saving = saving.then(() => writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 }));
    return saving;
  };
  const pending = new Set<Promise<unknown>>();

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

  const server = createHarborServer({
    env,
    admin,
    robotPrefix,
    now,
    externalUrl: opts.externalUrl,
    log,
    logLimit,
    faults,
    save,
    requestCheck: opts.requestCheck,
    violations,
  });

  const { url } = await listenOn(server, parseListen(opts.listen));
  if (!opts.stateFile || !existsSync(opts.stateFile)) await save();

  const emulator: HarborEmulator = {
    url,
    get state() {
      return state;
    },
    log,
    violations,
    clearLog() {
      log.length = 0;
    },
    inject(fault) {
      faults.inject(fault);
    },
    clearFaults() {
      faults.clear();
    },
    registrySecret(id) {
      return state.registries.find((r) => r.id === id)?.credential?.access_secret;
    },
    pushed(repository) {
      const ids = replicateOnPush(env, repository);
      if (ids.length) void save();
      return ids;
    },
    save,
    async close() {
      await Promise.allSettled([...pending]);
      await closeServer(server);
      await saving.catch(() => undefined);
    },
  };
  return emulator;
}
