// The provider contract (after Pulumi's dynamic providers): read the actual state, diff it against the
// desired state (pure), apply a list of changes. The reconcile loop orders providers; a provider never
// imports another one.
import type { Logger } from 'pino';
import type { Desired } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import type { HostFiles } from '../host/files.js';
import type { SecretResolver } from '../host/secrets.js';

type Action = 'create' | 'update' | 'delete' | 'noop';

export type ProviderId = 'routes' | 'wireguard' | 'containerd' | 'docker' | 'dragonfly' | 'huaweicloud-vpc' | 'harbor-config' | 'postgres' | 'harbor-api';

/** One planned change. `before`/`after` are for display and never hold secret values. */
export interface Change {
  provider: ProviderId;
  /** Stable id of the resource within the provider, e.g. a destination CIDR or a file path. */
  id: string;
  action: Action;
  /** Why, in words a person understands. */
  reason: string;
  before?: unknown;
  after?: unknown;
  /** Provider data needed to apply the change (no secret values). */
  data?: unknown;
  /**
   * Record the id in the inventory although the change is an update: for containers the agent does not
   * own but puts its own (marked) items into, e.g. a cloud route table.
   */
  track?: boolean;
  /**
   * Route destinations this change removes for good, for the guardrails (max deletions, protected
   * destinations): set by providers whose one change removes several routes (a route-table batch).
   */
  deletedRoutes?: string[];
  /**
   * The file (or interface settings) this change writes, as text for a person, secrets masked: what is on the
   * host (`before`, absent for a new file) and what will be (`after`, absent for a removal). Plans and drift
   * alerts show its unified diff.
   */
  file?: FileText;
}

/** A file the agent writes, shown as text with every secret masked (a reference or a mask, never a value). */
export interface FileText {
  path: string;
  before?: string;
  after?: string;
}

export interface HostCommands {
  /** Reload Docker after daemon.json changed (SIGHUP: no restart for registry-mirrors). */
  dockerReload: string;
  /** Restart dfdaemon after dfdaemon.yaml changed (it does not reload on SIGHUP). */
  dragonflyRestart: string;
  /** Regenerate and restart Harbor after harbor.yml changed (run in the install directory). */
  harborApply?: string;
  /** How long one of these hooks may run before it is killed and the apply fails (default 10 minutes). */
  hookTimeoutMs?: number;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 600_000;

export const DEFAULT_COMMANDS: HostCommands = {
  dockerReload: 'pkill -HUP -x dockerd || true',
  dragonflyRestart: 'systemctl restart dfdaemon',
  harborApply: './prepare && docker compose up -d',
};

export interface ProviderContext {
  exec: Exec;
  files: HostFiles;
  secrets: SecretResolver;
  log: Logger;
  commands: HostCommands;
  /** Notes for the user that are not changes (e.g. containerd's config_path is unset). */
  notes: string[];
  /** This provider's inventory ids (what the agent created before). */
  inventory?: readonly string[];
}

export interface ApplyOutcome {
  applied: Change[];
  /** Inventory ids to remove after this apply (the engine adds created ids before applying: write-ahead). */
  deleted: string[];
}

export interface Provider<A = unknown> {
  id: ProviderId;
  /** Whether this provider has anything to do for the desired state. */
  wants(desired: Desired): boolean;
  read(ctx: ProviderContext, desired: Desired): Promise<A>;
  /** Pure. `owned` are the ids in this provider's inventory. */
  diff(desired: Desired, actual: A, owned: ReadonlySet<string>): Change[];
  apply(ctx: ProviderContext, changes: Change[], desired: Desired, actual: A): Promise<ApplyOutcome>;
}
