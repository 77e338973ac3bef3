// pino loggers: JSON for machines, pretty for people (MIRRORNET_LOG_FORMAT=pretty or a TTY), with every
// field that could hold a secret redacted, and every credential masked by the one redaction layer
// (redact.ts: URLs with user info, resolved secrets, credential environment variables). Components take
// child loggers: log.child({ component }).
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';
import { redactDeep, redactText } from './redact.js';

// Loads pino-pretty only for people (agent/scripts/release.js bundles what such a require names).
const require = createRequire(import.meta.url);

const REDACT_PATHS = [
  'secret',
  'password',
  'privateKey',
  'psk',
  'token',
  'authorization',
  'headers.authorization',
  '*.secret',
  '*.password',
  '*.privateKey',
  '*.psk',
  '*.token',
  '*.authorization',
];

export function createLogger(opts: { level?: string; pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env['MIRRORNET_LOG_LEVEL'] ?? 'info';
  const base: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { app: 'mirrornet' },
    // Credentials wherever they appear: the message, the fields, the root's bindings (a child's: below).
    formatters: { log: (record) => redactDeep(record), bindings: (bindings) => redactDeep(bindings) },
    // The formatter has already made an error a redacted { type, message, stack, cause } record, which pino's
    // own serializer would take for an error and retype as "Object": keep it as it is.
    serializers: { err: (e: unknown) => (e instanceof Error ? redactDeep(e) : e) },
    hooks: {
      logMethod(args, method) {
        const redacted = args.map((a) => (typeof a === 'string' ? redactText(a) : a));
        // log.error(err) or log.error({ err }) without a message: pino copies err.message into `msg` after the
        // formatter ran, so give it the redacted message itself.
        const first = redacted[0] as { err?: unknown } | undefined;
        const err = first instanceof Error ? first : first && typeof first === 'object' && first.err instanceof Error ? first.err : undefined;
        if (err && typeof redacted[1] !== 'string') redacted.splice(1, 0, redactText(err.message));
        method.apply(this, redacted as Parameters<typeof method>);
      },
    },
  };
  if (opts.destination) return redactingChildren(pino(base, opts.destination));
  const pretty =
    opts.pretty ?? (process.env['MIRRORNET_LOG_FORMAT'] === 'pretty' || (process.env['MIRRORNET_LOG_FORMAT'] !== 'json' && Boolean(process.stderr.isTTY)));
  // pino-pretty as a stream in this thread (not a worker transport, which a single-file release cannot load by name).
  if (pretty) {
    const prettyStream = require('pino-pretty') as (o: { destination: number; colorize: boolean; sync: boolean }) => DestinationStream;
    return redactingChildren(pino(base, prettyStream({ destination: 2, colorize: Boolean(process.stderr.isTTY), sync: true })));
  }
  return redactingChildren(pino(base, pino.destination(2)));
}

/**
 * pino serialises a child's bindings once, when the child is made, and passes them through no formatter:
 * redact them on the way in. Children (and theirs) inherit this `child` from the root.
 */
function redactingChildren(root: Logger): Logger {
  const make = root.child;
  root.child = function (this: Logger, bindings, options) {
    return make.call(this, redactDeep(bindings), options);
  } as Logger['child'];
  return root;
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
