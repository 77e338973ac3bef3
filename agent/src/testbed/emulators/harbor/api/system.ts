// Harbor's unauthenticated system endpoints: `/ping`, `/health` (every component healthy) and
// `/systeminfo` (more fields for a signed-in caller).
import { iso } from '../store.js';
import { ok, type ApiEnv, type ApiRequest, type Reply, type Route } from './common.js';

function health(): Reply {
  const components = ['core', 'database', 'jobservice', 'portal', 'redis', 'registry', 'registryctl', 'trivy'].map((name) => ({ name, status: 'healthy' }));
  return ok({ status: 'healthy', components });
}

function systemInfo(env: ApiEnv, req: ApiRequest): Reply {
  const base: Record<string, unknown> = {
    auth_mode: 'db_auth',
    primary_auth_mode: false,
    banner_message: '',
    self_registration: false,
    harbor_version: `${env.version}-emulator`,
    current_time: iso(env.now()),
    oidc_provider_name: '',
  };
  if (req.principal.kind === 'anonymous') return ok(base);
  const host = (() => {
    try {
      return new URL(env.externalUrl).host;
    } catch {
      return env.externalUrl;
    }
  })();
  return ok({
    ...base,
    external_url: env.externalUrl,
    registry_url: host,
    project_creation_restriction: 'everyone',
    has_ca_root: false,
    registry_storage_provider_name: 'filesystem',
    read_only: false,
    notification_enable: true,
  });
}

export const SYSTEM_ROUTES: Route[] = [
  { pattern: /^\/ping$/, methods: { GET: () => ({ status: 200, text: 'Pong' }) } },
  { pattern: /^\/health$/, methods: { GET: () => health() } },
  { pattern: /^\/systeminfo$/, methods: { GET: (env, req) => systemInfo(env, req) } },
];
