// A minimal client of the OCI distribution API (opencontainers/distribution-spec): blob existence (HEAD),
// monolithic upload (POST, then PUT with the digest), manifest PUT, manifest HEAD/GET and blob GET (each
// checked against its digest; a blob may come through a registry mirror, as dfdaemon serves it). Auth: the
// registry's 401 challenge (WWW-Authenticate) decides — Basic, or a Bearer token from its realm (Harbor,
// Docker Hub), with a username and password when given. Every request is bounded by a timeout; every failure
// is a sentence naming the registry and what to do. One module, so a library (e.g. oras) can replace it.
import { createHash } from 'node:crypto';
import { SourceError } from '../errors.js';
import { failureOf, httpRequest, NoAnswer, type HttpResponse } from '../host/http.js';

/** A registry (or a site's gateway) that refused, did not answer (`unreachable`), or sent the wrong bytes (`content`). */
export class RegistryError extends SourceError {
  /** What arrived is not the content asked for (another digest, too large): wrong bytes, not a failure to fetch. */
  readonly content: boolean;
  constructor(userMessage: string, opts: { cause?: unknown; unreachable?: boolean; content?: boolean } = {}) {
    const { content = false, ...rest } = opts;
    super(userMessage, rest);
    this.content = content;
  }
}

function wrongContent(message: string): RegistryError {
  return new RegistryError(message, { content: true });
}

function unreachable(message: string, cause: unknown): RegistryError {
  return new RegistryError(message, { cause, unreachable: true });
}

/** Where to push: `oci://HOST[:PORT]/PATH[:TAG]` over HTTPS; `oci+http://...` over plain HTTP (a local or private test registry). */
export interface OciTarget {
  /** `https://host:port` or `http://host:port`. */
  base: string;
  host: string;
  repository: string;
  tag?: string;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
/** Distribution refuses manifests over 4 MiB; nothing larger is read. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Parse `--to`, or say why it is not a reference this client takes (a reference with `@` is not repeated: it may hold credentials). */
export function parseOciReference(ref: string): OciTarget | { error: string } {
  const m = /^(oci|oci\+http):\/\/([^/@\s]+)\/([^@\s]+)$/.exec(ref);
  if (!m) {
    return {
      error: `${ref.includes('@') ? 'the reference' : ref} is not an OCI reference: give oci://HOST/PROJECT/REPO[:TAG] (oci+http:// for a registry without TLS), without credentials`,
    };
  }
  const [, scheme, host, path] = m as unknown as [string, string, string, string];
  const colon = path.lastIndexOf(':');
  const repository = colon > path.lastIndexOf('/') ? path.slice(0, colon) : path;
  const tag = colon > path.lastIndexOf('/') ? path.slice(colon + 1) : undefined;
  if (!REPOSITORY.test(repository)) return { error: `"${repository}" is not a repository name: lowercase letters, digits, and . _ - / between them` };
  if (tag !== undefined && !TAG.test(tag)) return { error: `"${tag}" is not a tag: letters, digits, . _ - (at most 128, not starting with . or -)` };
  return { base: `${scheme === 'oci' ? 'https' : 'http'}://${host}`, host, repository, ...(tag !== undefined ? { tag } : {}) };
}

interface ClientOptions {
  username?: string;
  password?: string;
  /** What the token is asked for: `push` (publish) or `pull` (agents); default push. */
  access?: 'push' | 'pull';
  /** How the caller's user gives credentials, for the sentences (default `--username and --password REF`). */
  credentialFlags?: string;
  /** Per request; default 60 s. */
  timeoutMs?: number;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The registry's own error sentence from an error body (`{"errors":[{"code","message"}]}`), short. */
async function registrySays(res: HttpResponse): Promise<string> {
  // At most 16 KiB of an error body is read; the rest is dropped.
  let text = '';
  try {
    for await (const chunk of res.body) {
      text += chunk.toString('utf8');
      if (text.length > 16_384) {
        await res.body.cancel();
        break;
      }
    }
  } catch {
    /* what arrived is enough */
  }
  try {
    const first = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (first) return `${first.code ?? ''} ${first.message ?? ''}`.trim().slice(0, 200);
  } catch {
    /* not JSON */
  }
  return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
}

export class OciClient {
  private authorization: string | undefined;
  /** Blobs pushed, being pushed, or known to be there. */
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly timeoutMs: number;

  constructor(
    readonly target: OciTarget,
    private readonly opts: ClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private get basic(): string | undefined {
    const { username, password } = this.opts;
    return username !== undefined && password !== undefined ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` : undefined;
  }

  private async send(url: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer }, what: string): Promise<HttpResponse> {
    try {
      return await httpRequest(url, { ...init, timeoutMs: this.timeoutMs });
    } catch (cause) {
      if (cause instanceof NoAnswer) {
        throw unreachable(`The registry ${new URL(url).host} did not answer within ${this.timeoutMs / 1000} s (${what}): check it is up and reachable.`, cause);
      }
      throw unreachable(
        `Cannot reach the registry ${new URL(url).host} (${failureOf(cause)}) to ${what}: check the address` +
          `${this.target.base.startsWith('https') ? ' (oci+http:// for a registry without TLS)' : ''} and that the registry is running.`,
        cause,
      );
    }
  }

  /** Get a token (Bearer) or use the credentials (Basic) the challenge asks for. */
  private async authenticate(challenge: Challenge | undefined, what: string): Promise<boolean> {
    if (challenge?.scheme === 'basic') {
      this.authorization = this.basic;
      return this.authorization !== undefined;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params['realm']) return false;
    const url = new URL(challenge.params['realm']);
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    url.searchParams.set('scope', `repository:${this.target.repository}:${this.opts.access === 'pull' ? 'pull' : 'pull,push'}`);
    const basic = this.basic;
    const res = await this.send(url.toString(), { headers: basic ? { authorization: basic } : {} }, `get a token to ${what}`);
    // Credentials the token server does not take are not a missing right: say which, without repeating them.
    if ((res.status === 401 || res.status === 403) && basic) {
      await res.body.cancel();
      throw new RegistryError(
        `The registry ${this.target.host} refused to ${what}: its token server ${url.host} did not accept the account ${this.opts.username} ` +
          `(HTTP ${res.status}): check the password REF given for it.`,
      );
    }
    if (res.status >= 500) {
      const says = (await registrySays(res)) || 'no detail';
      throw new RegistryError(`The registry ${this.target.host} could not ${what}: its token server ${url.host} answered HTTP ${res.status} (${says}).`, {
        unreachable: true,
      });
    }
    if (res.status < 200 || res.status > 299) {
      await res.body.cancel();
      return false;
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) return false;
    this.authorization = `Bearer ${token}`;
    return true;
  }

  /** One request to the registry, authenticated on its first 401; a second refusal is a sentence. */
  private async request(method: string, path: string, what: string, init: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
    const url = path.startsWith('http') ? path : `${this.target.base}${path}`;
    if (new URL(url).origin !== new URL(this.target.base).origin) {
      // Another host (the region's mirror): never the account's password, never its challenge; a registry token
      // already held may go along (the mirror passes it to the registry, as dfdaemon does).
      const bearer: Record<string, string> = this.authorization?.startsWith('Bearer ') ? { authorization: this.authorization } : {};
      return this.send(url, { method, headers: { ...init.headers, ...bearer }, ...(init.body ? { body: init.body } : {}) }, what);
    }
    const attempt = () =>
      this.send(url, { method, headers: { ...init.headers, ...(this.authorization ? { authorization: this.authorization } : {}) }, body: init.body }, what);
    let res = await attempt();
    if (res.status === 401) {
      // Every answer's body is read or dropped: an unread one keeps its connection (and the process) busy.
      await res.body.cancel();
      if (await this.authenticate(parseChallenge(res.headers.get('www-authenticate')), what)) res = await attempt();
    }
    if (res.status === 401 || res.status === 403) {
      await res.body.cancel();
      const right = this.opts.access === 'pull' ? 'pull' : 'push';
      const given = this.opts.username !== undefined ? `the account ${this.opts.username} may not ${right}` : 'it needs credentials';
      throw new RegistryError(
        `The registry ${this.target.host} refused to ${what} (HTTP ${res.status}: ${given} to ${this.target.repository}): ` +
          `give ${this.opts.credentialFlags ?? '--username and --password REF'} of an account with ${right} rights to that repository.`,
      );
    }
    return res;
  }

  private async fail(res: HttpResponse, what: string): Promise<never> {
    // A registry that errs or sheds load (behind its proxy: 502, 503) is down for now, as one that does not answer.
    throw new RegistryError(`The registry ${this.target.host} could not ${what} (HTTP ${res.status}: ${(await registrySays(res)) || 'no detail'}).`, {
      unreachable: res.status >= 500 || res.status === 429,
    });
  }

  /** Whether the repository already holds the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const what = `check the blob ${digest} in ${this.target.repository}`;
    const res = await this.request('HEAD', `/v2/${this.target.repository}/blobs/${digest}`, what);
    if (res.status === 200 || res.status === 404) await res.body.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(res, what);
  }

  /** Upload a blob in one piece (POST, then PUT with its digest) unless the repository has it already. */
  async pushBlob(digest: string, bytes: Buffer): Promise<void> {
    // Each blob once per client: a fleet's signatures share one config blob, and a channel's layers are there already.
    let pushing = this.blobs.get(digest);
    if (!pushing) {
      pushing = this.uploadBlob(digest, bytes);
      this.blobs.set(digest, pushing);
      pushing.catch(() => this.blobs.delete(digest));
    }
    return pushing;
  }

  /** Blobs the repository is known to hold (a manifest there references them): pushBlob does not ask again. */
  holds(digests: Iterable<string>): void {
    for (const d of digests) if (!this.blobs.has(d)) this.blobs.set(d, Promise.resolve());
  }

  private async uploadBlob(digest: string, bytes: Buffer): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const what = `upload the blob ${digest} to ${this.target.repository}`;
    const start = await this.request('POST', `/v2/${this.target.repository}/blobs/uploads/`, what);
    if (start.status !== 202) return this.fail(start, what);
    await start.body?.cancel();
    const location = start.headers.get('location');
    if (!location)
      throw new RegistryError(`The registry ${this.target.host} started an upload without a Location header: it does not follow the OCI distribution API.`);
    const url = new URL(location, this.target.base);
    url.searchParams.set('digest', digest);
    const put = await this.request('PUT', url.toString(), what, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) return this.fail(put, what);
    await put.body?.cancel();
  }

  /** The digest a tag (or digest) points at now, from one HEAD request; undefined when there is none. */
  async manifestDigest(reference: string): Promise<string | undefined> {
    const what = `check ${this.target.repository}:${reference}`;
    const res = await this.request('HEAD', `/v2/${this.target.repository}/manifests/${reference}`, what, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await res.body.cancel();
      return undefined;
    }
    if (res.status !== 200) return this.fail(res, what);
    const digest = res.headers.get('docker-content-digest');
    if (!digest) return (await this.getManifest(reference))?.digest;
    return digest;
  }

  /** A manifest's bytes and digest (checked against the reference when it is a digest); undefined when there is none. */
  async getManifest(reference: string): Promise<{ bytes: Buffer; digest: string } | undefined> {
    const what = `read the manifest ${this.target.repository}:${reference}`;
    const res = await this.request('GET', `/v2/${this.target.repository}/manifests/${reference}`, what, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await res.body.cancel();
      return undefined;
    }
    if (res.status !== 200) return this.fail(res, what);
    const bytes = await this.readLimited(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256Of(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw wrongContent(`The registry ${this.target.host} answered ${reference} with content whose digest is ${digest}: refused.`);
    }
    return { bytes, digest };
  }

  /**
   * A blob, checked against its digest, at most `maxBytes`. With `mirror` (a registry mirror such as dfdaemon's
   * proxy, `http://host:port`), it is asked for it, naming this registry as containerd does (`?ns=host`).
   */
  async getBlob(digest: string, maxBytes: number, mirror?: string): Promise<Buffer> {
    const what = `read the blob ${digest} of ${this.target.repository}${mirror ? ` through the mirror ${new URL(mirror).host}` : ''}`;
    const path = `/v2/${this.target.repository}/blobs/${digest}`;
    const url = mirror ? `${mirror.replace(/\/$/, '')}${path}?ns=${encodeURIComponent(this.target.host)}` : path;
    const res = await this.request('GET', url, what);
    if (res.status !== 200) return this.fail(res, what);
    const bytes = await this.readLimited(res, maxBytes, what);
    const got = sha256Of(bytes);
    if (got !== digest) throw wrongContent(`The blob ${digest} of ${this.target.repository} arrived with the digest ${got}: refused, nothing applied.`);
    return bytes;
  }

  private async readLimited(res: HttpResponse, maxBytes: number, what: string): Promise<Buffer> {
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await res.body.cancel();
      throw wrongContent(`The registry ${this.target.host} offered ${declared} bytes to ${what}; at most ${maxBytes} are taken.`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Uint8Array).length;
        if (size > maxBytes) throw wrongContent(`The registry ${this.target.host} sent more than ${maxBytes} bytes to ${what}: refused.`);
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
    } catch (cause) {
      if (cause instanceof RegistryError) throw cause;
      // The answer broke off (stalled, reset): as if the registry had not answered.
      throw unreachable(`The registry ${this.target.host} stopped sending while asked to ${what} (${failureOf(cause)}): the next tick tries again.`, cause);
    }
    return Buffer.concat(chunks);
  }

  /** PUT a manifest under a tag (or digest); returns the digest the registry computed. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const what = `store the manifest ${reference} in ${this.target.repository}`;
    const res = await this.request('PUT', `/v2/${this.target.repository}/manifests/${reference}`, what, {
      body: bytes,
      headers: { 'content-type': mediaType },
    });
    if (res.status !== 201) return this.fail(res, what);
    await res.body.cancel();
    return res.headers.get('docker-content-digest') ?? '';
  }
}
