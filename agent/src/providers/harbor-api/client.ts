// A Harbor v2.15 API client: the calls the harbor-api provider makes, one method per endpoint, over
// HarborHttp (auth, retries, paging, zod-checked answers) with its failures as typed HarborApiErrors
// (errors.ts). The keyed fingerprint of a secret is computed here, with the admin password.
import { createHmac } from 'node:crypto';
import { HarborApiError, isHarborError } from './errors.js';
import { API_PREFIX, HarborHttp, idFromLocation, type HarborClientOptions } from './http.js';
import {
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

/** What the provider needs from Harbor (tests may pass their own). */
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

export class HarborApiClient implements HarborApi {
  readonly baseUrl: string;
  private readonly http: HarborHttp;

  constructor(opts: HarborClientOptions) {
    this.http = new HarborHttp(opts);
    this.baseUrl = this.http.baseUrl;
  }

  async fingerprint(kind: string, name: string, secret: string): Promise<string> {
    const key = await this.http.adminPassword();
    return createHmac('sha256', `mirrornet:${key}`).update(`${kind}\n${name}\n${secret}`).digest('hex').slice(0, 16);
  }

  async ping(): Promise<string> {
    return (await this.http.request('GET', '/ping')).text;
  }

  async health(): Promise<Health> {
    return this.http.parse(Health, await this.http.request('GET', '/health'), 'GET', '/health');
  }

  async systemInfo(): Promise<SystemInfo> {
    return this.http.parse(SystemInfo, await this.http.request('GET', '/systeminfo'), 'GET', '/systeminfo');
  }

  listProjects(): Promise<Project[]> {
    return this.http.listAll('/projects', Project);
  }

  async getProject(name: string): Promise<Project | undefined> {
    const path = `/projects/${encodeURIComponent(name)}`;
    try {
      return this.http.parse(Project, await this.http.request('GET', path, { headers: { 'X-Is-Resource-Name': 'true' } }), 'GET', path);
    } catch (err) {
      if (isHarborError(err, 'not-found')) return undefined;
      throw err;
    }
  }

  async projectExists(name: string): Promise<boolean> {
    try {
      await this.http.request('HEAD', `/projects?project_name=${encodeURIComponent(name)}`);
      return true;
    } catch (err) {
      if (isHarborError(err, 'not-found')) return false;
      throw err;
    }
  }

  async createProject(req: ProjectReq): Promise<number | undefined> {
    const name = req.project_name ?? '';
    return (await this.http.create('/projects', req, async () => (await this.getProject(name))?.project_id)).id;
  }

  async updateProject(name: string, req: ProjectReq): Promise<void> {
    await this.http.request('PUT', `/projects/${encodeURIComponent(name)}`, { body: req, headers: { 'X-Is-Resource-Name': 'true' } });
  }

  deleteProject(name: string): Promise<boolean> {
    return this.http.remove(`/projects/${encodeURIComponent(name)}`, { 'X-Is-Resource-Name': 'true' });
  }

  listQuotas(query: { reference?: string; referenceId?: number } = {}): Promise<Quota[]> {
    return this.http.listAll('/quotas', Quota, {
      ...(query.reference ? { reference: query.reference } : {}),
      ...(query.referenceId !== undefined ? { reference_id: String(query.referenceId) } : {}),
    });
  }

  async updateQuota(id: number, hard: Record<string, number>): Promise<void> {
    await this.http.request('PUT', `/quotas/${id}`, { body: { hard } });
  }

  listRegistries(): Promise<Registry[]> {
    return this.http.listAll('/registries', Registry);
  }

  private async registryIdByName(name: string): Promise<number | undefined> {
    const found = await this.http.listAll('/registries', Registry, { q: `name=${name}` });
    return found.find((r) => r.name === name)?.id;
  }

  async createRegistry(req: RegistryCreateReq): Promise<number> {
    const { id } = await this.http.create('/registries', req, () => this.registryIdByName(req.name));
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
    await this.http.request('PUT', `/registries/${id}`, { body: req });
  }

  deleteRegistry(id: number): Promise<boolean> {
    return this.http.remove(`/registries/${id}`);
  }

  listReplicationPolicies(): Promise<ReplicationPolicy[]> {
    return this.http.listAll('/replication/policies', ReplicationPolicy);
  }

  private async policyIdByName(name: string): Promise<number | undefined> {
    const found = await this.http.listAll('/replication/policies', ReplicationPolicy, { q: `name=${name}` });
    return found.find((p) => p.name === name)?.id;
  }

  async createReplicationPolicy(req: ReplicationPolicyReq): Promise<number> {
    const { id } = await this.http.create('/replication/policies', req, () => this.policyIdByName(req.name));
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
    await this.http.request('PUT', `/replication/policies/${id}`, { body: { ...req, id } });
  }

  deleteReplicationPolicy(id: number): Promise<boolean> {
    return this.http.remove(`/replication/policies/${id}`);
  }

  async startReplication(policyId: number): Promise<number | undefined> {
    const res = await this.http.request('POST', '/replication/executions', { body: { policy_id: policyId }, retry: 'once' });
    return idFromLocation(res.headers.get('location'));
  }

  listReplicationExecutions(policyId?: number): Promise<ReplicationExecution[]> {
    return this.http.listAll('/replication/executions', ReplicationExecution, policyId !== undefined ? { policy_id: String(policyId) } : {});
  }

  listRobots(): Promise<Robot[]> {
    return this.http.listAll('/robots', Robot);
  }

  async createRobot(req: RobotCreateReq): Promise<{ id: number; name: string; secret?: string }> {
    let fullName: string | undefined;
    const lookup = async (): Promise<number | undefined> => {
      const found = await this.http.listAll('/robots', Robot, { q: `name=${req.name}` });
      const hit = found.find((r) => r.name === req.name || r.name.endsWith(`$${req.name}`));
      fullName = hit?.name;
      return hit?.id;
    };
    const { id, res } = await this.http.create('/robots', req, lookup);
    if (res && res.text.trim()) {
      const created = this.http.parse(RobotCreated, res, 'POST', `${API_PREFIX}/robots`);
      return { id: created.id, name: created.name, ...(created.secret ? { secret: created.secret } : {}) };
    }
    if (id === undefined)
      throw new HarborApiError('POST', `${API_PREFIX}/robots`, 201, 'INVALID_RESPONSE', 'the robot cannot be found after it was created', this.baseUrl, 1);
    return { id, name: fullName ?? req.name };
  }

  async updateRobot(id: number, req: RobotUpdateReq): Promise<void> {
    await this.http.request('PUT', `/robots/${id}`, { body: req });
  }

  async refreshRobotSecret(id: number, secret?: string): Promise<string | undefined> {
    const res = await this.http.request('PATCH', `/robots/${id}`, { body: secret === undefined ? {} : { secret } });
    if (!res.text.trim()) return undefined;
    const parsed = this.http.parse(RobotSec, res, 'PATCH', `${API_PREFIX}/robots/${id}`);
    return parsed.secret || undefined;
  }

  deleteRobot(id: number): Promise<boolean> {
    return this.http.remove(`/robots/${id}`);
  }
}
