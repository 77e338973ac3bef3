// Harbor's robot accounts (`/robots`): system and project robots, names shown with Harbor's prefix,
// secrets generated once and stored hashed (never read back), secret refresh or pinning, expiry by duration.
import { randomBytes } from 'node:crypto';
import { RobotCreateBody, RobotSecBody, RobotUpdateBody, type RobotRec } from '../schema.js';
import { robotNameRefusal, robotSecretRefusal, robotStoredRefusal, robotValidateRefusal } from '../../../../model/constraints/harbor-api-checks.js';
import { badRequest, conflict, hashSecret, iso, notFound, randomRobotSecret, refused, robotOrFail, validateRobotPermissions } from '../store.js';
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

function robotDisplayName(env: ApiEnv, r: RobotRec): string {
  return `${env.robotPrefix}${r.name}`;
}

/** Robots never read back their secret. */
function renderRobot(env: ApiEnv, r: RobotRec): Record<string, unknown> {
  return {
    id: r.id,
    name: robotDisplayName(env, r),
    description: r.description,
    level: r.level,
    duration: r.duration,
    editable: true,
    disable: r.disable,
    expires_at: r.expires_at,
    permissions: r.permissions.map((p) => ({
      kind: p.kind,
      namespace: p.namespace,
      access: p.access.map((a) => ({ resource: a.resource, action: a.action, ...(a.effect ? { effect: a.effect } : {}) })),
    })),
    creator_type: 'local',
    creator_ref: 1,
    creation_time: r.creation_time,
    update_time: r.update_time,
  };
}

function listRobots(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const q = parseQ(req.query.get('q'));
  const level = q.get('Level') ?? q.get('level');
  let items = [...env.state.robots];
  if (level) {
    if (level.value !== 'system' && level.value !== 'project') throw badRequest('bad request error level input');
    if (level.value === 'project') {
      const pid = q.get('ProjectID') ?? q.get('project_id');
      if (!pid) throw badRequest('must with project ID when to query project robots');
      if (!/^\d+$/.test(pid.value)) throw badRequest('Project ID must be int type.');
      items = items.filter((r) => r.level === 'project' && String(r.project_id) === pid.value);
    } else items = items.filter((r) => r.level === 'system');
  } else items = items.filter((r) => r.project_id === 0);
  const qn = q.get('name');
  if (qn) items = items.filter((r) => matches(r.name, qn) || matches(robotDisplayName(env, r), qn));
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/robots');
  page.body = (page.body as RobotRec[]).map((r) => renderRobot(env, r));
  return page;
}

function expiresAt(now: Date, duration: number): number {
  return duration === -1 ? -1 : Math.floor(now.getTime() / 1000) + duration * 86400;
}

/** handler/robot.go CreateRobot: validateName, validate, the project of a project robot, the row, then the permissions' scopes. */
function createRobot(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotCreateBody, req.body);
  const name = body.name ?? '';
  const badName = robotNameRefusal(name);
  if (badName) throw refused(badName);
  // RobotCreate.duration is a plain int64: absent reads as 0, which validate refuses.
  const duration = body.duration ?? 0;
  const invalid = robotValidateRefusal(duration, body.level ?? '', body.permissions);
  if (invalid) throw refused(invalid);
  let stored = name;
  let projectId = 0;
  if (body.level === 'project') {
    const ns = body.permissions![0]!.namespace ?? '';
    const proj = env.state.projects.find((p) => p.name === ns);
    if (!proj) throw notFound(`project ${ns} not found`);
    stored = `${proj.name}+${name}`;
    projectId = proj.project_id;
  }
  const row = robotStoredRefusal(stored, body.description ?? '');
  if (row) throw refused(row);
  if (env.state.robots.some((r) => r.name === stored)) throw conflict(`robot account ${projectId}:${stored} already exists`);
  const permissions = validateRobotPermissions(env.state, body.level, duration, body.permissions);
  // The secret in the request is ignored: Harbor generates one and returns it once.
  const secret = randomRobotSecret();
  const salt = randomBytes(8).toString('hex');
  const now = env.now();
  const r: RobotRec = {
    id: env.state.nextId.robot++,
    name: stored,
    description: body.description ?? '',
    level: body.level as 'system' | 'project',
    project_id: projectId,
    duration,
    expires_at: expiresAt(now, duration),
    disable: body.disable ?? false,
    permissions,
    salt,
    secret_hash: hashSecret(secret, salt),
    creation_time: iso(now),
    update_time: iso(now),
  };
  env.state.robots.push(r);
  return created(`${API_BASE}/robots/${r.id}`, { id: r.id, name: robotDisplayName(env, r), secret, creation_time: r.creation_time, expires_at: r.expires_at });
}

/** handler/robot.go updateV2Robot: a missing duration keeps the robot's, validate, level and name unchanged, then the row. */
function updateRobot(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotUpdateBody, req.body);
  const duration = body.duration ?? r.duration;
  const invalid = robotValidateRefusal(duration, body.level ?? '', body.permissions);
  if (invalid) throw refused(invalid);
  if (body.level !== r.level || body.name !== robotDisplayName(env, r)) throw badRequest('cannot update the level or name of robot');
  const row = robotStoredRefusal(r.name, body.description ?? '');
  if (row) throw refused(row);
  const permissions = validateRobotPermissions(env.state, body.level, duration, body.permissions);
  if (duration !== r.duration) {
    r.duration = duration;
    r.expires_at = duration === -1 ? -1 : Math.floor(new Date(r.creation_time).getTime() / 1000) + duration * 86400;
  }
  r.description = body.description ?? '';
  r.disable = body.disable ?? false;
  r.permissions = permissions;
  r.update_time = iso(env.now());
  return done();
}

function refreshRobotSecret(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotSecBody, req.body);
  let reply: Record<string, string> = {};
  let secret: string;
  if (body.secret) {
    const weak = robotSecretRefusal(body.secret);
    if (weak) throw refused(weak);
    secret = body.secret;
  } else {
    secret = randomRobotSecret();
    reply = { secret };
  }
  r.salt = randomBytes(8).toString('hex');
  r.secret_hash = hashSecret(secret, r.salt);
  r.update_time = iso(env.now());
  return { status: 200, body: reply, mutated: true };
}

function deleteRobot(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  env.state.robots = env.state.robots.filter((x) => x.id !== r.id);
  return done();
}

export const ROBOT_ROUTES: Route[] = [
  { pattern: /^\/robots$/, methods: { GET: listRobots, POST: createRobot } },
  {
    pattern: /^\/robots\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        return ok(renderRobot(env, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))));
      },
      PUT: (env, req, m) => updateRobot(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
      PATCH: (env, req, m) => refreshRobotSecret(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
      DELETE: (env, req, m) => deleteRobot(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
    },
  },
];
