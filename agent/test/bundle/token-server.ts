// A registry token server as Harbor's core is one for its distribution registry (docs/spec/auth/token.md of
// distribution): it checks an account's Basic credentials, grants of the scopes asked only the actions that
// account may have (anonymous: none), and answers a JWT signed with the key of a self-signed certificate (made
// with openssl), which docker-registry trusts as its `rootcertbundle`. The header names the key by `kid`, its
// libtrust fingerprint, as Harbor's tokens do; every request is recorded (who asked, for which scopes).
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';

export interface TokenAccount {
  password: string;
  /** The actions the account has on every repository (Harbor: its role or robot permissions in the project). */
  actions: string[];
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  /** The account that asked, undefined when anonymous. */
  account: string | undefined;
  service: string | null;
  /** Each `scope` parameter, decoded. */
  scopes: string[];
  /** 200 with a token, 401 for credentials the server does not know. */
  status: number;
  granted: Access[];
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/service/token` (Harbor's path). */
  realm: string;
  /** `127.0.0.1:PORT` */
  host: string;
  service: string;
  issuer: string;
  /** The certificate (PEM) whose key signs the tokens: the registry's `rootcertbundle`. */
  certificate: string;
  requests: TokenRequest[];
  /** Seconds a token is valid from its issue (distribution allows 60 s of leeway past `exp`); default 300. */
  lifetime: number;
  /** The `auth:` lines of a docker-registry configuration that trusts this server. */
  registryConfig(): string[];
  /** A token as the server issues it, for the test itself to read the registry with. */
  tokenFor(account: string | undefined, scopes: string[]): string;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** libtrust's key ID (docker/libtrust keyIDFromCryptoKey): SHA-256 of the DER public key, 240 bits in base32, groups of 4. */
function libtrustKeyId(spkiDer: Buffer): string {
  const bytes = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let s = '';
  for (let i = 0; i + 5 <= bits.length; i += 5) s += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return s.match(/.{1,4}/g)!.join(':');
}

/** `type:name:actions` (a name may hold a colon: the actions are after the last one). */
function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function basicAccount(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The token server on a free port of 127.0.0.1, its certificate and key made in `dir`. */
export async function startTokenServer(dir: string, accounts: Record<string, TokenAccount>): Promise<TokenServer> {
  const keyFile = join(dir, 'token-signing.key');
  const certificate = join(dir, 'token-signing.crt');
  const issuer = 'mirrornet-test-token-issuer';
  const service = 'mirrornet-test-registry';
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certificate, '-days', '1', '-subj', `/CN=${issuer}`], {
    stdio: 'ignore',
  });
  const privateKey = createPrivateKey(readFileSync(keyFile));
  const kid = libtrustKeyId(new X509Certificate(readFileSync(certificate)).publicKey.export({ type: 'spki', format: 'der' }));

  const server: Partial<TokenServer> & { requests: TokenRequest[]; lifetime: number } = { requests: [], lifetime: 300 };

  const issue = (account: string | undefined, access: Access[]) => {
    const iat = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', kid };
    const claims = { iss: issuer, sub: account ?? '', aud: service, exp: iat + server.lifetime, nbf: iat, iat, jti: randomUUID(), access };
    const signed = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signed}.${b64url(sign('sha256', Buffer.from(signed), privateKey))}`;
    return { token, access_token: token, expires_in: server.lifetime, issued_at: new Date(iat * 1000).toISOString() };
  };

  /** Harbor's rule: of each repository scope asked, the actions the account has; nothing for anonymous. */
  const grant = (account: TokenAccount | undefined, scopes: string[]): Access[] =>
    scopes
      .map(parseScope)
      .filter((a): a is Access => a?.type === 'repository')
      .map((a) => ({ ...a, actions: a.actions.filter((x) => account?.actions.includes(x)) }));

  const http_ = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/service/token') {
      res.writeHead(404).end();
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const credentials = basicAccount(req.headers.authorization);
    const account = credentials ? accounts[credentials.username] : undefined;
    const asked = { account: credentials?.username, service: url.searchParams.get('service'), scopes };
    if (credentials && account?.password !== credentials.password) {
      server.requests.push({ ...asked, status: 401, granted: [] });
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const granted = grant(account, scopes);
    server.requests.push({ ...asked, status: 200, granted });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(issue(credentials?.username, granted)));
  });
  await new Promise<void>((resolve) => http_.listen(0, '127.0.0.1', () => resolve()));
  const port = (http_.address() as net.AddressInfo).port;
  const realm = `http://127.0.0.1:${port}/service/token`;

  return Object.assign(server, {
    realm,
    host: `127.0.0.1:${port}`,
    service,
    issuer,
    certificate,
    registryConfig: () => [
      'auth:',
      '  token:',
      `    realm: ${realm}`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${certificate}`,
    ],
    tokenFor: (name: string | undefined, scopes: string[]) => issue(name, grant(name === undefined ? undefined : accounts[name], scopes)).token,
    close: () =>
      new Promise<void>((resolve) => {
        http_.closeAllConnections();
        http_.close(() => resolve());
      }),
  });
}
