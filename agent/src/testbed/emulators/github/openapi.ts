// GitHub's published REST API description (GitHub's own OpenAPI document with Octokit's extensions, from the
// @octokit/openapi package, trimmed by agent/scripts/trim-github-openapi.js to the operations the emulator serves:
// api.github.com.json beside this file), used by the emulator to route every request to an operation and to check
// path parameters and request bodies the way GitHub does: an unknown path or method is a 404, a body that does
// not match the operation's requestBody schema is a 422 "Invalid request." with GitHub's wording (GitHub checks
// bodies with a JSON Schema validator whose messages read `"body" wasn't supplied.` and
// `For 'properties/body', nil is not a string.`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type JsonSchema = { [key: string]: unknown };

/** The descriptions kept in the repository: api.github.com's. */
export type SpecName = 'api.github.com';

export interface OpenApiDocument {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
  'x-multi-segment'?: boolean;
}

export interface Operation {
  method: string;
  /** The path template, e.g. /repos/{owner}/{repo}/issues/{issue_number}/comments. */
  template: string;
  operationId: string;
  /** The operation's page in GitHub's docs (GitHub's error bodies carry it). */
  docsUrl: string;
  parameters: Parameter[];
  requestBody?: { required: boolean; schema?: JsonSchema };
  /** Response schemas by status code (application/json). */
  responses: Record<string, JsonSchema | undefined>;
}

export type RouteMatch =
  | { kind: 'operation'; operation: Operation; params: Record<string, string> }
  | { kind: 'unknown-path' }
  | { kind: 'unknown-method'; template: string }
  | { kind: 'bad-parameter'; operation: Operation; parameter: string };

interface CompiledPath {
  template: string;
  regex: RegExp;
  names: string[];
  /** Literal segments first: /issues/comments/{id} beats /issues/{issue_number}/{x}. */
  specificity: number[];
  methods: Map<string, Operation>;
}

export const GITHUB_DOCS = 'https://docs.github.com/rest';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The trimmed descriptions: agent/src/testbed/emulators/github/<name>.json (this module runs from agent/dist). */
function specFile(name: SpecName): string {
  return fileURLToPath(new URL(`../../../../../src/testbed/emulators/github/${name}.json`, import.meta.url));
}

const cache = new Map<string, OpenApiSpec>();

/** Load (once per process) one of the descriptions. */
export function loadGithubSpec(name: SpecName = 'api.github.com'): OpenApiSpec {
  let spec = cache.get(name);
  if (!spec) {
    const doc = JSON.parse(readFileSync(specFile(name), 'utf8')) as OpenApiDocument;
    spec = new OpenApiSpec(doc, name);
    cache.set(name, spec);
  }
  return spec;
}

export class OpenApiSpec {
  private readonly compiled: CompiledPath[] = [];

  constructor(
    readonly doc: OpenApiDocument,
    readonly name: string,
  ) {
    for (const [template, item] of Object.entries(doc.paths)) {
      const names: string[] = [];
      const shared = (item['parameters'] as unknown[] | undefined) ?? [];
      const methods = new Map<string, Operation>();
      for (const m of METHODS) {
        const raw = item[m] as Record<string, unknown> | undefined;
        if (!raw) continue;
        methods.set(m.toUpperCase(), this.operation(m.toUpperCase(), template, raw, shared));
      }
      const multi = new Set<string>();
      for (const op of methods.values()) for (const p of op.parameters) if (p.in === 'path' && p['x-multi-segment']) multi.add(p.name);
      const specificity: number[] = [];
      const pattern = template
        .split('/')
        .map((seg) => {
          const m = /^\{([^}]+)\}$/.exec(seg);
          if (!m) {
            specificity.push(2);
            return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          }
          names.push(m[1]!);
          const isMulti = multi.has(m[1]!);
          specificity.push(isMulti ? 0 : 1);
          return isMulti ? '(.+?)' : '([^/]+)';
        })
        .join('/');
      this.compiled.push({ template, regex: new RegExp(`^${pattern}$`), names, specificity, methods });
    }
    this.compiled.sort((a, b) => {
      for (let i = 0; i < Math.max(a.specificity.length, b.specificity.length); i++) {
        const d = (b.specificity[i] ?? -1) - (a.specificity[i] ?? -1);
        if (d) return d;
      }
      return 0;
    });
  }

  private operation(method: string, template: string, raw: Record<string, unknown>, shared: unknown[]): Operation {
    const parameters = [...shared, ...((raw['parameters'] as unknown[] | undefined) ?? [])].map((p) => this.deref(p) as Parameter);
    const body = raw['requestBody'] ? (this.deref(raw['requestBody']) as { required?: boolean; content?: Record<string, { schema?: JsonSchema }> }) : undefined;
    const responses: Record<string, JsonSchema | undefined> = {};
    for (const [code, r] of Object.entries((raw['responses'] as Record<string, unknown> | undefined) ?? {})) {
      const res = this.deref(r) as { content?: Record<string, { schema?: JsonSchema }> };
      responses[code] = res.content?.['application/json']?.schema;
    }
    const docs = (raw['externalDocs'] as { url?: string } | undefined)?.url ?? GITHUB_DOCS;
    const jsonBody = body?.content?.['application/json'] ?? Object.values(body?.content ?? {})[0];
    return {
      method,
      template,
      operationId: String(raw['operationId'] ?? `${method} ${template}`),
      docsUrl: docs,
      parameters,
      ...(body ? { requestBody: { required: Boolean(body.required), ...(jsonBody?.schema ? { schema: jsonBody.schema } : {}) } } : {}),
      responses,
    };
  }

  /** Follow a local `$ref` (#/components/...). */
  deref(node: unknown): unknown {
    let cur = node;
    for (let i = 0; i < 32 && cur && typeof cur === 'object' && typeof (cur as { $ref?: unknown }).$ref === 'string'; i++) {
      const ref = (cur as { $ref: string }).$ref;
      if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
      let target: unknown = this.doc;
      for (const part of ref.slice(2).split('/')) target = (target as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      if (target === undefined) throw new Error(`dangling $ref ${ref}`);
      cur = target;
    }
    return cur;
  }

  /** The operation for a method and a path (without query string or base path prefix). */
  match(method: string, path: string): RouteMatch {
    let pathOnly: CompiledPath | undefined;
    for (const c of this.compiled) {
      const m = c.regex.exec(path);
      if (!m) continue;
      const op = c.methods.get(method.toUpperCase()) ?? (method.toUpperCase() === 'HEAD' ? c.methods.get('GET') : undefined);
      if (!op) {
        pathOnly ??= c;
        continue;
      }
      const params: Record<string, string> = {};
      let bad: string | undefined;
      c.names.forEach((name, i) => {
        let value: string;
        try {
          value = decodeURIComponent(m[i + 1]!);
        } catch {
          bad ??= name;
          return;
        }
        params[name] = value;
        const def = op.parameters.find((p) => p.in === 'path' && p.name === name);
        if (def?.schema && !scalarMatches(this, def.schema, value)) bad ??= name;
      });
      if (bad) return { kind: 'bad-parameter', operation: op, parameter: bad };
      return { kind: 'operation', operation: op, params };
    }
    return pathOnly ? { kind: 'unknown-method', template: pathOnly.template } : { kind: 'unknown-path' };
  }

  /** Every operation (for listing what the emulator could route). */
  operations(): Operation[] {
    return this.compiled.flatMap((c) => [...c.methods.values()]);
  }

  /** Check a value against a schema; GitHub's messages, empty when it matches. */
  validate(schema: JsonSchema, data: unknown): string[] {
    const errors: string[] = [];
    validateNode(this, schema, data, [], errors, 0);
    return errors;
  }
}

/** A path or query parameter (a string on the wire) against its scalar schema. */
function scalarMatches(spec: OpenApiSpec, schema: JsonSchema, value: string): boolean {
  const s = spec.deref(schema) as JsonSchema;
  switch (s['type']) {
    case 'integer':
      return /^-?\d+$/.test(value);
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value));
    case 'boolean':
      return value === 'true' || value === 'false';
    default:
      if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).includes(value);
      return true;
  }
}

/** Ruby's inspect, as GitHub's messages print values: nil, "text", 5, ["a", "b"], {"k" => v}. */
function inspect(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(inspect).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)} => ${inspect(v)}`)
      .join(', ')}}`;
  return String(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(type: string, value: unknown): boolean {
  const actual = typeOf(value);
  return type === actual || (type === 'number' && actual === 'integer');
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeList(types: string[]): string {
  const words = types.map((t) => (t === 'null' ? 'null' : article(t)));
  if (words.length <= 1) return words[0] ?? 'valid';
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function where(pointer: string[]): string {
  return pointer.length ? `For '${pointer.join('/')}', ` : '';
}

function validateNode(spec: OpenApiSpec, raw: JsonSchema, data: unknown, pointer: string[], errors: string[], depth: number): boolean {
  if (depth > 64) return true;
  const schema = spec.deref(raw) as JsonSchema;
  const before = errors.length;
  if (data === null && schema['nullable'] === true) return true;

  if (Array.isArray(schema['allOf'])) for (const sub of schema['allOf'] as JsonSchema[]) validateNode(spec, sub, data, pointer, errors, depth + 1);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const subs = schema[key] as JsonSchema[] | undefined;
    if (!Array.isArray(subs)) continue;
    const matched = subs.filter((sub) => validateNode(spec, sub, data, pointer, [], depth + 1)).length;
    if (matched === 0) errors.push(`${where(pointer)}No subschema in "${key}" matched.`);
    else if (key === 'oneOf' && matched > 1) errors.push(`${where(pointer)}More than one subschema in "oneOf" matched.`);
  }

  const rawType = schema['type'];
  const types = (Array.isArray(rawType) ? rawType : rawType !== undefined ? [rawType] : []) as string[];
  if (types.length) {
    const allowed = schema['nullable'] === true ? [...types, 'null'] : types;
    if (!allowed.some((t) => typeMatches(t, data))) {
      errors.push(`${where(pointer)}${inspect(data)} is not ${typeList(allowed)}.`);
      return false;
    }
  }
  if (Array.isArray(schema['enum']) && !(schema['enum'] as unknown[]).some((e) => deepEqual(e, data))) {
    errors.push(`${where(pointer)}${JSON.stringify(data)} is not a member of ${JSON.stringify(schema['enum']).replace(/","/g, '", "')}.`);
  }

  if (typeof data === 'string') {
    const min = schema['minLength'] as number | undefined;
    const max = schema['maxLength'] as number | undefined;
    const length = [...data].length;
    if (min !== undefined && length < min) errors.push(`${where(pointer)}At least ${min} characters are required; only ${length} were supplied.`);
    if (max !== undefined && length > max) errors.push(`${where(pointer)}At most ${max} characters are allowed; ${length} were supplied.`);
    if (typeof schema['pattern'] === 'string') {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema['pattern'] as string, 'u');
      } catch {
        re = undefined;
      }
      if (re && !re.test(data)) errors.push(`${where(pointer)}${inspect(data)} does not match /${schema['pattern'] as string}/.`);
    }
  }
  if (typeof data === 'number') {
    const min = schema['minimum'] as number | undefined;
    const max = schema['maximum'] as number | undefined;
    if (min !== undefined && (schema['exclusiveMinimum'] === true ? data <= min : data < min))
      errors.push(`${where(pointer)}${data} is less than ${schema['exclusiveMinimum'] === true ? 'or equal to ' : ''}${min}.`);
    if (max !== undefined && (schema['exclusiveMaximum'] === true ? data >= max : data > max))
      errors.push(`${where(pointer)}${data} exceeds ${schema['exclusiveMaximum'] === true ? 'or equals ' : ''}${max}.`);
  }
  if (Array.isArray(data)) {
    const min = schema['minItems'] as number | undefined;
    const max = schema['maxItems'] as number | undefined;
    if (min !== undefined && data.length < min) errors.push(`${where(pointer)}At least ${min} items are required; only ${data.length} were supplied.`);
    if (max !== undefined && data.length > max) errors.push(`${where(pointer)}At most ${max} items are allowed; ${data.length} were supplied.`);
    if (schema['uniqueItems'] === true && new Set(data.map((d) => JSON.stringify(d))).size !== data.length)
      errors.push(`${where(pointer)}Duplicate items are not allowed.`);
    if (schema['items'] && typeof schema['items'] === 'object') {
      data.forEach((item) => validateNode(spec, schema['items'] as JsonSchema, item, [...pointer, 'items'], errors, depth + 1));
    }
  }
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const obj = data as Record<string, unknown>;
    const properties = (schema['properties'] as Record<string, JsonSchema> | undefined) ?? {};
    for (const key of (schema['required'] as string[] | undefined) ?? []) {
      if (!(key in obj)) errors.push(`${where(pointer)}"${key}" wasn't supplied.`);
    }
    for (const [key, value] of Object.entries(obj)) {
      const sub = properties[key];
      if (sub) {
        validateNode(spec, sub, value, [...pointer, 'properties', key], errors, depth + 1);
        continue;
      }
      const extra = schema['additionalProperties'];
      if (extra === false) errors.push(`${where(pointer)}"${key}" is not a permitted key.`);
      else if (extra && typeof extra === 'object') validateNode(spec, extra as JsonSchema, value, [...pointer, 'additionalProperties'], errors, depth + 1);
    }
    const count = Object.keys(obj).length;
    const minP = schema['minProperties'] as number | undefined;
    const maxP = schema['maxProperties'] as number | undefined;
    if (minP !== undefined && count < minP) errors.push(`${where(pointer)}At least ${minP} properties are required; only ${count} were supplied.`);
    if (maxP !== undefined && count > maxP) errors.push(`${where(pointer)}At most ${maxP} properties are allowed; ${count} were supplied.`);
  }
  return errors.length === before;
}
