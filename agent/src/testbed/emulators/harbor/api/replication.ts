// Harbor's replication (`/replication/policies`, `/replication/executions`): policies with exactly one
// side being Harbor itself, filters, triggers and cron checked as Harbor does; executions started by hand
// and run by the emulator's execution runner.
import type { z } from 'zod';
import { ReplicationPolicyBody, StartExecutionBody, type ExecutionRec, type PolicyRec } from '../schema.js';
import { policySpeedRefusal, policyStoredRefusal, policyValidateRefusal, type PolicyInput } from '../../../../model/constraints/harbor-api-checks.js';
import { conflict, iso, notFound, policyOrFail, precondition, refused } from '../store.js';
import {
  API_BASE,
  created,
  done,
  idParam,
  matches,
  ok,
  paginate,
  parse,
  parseQ,
  requireAdmin,
  type ApiEnv,
  type ApiRequest,
  type Reply,
  type Route,
} from './common.js';
import { globToRegExp } from '../../../lab/registry-tool.js';
import { localRegistry, renderRegistry } from './registries.js';

function renderPolicy(env: ApiEnv, p: PolicyRec): Record<string, unknown> {
  const reg = (id: number) => {
    if (id === 0) return localRegistry();
    const r = env.state.registries.find((x) => x.id === id);
    return r ? renderRegistry(r) : { id };
  };
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    src_registry: reg(p.src_registry_id),
    dest_registry: reg(p.dest_registry_id),
    dest_namespace: p.dest_namespace,
    dest_namespace_replace_count: p.dest_namespace_replace_count,
    ...(p.trigger ? { trigger: p.trigger } : {}),
    filters: p.filters.map((f) => ({ ...f })),
    replicate_deletion: p.deletion,
    deletion: p.deletion,
    override: p.override,
    enabled: p.enabled,
    creation_time: p.creation_time,
    update_time: p.update_time,
    speed: p.speed,
    copy_by_chunk: p.copy_by_chunk,
    single_active_replication: p.single_active_replication,
  };
}

function renderExecution(e: ExecutionRec): Record<string, unknown> {
  return { ...e };
}

/** The policy as Harbor's checks read it. */
function policyInput(body: z.infer<typeof ReplicationPolicyBody>): PolicyInput {
  return {
    name: body.name ?? '',
    srcRegistryId: body.src_registry?.id ?? 0,
    destRegistryId: body.dest_registry?.id ?? 0,
    destNamespace: body.dest_namespace ?? '',
    filters: body.filters ?? [],
    trigger: body.trigger
      ? { type: body.trigger.type ?? '', ...(body.trigger.trigger_settings ? { cron: body.trigger.trigger_settings.cron ?? '' } : {}) }
      : undefined,
  };
}

/**
 * handler/replication.go and controller/replication validatePolicy: the speed as go-swagger binds it, the
 * policy's Validate, then both registries must exist, then the row's columns.
 */
function policyFromBody(env: ApiEnv, body: z.infer<typeof ReplicationPolicyBody>, existing: PolicyRec | undefined, creator: string): PolicyRec {
  const speedRefusal = body.speed === undefined || body.speed === null ? undefined : policySpeedRefusal(body.speed);
  if (speedRefusal) throw refused(speedRefusal);
  const input = policyInput(body);
  const invalid = policyValidateRefusal(input);
  if (invalid) throw refused(invalid);
  const src = input.srcRegistryId!;
  const dst = input.destRegistryId!;
  for (const id of [src, dst]) if (id !== 0 && !env.state.registries.some((r) => r.id === id)) throw notFound(`registry ${id} not found`);
  const stored = policyStoredRefusal(input);
  if (stored) throw refused(stored);
  const name = input.name!;
  const filters = (body.filters ?? []).map((f) => ({ type: f.type ?? '', value: f.value, ...(f.decoration ? { decoration: f.decoration } : {}) }));
  let trigger: PolicyRec['trigger'];
  if (body.trigger) {
    const type = body.trigger.type ?? '';
    trigger = { type, trigger_settings: { cron: type === 'scheduled' ? (body.trigger.trigger_settings?.cron ?? '') : '' } };
  }
  const now = iso(env.now());
  // Harbor reads `deletion` on write; `replicate_deletion` is ignored. Negative speeds become 0.
  return {
    id: existing?.id ?? 0,
    name,
    description: body.description ?? '',
    creator: existing?.creator ?? creator,
    src_registry_id: src,
    dest_registry_id: dst,
    dest_namespace: body.dest_namespace ?? '',
    dest_namespace_replace_count: body.dest_namespace_replace_count ?? -1,
    filters,
    ...(trigger ? { trigger } : {}),
    deletion: body.deletion ?? false,
    override: body.override ?? false,
    enabled: body.enabled ?? false,
    speed: body.speed === undefined || body.speed === null ? (existing?.speed ?? 0) : Math.max(0, body.speed),
    copy_by_chunk: body.copy_by_chunk ?? existing?.copy_by_chunk ?? false,
    single_active_replication: body.single_active_replication ?? existing?.single_active_replication ?? false,
    creation_time: existing?.creation_time ?? now,
    update_time: now,
  };
}

function listPolicies(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const q = parseQ(req.query.get('q'));
  let items = [...env.state.policies];
  const name = req.query.get('name');
  if (name) items = items.filter((p) => p.name.includes(name));
  const qn = q.get('name');
  if (qn) items = items.filter((p) => matches(p.name, qn));
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/replication/policies');
  page.body = (page.body as PolicyRec[]).map((p) => renderPolicy(env, p));
  return page;
}

function createPolicy(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(ReplicationPolicyBody, req.body);
  const p = policyFromBody(env, body, undefined, req.principal.kind === 'admin' ? req.principal.username : 'admin');
  if (env.state.policies.some((x) => x.name === p.name)) throw conflict(`policy ${p.name} already exists`);
  p.id = env.state.nextId.policy++;
  env.state.policies.push(p);
  return created(`${API_BASE}/replication/policies/${p.id}`);
}

function updatePolicy(env: ApiEnv, req: ApiRequest, existing: PolicyRec): Reply {
  requireAdmin(req.principal);
  const body = parse(ReplicationPolicyBody, req.body);
  const p = policyFromBody(env, body, existing, existing.creator);
  if (env.state.policies.some((x) => x.name === p.name && x.id !== existing.id)) throw conflict(`policy ${p.name} already exists`);
  Object.assign(existing, p);
  return done();
}

function deletePolicy(env: ApiEnv, req: ApiRequest, p: PolicyRec): Reply {
  requireAdmin(req.principal);
  if (env.state.executions.some((e) => e.policy_id === p.id && e.status === 'InProgress'))
    throw precondition(`the policy ${p.id} has running executions, can not be deleted`);
  env.state.policies = env.state.policies.filter((x) => x.id !== p.id);
  return done();
}

function listExecutions(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  let items = [...env.state.executions];
  const pid = req.query.get('policy_id');
  if (pid) items = items.filter((e) => String(e.policy_id) === pid);
  const status = req.query.get('status');
  if (status) items = items.filter((e) => e.status === status);
  const trigger = req.query.get('trigger');
  if (trigger) items = items.filter((e) => e.trigger === trigger);
  items.sort((a, b) => b.id - a.id);
  const page = paginate(items, req.query, '/replication/executions');
  page.body = (page.body as ExecutionRec[]).map(renderExecution);
  return page;
}

function startExecution(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(StartExecutionBody, req.body);
  const policy = policyOrFail(env.state, body.policy_id ?? 0);
  const e = runPolicy(env, policy, req.query.get('trigger') === 'scheduled' ? 'scheduled' : 'manual');
  return created(`${API_BASE}/replication/executions/${e.id}`);
}

/**
 * An artifact was pushed into this Harbor (its registry's notification): every enabled event-based policy that
 * pushes from here and whose name filter matches the repository runs, as Harbor's event-based trigger does.
 */
export function replicateOnPush(env: ApiEnv, repository: string): number[] {
  const matches = (p: PolicyRec) =>
    p.filters
      .filter((f) => f.type === 'name')
      .every((f) => (Array.isArray(f.value) ? f.value : [f.value]).some((v) => globToRegExp(String(v)).test(repository)));
  return env.state.policies
    .filter((p) => p.enabled && p.trigger?.type === 'event_based' && p.dest_registry_id && matches(p))
    .map((p) => runPolicy(env, p, 'event_based').id);
}

/** Record an execution of `policy` and run it. */
function runPolicy(env: ApiEnv, policy: PolicyRec, trigger: string): ExecutionRec {
  const e: ExecutionRec = {
    id: env.state.nextId.execution++,
    policy_id: policy.id,
    status: 'InProgress',
    status_text: '',
    trigger,
    start_time: iso(env.now()),
    total: 0,
    failed: 0,
    succeed: 0,
    in_progress: 0,
    stopped: 0,
  };
  env.state.executions.push(e);
  env.runExecution(policy, e);
  return e;
}

export const REPLICATION_ROUTES: Route[] = [
  { pattern: /^\/replication\/policies$/, methods: { GET: listPolicies, POST: createPolicy } },
  {
    pattern: /^\/replication\/policies\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        return ok(renderPolicy(env, policyOrFail(env.state, idParam(m[1]!, 'id'))));
      },
      PUT: (env, req, m) => updatePolicy(env, req, policyOrFail(env.state, idParam(m[1]!, 'id'))),
      DELETE: (env, req, m) => deletePolicy(env, req, policyOrFail(env.state, idParam(m[1]!, 'id'))),
    },
  },
  { pattern: /^\/replication\/executions$/, methods: { GET: listExecutions, POST: startExecution } },
  {
    pattern: /^\/replication\/executions\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        const e = env.state.executions.find((x) => x.id === idParam(m[1]!, 'id'));
        if (!e) throw notFound(`execution ${m[1]} not found`);
        return ok(renderExecution(e));
      },
    },
  },
];
