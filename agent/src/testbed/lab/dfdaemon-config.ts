// The lab's dfdaemon takes its settings from the dfdaemon.yaml a node's agent wrote, and from nothing else, read
// with the Rust client's rules as the inventory records them (model/constraints/dragonfly.ts): each value as
// serde reads it (a string field takes any scalar, an integer field no string), durations with humantime, the
// validator's ranges, and what makes dfdaemon exit at start (a zero GC interval, an https:// manager without TLS,
// a proxy port one of its own servers binds, a taskTTL chrono cannot add). Stricter than dfdaemon in one way: a
// key outside the inventory is an error, where dfdaemon ignores it in silence. So a wrong rendering stops the lab.
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { MirrornetError } from '../../errors.js';
import {
  DFDAEMON_DEFAULTS,
  DFDAEMON_OWN_PORTS,
  DFDAEMON_PERCENT,
  DFDAEMON_STORAGE_DIR,
  DRAGONFLY_CLIENT,
  TASK_TTL_MAX_SECONDS,
} from '../../model/constraints/dragonfly.js';
import { parseHumantime } from '../../model/constraints/humantime.js';
import { locate, type PathSegment, type SourceFile } from '../../model/source.js';
import { didYouMean } from '../../model/suggest.js';

export class DfdaemonConfigError extends MirrornetError {}

/** What the stand-in runs with (dfdaemon's defaults where the file says nothing). */
export interface DfdaemonSettings {
  proxyPort: number;
  /** proxy.registryMirror.addr: the upstream when a request names none. */
  registryMirror: string;
  /** proxy.rules: the GET requests that go through the peer; none when the file has no rules. */
  rules: RegExp[];
  /** storage.dir, an absolute path on the host. */
  storageDir: string;
}

const DFDAEMON = `dfdaemon ${DRAGONFLY_CLIENT.ref}`;

/** serde_yaml hands any scalar to a String field as its text. */
const scalarText = (v: unknown) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v);
const text = z.preprocess(scalarText, z.string({ error: 'expected a string' }));
const bool = z.boolean({ error: 'expected a boolean (true or false)' });
const uint = (bits: 8 | 16 | 64) => z.int({ error: `expected an unsigned ${bits}-bit integer` }).min(0, { error: `expected an unsigned ${bits}-bit integer` });

function duration(opts: { nonZero?: string; maxSeconds?: { value: bigint; why: string } }) {
  return text.superRefine((s, ctx) => {
    const r = parseHumantime(s);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: `invalid value: string ${JSON.stringify(s)}, expected a duration (humantime: ${r.reason})` });
    } else if (opts.nonZero && r.seconds === 0n && r.nanos === 0n) {
      ctx.addIssue({ code: 'custom', message: opts.nonZero });
    } else if (opts.maxSeconds && r.seconds > opts.maxSeconds.value) {
      ctx.addIssue({ code: 'custom', message: opts.maxSeconds.why });
    }
  });
}

const percent = uint(8).superRefine((n, ctx) => {
  if (n < DFDAEMON_PERCENT.min || n > DFDAEMON_PERCENT.max)
    ctx.addIssue({ code: 'custom', message: `${n} is outside the validator's range ${DFDAEMON_PERCENT.min}-${DFDAEMON_PERCENT.max}` });
});

/** Rust's regex crate: no look-around, no backreferences; the rest compiles as a JavaScript pattern here. */
const regex = text.superRefine((s, ctx) => {
  if (/\(\?<?[=!]|\\[1-9]/.test(s)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)}: Rust's regex crate has no look-around or backreferences` });
  else {
    try {
      new RegExp(s, 'u');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a regular expression: ${(err as Error).message}` });
    }
  }
});

/** One field per key of the inventory's dragonfly-client entries, with the consumer's type and what it refuses. */
export const DFDAEMON_FIELDS: Readonly<Record<string, z.ZodType>> = {
  'host.idc': text,
  'host.location': text,
  'host.schedulerClusterID': uint(64),
  'manager.addr': text.superRefine((s, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a URL (url::Url::parse)` });
      return;
    }
    if (url.protocol === 'https:')
      ctx.addIssue({ code: 'custom', message: 'https:// without manager.caCert, cert and key: tonic fails "Connecting to HTTPS without TLS enabled"' });
    else if (url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)}: the manager is dialed over http://` });
  }),
  'seedPeer.enable': bool,
  'seedPeer.type': z.enum(['normal', 'super'], { error: 'expected one of normal, super' }),
  'storage.dir': text,
  'storage.keep': bool,
  'gc.interval': duration({ nonZero: 'a zero period makes tokio::time::interval panic, and dfdaemon aborts' }),
  'gc.policy.taskTTL': duration({
    maxSeconds: { value: TASK_TTL_MAX_SECONDS, why: "the GC's chrono date arithmetic panics past the year 262143, and dfdaemon aborts" },
  }),
  'gc.policy.diskHighThresholdPercent': percent,
  'gc.policy.diskLowThresholdPercent': percent,
  'proxy.server.port': uint(16)
    .max(65535, { error: 'expected an unsigned 16-bit integer' })
    .superRefine((p, ctx) => {
      const taken = DFDAEMON_OWN_PORTS.get(p);
      if (taken) ctx.addIssue({ code: 'custom', message: `${p} is the port of dfdaemon's ${taken}: the second bind fails` });
    }),
  'proxy.rules[].regex': regex,
  'proxy.registryMirror.addr': text,
  'proxy.disableBackToSource': bool,
};

interface Tree {
  [key: string]: Tree | z.ZodType;
}

/** The nested strict objects of the dotted keys (`a.b[].c`: `b` is a list of objects); every key optional, as in dfdaemon. */
function strictSchema(fields: Readonly<Record<string, z.ZodType>>): z.ZodType {
  const tree: Tree = {};
  for (const [key, type] of Object.entries(fields)) {
    const parts = key.split('.');
    let node = tree;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Tree;
    node[parts[parts.length - 1]!] = type;
  }
  const build = (t: Tree): z.ZodType =>
    z.strictObject(
      Object.fromEntries(
        Object.entries(t).map(([k, v]) => {
          const inner = v instanceof z.ZodType ? v : build(v);
          return k.endsWith('[]') ? [k.slice(0, -2), z.array(inner).nullable().optional()] : [k, inner.optional()];
        }),
      ),
    );
  return build(tree).nullable();
}

const SCHEMA = strictSchema(DFDAEMON_FIELDS);

/** The keys allowed next to an unknown one, for "did you mean". */
function siblings(path: readonly PathSegment[]): string[] {
  const prefix = path.filter((p) => typeof p === 'string').join('.');
  const names = Object.keys(DFDAEMON_FIELDS).map((k) => k.replace(/\[\]/g, ''));
  return [
    ...new Set(
      names
        .filter((k) => (prefix ? k.startsWith(`${prefix}.`) : true))
        .map((k) => k.slice(prefix ? prefix.length + 1 : 0).split('.')[0]!)
        .filter(Boolean),
    ),
  ];
}

function dotted(path: readonly PathSegment[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

/** dfdaemon.yaml as dfdaemon would read it, or every reason it would refuse it (or die of it) at `file:line`. */
export function parseDfdaemonConfig(content: string, path: string): DfdaemonSettings {
  const lineCounter = new LineCounter();
  const doc = parseDocument(content, { lineCounter, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new DfdaemonConfigError(`${path}:${e.linePos?.[0].line ?? 1}: ${DFDAEMON} cannot read this YAML: ${e.message.split('\n')[0]}`);
  }
  const file: SourceFile = { path, text: content, lineCounter, doc };
  const result = SCHEMA.safeParse(doc.toJS());
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue): { line: number; text: string }[] => {
      const at = issue.path as PathSegment[];
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => {
          const guess = didYouMean(k, siblings(at));
          return {
            line: locate(file, [...at, k], { key: true }).line,
            text:
              `unknown key ${dotted([...at, k])}${guess ? ` (did you mean ${guess}?)` : ''}: not one of the keys checked against ${DFDAEMON}'s source ` +
              '(model/constraints/dragonfly.ts), and dfdaemon ignores a key it does not know without a word, so the lab refuses it',
          };
        });
      }
      return [{ line: locate(file, at).line, text: `${dotted(at)}: ${issue.message}` }];
    });
    lines.sort((a, b) => a.line - b.line);
    throw new DfdaemonConfigError(
      `${DFDAEMON} would refuse ${path}, die of it or ignore part of it:\n  ${lines.map((l) => `${path}:${l.line}: ${l.text}`).join('\n  ')}`,
    );
  }
  const c = (result.data ?? {}) as {
    storage?: { dir?: string };
    proxy?: { server?: { port?: number }; rules?: { regex?: string }[] | null; registryMirror?: { addr?: string } };
  };
  return {
    proxyPort: c.proxy?.server?.port ?? DFDAEMON_DEFAULTS.proxyPort,
    registryMirror: c.proxy?.registryMirror?.addr ?? DFDAEMON_DEFAULTS.registryMirrorAddr,
    // A rule without regex matches everything (Rule's default is .*).
    rules: (c.proxy?.rules ?? []).map((r) => new RegExp(r.regex ?? '.*', 'u')),
    storageDir: c.storage?.dir ?? DFDAEMON_STORAGE_DIR,
  };
}
