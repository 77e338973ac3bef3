// Harbor's API description (api/v2.0/swagger.yaml, Swagger 2.0) as a check of the requests the Harbor
// emulator receives: the operation for the path and method, the query and header parameters it declares
// (type, bounds, required) and the body against its schema. It reads the description through the GitHub
// emulator's OpenAPI validator (openapi.ts there): Swagger 2.0 parameters become OpenAPI 3 parameters and a
// request body, `x-nullable` becomes `nullable`, int32/int8 get their bounds. Stricter than Harbor in one
// way, on purpose: a body property the description does not name is a problem, because go-swagger drops it
// silently and a client that sends one believes Harbor does something it does not.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { OpenApiSpec, type JsonSchema, type OpenApiDocument } from '../github/openapi.js';

/** A request as the emulator received it. */
export interface HarborRequest {
  method: string;
  /** The URL path, /api/v2.0 included. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
}

type Swagger = {
  basePath?: string;
  paths: Record<string, Record<string, unknown>>;
  parameters?: Record<string, unknown>;
  definitions?: Record<string, unknown>;
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];
const BOUNDS: Record<string, [number, number]> = { int8: [-128, 127], int32: [-2147483648, 2147483647] };

/** A Swagger 2.0 schema as the OpenAPI 3 validator reads it. */
function convertSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(convertSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'x-nullable' || k === 'x-isnullable') {
      if (v === true) out['nullable'] = true;
    } else if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([name, s]) => [name, convertSchema(s)]));
    } else out[k] = convertSchema(v);
  }
  const bounds = typeof out['format'] === 'string' ? BOUNDS[out['format']] : undefined;
  if (bounds && out['type'] === 'integer') {
    out['minimum'] ??= bounds[0];
    out['maximum'] ??= bounds[1];
  }
  if (out['properties'] && out['additionalProperties'] === undefined) out['additionalProperties'] = false;
  return out;
}

interface Param {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
}

/** Harbor's description, loaded and converted once per file. */
export class HarborOpenApi {
  readonly spec: OpenApiSpec;
  readonly basePath: string;

  constructor(swagger: Swagger) {
    this.basePath = (swagger.basePath ?? '/api/v2.0').replace(/\/+$/, '');
    const deref = (p: unknown): Record<string, unknown> => {
      const ref = (p as { $ref?: string }).$ref;
      return (ref ? swagger.parameters?.[ref.replace('#/parameters/', '')] : p) as Record<string, unknown>;
    };
    const paths: OpenApiDocument['paths'] = {};
    for (const [template, item] of Object.entries(swagger.paths)) {
      const shared = ((item['parameters'] as unknown[] | undefined) ?? []).map(deref);
      const ops: Record<string, unknown> = {};
      for (const m of METHODS) {
        const raw = item[m] as Record<string, unknown> | undefined;
        if (!raw) continue;
        const params = [...shared, ...((raw['parameters'] as unknown[] | undefined) ?? []).map(deref)];
        const body = params.find((p) => p['in'] === 'body');
        ops[m] = {
          operationId: raw['operationId'],
          parameters: params
            .filter((p) => p['in'] !== 'body')
            .map((p) => {
              const { name, in: where, required, description: _d, ...schema } = p;
              return { name, in: where, required, schema: convertSchema(schema) };
            }),
          ...(body ? { requestBody: { required: body['required'] === true, content: { 'application/json': { schema: convertSchema(body['schema']) } } } } : {}),
          responses: {},
        };
      }
      paths[template] = ops;
    }
    const doc = { openapi: '3.0.0', info: { version: 'swagger 2.0' }, paths, components: {}, definitions: convertSchema(swagger.definitions ?? {}) };
    this.spec = new OpenApiSpec(doc as OpenApiDocument, 'harbor');
  }

  static fromFile(file: string): HarborOpenApi {
    return new HarborOpenApi(parseYaml(readFileSync(file, 'utf8')) as Swagger);
  }

  /** The swagger path template of a request (for the constraint inventory's keys), if the description has it. */
  template(method: string, path: string): string | undefined {
    const m = this.spec.match(method, path.slice(this.basePath.length));
    return m.kind === 'operation' ? m.operation.template : undefined;
  }

  /** What the description does not allow in a request; empty when it matches. */
  check(req: HarborRequest): string[] {
    const where = `${req.method} ${req.path}`;
    if (!req.path.startsWith(`${this.basePath}/`)) return [`${where}: not under ${this.basePath}`];
    const m = this.spec.match(req.method, req.path.slice(this.basePath.length));
    if (m.kind === 'unknown-path') return [`${where}: no such path in Harbor's API description`];
    if (m.kind === 'unknown-method') return [`${where}: ${m.template} has no ${req.method}`];
    if (m.kind === 'bad-parameter') return [`${where}: path parameter ${m.parameter} does not match its type`];
    const op = m.operation;
    const params = op.parameters as Param[];
    const problems: string[] = [];
    const scalar = (p: Param, value: string, what: string): void => {
      const s = (p.schema ?? {}) as Record<string, unknown>;
      const bad = (why: string): void => void problems.push(`${where} (${op.operationId}): ${what} ${p.name}=${JSON.stringify(value)} ${why}`);
      if (s['type'] === 'integer' || s['type'] === 'number') {
        if (!/^-?\d+$/.test(value)) return bad(`is not ${String(s['type'])}`);
        if (typeof s['maximum'] === 'number' && Number(value) > s['maximum']) bad(`exceeds the maximum ${s['maximum']}`);
        if (typeof s['minimum'] === 'number' && Number(value) < s['minimum']) bad(`is below the minimum ${s['minimum']}`);
      } else if (s['type'] === 'boolean' && value !== 'true' && value !== 'false') bad('is not a boolean');
      else if (Array.isArray(s['enum']) && !(s['enum'] as unknown[]).includes(value)) bad(`is not one of ${JSON.stringify(s['enum'])}`);
      else if (typeof s['minLength'] === 'number' && value.length < s['minLength']) bad(`is shorter than ${s['minLength']}`);
    };
    for (const [name, value] of req.query) {
      const p = params.find((x) => x.in === 'query' && x.name === name);
      if (!p) problems.push(`${where} (${op.operationId}): query parameter ${name} is not in the description`);
      else scalar(p, value, 'query parameter');
    }
    for (const p of params) {
      if (p.in === 'query' && p.required && !req.query.has(p.name)) problems.push(`${where} (${op.operationId}): required query parameter ${p.name} missing`);
      if (p.in !== 'header') continue;
      const raw = req.headers[p.name.toLowerCase()];
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (value === undefined) {
        if (p.required) problems.push(`${where} (${op.operationId}): required header ${p.name} missing`);
      } else scalar(p, value, 'header');
    }
    if (op.requestBody) {
      if (req.body === undefined) {
        if (op.requestBody.required) problems.push(`${where} (${op.operationId}): the body is required`);
      } else if (op.requestBody.schema) {
        for (const e of this.spec.validate(op.requestBody.schema, req.body)) problems.push(`${where} (${op.operationId}): body: ${e}`);
      }
    } else if (req.body !== undefined) problems.push(`${where} (${op.operationId}): the operation takes no body`);
    return problems;
  }
}
