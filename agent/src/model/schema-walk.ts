// Walks a zod schema along a data path, to tell a user which keys are allowed where they typed a wrong one.
import type { z } from 'zod';
import type { PathSegment } from './source.js';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let cur = schema;
  for (let i = 0; i < 20; i++) {
    const def = defOf(cur);
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') && def.innerType) {
      cur = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      cur = def.in;
    } else {
      return cur;
    }
  }
  return cur;
}

function pickUnion(schema: z.ZodType, data: unknown): z.ZodType | undefined {
  const def = defOf(schema);
  if (def.type !== 'union' || !def.options) return schema;
  if (def.discriminator && data && typeof data === 'object') {
    const tag = (data as Record<string, unknown>)[def.discriminator];
    for (const option of def.options) {
      const opt = unwrap(option);
      const shape = defOf(opt).shape;
      const lit = shape?.[def.discriminator];
      if (lit && defOf(unwrap(lit)).values?.includes(tag)) return opt;
    }
    return undefined;
  }
  return undefined;
}

/** The keys an object schema allows at `path` in `data`; [] when the path does not lead to an object. */
export function keysAt(schema: z.ZodType, path: readonly PathSegment[], data: unknown): string[] {
  let cur: z.ZodType | undefined = unwrap(schema);
  let value: unknown = data;
  for (const seg of path) {
    if (!cur) return [];
    cur = pickUnion(unwrap(cur), value);
    if (!cur) return [];
    const def = defOf(cur);
    value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[seg] : undefined;
    if (def.type === 'object' && def.shape) cur = def.shape[String(seg)];
    else if (def.type === 'array' && def.element) cur = def.element;
    else if (def.type === 'record') cur = (def as unknown as { valueType: z.ZodType }).valueType;
    else return [];
    if (cur) cur = unwrap(cur);
  }
  if (!cur) return [];
  cur = pickUnion(unwrap(cur), value);
  if (!cur) return [];
  const def = defOf(cur);
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
