// PostgreSQL bootstrap for the core's Harbor: one LOGIN role, one database owned by that role, UTF8.
// Harbor >= 2.9 needs exactly that (no notary/clair databases). Idempotent: read looks everything up, diff
// is pure, apply guards CREATE DATABASE (which cannot run in a transaction) with a look-up in pg_database.
// Identifiers are quoted with pg's escapeIdentifier; the password never travels as plain SQL text: apply
// sends a SCRAM-SHA-256 verifier computed here (like psql's \password), so server logs never see it.
// Admin connection settings are an input (connector), never part of the repository.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import type { Desired } from '../../desired/types.js';
import { messageOf, MirrornetError } from '../../errors.js';
import { describeNetworkError, networkSentence } from '../../host/network.js';
import { MASK, SecretError } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';

const { escapeIdentifier, escapeLiteral } = pg;

/** The part of pg.Client the provider uses (tests may pass anything shaped like it). */
interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}

export interface PostgresConnector {
  /** A connected admin client (superuser, or CREATEROLE + CREATEDB) on the server of the instance's database. */
  admin(instance: HarborInstance): Promise<PgClientLike>;
  /**
   * A connected client logged in as the instance's role with `password`, to the instance's database. Used to
   * check the password when pg_authid is not readable (managed PostgreSQL without a real superuser).
   */
  login?(instance: HarborInstance, password: string): Promise<PgClientLike>;
}

// ---- SCRAM-SHA-256 / md5 verifiers --------------------------------------------------------------------

const b64 = (b: Buffer) => b.toString('base64');

function scramKeys(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return { storedKey: createHash('sha256').update(clientKey).digest(), serverKey: createHmac('sha256', salted).update('Server Key').digest() };
}

/** The verifier PostgreSQL stores for a SCRAM-SHA-256 password (what PQencryptPasswordConn sends). */
export function scramSha256Verifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  const salt = opts.salt ?? randomBytes(16);
  const iterations = opts.iterations ?? 4096;
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

const eq = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Whether a stored password (pg_authid.rolpassword) is `password`: true, false, or undefined when the format
 * is unknown. Both the raw password and its NFKC form are tried (the server SASLpreps passwords it hashes).
 */
export function verifierMatches(stored: string | null, username: string, password: string): boolean | undefined {
  if (stored === null) return false;
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(stored);
  if (m) {
    const [iterations, salt, storedKey, serverKey] = [Number(m[1]), Buffer.from(m[2]!, 'base64'), Buffer.from(m[3]!, 'base64'), Buffer.from(m[4]!, 'base64')];
    return [...new Set([password, password.normalize('NFKC')])].some((p) => {
      const k = scramKeys(p, salt, iterations);
      return eq(k.storedKey, storedKey) && eq(k.serverKey, serverKey);
    });
  }
  if (/^md5[0-9a-f]{32}$/.test(stored)) {
    return eq(
      Buffer.from(stored),
      Buffer.from(
        `md5${createHash('md5')
          .update(password + username, 'utf8')
          .digest('hex')}`,
      ),
    );
  }
  return undefined;
}

// ---- read / diff / apply -------------------------------------------------------------------------------

type PasswordStatus = 'same' | 'differs' | 'unknown';

export interface ActualPostgres {
  username?: string;
  dbName?: string;
  role?: { exists: boolean; canLogin: boolean; password: PasswordStatus };
  database?: { exists: boolean; owner?: string; encoding?: string };
}

interface RoleData {
  kind: 'role';
  username: string;
  create: boolean;
  login: boolean;
  password: boolean;
}

interface DatabaseData {
  kind: 'database';
  dbName: string;
  owner: string;
  create: boolean;
}

/** The SQLSTATE of a statement or login PostgreSQL refused (pg's DatabaseError, or one explained already). */
function pgCode(err: unknown): string | undefined {
  if (err instanceof pg.DatabaseError || err instanceof PostgresError) return err.code;
  return undefined;
}

/** A server that stopped answering must not hold the agent at the goodbye either: end() is waited for at most 5 s. */
async function endClient(client: PgClientLike): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 5000).unref()))]);
  clearTimeout(timer);
}

async function withClient<T>(client: PgClientLike, fn: (c: PgClientLike) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await endClient(client);
  }
}

async function probeLogin(connector: PostgresConnector, instance: HarborInstance, password: string): Promise<PasswordStatus> {
  if (!connector.login) return 'unknown';
  let client: PgClientLike;
  try {
    client = await connector.login(instance, password);
  } catch (err) {
    return pgCode(err) === '28P01' ? 'differs' : 'unknown';
  }
  await endClient(client);
  return 'same';
}

async function readPostgres(connector: PostgresConnector, ctx: ProviderContext, desired: Desired): Promise<ActualPostgres> {
  const instance = desired.harbor?.instance;
  if (!instance) return {};
  const { username, dbName } = instance.database;
  let password: string | undefined;
  try {
    password = await ctx.secrets.resolve(instance.database.password);
  } catch (err) {
    if (!(err instanceof SecretError)) throw err;
    ctx.notes.push(`postgres: ${err.userMessage} The plan cannot tell whether the role ${username} has the current password.`);
  }
  const actual = await withClient(await connector.admin(instance), async (c) => {
    let row: { rolcanlogin: boolean; rolpassword?: string | null } | undefined;
    let verifierReadable = true;
    try {
      row = (await c.query('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [username])).rows[0] as typeof row;
    } catch (err) {
      if (pgCode(err) !== '42501') throw err;
      verifierReadable = false;
      row = (await c.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [username])).rows[0] as typeof row;
    }
    const db = (
      await c.query('SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = $1', [dbName])
    ).rows[0] as { owner: string; encoding: string } | undefined;
    let status: PasswordStatus = 'unknown';
    if (row && password !== undefined && verifierReadable) {
      const m = verifierMatches(row.rolpassword ?? null, username, password);
      status = m === undefined ? 'unknown' : m ? 'same' : 'differs';
    }
    return {
      username,
      dbName,
      role: { exists: row !== undefined, canLogin: row?.rolcanlogin ?? false, password: status },
      database: db ? { exists: true, owner: db.owner, encoding: db.encoding } : { exists: false },
      probe: !!row && password !== undefined && !verifierReadable && row.rolcanlogin && !!db,
    };
  });
  if (actual.probe && password !== undefined) actual.role.password = await probeLogin(connector, instance, password);
  if (actual.role.exists && actual.role.password === 'unknown' && password !== undefined) {
    ctx.notes.push(`postgres: cannot check the password of the role ${username} (pg_authid is not readable and a login check was not possible).`);
  }
  if (actual.database.exists && actual.database.encoding !== 'UTF8') {
    ctx.notes.push(
      `postgres: the database ${dbName} has encoding ${actual.database.encoding}, not UTF8. mirrornet never recreates a database: dump it, ` +
        `recreate it with ENCODING 'UTF8' and restore.`,
    );
  }
  const { probe: _probe, ...out } = actual;
  return out;
}

/** Pure. Never drops a role or a database. */
function diffPostgres(desired: Desired, actual: ActualPostgres): Change[] {
  const instance = desired.harbor?.instance;
  if (!instance) return [];
  const { username, dbName, password: ref } = instance.database;
  const changes: Change[] = [];
  const roleId = `role:${username}`;
  const dbId = `database:${dbName}`;
  const role = actual.role ?? { exists: false, canLogin: false, password: 'unknown' as const };
  const roleAfter = { role: username, login: true, password: `${MASK} ${ref}` };
  if (!role.exists) {
    const data: RoleData = { kind: 'role', username, create: true, login: true, password: true };
    changes.push({ provider: 'postgres', id: roleId, action: 'create', reason: `login role ${username} does not exist`, after: roleAfter, data });
  } else {
    const reasons: string[] = [];
    if (!role.canLogin) reasons.push(`role ${username} cannot log in`);
    if (role.password === 'differs') reasons.push(`the password of role ${username} is not the secret ${ref} (rotated?)`);
    if (reasons.length) {
      // When the role is touched anyway and its password could not be checked, set it too.
      const data: RoleData = { kind: 'role', username, create: false, login: !role.canLogin, password: role.password !== 'same' };
      changes.push({
        provider: 'postgres',
        id: roleId,
        action: 'update',
        reason: reasons.join('; '),
        before: { role: username, login: role.canLogin, password: MASK },
        after: roleAfter,
        data,
      });
    } else {
      changes.push({ provider: 'postgres', id: roleId, action: 'noop', reason: 'in sync', after: roleAfter });
    }
  }
  const db = actual.database ?? { exists: false };
  const dbAfter = { database: dbName, owner: username, encoding: 'UTF8' };
  if (!db.exists) {
    const data: DatabaseData = { kind: 'database', dbName, owner: username, create: true };
    changes.push({ provider: 'postgres', id: dbId, action: 'create', reason: `database ${dbName} does not exist`, after: dbAfter, data });
  } else if (db.owner !== username) {
    const data: DatabaseData = { kind: 'database', dbName, owner: username, create: false };
    changes.push({
      provider: 'postgres',
      id: dbId,
      action: 'update',
      reason: `database ${dbName} is owned by ${db.owner}, not ${username}`,
      before: { database: dbName, owner: db.owner, encoding: db.encoding },
      after: dbAfter,
      data,
    });
  } else {
    changes.push({
      provider: 'postgres',
      id: dbId,
      action: 'noop',
      reason: db.encoding === 'UTF8' ? 'in sync' : `in sync except its encoding ${db.encoding} (see the note)`,
      after: dbAfter,
    });
  }
  return changes;
}

/**
 * A non-superuser admin (managed PostgreSQL: CREATEROLE + CREATEDB) may only create or hand over a database
 * owned by a role it is a member of: grant that membership first. A superuser needs nothing.
 */
async function ensureMembership(c: PgClientLike, owner: string): Promise<void> {
  const me = (await c.query("SELECT rolsuper, pg_has_role(current_user, $1, 'MEMBER') AS member FROM pg_roles WHERE rolname = current_user", [owner]))
    .rows[0] as { rolsuper: boolean; member: boolean } | undefined;
  if (me && !me.rolsuper && !me.member) await c.query(`GRANT ${escapeIdentifier(owner)} TO CURRENT_USER`);
}

async function applyPostgres(connector: PostgresConnector, ctx: ProviderContext, changes: Change[], desired: Desired): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { applied: [], deleted: [] };
  const pending = changes.filter((c) => c.action === 'create' || c.action === 'update');
  const instance = desired.harbor?.instance;
  if (!pending.length) return outcome;
  if (!instance) throw new Error('postgres: changes to apply but no HarborInstance in the desired state');
  // Roles first: a database's owner must exist.
  const ordered = [...pending].sort(
    (a, b) => Number((a.data as RoleData | DatabaseData).kind !== 'role') - Number((b.data as RoleData | DatabaseData).kind !== 'role'),
  );
  await withClient(await connector.admin(instance), async (c) => {
    for (const change of ordered) {
      const d = change.data as RoleData | DatabaseData;
      if (d.kind === 'role') {
        const role = escapeIdentifier(d.username);
        const parts = d.login || d.create ? ['LOGIN'] : [];
        if (d.password) parts.push(`PASSWORD ${escapeLiteral(scramSha256Verifier(await ctx.secrets.resolve(instance.database.password)))}`);
        const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [d.username])).rows.length > 0;
        if (!exists)
          await c.query(`CREATE ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ${parts.filter((p) => p !== 'LOGIN').join(' ')}`.trimEnd());
        else if (parts.length) await c.query(`ALTER ROLE ${role} WITH ${parts.join(' ')}`);
      } else {
        const db = escapeIdentifier(d.dbName);
        const owner = escapeIdentifier(d.owner);
        // CREATE DATABASE cannot run inside a transaction block: no BEGIN here; look it up right before.
        const row = (await c.query('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [d.dbName])).rows[0] as
          { owner: string } | undefined;
        if (!row || row.owner !== d.owner) await ensureMembership(c, d.owner);
        if (!row) await c.query(`CREATE DATABASE ${db} WITH OWNER ${owner} ENCODING 'UTF8' TEMPLATE template0`);
        else if (row.owner !== d.owner) await c.query(`ALTER DATABASE ${db} OWNER TO ${owner}`);
      }
      ctx.log.info({ action: change.action, id: change.id }, 'change applied');
      outcome.applied.push(change);
    }
  });
  return outcome;
}

export function createPostgresProvider(connector: PostgresConnector): Provider<ActualPostgres> {
  return {
    id: 'postgres',
    wants: (desired) => desired.harbor !== undefined,
    read: (ctx, desired) => readPostgres(connector, ctx, desired),
    diff: (desired, actual) => diffPostgres(desired, actual),
    apply: (ctx, changes, desired) => applyPostgres(connector, ctx, changes, desired),
  };
}

// ---- a connector built on pg.Client --------------------------------------------------------------------

interface PgServer {
  host: string;
  port: number;
  /** sslmode as libpq spells it; default prefer-like `disable`. */
  sslMode?: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  connectTimeoutMs?: number;
  /** How long one statement may take, on the server (statement_timeout) and waiting for its answer (default 60 s). */
  queryTimeoutMs?: number;
}

export interface PgAdmin extends PgServer {
  user: string;
  /** Resolved when a connection is opened (e.g. from a secret reference); never stored. */
  password?: () => Promise<string>;
  database?: string;
}

function sslOf(mode: PgServer['sslMode']): pg.ClientConfig['ssl'] {
  if (!mode || mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  return mode === 'require' ? { rejectUnauthorized: false } : { rejectUnauthorized: true };
}

/** postgres://user@host:port/db?sslmode=... (no password in the URL: pass it as a secret). */
export function adminFromUrl(url: string, password?: () => Promise<string>): PgAdmin {
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`not a postgres:// URL: ${u.protocol}`);
  if (u.password) throw new Error('the PostgreSQL admin URL must not contain a password: give it as a secret reference');
  const sslMode = (u.searchParams.get('sslmode') ?? undefined) as PgServer['sslMode'];
  return {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    ...(sslMode ? { sslMode } : {}),
    ...(password ? { password } : {}),
  };
}

async function connectClient(config: pg.ClientConfig, statementTimeoutMs: number): Promise<PgClientLike> {
  const client = new pg.Client(config);
  // A connection error after connect (server restart) must not crash the agent.
  client.on('error', () => undefined);
  await client.connect();
  // Set after the login, not as a startup parameter: a pooler in front of PostgreSQL (PgBouncer) refuses
  // startup parameters it does not know.
  await client.query(`SET statement_timeout = ${Math.floor(statementTimeoutMs)}`);
  return client;
}

/** PostgreSQL refused or could not be reached, said as where, why and what to do; `code` is the SQLSTATE or network code. */
class PostgresError extends MirrornetError {
  constructor(
    userMessage: string,
    readonly code: string | undefined,
    opts: { cause: unknown },
  ) {
    super(userMessage, { cause: opts.cause, message: `PostgreSQL: ${messageOf(opts.cause)}` });
  }
}

/** What the server said when it refused the admin's connection (SQLSTATE), as a sentence that says what to do. */
function refusedLogin(at: string, user: string, database: string, err: unknown): string | undefined {
  const message = messageOf(err);
  switch (pgCode(err)) {
    case '28P01':
      return (
        `PostgreSQL at ${at} refused the login of ${user}: the password is wrong. Check what --pg-admin-password ` +
        '(or MIRRORNET_PG_ADMIN_PASSWORD) resolves to on this host.'
      );
    case '28000':
      return `PostgreSQL at ${at} does not let ${user} log in from this host (${message}). Add a pg_hba.conf entry for this host, or use another user.`;
    case '3D000':
      return `PostgreSQL at ${at} has no database ${database}: name an existing one in --pg-admin-url (usually postgres).`;
    case '53300':
    case '57P03':
      return `PostgreSQL at ${at} takes no connection now (${message}); the next run tries again.`;
  }
  if (/password must be a string/i.test(message)) {
    return `PostgreSQL at ${at} asks ${user} for a password and none was given: pass --pg-admin-password env:NAME or file:/path.`;
  }
  if (/does not support SSL/i.test(message)) {
    return `PostgreSQL at ${at} does not accept TLS, but --pg-admin-url asks for it: use sslmode=disable there, or enable ssl on the server.`;
  }
  return undefined;
}

/** A failure of the admin connection or of a statement, as a PostgresError when the server or the network explains it. */
function explainPg(at: string, user: string, database: string, err: unknown): unknown {
  if (err instanceof MirrornetError) return err;
  const message = err instanceof Error ? err.message : '';
  const network =
    describeNetworkError('PostgreSQL', at, err)?.userMessage ??
    (/connection timeout|timeout expired|Query read timeout/i.test(message) ? networkSentence('PostgreSQL', at, 'ETIMEDOUT') : undefined) ??
    (/Connection terminated/i.test(message) ? networkSentence('PostgreSQL', at, 'ECONNRESET') : undefined);
  const sentence = network ?? refusedLogin(at, user, database, err);
  if (sentence) return new PostgresError(sentence, pgCode(err), { cause: err });
  const code = pgCode(err);
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    const hint = code === '42501' ? ' The admin user needs CREATEROLE and CREATEDB (or to be a superuser).' : ' Check the admin user and the server.';
    return new PostgresError(`PostgreSQL at ${at} refused a statement of the Harbor database bootstrap: ${message} (SQLSTATE ${code}).${hint}`, code, {
      cause: err,
    });
  }
  return err;
}

/** The admin client, with every failure explained (the statements' SQLSTATE stays readable as `code`). */
function explainedClient(client: PgClientLike, explain: (err: unknown) => unknown): PgClientLike {
  return {
    query: (text, values) => client.query(text, values).catch((err: unknown) => Promise.reject(explain(err))),
    end: () => client.end(),
  };
}

/** A connector with pg.Client: the admin server settings are an input; the role logs in to the same server. */
export function pgConnector(admin: PgAdmin): PostgresConnector {
  const queryTimeoutMs = admin.queryTimeoutMs ?? 60_000;
  const common = {
    host: admin.host,
    port: admin.port,
    ssl: sslOf(admin.sslMode),
    connectionTimeoutMillis: admin.connectTimeoutMs ?? 10_000,
    query_timeout: queryTimeoutMs,
  };
  const database = admin.database ?? 'postgres';
  const explain = (err: unknown) => explainPg(`${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`, admin.user, database, err);
  return {
    async admin() {
      try {
        const password = admin.password ? await admin.password() : undefined;
        const client = await connectClient({ ...common, user: admin.user, database, ...(password !== undefined ? { password } : {}) }, queryTimeoutMs);
        return explainedClient(client, explain);
      } catch (err) {
        throw explain(err);
      }
    },
    async login(instance, password) {
      return connectClient({ ...common, user: instance.database.username, database: instance.database.dbName, password }, queryTimeoutMs);
    },
  };
}
