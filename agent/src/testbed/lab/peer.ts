// The region's "dfdaemon" in the lab: Dragonfly's peer is not installable here, so this small proxy plays
// the part of its registry proxy, with the behaviour the fleet relies on (FACTS.md, Dragonfly), configured
// only from the dfdaemon.yaml a node's agent wrote, read with the Rust client's rules (dfdaemon-config.ts: an
// unknown key or a bad duration stops it with the file and line, so a wrong rendering fails `npm start`):
// - it listens on 0.0.0.0 at proxy.server.port, inside the region's namespace, as dfdaemon does;
// - the upstream registry comes from the `X-Dragonfly-Registry` header, then containerd's `ns` query
//   parameter, then proxy.registryMirror.addr;
// - only GETs matching a proxy.rules regex (mirrornet writes `blobs/sha256.*`) go through the peer's cache
//   (under storage.dir, below the node's --root): the region fetches a blob from the core ONCE (one upstream
//   request per digest, concurrent requests wait for it, later ones are served from the region's copy,
//   verified against its digest); everything else (manifests, HEAD, /v2/) is proxied straight to the
//   registry, as dfdaemon does.
// Distribution's pull-through cache (`--peer registry`) is the other stand-in; 2.8 fetches each blob twice
// from upstream on its first request and once more per concurrent request (see the lab's README notes).
//
//   node peer.js --config ROOT/etc/dragonfly/dfdaemon.yaml --root ROOT
// One JSON line per request on stdout: method, path, upstream, mode (hit, miss, wait, pass), status, bytes.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDfdaemonConfig } from './dfdaemon-config.js';

export interface PeerOptions {
  host: string;
  port: number;
  cacheDir: string;
  /** proxy.registryMirror.addr: the upstream when a request names none. */
  registryMirror: string;
  /** proxy.rules: a GET whose URL (upstream and path, no query) one of them matches goes through the cache. */
  rules: RegExp[];
  log?: (entry: Record<string, unknown>) => void;
}

/** Where the stand-in's cache finds the digest it keys on: a request a rule sends to the peer but that is no blob passes through. */
const BLOB_PATH = /\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'x-dragonfly-registry']);

/** The upstream origin of a request, as dfdaemon picks it. Pure. */
export function upstreamOf(headers: http.IncomingHttpHeaders, url: URL, registryMirror: string): string {
  const header = headers['x-dragonfly-registry'];
  const h = Array.isArray(header) ? header[0] : header;
  if (h) return new URL(h).origin;
  const ns = url.searchParams.get('ns');
  if (ns) return `${new URL(registryMirror).protocol}//${ns}`;
  return new URL(registryMirror).origin;
}

function forwardHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

function pathWithoutNs(url: URL): string {
  const q = new URLSearchParams(url.searchParams);
  q.delete('ns');
  const s = q.toString();
  return `${url.pathname}${s ? `?${s}` : ''}`;
}

export async function startPeer(opts: PeerOptions): Promise<{ server: http.Server; url: string; stats: { upstreamBytes: number; servedBytes: number } }> {
  const blobsDir = join(opts.cacheDir, 'blobs');
  const tmpDir = join(opts.cacheDir, 'tmp');
  mkdirSync(blobsDir, { recursive: true });
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const inflight = new Map<string, Promise<void>>();
  const stats = { upstreamBytes: 0, servedBytes: 0 };
  const log = opts.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
  const fileOf = (digest: string) => join(blobsDir, digest.replace(':', '-'));

  const serveFile = (res: http.ServerResponse, digest: string, done: (bytes: number) => void) => {
    const path = fileOf(digest);
    const size = statSync(path).size;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'docker-content-digest': digest, 'accept-ranges': 'none' });
    const rs = createReadStream(path);
    rs.pipe(res);
    rs.on('end', () => {
      stats.servedBytes += size;
      done(size);
    });
    rs.on('error', () => res.destroy());
  };

  const pass = (req: http.IncomingMessage, res: http.ServerResponse, upstream: string, path: string, done: (status: number, bytes: number) => void) => {
    const target = new URL(path, upstream);
    const up = http.request(target, { method: req.method, headers: { ...forwardHeaders(req.headers), host: target.host } }, (ur) => {
      let bytes = 0;
      ur.on('data', (d: Buffer) => (bytes += d.length));
      res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers) as http.OutgoingHttpHeaders);
      ur.pipe(res);
      ur.on('end', () => {
        stats.upstreamBytes += bytes;
        done(ur.statusCode ?? 502, bytes);
      });
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`peer: upstream ${upstream} failed: ${err.message}\n`);
      done(502, 0);
    });
    req.pipe(up);
  };

  /** The one upstream fetch of a blob: streamed to the first client and into the cache at once. */
  const fetchBlob = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    upstream: string,
    path: string,
    digest: string,
    done: (status: number, bytes: number) => void,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const target = new URL(path, upstream);
      const up = http.request(target, { method: 'GET', headers: { ...forwardHeaders(req.headers), host: target.host } }, (ur) => {
        if (ur.statusCode !== 200) {
          res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers) as http.OutgoingHttpHeaders);
          ur.pipe(res);
          ur.on('end', () => done(ur.statusCode ?? 502, 0));
          reject(new Error(`upstream answered ${ur.statusCode}`));
          return;
        }
        const tmp = join(tmpDir, `${digest.replace(':', '-')}.${process.pid}.${Date.now()}`);
        const file = createWriteStream(tmp, { mode: 0o644 });
        const hash = createHash('sha256');
        let bytes = 0;
        const headers = forwardHeaders(ur.headers) as http.OutgoingHttpHeaders;
        res.writeHead(200, headers);
        ur.on('data', (d: Buffer) => {
          bytes += d.length;
          hash.update(d);
          file.write(d);
          res.write(d);
        });
        ur.on('end', () => {
          stats.upstreamBytes += bytes;
          stats.servedBytes += bytes;
          res.end();
          file.end(() => {
            if (`sha256:${hash.digest('hex')}` === digest) {
              renameSync(tmp, fileOf(digest));
              resolve();
            } else {
              rmSync(tmp, { force: true });
              reject(new Error(`blob ${digest} from ${upstream} does not match its digest`));
            }
            done(200, bytes);
          });
        });
        ur.on('error', (err) => {
          file.destroy();
          rmSync(tmp, { force: true });
          res.destroy();
          reject(err);
          done(502, bytes);
        });
      });
      up.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`peer: upstream ${upstream} failed: ${err.message}\n`);
        reject(err);
        done(502, 0);
      });
      up.end();
    });

  const server = http.createServer((req, res) => {
    const started = Date.now();
    let url: URL;
    let upstream: string;
    try {
      url = new URL(req.url ?? '/', 'http://peer.invalid');
      upstream = upstreamOf(req.headers, url, opts.registryMirror);
    } catch {
      res.writeHead(400).end('bad request\n');
      return;
    }
    const path = pathWithoutNs(url);
    const entry = (mode: string) => (status: number, bytes: number) =>
      log({ t: new Date().toISOString(), method: req.method, path: url.pathname, upstream, mode, status, bytes, ms: Date.now() - started });
    const m = BLOB_PATH.exec(url.pathname);
    const p2p = req.method === 'GET' && opts.rules.some((r) => r.test(`${upstream}${url.pathname}`));
    if (!p2p || !m) return pass(req, res, upstream, path, entry('pass'));
    const digest = m[2]!;
    if (existsSync(fileOf(digest))) return serveFile(res, digest, (b) => entry('hit')(200, b));
    const running = inflight.get(digest);
    if (running) {
      running.then(
        () => serveFile(res, digest, (b) => entry('wait')(200, b)),
        () => pass(req, res, upstream, path, entry('pass-after-failure')),
      );
      return;
    }
    const p = fetchBlob(req, res, upstream, path, digest, entry('miss'));
    inflight.set(digest, p);
    p.catch(() => undefined).finally(() => inflight.delete(digest));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return { server, url: `http://${opts.host}:${opts.port}`, stats };
}

async function main(argv: string[]): Promise<void> {
  const get = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (!v) throw new Error(`--${k} is required`);
    return v;
  };
  const configPath = get('config');
  const c = parseDfdaemonConfig(readFileSync(configPath, 'utf8'), configPath);
  const peer = await startPeer({
    host: '0.0.0.0',
    port: c.proxyPort,
    cacheDir: join(get('root'), c.storageDir),
    registryMirror: c.registryMirror,
    rules: c.rules,
  });
  const settings = { registryMirror: c.registryMirror, rules: c.rules.map((r) => r.source), storageDir: c.storageDir };
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), msg: 'peer listening', url: peer.url, config: configPath, ...settings })}\n`);
  const stop = () => peer.server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`peer: ${err.message}\n`);
    process.exit(1);
  });
}

export const PEER_SCRIPT = fileURLToPath(import.meta.url);
