// Request bodies the Harbor emulator accepts (Harbor v2.15's API, swagger `definitions`), its state file and
// its seed file. Like Harbor's go-swagger binding, unknown fields are ignored and a field of the wrong type
// is a 400. Written from the v2.15.2 API description; nothing of mirrornet is imported here.
import { z } from 'zod';

const Int = z.number().int();
const Str = z.string();

const ProjectMetadataBody = z
  .object({
    public: Str.optional(),
    enable_content_trust: Str.nullish(),
    enable_content_trust_cosign: Str.nullish(),
    prevent_vul: Str.nullish(),
    severity: Str.nullish(),
    auto_scan: Str.nullish(),
    auto_sbom_generation: Str.nullish(),
    reuse_sys_cve_allowlist: Str.nullish(),
    retention_id: Str.nullish(),
    proxy_speed_kb: Str.nullish(),
    max_upstream_conn: Str.nullish(),
    proxy_cache_local_on_not_found: Str.nullish(),
  })
  .nullish();

export const ProjectReqBody = z.object({
  project_name: Str.optional(),
  public: z.boolean().nullish(),
  metadata: ProjectMetadataBody,
  storage_limit: Int.nullish(),
  registry_id: Int.nullish(),
  cve_allowlist: z.unknown().optional(),
});
export type ProjectReqBody = z.infer<typeof ProjectReqBody>;

export const QuotaUpdateBody = z.object({ hard: z.record(Str, Int).nullish() });

const RegistryCredentialBody = z.object({ type: Str.optional(), access_key: Str.optional(), access_secret: Str.optional() }).nullish();

export const RegistryBody = z.object({
  name: Str.optional(),
  url: Str.optional(),
  type: Str.optional(),
  description: Str.optional(),
  insecure: z.boolean().optional(),
  ca_certificate: Str.nullish(),
  credential: RegistryCredentialBody,
});
export type RegistryBody = z.infer<typeof RegistryBody>;

/** PUT /registries/{id}: a flat body, every field optional (x-nullable). */
export const RegistryUpdateBody = z.object({
  name: Str.nullish(),
  description: Str.nullish(),
  url: Str.nullish(),
  credential_type: Str.nullish(),
  access_key: Str.nullish(),
  access_secret: Str.nullish(),
  insecure: z.boolean().nullish(),
  ca_certificate: Str.nullish(),
});
export type RegistryUpdateBody = z.infer<typeof RegistryUpdateBody>;

const RegistryRef = z.object({ id: Int.optional() }).nullish();

const ReplicationFilterBody = z.object({ type: Str.optional(), value: z.unknown().optional(), decoration: Str.optional() });

export const ReplicationPolicyBody = z.object({
  name: Str.optional(),
  description: Str.optional(),
  src_registry: RegistryRef,
  dest_registry: RegistryRef,
  dest_namespace: Str.optional(),
  dest_namespace_replace_count: Int.nullish(),
  trigger: z.object({ type: Str.optional(), trigger_settings: z.object({ cron: Str.optional() }).nullish() }).nullish(),
  filters: z.array(ReplicationFilterBody).nullish(),
  replicate_deletion: z.boolean().optional(),
  deletion: z.boolean().optional(),
  override: z.boolean().optional(),
  enabled: z.boolean().optional(),
  speed: Int.nullish(),
  copy_by_chunk: z.boolean().nullish(),
  single_active_replication: z.boolean().nullish(),
});
export type ReplicationPolicyBody = z.infer<typeof ReplicationPolicyBody>;

export const StartExecutionBody = z.object({ policy_id: Int.optional() });

const AccessBody = z.object({ resource: Str.optional(), action: Str.optional(), effect: Str.optional() });
const RobotPermissionBody = z.object({ kind: Str.optional(), namespace: Str.optional(), access: z.array(AccessBody).nullish() });

export const RobotCreateBody = z.object({
  name: Str.optional(),
  description: Str.optional(),
  secret: Str.optional(),
  level: Str.optional(),
  disable: z.boolean().optional(),
  duration: Int.nullish(),
  permissions: z.array(RobotPermissionBody).nullish(),
});
export type RobotCreateBody = z.infer<typeof RobotCreateBody>;

/** PUT /robots/{id} takes the whole Robot. */
export const RobotUpdateBody = RobotCreateBody.extend({ id: Int.optional(), editable: z.boolean().optional() });

export const RobotSecBody = z.object({ secret: Str.optional() });

// ---- State file -------------------------------------------------------------------------------------

const Access = z.object({ resource: Str, action: Str, effect: Str.optional() });
export const RobotPermission = z.object({ kind: Str, namespace: Str, access: z.array(Access) });
export type RobotPermission = z.infer<typeof RobotPermission>;

export const ProjectRec = z.object({
  project_id: Int,
  name: Str,
  owner_id: Int,
  owner_name: Str,
  registry_id: Int,
  repo_count: Int,
  metadata: z.record(Str, Str),
  creation_time: Str,
  update_time: Str,
});
export type ProjectRec = z.infer<typeof ProjectRec>;

export const QuotaRec = z.object({
  id: Int,
  project_id: Int,
  hard: z.record(Str, Int),
  used: z.record(Str, Int),
  creation_time: Str,
  update_time: Str,
});
export type QuotaRec = z.infer<typeof QuotaRec>;

export const RegistryRec = z.object({
  id: Int,
  name: Str,
  url: Str,
  type: Str,
  description: Str,
  insecure: z.boolean(),
  ca_certificate: Str.optional(),
  credential: z.object({ type: Str, access_key: Str, access_secret: Str }).optional(),
  status: Str,
  creation_time: Str,
  update_time: Str,
});
export type RegistryRec = z.infer<typeof RegistryRec>;

const FilterRec = z.object({ type: Str, value: z.unknown(), decoration: Str.optional() });

export const PolicyRec = z.object({
  id: Int,
  name: Str,
  description: Str,
  creator: Str,
  src_registry_id: Int,
  dest_registry_id: Int,
  dest_namespace: Str,
  dest_namespace_replace_count: Int,
  filters: z.array(FilterRec),
  trigger: z.object({ type: Str, trigger_settings: z.object({ cron: Str }).optional() }).optional(),
  deletion: z.boolean(),
  override: z.boolean(),
  enabled: z.boolean(),
  speed: Int,
  copy_by_chunk: z.boolean(),
  single_active_replication: z.boolean(),
  creation_time: Str,
  update_time: Str,
});
export type PolicyRec = z.infer<typeof PolicyRec>;

export const RobotRec = z.object({
  id: Int,
  /** Without the prefix; project robots are `project+name` as Harbor stores them. */
  name: Str,
  description: Str,
  level: z.enum(['system', 'project']),
  project_id: Int,
  duration: Int,
  expires_at: Int,
  disable: z.boolean(),
  permissions: z.array(RobotPermission),
  salt: Str,
  secret_hash: Str,
  creation_time: Str,
  update_time: Str,
});
export type RobotRec = z.infer<typeof RobotRec>;

export const ExecutionRec = z.object({
  id: Int,
  policy_id: Int,
  status: Str,
  status_text: Str,
  trigger: Str,
  start_time: Str,
  end_time: Str.optional(),
  total: Int,
  failed: Int,
  succeed: Int,
  in_progress: Int,
  stopped: Int,
});
export type ExecutionRec = z.infer<typeof ExecutionRec>;

export const EmulatorState = z.object({
  version: z.literal(1),
  nextId: z.object({ project: Int, quota: Int, registry: Int, policy: Int, robot: Int, execution: Int }),
  projects: z.array(ProjectRec),
  quotas: z.array(QuotaRec),
  registries: z.array(RegistryRec),
  policies: z.array(PolicyRec),
  robots: z.array(RobotRec),
  executions: z.array(ExecutionRec),
});
export type EmulatorState = z.infer<typeof EmulatorState>;

// ---- Seed (options or a JSON/YAML file) ---------------------------------------------------------------

const SeedProject = z.strictObject({
  name: Str,
  public: z.boolean().optional(),
  storage_limit: Int.optional(),
  /** A proxy-cache project of this registry (by name). */
  registry: Str.optional(),
  repo_count: Int.optional(),
  metadata: z.record(Str, Str).optional(),
});

const SeedRegistry = z.strictObject({
  name: Str,
  url: Str,
  type: Str.default('harbor'),
  description: Str.optional(),
  insecure: z.boolean().optional(),
  credential: z.strictObject({ type: Str.default('basic'), access_key: Str, access_secret: Str }).optional(),
});

const SeedPolicy = z.strictObject({
  name: Str,
  description: Str.optional(),
  /** Registry names: exactly one of them. */
  src_registry: Str.optional(),
  dest_registry: Str.optional(),
  dest_namespace: Str.optional(),
  filters: z.array(z.strictObject({ type: Str, value: z.unknown(), decoration: Str.optional() })).optional(),
  trigger: z.strictObject({ type: Str, cron: Str.optional() }).optional(),
  deletion: z.boolean().optional(),
  override: z.boolean().optional(),
  enabled: z.boolean().optional(),
  speed: Int.optional(),
  copy_by_chunk: z.boolean().optional(),
});

const SeedRobot = z.strictObject({
  name: Str,
  description: Str.optional(),
  duration: Int.optional(),
  disable: z.boolean().optional(),
  /** The robot's secret (so a user knows it); random when left out. */
  secret: Str.optional(),
  permissions: z.array(
    z.strictObject({ kind: Str.default('project'), namespace: Str, access: z.array(z.strictObject({ resource: Str, action: Str, effect: Str.optional() })) }),
  ),
});

export const Seed = z.strictObject({
  admin: z.strictObject({ username: Str.min(1), password: Str.min(1) }).optional(),
  projects: z.array(SeedProject).default([]),
  registries: z.array(SeedRegistry).default([]),
  policies: z.array(SeedPolicy).default([]),
  robots: z.array(SeedRobot).default([]),
});
export type Seed = z.infer<typeof Seed>;
export type SeedInput = z.input<typeof Seed>;
