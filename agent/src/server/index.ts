// The agent's HTTP endpoint: GitHub webhook receiver (HMAC-SHA256, constant-time), health, readiness and
// Prometheus metrics. Everything it does to the agent goes through the callbacks it is given.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

export interface ServerDeps {
  log: Logger;
  registry: Registry;
  /** The webhook secret (resolved); without one, /hooks/github answers 404. */
  webhookSecret?: string;
  /** The branch the agent follows: pushes to other branches are acknowledged and ignored. */
  branch: string;
  trigger: (reason: string) => void;
  healthy: () => boolean;
  ready: () => boolean;
}

/** The body, or undefined when it is larger than `limit` (the rest is drained, not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function handleWebhook(deps: ServerDeps, headers: IncomingMessage['headers'], body: Buffer): Promise<{ status: number; message: string }> {
  if (!deps.webhookSecret) return { status: 404, message: 'webhooks are not enabled on this agent' };
  const signature = headers['x-hub-signature-256'];
  if (typeof signature !== 'string' || !signature.startsWith('sha256=')) return { status: 401, message: 'missing X-Hub-Signature-256' };
  let ok = false;
  try {
    ok = await verify(deps.webhookSecret, body.toString('utf8'), signature);
  } catch {
    ok = false;
  }
  if (!ok) return { status: 401, message: 'bad signature' };
  const event = String(headers['x-github-event'] ?? '');
  if (event === 'ping') return { status: 200, message: 'pong' };
  if (event !== 'push') return { status: 202, message: `ignored event ${event}` };
  let ref = '';
  try {
    ref = String((JSON.parse(body.toString('utf8')) as { ref?: unknown }).ref ?? '');
  } catch {
    return { status: 400, message: 'the payload is not JSON' };
  }
  if (ref !== `refs/heads/${deps.branch}`) return { status: 202, message: `ignored push to ${ref}` };
  deps.trigger('webhook');
  return { status: 202, message: 'reconcile triggered' };
}

export function createAgentServer(deps: ServerDeps): Server {
  const log = deps.log.child({ component: 'server' });
  return createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://agent');
      try {
        if (req.method === 'POST' && url.pathname === '/hooks/github') {
          const body = await readBody(req, MAX_WEBHOOK_BYTES);
          if (!body) {
            res.setHeader('connection', 'close');
            return send(res, 413, 'payload too large\n');
          }
          const result = await handleWebhook(deps, req.headers, body);
          log.info({ status: result.status, event: req.headers['x-github-event'], delivery: req.headers['x-github-delivery'] }, 'webhook');
          return send(res, result.status, `${result.message}\n`);
        }
        if (req.method === 'GET' && url.pathname === '/healthz') return deps.healthy() ? send(res, 200, 'ok\n') : send(res, 503, 'reconcile loop stalled\n');
        if (req.method === 'GET' && url.pathname === '/readyz') return deps.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'not reconciled yet\n');
        if (req.method === 'GET' && url.pathname === '/metrics') return send(res, 200, await deps.registry.metrics(), deps.registry.contentType);
        return send(res, 404, 'not found\n');
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, 'request failed');
        return send(res, 500, 'internal error\n');
      }
    })();
  });
}
