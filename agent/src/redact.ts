// One redaction layer for everything mirrornet prints, logs or sends: log records, error sentences, the
// CLI's output (`--once` and `--format json` included), chat messages, commit statuses and pull-request
// comments. It masks with `***`:
//
// - credentials written into URLs: `https://user:token@host/...`, `https://token@host/...`;
// - every secret value this process resolved from a reference (host/secrets.ts registers them), or was
//   given as a credential (a Huawei Cloud key pair, a literal secret where a reference was expected), with
//   the forms it takes in text (URL-encoded, JSON-escaped, line by line); a secret that is itself a URL (a
//   chat webhook: Slack, Feishu, DingTalk and WeCom put the token in it) also by its token-bearing parts,
//   and is shown as its origin only: `https://oapi.dingtalk.com/***`;
// - credentials in this process's environment: variables named like one (TOKEN, SECRET, PASSWORD, KEY,
//   PSK, AK, SK ... e.g. GITHUB_TOKEN, HUAWEICLOUD_SDK_SK, MIRRORNET_PSK_*), read when a text is redacted;
// - credentials with a recognisable shape: signed Authorization headers (SDK-HMAC-SHA256, AWS4-HMAC-SHA256),
//   Bearer and Basic header values, GitHub and Slack tokens.
//
// Secret references (`env:NAME`, `file:/path`) are not secrets and stay readable. Values shorter than 6
// characters (8 for an environment variable that only looks like a credential by its name) are not masked:
// masking every "admin" or "true" would garble messages, and a secret that short is guessable anyway.
//
// The secrets registered here are process-wide on purpose (the one exception to "clients passed in"): a
// secret resolved deep inside a provider or the chat delivery can surface in any sink — a library's error
// that becomes a `cause`, the top-level handler in cli/main.ts, another component's log line — and a sink
// cannot be handed the values of resolutions that happen after it was built. The registry only grows
// (bounded) and holds nothing but the values to mask.

const MASKED = '***';
const MIN_KNOWN = 6;
const MIN_GUESSED = 8;
const MAX_REGISTERED = 1024;

/** A secret reference, as the model and the host read it: env:NAME or file:/absolute/path. */
export const SECRET_REFERENCE = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/[^\s]*)$/;

/** The environment variables that hold a credential, by name; those that say where one is (…_FILE, …_REF) do not. */
const CREDENTIAL_NAME = /TOKEN|SECRET|PASSW(?:OR)?D|PASSPHRASE|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|(?:^|_)(?:KEY|PSK|AK|SK|PAT|PASS)(?:_|$)/i;
const LOCATION_NAME = /_(?:FILE|PATH|DIR|REF|ENV|NAME)$/i;

// scheme://userinfo@ — for http(s) any userinfo (a bare token is a common form); elsewhere only user:password.
const HTTP_USERINFO = /\b(https?:\/\/)[^\s/?#@]+@/gi;
const PASSWORD_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):[^\s/?#@]*@/gi;

/** Credentials recognisable by their shape, wherever they stand. */
const SHAPES: readonly (readonly [RegExp, string])[] = [
  [HTTP_USERINFO, `$1${MASKED}@`],
  [PASSWORD_USERINFO, `$1$2:${MASKED}@`],
  // A signed request's Authorization value (Huawei Cloud's SDK, AWS SigV4): key id, signed headers, signature.
  [/\b([A-Z][A-Z0-9]*-HMAC-SHA256)\s+(?:Access|Credential)=[^"\n]*/g, `$1 ${MASKED}`],
  [/(\bauthorization["']?\s*[:=]\s*["']?(?:Basic|Bearer|token)\s+)[^\s"',}]+/gi, `$1${MASKED}`],
  [/\b(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/g, `$1${MASKED}`],
  [/\b(gh[pousr]_)[A-Za-z0-9]{30,}/g, `$1${MASKED}`],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, `github_pat_${MASKED}`],
  [/\b(xox[abposr]-)[A-Za-z0-9-]{10,}/g, `$1${MASKED}`],
];

/** What a caller knows besides the process-wide secrets: values it holds (resolved by someone else) and its vendor's patterns. */
interface RedactInput {
  secrets?: readonly (string | undefined)[];
  patterns?: readonly (readonly [RegExp, string])[];
}

interface Needle {
  find: string;
  replace: string;
}

const registered = new Set<string>();
let version = 0;

export function isSecretReference(text: string): boolean {
  return SECRET_REFERENCE.test(text);
}

/** Whether a text holds a URL with credentials in it (`https://user:token@...`). */
export function hasUrlCredentials(text: string): boolean {
  return new RegExp(HTTP_USERINFO.source, 'i').test(text) || new RegExp(PASSWORD_USERINFO.source, 'i').test(text);
}

/** Mask `value` from now on wherever this process prints, logs or sends it. */
export function registerSecret(value: string | undefined): void {
  const v = value?.trim();
  if (!v || v.length < MIN_KNOWN || isSecretReference(v)) return;
  if (registered.has(v)) return;
  registered.add(v);
  if (registered.size > MAX_REGISTERED) registered.delete(registered.values().next().value!);
  version++;
}

/** Whether an environment variable's name says it holds a credential. */
export function isCredentialVariable(name: string): boolean {
  return CREDENTIAL_NAME.test(name) && !LOCATION_NAME.test(name);
}

function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (!isCredentialVariable(name)) continue;
    const v = env[name]?.trim();
    if (v && v.length >= MIN_GUESSED && !isSecretReference(v)) out.push(v);
  }
  return out;
}

/** A part of a secret URL that carries the token: long, or with a digit in it (not "hook", "robot", "send"). */
function tokenLike(part: string, min: number): boolean {
  return part.length >= 16 || (part.length >= Math.max(min, 8) && /\d/.test(part));
}

/** The texts a secret may appear as, and what each becomes. */
function needlesOf(value: string, min: number): Needle[] {
  const out: Needle[] = [{ find: value, replace: MASKED }];
  const forms = new Set([encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
  if (value.includes('\n')) for (const line of value.split('\n')) if (line.trim().length >= min) forms.add(line.trim());
  let url: URL | undefined;
  try {
    url = /^https?:\/\//i.test(value) ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url) {
    out[0]!.replace = `${url.origin}/${MASKED}`;
    const at = value.indexOf('/', value.indexOf('//') + 2);
    const rest = at < 0 ? '' : value.slice(at);
    if (tokenLike(rest, min)) out.push({ find: rest, replace: `/${MASKED}` });
    for (const part of rest.split(/[/?&#=]/)) if (tokenLike(part, min)) forms.add(part);
  }
  forms.delete(value);
  for (const f of forms) if (f.length >= min) out.push({ find: f, replace: MASKED });
  return out;
}

let cache: { version: number; env: string[]; needles: Needle[] } | undefined;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Every needle to look for, longest first (a whole URL before its parts). */
function needles(input?: RedactInput): Needle[] {
  const env = environmentSecrets(process.env);
  if (!cache || cache.version !== version || !sameList(cache.env, env)) {
    const list = [...[...registered].flatMap((v) => needlesOf(v, MIN_KNOWN)), ...env.flatMap((v) => needlesOf(v, MIN_GUESSED))];
    cache = { version, env, needles: list.sort((a, b) => b.find.length - a.find.length) };
  }
  const extra = (input?.secrets ?? []).map((s) => s?.trim()).filter((s): s is string => Boolean(s && s.length >= MIN_KNOWN && !isSecretReference(s)));
  if (!extra.length) return cache.needles;
  return [...cache.needles, ...extra.flatMap((v) => needlesOf(v, MIN_KNOWN))].sort((a, b) => b.find.length - a.find.length);
}

function mask(text: string, list: readonly Needle[], input?: RedactInput): string {
  let out = text;
  for (const n of list) if (out.includes(n.find)) out = out.split(n.find).join(n.replace);
  for (const [re, to] of SHAPES) out = out.replace(re, to);
  for (const [re, to] of input?.patterns ?? []) out = out.replace(re, to);
  return out;
}

/** A configuration key whose value is a credential (containerd's `authorization`, daemon.json's `password`, a WireGuard `PrivateKey`). */
const SECRET_CONFIG_KEY = /password|passwd|secret|token|auth|credential|access_?key|api_?key|private_?key|psk/i;
/** `key = value` (TOML), `key: value` (YAML), `"key": value` (JSON), the value a string, an array on one line, or a bare word. */
const CONFIG_ENTRY = /(["']?)([A-Za-z][A-Za-z0-9_.-]*)\1([ \t]*[:=][ \t]*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|\[[^\]\n]*\]|[^\s,}\]#]+)/g;

/**
 * A configuration file's text (TOML, YAML, JSON) with the value of every credential-named key masked, unless it
 * is a secret reference (env:NAME, file:/path): a file found on a host may hold a credential nobody registered
 * (an operator's `authorization = ["Basic ..."]` in a hosts.toml), and a diff of it goes to chat.
 */
export function maskConfigSecrets(text: string): string {
  return text.replace(CONFIG_ENTRY, (whole, quote: string, key: string, sep: string, value: string) => {
    if (!SECRET_CONFIG_KEY.test(key)) return whole;
    const bare = value.replace(/^["'[]+|["'\]]+$/g, '');
    if (!bare || isSecretReference(bare)) return whole;
    const masked = value.startsWith('[') ? `["${MASKED}"]` : value.startsWith('"') || value.startsWith("'") ? `"${MASKED}"` : MASKED;
    return `${quote}${key}${quote}${sep}${masked}`;
  });
}

/** The text with every credential in it replaced by `***`. */
export function redactText(text: string, input?: RedactInput): string {
  return mask(text, needles(input), input);
}

function deep<T>(value: T, list: readonly Needle[], input: RedactInput | undefined, depth: number): T {
  if (typeof value === 'string') return mask(value, list, input) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => deep(v, list, input, depth + 1)) as T;
  if (value instanceof Error) {
    return {
      type: value.name,
      message: mask(value.message, list, input),
      stack: mask(value.stack ?? '', list, input),
      ...(value.cause !== undefined ? { cause: deep(value.cause, list, input, depth + 1) } : {}),
    } as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = deep(v, list, input, depth + 1);
  return out as T;
}

/** A copy of a value with every string in it redacted (log records, JSON output, chat notices); errors become plain records. */
export function redactDeep<T>(value: T, input?: RedactInput): T {
  return deep(value, needles(input), input, 0);
}
