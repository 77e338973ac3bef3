// PostgreSQL bootstrap for Harbor against a real, private PostgreSQL (initdb into a temp dir, a free
// loopback port, scram-sha-256 everywhere, every statement logged): one LOGIN role, one UTF8 database it owns,
// idempotent, the owner can create tables in public (PostgreSQL 15+), a rotated password is applied without
// ever reaching a plan, a log or the server's statement log, and odd names cannot inject SQL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse } from 'yaml';
import { desiredHarbor } from '../../src/desired/harbor.js';
import type { Desired } from '../../src/desired/types.js';
import { MirrornetError, userMessageOf } from '../../src/errors.js';
import { localExec } from '../../src/host/exec.js';
import { HostFiles } from '../../src/host/files.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { createLogger } from '../../src/log.js';
import { HarborInstance } from '../../src/model/schema.js';
import {
  createPostgresProvider,
  pgConnector,
  adminFromUrl,
  scramSha256Verifier,
  verifierMatches,
  type PostgresConnector,
} from '../../src/providers/postgres/index.js';
import type { Provider } from '../../src/providers/types.js';
import { applyHost, pendingChanges, planHost, type HostDeps, type HostPlan } from '../../src/reconcile/engine.js';
import { formatPlanText, planJson } from '../../src/reconcile/format.js';
import { StateStore, type AgentState } from '../../src/reconcile/state.js';
import { missingCommand, need } from '../support/capabilities.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const ADMIN_PASSWORD = 'pg-admin-S3cret-qq01';

/** The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<v>/bin, else initdb on PATH. */
function pgBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin/initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  try {
    return dirname(execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A private cluster in a temp dir, run as `postgres` when we are root (postgres refuses to run as root). */
class PrivatePostgres {
  dir = '';
  port = 0;
  constructor(readonly bin: string) {}

  private run(cmd: string, args: string[]): string {
    const asRoot = process.getuid?.() === 0;
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(this.bin, cmd), ...args]] : [join(this.bin, cmd), args];
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  get log(): string {
    return existsSync(join(this.dir, 'server.log')) ? readFileSync(join(this.dir, 'server.log'), 'utf8') : '';
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'mn-pg-'));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(this.dir, uid, gid);
    }
    chmodSync(this.dir, 0o700);
    const pwfile = join(this.dir, 'pw');
    writeFileSync(pwfile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
    if (process.getuid?.() === 0) chownSync(pwfile, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), 0);
    // SQL_ASCII and the C locale as the cluster default: a database created without TEMPLATE template0 and
    // ENCODING 'UTF8' would not be UTF8.
    this.run('initdb', ['-D', join(this.dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'SQL_ASCII', '--no-locale']);
    rmSync(pwfile);
    this.port = await freePort();
    const opts =
      `-c listen_addresses=127.0.0.1 -c port=${this.port} -c unix_socket_directories=${this.dir} -c log_statement=all ` +
      '-c password_encryption=scram-sha-256';
    this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-o', opts, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  stop(): void {
    if (!this.dir) return;
    try {
      if (existsSync(join(this.dir, 'data/postmaster.pid'))) this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function loadInstance(): HarborInstance {
  return HarborInstance.parse(parse(readFileSync(join(repoRoot, 'harbor/harbor-cn-beijing.yaml'), 'utf8')));
}

describe('postgres provider (Harbor database bootstrap)', function () {
  this.timeout(60_000);

  describe('password verifiers (pure)', () => {
    it('computes and checks SCRAM-SHA-256 verifiers like PostgreSQL; md5 too', () => {
      const v = scramSha256Verifier('secret', { salt: Buffer.alloc(16, 1), iterations: 4096 });
      assert.match(v, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
      assert.equal(verifierMatches(v, 'harbor', 'secret'), true);
      assert.equal(verifierMatches(v, 'harbor', 'Secret'), false);
      assert.notEqual(scramSha256Verifier('secret'), scramSha256Verifier('secret'), 'a random salt each time');
      assert.equal(verifierMatches('md5' + 'a'.repeat(32), 'harbor', 'x'), false);
      assert.equal(verifierMatches(null, 'harbor', 'x'), false);
      assert.equal(verifierMatches('SOMETHING-ELSE', 'harbor', 'x'), undefined);
    });

    it('the admin URL carries no password', () => {
      assert.deepEqual(adminFromUrl('postgres://admin@db.internal:6432/postgres?sslmode=require'), {
        host: 'db.internal',
        port: 6432,
        user: 'admin',
        database: 'postgres',
        sslMode: 'require',
      });
      assert.throws(() => adminFromUrl('postgres://admin:pw@db.internal/postgres'), /must not contain a password/);
    });
  });

  describe('against a private PostgreSQL', () => {
    const server = new PrivatePostgres(pgBinDir() ?? '/usr/lib/postgresql/15/bin');
    let tmp: string;
    let env: Record<string, string>;
    let logs: string[];
    let store: StateStore;
    let state: AgentState;
    let instance: HarborInstance;
    let connector: PostgresConnector;
    let deps: HostDeps;

    const superuser = () => pgConnector({ host: '127.0.0.1', port: server.port, user: 'postgres', password: async () => ADMIN_PASSWORD });
    const desired = (): Desired => ({ site: instance.hub, roles: ['hub'], routes: [], wireguard: [], harbor: desiredHarbor(instance, []) });

    async function sql<T = Record<string, unknown>>(text: string, values: unknown[] = [], database = 'postgres'): Promise<T[]> {
      const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: ADMIN_PASSWORD, database });
      await c.connect();
      try {
        return (await c.query(text, values)).rows as T[];
      } finally {
        await c.end();
      }
    }

    function makeDeps(): HostDeps {
      return {
        providers: [createPostgresProvider(connector) as Provider<unknown>],
        exec: localExec(),
        files: new HostFiles(tmp),
        secrets: hostSecrets({ env }),
        log: createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(s) } }),
        commands: { dockerReload: 'true', dragonflyRestart: 'true' },
      };
    }

    const plan = (): Promise<HostPlan> => planHost(desired(), 'test', deps, state);
    async function apply(): Promise<HostPlan> {
      const p = await plan();
      const r = await applyHost(p, desired(), deps, store, state);
      if (r.error) throw r.error.error;
      return p;
    }

    function assertNoSecret(p: HostPlan, ...values: string[]): void {
      const seen = [
        formatPlanText(p, { verbose: true }),
        JSON.stringify(planJson(p)),
        JSON.stringify(p.changes),
        JSON.stringify([...p.actual.values()]),
        p.notes.join('\n'),
        logs.join(''),
        server.log,
      ].join('\n');
      for (const v of values) assert.ok(!seen.includes(v), 'a password reached a plan, a log or the server statement log');
    }

    async function canLogin(user: string, password: string, database: string): Promise<boolean> {
      const c = new pg.Client({ host: '127.0.0.1', port: server.port, user, password, database });
      try {
        await c.connect();
        await c.end();
        return true;
      } catch (err) {
        if (err instanceof pg.DatabaseError && err.code === '28P01') return false;
        throw err;
      }
    }

    async function roleTable(user: string, password: string, database: string, table: string): Promise<void> {
      const c = new pg.Client({ host: '127.0.0.1', port: server.port, user, password, database });
      await c.connect();
      try {
        await c.query(`CREATE TABLE public.${pg.escapeIdentifier(table)} (id int primary key, name text)`);
        await c.query(`INSERT INTO public.${pg.escapeIdentifier(table)} VALUES (1, 'ü日本')`);
      } finally {
        await c.end();
      }
    }

    before(async function () {
      need(this, missingCommand(join(server.bin, 'initdb'), 'postgresql'));
      if (process.getuid?.() === 0) need(this, missingCommand('runuser', 'util-linux'));
      await server.start();
    });
    after(() => server.stop());

    beforeEach(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'mn-pgp-'));
      env = { HARBOR_DB_PASSWORD: 'harbor-S3cret-qq02' };
      logs = [];
      store = new StateStore(join(tmp, 'state'));
      state = await store.load();
      instance = loadInstance();
      connector = superuser();
      deps = makeDeps();
    });
    afterEach(async () => {
      rmSync(tmp, { recursive: true, force: true });
      // Each test starts from an empty server: drop what it created.
      for (const { datname } of await sql<{ datname: string }>("SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")) {
        await sql(`DROP DATABASE ${pg.escapeIdentifier(datname)}`);
      }
      for (const { rolname } of await sql<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND rolname <> 'postgres'")) {
        await sql(`DROP ROLE ${pg.escapeIdentifier(rolname)}`);
      }
    });

    it('creates one LOGIN role and one UTF8 database owned by it; the second plan is a noop', async () => {
      const p1 = await plan();
      assert.deepEqual(
        pendingChanges(p1).map((c) => [c.action, c.id]),
        [
          ['create', 'role:harbor'],
          ['create', 'database:harbor'],
        ],
      );
      await apply();
      const [role] = await sql<{ rolcanlogin: boolean; rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
        'SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = $1',
        ['harbor'],
      );
      assert.deepEqual(role, { rolcanlogin: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false });
      const [db] = await sql<{ owner: string; encoding: string }>(
        "SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = 'harbor'",
      );
      assert.deepEqual(db, { owner: 'harbor', encoding: 'UTF8' }, 'UTF8 although the cluster default is SQL_ASCII');
      const [{ count }] = (await sql<{ count: string }>("SELECT count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")) as [
        { count: string },
      ];
      assert.equal(count, '1', 'exactly one database (no notary, no clair)');
      assert.deepEqual(state.inventory['postgres'], ['database:harbor', 'role:harbor']);

      const p2 = await plan();
      assert.deepEqual(pendingChanges(p2), [], formatPlanText(p2));
      const statements = server.log.split('\n').filter((l) => /statement: (CREATE|ALTER|GRANT)/.test(l)).length;
      await apply();
      assert.equal(server.log.split('\n').filter((l) => /statement: (CREATE|ALTER|GRANT)/.test(l)).length, statements, 'a noop apply runs no DDL');
      assertNoSecret(p1, env['HARBOR_DB_PASSWORD']!);
      assertNoSecret(p2, env['HARBOR_DB_PASSWORD']!);
    });

    it('the role logs in with the secret and can create tables in schema public; a role that does not own the database cannot (PostgreSQL 15+)', async () => {
      await apply();
      assert.equal(await canLogin('harbor', env['HARBOR_DB_PASSWORD']!, 'harbor'), true);
      await roleTable('harbor', env['HARBOR_DB_PASSWORD']!, 'harbor', 'harbor_probe');
      const rows = await sql<{ name: string }>('SELECT name FROM public.harbor_probe', [], 'harbor');
      assert.deepEqual(rows, [{ name: 'ü日本' }]);
      const [{ server_version_num }] = (await sql<{ server_version_num: string }>('SHOW server_version_num')) as [{ server_version_num: string }];
      if (Number(server_version_num) >= 150000) {
        await sql("CREATE ROLE other LOGIN PASSWORD 'other-pw'");
        await assert.rejects(roleTable('other', 'other-pw', 'harbor', 'not_mine'), /permission denied for schema public/);
      }
    });

    it('a rotated password is found by plan (without showing it) and applied with ALTER ROLE; the server never sees it in plain text', async () => {
      await apply();
      const old = env['HARBOR_DB_PASSWORD']!;
      env['HARBOR_DB_PASSWORD'] = 'rotated-S3cret-qq03';
      const p = await plan();
      const changes = pendingChanges(p);
      assert.deepEqual(
        changes.map((c) => [c.action, c.id]),
        [['update', 'role:harbor']],
      );
      assert.match(changes[0]!.reason, /env:HARBOR_DB_PASSWORD/);
      await apply();
      assert.equal(await canLogin('harbor', 'rotated-S3cret-qq03', 'harbor'), true);
      assert.equal(await canLogin('harbor', old, 'harbor'), false);
      assert.deepEqual(pendingChanges(await plan()), []);
      assertNoSecret(p, old, 'rotated-S3cret-qq03');
      assert.match(server.log, /ALTER ROLE "harbor" WITH PASSWORD 'SCRAM-SHA-256\$/, 'only a verifier travels');
    });

    it('drift behind its back (owner changed, NOLOGIN) is repaired; an existing database is never recreated', async () => {
      await apply();
      await roleTable('harbor', env['HARBOR_DB_PASSWORD']!, 'harbor', 'keep_me');
      await sql('ALTER DATABASE harbor OWNER TO postgres');
      await sql('ALTER ROLE harbor NOLOGIN');
      const p = await plan();
      assert.deepEqual(
        pendingChanges(p).map((c) => [c.action, c.id, c.reason]),
        [
          ['update', 'role:harbor', 'role harbor cannot log in'],
          ['update', 'database:harbor', 'database harbor is owned by postgres, not harbor'],
        ],
      );
      await apply();
      assert.equal(await canLogin('harbor', env['HARBOR_DB_PASSWORD']!, 'harbor'), true);
      assert.deepEqual(await sql("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'harbor'"), [{ owner: 'harbor' }]);
      assert.equal((await sql('SELECT id FROM public.keep_me', [], 'harbor')).length, 1, 'the data is still there');
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('a database with another encoding is reported, never dropped', async () => {
      await sql("CREATE DATABASE harbor ENCODING 'SQL_ASCII' TEMPLATE template0");
      const p = await plan();
      assert.ok(
        p.notes.some((n) => /encoding SQL_ASCII, not UTF8/.test(n)),
        p.notes.join('\n'),
      );
      await apply();
      assert.deepEqual(
        await sql("SELECT pg_encoding_to_char(encoding) AS encoding, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'harbor'"),
        [{ encoding: 'SQL_ASCII', owner: 'harbor' }],
      );
    });

    it('names with quotes, semicolons and odd characters are identifiers, never SQL', async () => {
      const username = `har"bor'; DROP ROLE postgres; --`;
      const dbName = `db "x"; DROP DATABASE postgres; -- ü`;
      instance = HarborInstance.parse({ ...instance, database: { ...instance.database, username, dbName } });
      await apply();
      assert.deepEqual(await sql('SELECT rolname FROM pg_roles WHERE rolname = $1', [username]), [{ rolname: username }]);
      assert.deepEqual(
        await sql('SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = $1', [dbName]),
        [{ owner: username, encoding: 'UTF8' }],
      );
      assert.equal((await sql("SELECT 1 FROM pg_database WHERE datname = 'postgres'")).length, 1);
      assert.equal((await sql("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'")).length, 1);
      await roleTable(username, env['HARBOR_DB_PASSWORD']!, dbName, 't');
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('with a managed-PostgreSQL admin (CREATEROLE + CREATEDB, no superuser): bootstrap, login check of the password, rotation', async () => {
      await sql(`CREATE ROLE mgr LOGIN CREATEROLE CREATEDB PASSWORD 'mgr-pw'`);
      connector = pgConnector({ host: '127.0.0.1', port: server.port, user: 'mgr', password: async () => 'mgr-pw' });
      deps = makeDeps();
      await apply();
      assert.deepEqual(
        await sql("SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = 'harbor'"),
        [{ owner: 'harbor', encoding: 'UTF8' }],
      );
      let p = await plan();
      assert.deepEqual(pendingChanges(p), [], `${formatPlanText(p)}${p.notes.join('\n')}`);
      assert.ok(!p.notes.some((n) => n.includes('cannot check the password')), 'pg_authid is not readable: the password was checked by logging in');
      env['HARBOR_DB_PASSWORD'] = 'rotated-S3cret-qq04';
      p = await plan();
      assert.deepEqual(
        pendingChanges(p).map((c) => [c.action, c.id]),
        [['update', 'role:harbor']],
      );
      await apply();
      assert.equal(await canLogin('harbor', 'rotated-S3cret-qq04', 'harbor'), true);
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('a password set by hand to the same secret (hashed by the server) is not drift', async () => {
      env['HARBOR_DB_PASSWORD'] = 'hand-set-qq05'; // this test puts it in the server log itself
      await apply();
      await sql(`ALTER ROLE harbor PASSWORD ${pg.escapeLiteral(env['HARBOR_DB_PASSWORD']!)}`);
      const [row] = (await sql<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'harbor'")) as [{ rolpassword: string }];
      assert.equal(verifierMatches(row.rolpassword, 'harbor', env['HARBOR_DB_PASSWORD']!), true, "PostgreSQL's own verifier is recognised");
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('an unreachable server fails the plan with a sentence that says where and what to do, and changes nothing', async () => {
      const port = await freePort();
      connector = pgConnector({ host: '127.0.0.1', port, user: 'postgres', password: async () => ADMIN_PASSWORD, connectTimeoutMs: 2000 });
      deps = makeDeps();
      await assert.rejects(plan(), (err: Error) => {
        assert.ok(err instanceof MirrornetError, `not a MirrornetError: ${err.stack}`);
        assert.equal(
          userMessageOf(err),
          `Cannot reach PostgreSQL at 127.0.0.1:${port}: the connection was refused (nothing listens on that port). ` +
            'Check that PostgreSQL runs there and that the address and port are right.',
        );
        assert.match(err.message, /ECONNREFUSED/);
        assert.ok(!err.message.includes(ADMIN_PASSWORD));
        return true;
      });
      assert.deepEqual(state.inventory, {});
    });

    it('a wrong admin password is a sentence that names the server, the user and the option to check', async () => {
      connector = pgConnector({ host: '127.0.0.1', port: server.port, user: 'postgres', password: async () => 'not-the-password' });
      deps = makeDeps();
      await assert.rejects(plan(), (err: Error) => {
        assert.equal(
          userMessageOf(err),
          `PostgreSQL at 127.0.0.1:${server.port} refused the login of postgres: the password is wrong. ` +
            'Check what --pg-admin-password (or MIRRORNET_PG_ADMIN_PASSWORD) resolves to on this host.',
        );
        return true;
      });
    });

    it('an admin database that does not exist is a sentence that says which to name instead', async () => {
      connector = pgConnector({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'nodb', password: async () => ADMIN_PASSWORD });
      deps = makeDeps();
      await assert.rejects(plan(), (err: Error) => {
        assert.equal(
          userMessageOf(err),
          `PostgreSQL at 127.0.0.1:${server.port} has no database nodb: name an existing one in --pg-admin-url (usually postgres).`,
        );
        return true;
      });
    });

    it('an admin without the right to create roles gets a sentence with the SQLSTATE and the rights it needs', async () => {
      await sql(`CREATE ROLE weak LOGIN PASSWORD 'weak-pw'`);
      connector = pgConnector({ host: '127.0.0.1', port: server.port, user: 'weak', password: async () => 'weak-pw' });
      deps = makeDeps();
      const p = await plan();
      const r = await applyHost(p, desired(), deps, store, state);
      assert.equal(
        r.error && userMessageOf(r.error.error),
        `PostgreSQL at 127.0.0.1:${server.port} refused a statement of the Harbor database bootstrap: permission denied to create role (SQLSTATE 42501). ` +
          'The admin user needs CREATEROLE and CREATEDB (or to be a superuser).',
      );
    });
  });
});
