// Harbor v2.15 API shapes the harbor-api provider reads (zod, lenient: unknown fields are dropped, optional
// fields may be null or absent as Harbor's go-swagger omits empty values) and the request bodies it sends.
import { z } from 'zod';

const Id = z.number().int();
const OptStr = z.string().nullish();
const OptBool = z.boolean().nullish();

export const HarborErrorBody = z.object({
  errors: z.array(z.object({ code: z.string().nullish(), message: z.string().nullish() })).min(1),
});
export type HarborErrorBody = z.infer<typeof HarborErrorBody>;

export const Project = z.object({
  project_id: Id,
  name: z.string(),
  registry_id: Id.nullish(),
  repo_count: z.number().int().nullish(),
  owner_name: OptStr,
  metadata: z.record(z.string(), z.string()).nullish(),
});
export type Project = z.infer<typeof Project>;

export const Quota = z.object({
  id: Id,
  ref: z.object({ id: z.union([Id, z.string()]).nullish(), name: OptStr }).nullish(),
  hard: z.record(z.string(), z.number()).nullish(),
  used: z.record(z.string(), z.number()).nullish(),
});
export type Quota = z.infer<typeof Quota>;

const RegistryCredential = z.object({ type: OptStr, access_key: OptStr, access_secret: OptStr });

export const Registry = z.object({
  id: Id,
  name: z.string(),
  url: z.string(),
  type: z.string(),
  description: OptStr,
  insecure: OptBool,
  credential: RegistryCredential.nullish(),
  status: OptStr,
});
export type Registry = z.infer<typeof Registry>;

const ReplicationFilter = z.object({ type: z.string(), value: z.unknown().optional(), decoration: OptStr });
type ReplicationFilter = z.infer<typeof ReplicationFilter>;

const ReplicationTrigger = z.object({
  type: z.string(),
  trigger_settings: z.object({ cron: OptStr }).nullish(),
});

const RegistryRef = z.object({ id: Id.nullish(), name: OptStr }).nullish();

export const ReplicationPolicy = z.object({
  id: Id,
  name: z.string(),
  description: OptStr,
  src_registry: RegistryRef,
  dest_registry: RegistryRef,
  dest_namespace: OptStr,
  filters: z.array(ReplicationFilter).nullish(),
  trigger: ReplicationTrigger.nullish(),
  deletion: OptBool,
  replicate_deletion: OptBool,
  override: OptBool,
  enabled: OptBool,
  speed: z.number().int().nullish(),
  copy_by_chunk: OptBool,
});
export type ReplicationPolicy = z.infer<typeof ReplicationPolicy>;

export const ReplicationExecution = z.object({
  id: Id,
  policy_id: Id,
  status: OptStr,
  status_text: OptStr,
  trigger: OptStr,
  total: z.number().nullish(),
  failed: z.number().nullish(),
  succeed: z.number().nullish(),
});
export type ReplicationExecution = z.infer<typeof ReplicationExecution>;

const Access = z.object({ resource: z.string(), action: z.string(), effect: OptStr });
const RobotPermission = z.object({ kind: z.string(), namespace: z.string(), access: z.array(Access).nullish() });
type RobotPermission = z.infer<typeof RobotPermission>;

export const Robot = z.object({
  id: Id,
  name: z.string(),
  description: OptStr,
  level: OptStr,
  duration: z.number().int().nullish(),
  disable: OptBool,
  editable: OptBool,
  expires_at: z.number().nullish(),
  permissions: z.array(RobotPermission).nullish(),
});
export type Robot = z.infer<typeof Robot>;

export const RobotCreated = z.object({ id: Id, name: z.string(), secret: OptStr, expires_at: z.number().nullish() });
export type RobotCreated = z.infer<typeof RobotCreated>;

export const RobotSec = z.object({ secret: OptStr });

export const SystemInfo = z.object({
  harbor_version: OptStr,
  external_url: OptStr,
  auth_mode: OptStr,
  registry_url: OptStr,
  read_only: OptBool,
});
export type SystemInfo = z.infer<typeof SystemInfo>;

export const Health = z.object({
  status: z.string(),
  components: z.array(z.object({ name: z.string(), status: z.string(), error: OptStr })).nullish(),
});
export type Health = z.infer<typeof Health>;

// ---- Request bodies ----------------------------------------------------------------------------------

export interface ProjectReq {
  project_name?: string;
  metadata?: Record<string, string>;
  storage_limit?: number;
  registry_id?: number;
}

export interface RegistryCreateReq {
  name: string;
  url: string;
  type: string;
  description: string;
  insecure: boolean;
  credential?: { type: 'basic'; access_key: string; access_secret: string };
}

/** The flat body of PUT /registries/{id}. */
export interface RegistryUpdateReq {
  name?: string;
  description?: string;
  url?: string;
  credential_type?: string;
  access_key?: string;
  access_secret?: string;
  insecure?: boolean;
}

export interface ReplicationPolicyReq {
  id?: number;
  name: string;
  description: string;
  src_registry?: { id: number };
  dest_registry?: { id: number };
  dest_namespace: string;
  filters: { type: string; value: unknown; decoration?: string }[];
  trigger: { type: string; trigger_settings?: { cron: string } };
  /** Harbor reads `deletion` on write (replicate_deletion is ignored there). */
  deletion: boolean;
  override: boolean;
  enabled: boolean;
  speed: number;
  copy_by_chunk: boolean;
}

interface RobotPermissionReq {
  kind: 'project' | 'system';
  namespace: string;
  access: { resource: string; action: string }[];
}

export interface RobotCreateReq {
  name: string;
  description: string;
  level: 'system';
  duration: number;
  disable: boolean;
  permissions: RobotPermissionReq[];
}

/** PUT /robots/{id}: the whole robot, with the full (prefixed) name. */
export interface RobotUpdateReq extends Omit<RobotCreateReq, 'name'> {
  id: number;
  name: string;
}
