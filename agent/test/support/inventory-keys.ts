// The constraint inventory's keys of a request a client sent (model/constraints/types.ts: `METHOD /path
// body.field`, `query.` and `header.` for parameters, `[]` for the items of an array of objects), so that a
// test can fail on a key a provider sends without an inventory entry.

/** The dotted keys of a JSON body: objects descend, arrays of objects descend as `[]`, anything else is a leaf. */
function bodyKeys(value: unknown, prefix: string, out: Set<string>): void {
  if (Array.isArray(value)) {
    if (value.some((v) => v && typeof v === 'object' && !Array.isArray(v))) for (const v of value) bodyKeys(v, `${prefix}[]`, out);
    else out.add(prefix);
    return;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) bodyKeys(v, prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.add(prefix);
}

export interface SentRequest {
  method: string;
  /** The API's path template, e.g. /projects/{project_name_or_id}. */
  template: string;
  query: URLSearchParams;
  /** Header parameters the API declares (not Authorization and the like). */
  headers?: string[];
  body: unknown;
}

/** Every inventory key of one request. */
export function requestKeys(r: SentRequest): string[] {
  const at = `${r.method} ${r.template}`;
  const keys = new Set<string>();
  for (const name of r.query.keys()) keys.add(`${at} query.${name}`);
  for (const h of r.headers ?? []) keys.add(`${at} header.${h}`);
  if (r.body !== undefined) {
    const fields = new Set<string>();
    bodyKeys(r.body, '', fields);
    for (const f of fields) if (f) keys.add(`${at} body.${f}`);
  }
  return [...keys];
}
