// The Harbor emulator's seed: a JSON or YAML file (admin account, registries, projects, robots, policies)
// read and checked, and its objects put into a state without the API's remote checks (a seed is trusted).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Seed, type EmulatorState, type SeedInput } from './schema.js';
import { HARBOR_NAME_RE } from '../../../model/constraints/harbor-api-checks.js';
import { hashSecret, iso, randomRobotSecret, validateHttpUrl, validateRobotPermissions } from './store.js';

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
    if (!HARBOR_NAME_RE.test(p.name)) throw new Error(`seed: project name "${p.name}" is not a Harbor project name`);
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
