// The Huawei Cloud VPC route-table emulator, driven by the official SDK itself (signing by
// @huaweicloud/huaweicloud-sdk-core) and by raw HTTP requests signed or mis-signed on purpose.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as qs } from 'node:querystring';
import { huaweiVpcEmulatorOptionsFromCli, loadHuaweiVpcEmulatorConfig } from '../../src/testbed/emulators/huaweicloud-vpc/config.js';
import { startHuaweiVpcEmulator, type HuaweiVpcEmulator, type HuaweiVpcEmulatorOptions } from '../../src/testbed/emulators/huaweicloud-vpc/index.js';
import { canonicalUri, parseSdkDate, signRequest } from '../../src/testbed/emulators/huaweicloud-vpc/signing.js';
import { parseListen } from '../../src/testbed/emulators/http.js';
import { silenceSdkLogging } from '../../src/providers/huaweicloud-vpc/client.js';

const require = createRequire(import.meta.url);

const PID = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const OTHER_PID = 'ffffffffffffffffffffffffffffffff';
const AK = 'EMUTESTAK00000000001';
const SK = 'emu-test-secret-key-000000000001';
const LOCALS = [
  { type: 'local', destination: '192.168.0.0/16', nexthop: 'local' },
  { type: 'local', destination: '100.64.0.0/10', nexthop: 'local' },
];

function seed(): HuaweiVpcEmulatorOptions['projects'] {
  return {
    [PID]: {
      routetables: [
        {
          id: 'rtb-a',
          name: 'rtb-a',
          vpc_id: 'vpc-1',
          default: true,
          routes: [...LOCALS, { type: 'vpn', destination: '10.10.0.0/16', nexthop: 'vpngw-1', description: 'by hand' }],
        },
        { id: 'rtb-b', name: 'rtb-b', vpc_id: 'vpc-1', routes: [...LOCALS] },
        { id: 'rtb-c', name: 'rtb-c', vpc_id: 'vpc-2', routes: [] },
        { id: 'rtb-d', name: 'rtb-d', vpc_id: 'vpc-1', routes: [] },
        { id: 'rtb-e', name: 'rtb-e', vpc_id: 'vpc-1', routes: [] },
      ],
    },
  };
}

interface Sdk {
  showRouteTable(r: unknown): Promise<Record<string, unknown>>;
  updateRouteTable(r: unknown): Promise<Record<string, unknown>>;
  listRouteTables(r: unknown): Promise<Record<string, unknown>>;
}

/** The SDK's own VpcClient, as a user would build it (log4js silenced first). */
function sdkClient(emu: HuaweiVpcEmulator, o: { ak?: string; sk?: string; projectId?: string; timeout?: number } = {}): Sdk {
  const core = require('@huaweicloud/huaweicloud-sdk-core');
  silenceSdkLogging();
  const { VpcClient } = require('@huaweicloud/huaweicloud-sdk-vpc/v2/VpcClient.js');
  const cred = new core.BasicCredentials()
    .withAk(o.ak ?? AK)
    .withSk(o.sk ?? SK)
    .withProjectId(o.projectId ?? PID);
  return VpcClient.newBuilder()
    .withCredential(cred)
    .withEndpoint(emu.url)
    .withOptions({ customUserAgent: 'mirrornet-test', axiosRequestConfig: { timeout: o.timeout ?? 5000 } })
    .build();
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** One raw HTTP request (no keep-alive), signed with signRequest unless `sign: false`. */
function raw(
  emu: HuaweiVpcEmulator,
  method: string,
  path: string,
  o: { ak?: string; sk?: string; body?: unknown; sendBody?: string; date?: number; sign?: boolean; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const url = `${emu.url}${path}`;
  const text = o.body === undefined ? '' : JSON.stringify(o.body);
  const base = { 'content-type': 'application/json', 'x-project-id': path.split('/')[2] ?? '', ...(o.headers ?? {}) };
  const headers =
    o.sign === false
      ? base
      : signRequest({ method, url, headers: base, body: text, ak: o.ak ?? AK, sk: o.sk ?? SK, ...(o.date !== undefined ? { date: o.date } : {}) });
  const sent = o.sendBody ?? text;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(sent)) }, agent: false }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data ? (JSON.parse(data) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(sent);
  });
}

function control(emu: HuaweiVpcEmulator, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return raw(emu, method, path, { sign: false, ...(body !== undefined ? { body } : {}) });
}

describe('huaweicloud-vpc emulator', function () {
  let emu: HuaweiVpcEmulator;
  let clockOffset = 0;

  beforeEach(async () => {
    clockOffset = 0;
    emu = await startHuaweiVpcEmulator({ credentials: [{ ak: AK, sk: SK }], projects: seed(), now: () => Date.now() + clockOffset });
  });
  afterEach(async () => {
    await emu.close();
  });

  describe('signature (SDK-HMAC-SHA256, as the SDK computes it)', () => {
    it('accepts requests the SDK signs: show, list with a query, update with a body', async () => {
      const c = sdkClient(emu);
      const shown = await c.showRouteTable({ routetable_id: 'rtb-a' });
      assert.equal(shown['httpStatusCode'], 200);
      const rt = shown['routetable'] as { id: string; routes: unknown[]; vpc_id: string };
      assert.equal(rt.id, 'rtb-a');
      assert.equal(rt.vpc_id, 'vpc-1');
      assert.equal(rt.routes.length, 3);

      const listed = await c.listRouteTables({ vpc_id: 'vpc-1', limit: 2 });
      assert.deepEqual(
        (listed['routetables'] as { id: string }[]).map((t) => t.id),
        ['rtb-a', 'rtb-b'],
      );

      const updated = await c.updateRouteTable({
        routetable_id: 'rtb-b',
        body: { routetable: { routes: { add: [{ type: 'peering', destination: '10.20.0.0/16', nexthop: 'peer-1', description: 'mirrornet:x l1' }] } } },
      });
      const routes = (updated['routetable'] as { routes: { destination: string }[] }).routes;
      assert.ok(routes.some((r) => r.destination === '10.20.0.0/16'));
      assert.deepEqual(
        emu.log.entries().map((e) => [e.method, e.status]),
        [
          ['GET', 200],
          ['GET', 200],
          ['PUT', 200],
        ],
      );
    });

    it('computes the same Authorization as the SDK signer, odd characters included', async () => {
      const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js');
      const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core');
      const cred = new BasicCredentials().withAk(AK).withSk(SK);
      const queryParams = { vpc_id: 'vpc 1+2/ü', limit: 3, tag: ['b', 'a~!*'], marker: "x'(y)" };
      const path = `/v1/${PID}/routetables/rtb~a.b_c-d`;
      const endpoint = `${emu.url}${path}`;
      const data = { routetable: { routes: { add: [{ type: 'vpn', destination: '10.1.0.0/16', nexthop: 'gw', description: 'ü <x>' }] } } };
      const signed = AKSKSigner.sign(
        { endpoint, method: 'PUT', headers: { 'content-type': 'application/json', 'X-Project-Id': PID }, queryParams, data },
        cred,
      ) as Record<string, string>;
      const date = parseSdkDate(signed['X-Sdk-Date']!)!;
      const ours = signRequest({
        method: 'PUT',
        url: `${endpoint}?${qs(queryParams)}`,
        headers: { 'content-type': 'application/json', 'X-Project-Id': PID },
        body: JSON.stringify(data),
        ak: AK,
        sk: SK,
        date,
      });
      assert.equal(ours['authorization'], signed['Authorization']);
      assert.equal(canonicalUri('/v1/p/routetables'), '/v1/p/routetables/');
      assert.equal(canonicalUri('/a%2Fb/'), '/a%252Fb/');
    });

    it('answers a wrong secret key with 401 and the gateway body APIGW.0301', async () => {
      const res = await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`, { sk: 'not-the-secret-key' });
      assert.equal(res.status, 401);
      assert.equal(res.body['error_code'], 'APIGW.0301');
      assert.match(String(res.body['error_msg']), /^Incorrect IAM authentication information: verify aksk signature fail/);
      assert.match(String(res.body['request_id']), /^[0-9a-f]{32}$/);
      assert.equal(res.headers['x-request-id'], res.body['request_id']);

      // The SDK reads gateway errors (it misses only VPC v1 bodies).
      await assert.rejects(sdkClient(emu, { sk: 'not-the-secret-key' }).showRouteTable({ routetable_id: 'rtb-a' }), (e: Record<string, unknown>) => {
        assert.equal(e['httpStatusCode'], 401);
        assert.equal(e['errorCode'], 'APIGW.0301');
        assert.match(String(e['requestId']), /^[0-9a-f]{32}$/);
        return true;
      });
    });

    it('rejects a tampered body, path or query, an unknown key, a missing signature and a stale X-Sdk-Date', async () => {
      const path = `/v1/${PID}/routetables/rtb-b`;
      const body = { routetable: { routes: { add: [{ type: 'vpn', destination: '10.30.0.0/16', nexthop: 'gw' }] } } };
      const tampered = await raw(emu, 'PUT', path, {
        body,
        sendBody: JSON.stringify({ routetable: { routes: { add: [{ type: 'vpn', destination: '0.0.0.0/0', nexthop: 'evil' }] } } }),
      });
      assert.equal(tampered.status, 401);
      assert.equal(tampered.body['error_code'], 'APIGW.0301');
      assert.equal(emu.state.table(PID, 'rtb-b')!.routes.length, 2, 'nothing changed');

      const headers = signRequest({
        method: 'GET',
        url: `${emu.url}/v1/${PID}/routetables?vpc_id=vpc-1`,
        headers: { 'content-type': 'application/json', 'x-project-id': PID },
        ak: AK,
        sk: SK,
      });
      const otherQuery = await new Promise<number>((resolve, reject) => {
        http
          .get(`${emu.url}/v1/${PID}/routetables?vpc_id=vpc-2`, { headers, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
          .on('error', reject);
      });
      assert.equal(otherQuery, 401);

      assert.equal((await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`, { ak: 'UNKNOWNAK' })).status, 401);
      const unsigned = await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`, { sign: false });
      assert.equal(unsigned.status, 401);
      assert.equal(unsigned.body['error_code'], 'APIGW.0301');
      const stale = await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`, { date: Date.now() - 20 * 60 * 1000 });
      assert.equal(stale.status, 401);
      assert.match(String(stale.body['error_msg']), /expired/);
      assert.equal((await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`, { date: Date.now() - 60 * 1000 })).status, 200, 'a minute of skew is fine');
    });

    it('locks the access key for five minutes after five bad signatures in a row', async () => {
      const bad = sdkClient(emu, { sk: 'wrong-secret' });
      const good = sdkClient(emu);
      for (let i = 0; i < 4; i++) await assert.rejects(bad.showRouteTable({ routetable_id: 'rtb-a' }));
      await good.showRouteTable({ routetable_id: 'rtb-a' }); // a good one resets the count
      for (let i = 0; i < 5; i++) await assert.rejects(bad.showRouteTable({ routetable_id: 'rtb-a' }));
      const locked = await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`);
      assert.equal(locked.status, 401);
      assert.equal(locked.body['error_code'], 'APIGW.0301');
      assert.match(String(locked.body['error_msg']), /locked/);
      clockOffset = 4 * 60 * 1000;
      assert.equal((await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`)).status, 401, 'still locked after four minutes');
      clockOffset = 5 * 60 * 1000 + 1000;
      assert.equal((await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-a`)).status, 200, 'unlocked after five');
    });
  });

  describe('VPC v1 route tables', () => {
    it('answers an unknown project and an unknown table with VPC v1 error bodies (which the SDK does not parse)', async () => {
      const p = await raw(emu, 'GET', `/v1/${OTHER_PID}/routetables/rtb-a`);
      assert.equal(p.status, 400);
      assert.deepEqual(p.body, { code: 'VPC.0007', message: 'urlTenantId is not equal tokenTenantId' });
      const t = await raw(emu, 'GET', `/v1/${PID}/routetables/rtb-nope`);
      assert.equal(t.status, 404);
      assert.equal(t.body['code'], 'VPC.2802');
      assert.match(String(t.body['message']), /rtb-nope/);
      assert.match(String(t.headers['x-request-id']), /^[0-9a-f]{32}$/);
      // FACTS: the SDK loses VPC v1 codes: errorCode undefined, errorMsg axios' generic text.
      await assert.rejects(sdkClient(emu).showRouteTable({ routetable_id: 'rtb-nope' }), (e: Record<string, unknown>) => {
        assert.equal(e['httpStatusCode'], 404);
        assert.equal(e['errorCode'], undefined);
        assert.match(String(e['errorMsg']), /status code 404/);
        return true;
      });
      const unknownApi = await raw(emu, 'DELETE', `/v1/${PID}/routetables/rtb-a`);
      assert.equal(unknownApi.status, 404);
      assert.equal(unknownApi.body['error_code'], 'APIGW.0101');
    });

    it('enforces unique destinations, local routes, route types and the 200-route quota, atomically', async () => {
      const put = (routes: unknown) => raw(emu, 'PUT', `/v1/${PID}/routetables/rtb-a`, { body: { routetable: { routes } } });
      const before = emu.state.table(PID, 'rtb-a')!.routes;

      let r = await put({ add: [{ type: 'vpn', destination: '10.10.0.0/16', nexthop: 'vpngw-2' }] });
      assert.equal(r.status, 400);
      assert.equal(r.body['code'], 'VPC.2804');
      r = await put({
        add: [
          { type: 'vpn', destination: '10.40.0.0/16', nexthop: 'a' },
          { type: 'cc', destination: '10.40.0.0/16', nexthop: 'b' },
        ],
      });
      assert.equal(r.status, 400);
      r = await put({ add: [{ type: 'vpn', destination: '192.168.0.0/16', nexthop: 'a' }] });
      assert.equal(r.body['code'], 'VPC.2804');
      assert.match(String(r.body['message']), /system route/);
      r = await put({ del: [{ destination: '192.168.0.0/16' }] });
      assert.equal(r.body['code'], 'VPC.2806');
      r = await put({ mod: [{ type: 'vpn', destination: '100.64.0.0/10', nexthop: 'x' }] });
      assert.equal(r.body['code'], 'VPC.2806');
      r = await put({ add: [{ type: 'local', destination: '10.50.0.0/16', nexthop: 'x' }] });
      assert.equal(r.body['code'], 'VPC.2806');
      r = await put({ add: [{ type: 'internet', destination: '10.50.0.0/16', nexthop: 'x' }] });
      assert.equal(r.body['code'], 'VPC.2800');
      r = await put({ add: [{ type: 'vpn', destination: '10.50.0.1/16', nexthop: 'x' }] });
      assert.equal(r.body['code'], 'VPC.2800', 'host bits set');
      r = await put({ add: [{ type: 'vip', destination: '10.50.0.0/16', nexthop: 'not-an-ip' }] });
      assert.equal(r.body['code'], 'VPC.2800');
      r = await put({ del: [{ destination: '10.99.0.0/16' }] });
      assert.equal(r.body['code'], 'VPC.2805');
      // A valid add batched with an invalid del: nothing applied.
      r = await put({ add: [{ type: 'vpn', destination: '10.60.0.0/16', nexthop: 'x' }], del: [{ destination: '10.99.0.0/16' }] });
      assert.equal(r.status, 400);
      assert.deepEqual(emu.state.table(PID, 'rtb-a')!.routes, before);

      // Quota: 1 custom route there; 199 more fit, 200 do not.
      const many = (n: number, from = 0) =>
        Array.from({ length: n }, (_, i) => ({ type: 'vpn', destination: `172.${16 + Math.floor((i + from) / 256)}.${(i + from) % 256}.0/24`, nexthop: 'gw' }));
      r = await put({ add: many(200) });
      assert.equal(r.status, 409);
      assert.equal(r.body['code'], 'VPC.2807');
      assert.deepEqual(emu.state.table(PID, 'rtb-a')!.routes, before);
      r = await put({ add: many(199) });
      assert.equal(r.status, 200);
      assert.equal(emu.state.table(PID, 'rtb-a')!.routes.filter((x) => x.type !== 'local').length, 200);
      r = await put({ add: many(1, 199) });
      assert.equal(r.body['code'], 'VPC.2807');
      // At the quota a del + add of the same count is fine.
      r = await put({ del: [{ destination: '172.16.0.0/24' }], add: many(1, 199) });
      assert.equal(r.status, 200);
    });

    it('replaces a route by del + add in one request; mod changes a next hop but never a destination', async () => {
      const path = `/v1/${PID}/routetables/rtb-a`;
      let r = await raw(emu, 'PUT', path, {
        body: {
          routetable: {
            routes: { del: [{ destination: '10.10.0.0/16' }], add: [{ type: 'cc', destination: '10.10.0.0/16', nexthop: 'cc-1', description: 'new' }] },
          },
        },
      });
      assert.equal(r.status, 200);
      const rt = r.body['routetable'] as { routes: { destination: string; type: string; nexthop: string }[] };
      assert.deepEqual(
        rt.routes.filter((x) => x.destination === '10.10.0.0/16'),
        [{ type: 'cc', destination: '10.10.0.0/16', nexthop: 'cc-1', description: 'new' }],
      );
      r = await raw(emu, 'PUT', path, { body: { routetable: { routes: { mod: [{ type: 'cc', destination: '10.10.0.0/16', nexthop: 'cc-2' }] } } } });
      assert.equal(r.status, 200);
      assert.equal(emu.state.table(PID, 'rtb-a')!.routes.find((x) => x.destination === '10.10.0.0/16')!.nexthop, 'cc-2');
      assert.equal(emu.state.table(PID, 'rtb-a')!.routes.find((x) => x.destination === '10.10.0.0/16')!.description, 'new', 'mod keeps the description');
      r = await raw(emu, 'PUT', path, { body: { routetable: { routes: { mod: [{ type: 'cc', destination: '10.11.0.0/16', nexthop: 'cc-2' }] } } } });
      assert.equal(r.status, 400);
      assert.equal(r.body['code'], 'VPC.2805');
      assert.match(String(r.body['message']), /destination cannot be modified/);
    });

    it('lists route tables without routes, paginated with limit and marker', async () => {
      const list = async (query: string) => (await raw(emu, 'GET', `/v1/${PID}/routetables${query}`)).body['routetables'] as Record<string, unknown>[];
      const all = await list('');
      assert.deepEqual(
        all.map((t) => t['id']),
        ['rtb-a', 'rtb-b', 'rtb-c', 'rtb-d', 'rtb-e'],
      );
      assert.ok(all.every((t) => !('routes' in t)));
      assert.ok(all.every((t) => typeof t['created_at'] === 'string' && t['tenant_id'] === PID));
      const ids: string[] = [];
      let marker = '';
      for (;;) {
        const page = await list(`?vpc_id=vpc-1&limit=2${marker ? `&marker=${marker}` : ''}`);
        ids.push(...page.map((t) => String(t['id'])));
        if (page.length < 2) break;
        marker = String(page[page.length - 1]!['id']);
      }
      assert.deepEqual(ids, ['rtb-a', 'rtb-b', 'rtb-d', 'rtb-e']);
      const bad = await raw(emu, 'GET', `/v1/${PID}/routetables?marker=rtb-zzz`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body['code'], 'VPC.2800');
    });
  });

  describe('faults, log, state', () => {
    it('injects 429, 500, a connection reset and a delay, in order, matching method and path', async () => {
      const c = sdkClient(emu, { timeout: 300 });
      emu.faults.next([{ kind: '429' }, { kind: '500' }, { kind: 'reset' }, { kind: 'delay', ms: 800 }]);
      await assert.rejects(
        c.showRouteTable({ routetable_id: 'rtb-a' }),
        (e: Record<string, unknown>) => e['httpStatusCode'] === 429 && e['errorCode'] === 'APIGW.0308',
      );
      await assert.rejects(c.showRouteTable({ routetable_id: 'rtb-a' }), (e: Record<string, unknown>) => e['httpStatusCode'] === 500);
      await assert.rejects(
        c.showRouteTable({ routetable_id: 'rtb-a' }),
        (e: Record<string, unknown>) => e['httpStatusCode'] === undefined && /socket hang up|ECONNRESET/.test(String(e['errorMsg'])),
      );
      await assert.rejects(c.showRouteTable({ routetable_id: 'rtb-a' }), (e: Record<string, unknown>) => /timeout/.test(String(e['errorMsg'])));
      await c.showRouteTable({ routetable_id: 'rtb-a' });
      // The delayed request finishes on the server after the client gave up: wait for its log entry.
      for (let i = 0; i < 50 && emu.log.entries().length < 5; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(
        emu.log
          .entries()
          .sort((a, b) => a.seq - b.seq)
          .map((e) => [e.status, e.fault ?? '']),
        [
          [429, '429'],
          [500, '500'],
          [0, 'reset'],
          [200, 'delay'],
          [200, ''],
        ],
      );
      assert.equal(emu.log.entries().find((e) => e.seq === 1)!.errorCode, 'APIGW.0308');

      // Over HTTP, matched to PUT only: the GET goes through, the PUT gets the 500 after it was applied.
      const posted = await control(emu, 'POST', '/_emulator/faults', [{ kind: '500', when: 'after', match: { method: 'PUT' } }]);
      assert.equal(posted.status, 200);
      await c.showRouteTable({ routetable_id: 'rtb-b' });
      await assert.rejects(
        c.updateRouteTable({
          routetable_id: 'rtb-b',
          body: { routetable: { routes: { add: [{ type: 'vpn', destination: '10.70.0.0/16', nexthop: 'gw' }] } } },
        }),
        (e: Record<string, unknown>) => e['httpStatusCode'] === 500,
      );
      assert.ok(
        emu.state.table(PID, 'rtb-b')!.routes.some((r) => r.destination === '10.70.0.0/16'),
        'applied before the 500',
      );
      assert.deepEqual(emu.faults.pending(), []);
      const bad = await control(emu, 'POST', '/_emulator/faults', [{ kind: 'explode' }]);
      assert.equal(bad.status, 400);
    });

    it('keeps a request log (method, path, status) with no secret in it, over HTTP too', async () => {
      const c = sdkClient(emu);
      await c.showRouteTable({ routetable_id: 'rtb-a' });
      await assert.rejects(sdkClient(emu, { sk: 'wrong-secret-value' }).showRouteTable({ routetable_id: 'rtb-a' }));
      await c.listRouteTables({ vpc_id: 'vpc-1' });
      const res = await control(emu, 'GET', '/_emulator/log');
      assert.equal(res.status, 200);
      const entries = res.body['entries'] as Record<string, unknown>[];
      assert.deepEqual(
        entries.map((e) => [e['method'], e['path'], e['query'], e['status']]),
        [
          ['GET', `/v1/${PID}/routetables/rtb-a`, '', 200],
          ['GET', `/v1/${PID}/routetables/rtb-a`, '', 401],
          ['GET', `/v1/${PID}/routetables`, 'vpc_id=vpc-1', 200],
        ],
      );
      const text = JSON.stringify(entries);
      for (const secret of [AK, SK, 'wrong-secret-value', 'SDK-HMAC-SHA256', 'Signature=']) assert.ok(!text.includes(secret), `log holds ${secret}`);
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{32}$/, 'control answers carry X-Request-Id too');
      await control(emu, 'DELETE', '/_emulator/log');
      assert.deepEqual(emu.log.entries(), []);
    });

    it('changes a table behind the client back over /_emulator', async () => {
      const res = await control(emu, 'PUT', `/_emulator/projects/${PID}/routetables/rtb-c/routes`, [
        { type: 'ecs', destination: '10.80.0.0/16', nexthop: 'ecs-1' },
      ]);
      assert.equal(res.status, 200);
      assert.deepEqual(emu.state.table(PID, 'rtb-c')!.routes, [{ type: 'ecs', destination: '10.80.0.0/16', nexthop: 'ecs-1' }]);
      assert.equal(emu.log.entries().length, 0, 'control calls are not in the request log');
    });

    it('persists the state atomically and loads it back on restart (the file wins over the seed)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mn-vpc-emu-'));
      try {
        const statePath = join(dir, 'sub', 'state.json');
        const a = await startHuaweiVpcEmulator({ credentials: [{ ak: AK, sk: SK }], projects: seed(), statePath });
        assert.ok(JSON.parse(readFileSync(statePath, 'utf8')).projects[PID], 'seed written at start');
        await sdkClient(a).updateRouteTable({
          routetable_id: 'rtb-b',
          body: { routetable: { routes: { add: [{ type: 'vpn', destination: '10.90.0.0/16', nexthop: 'gw', description: 'kept' }] } } },
        });
        await a.close();
        const onDisk = JSON.parse(readFileSync(statePath, 'utf8')) as {
          version: number;
          projects: Record<string, { routetables: { id: string; routes: { destination: string }[] }[] }>;
        };
        assert.equal(onDisk.version, 1);
        assert.ok(onDisk.projects[PID]!.routetables.find((t) => t.id === 'rtb-b')!.routes.some((r) => r.destination === '10.90.0.0/16'));
        assert.deepEqual(
          readdirSync(join(dir, 'sub')).filter((f) => f.endsWith('.tmp')),
          [],
          'no temporary file left',
        );

        const b = await startHuaweiVpcEmulator({ credentials: [{ ak: AK, sk: SK }], projects: { [PID]: { routetables: [] } }, statePath });
        try {
          const shown = await sdkClient(b).showRouteTable({ routetable_id: 'rtb-b' });
          assert.ok((shown['routetable'] as { routes: { description?: string }[] }).routes.some((r) => r.description === 'kept'));
        } finally {
          await b.close();
        }
        writeFileSync(statePath, '{"version": 2}');
        await assert.rejects(startHuaweiVpcEmulator({ credentials: [{ ak: AK, sk: SK }], statePath }), /not valid/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('reads credentials and seed data from a YAML file, flags and the environment', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mn-vpc-emu-'));
      try {
        const file = join(dir, 'emu.yaml');
        writeFileSync(
          file,
          [
            'listen: 127.0.0.1:0',
            'credentials:',
            `  - { ak: ${AK}, sk: ${SK}, projects: [${PID}] }`,
            'projects:',
            `  ${PID}:`,
            '    routetables:',
            '      - id: rtb-y',
            '        vpc_id: vpc-9',
            '        routes:',
            '          - { type: local, destination: 192.168.0.0/16, nexthop: local }',
            'routeQuota: 50',
          ].join('\n'),
        );
        const cfg = await loadHuaweiVpcEmulatorConfig(file);
        assert.equal(cfg.routeQuota, 50);
        const opts = await huaweiVpcEmulatorOptionsFromCli({ config: file, state: join(dir, 's.json') }, {});
        assert.deepEqual(opts.listen, { host: '127.0.0.1', port: 0 });
        assert.equal(opts.statePath, join(dir, 's.json'));
        const fromFile = await startHuaweiVpcEmulator(opts);
        try {
          const shown = await sdkClient(fromFile).showRouteTable({ routetable_id: 'rtb-y' });
          assert.equal((shown['routetable'] as { vpc_id: string }).vpc_id, 'vpc-9');
          assert.equal((await raw(fromFile, 'GET', `/v1/${OTHER_PID}/routetables`)).status, 400, 'the key is limited to its project');
        } finally {
          await fromFile.close();
        }
        const env = await huaweiVpcEmulatorOptionsFromCli({ listen: ':0' }, { HUAWEICLOUD_SDK_AK: 'A1', HUAWEICLOUD_SDK_SK: 'S1' });
        assert.deepEqual(env.credentials, [{ ak: 'A1', sk: 'S1' }]);
        await assert.rejects(huaweiVpcEmulatorOptionsFromCli({}, {}), /at least one access key/);
        writeFileSync(file, 'credentials: 3');
        await assert.rejects(loadHuaweiVpcEmulatorConfig(file), /not valid/);
        assert.deepEqual(parseListen('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
        assert.deepEqual(parseListen('[::1]:9'), { host: '::1', port: 9 });
        assert.deepEqual(parseListen('8443'), { host: '127.0.0.1', port: 8443 });
        assert.throws(() => parseListen('host:http'), /port/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('creates unknown tables on demand when asked to (for trying the agent)', async () => {
      const auto = await startHuaweiVpcEmulator({ credentials: [{ ak: AK, sk: SK }], projects: { [PID]: {} }, autoCreateTables: true });
      try {
        const shown = await sdkClient(auto).showRouteTable({ routetable_id: 'rtb-new' });
        assert.deepEqual((shown['routetable'] as { routes: unknown[] }).routes, []);
      } finally {
        await auto.close();
      }
    });
  });
});
