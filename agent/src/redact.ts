// One redaction layer for everything mirrornet prints, logs or sends (errors, `--once` JSON, chat, commit
// statuses): credentials written into URLs — `https://user:token@host/...`, `https://token@host/...` — are
// replaced by `***` wherever such a URL appears in a text. Secret references (`env:NAME`, `file:/path`) are
// not secrets and stay readable.

// scheme://userinfo@ — for http(s) any userinfo (a bare token is a common form); elsewhere only user:password.
const HTTP_USERINFO = /\b(https?:\/\/)[^\s/?#@]+@/gi;
const PASSWORD_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]+):[^\s/?#@]*@/gi;

/** The text with the credentials of every URL in it replaced by `***`. */
export function redactText(text: string): string {
  return text.replace(HTTP_USERINFO, '$1***@').replace(PASSWORD_USERINFO, '$1$2:***@');
}

/** A copy of a value with every string in it redacted (for log records and JSON output). */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  if (value instanceof Error) return { type: value.name, message: redactText(value.message), stack: redactText(value.stack ?? '') } as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}
