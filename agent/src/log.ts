// pino loggers: JSON for machines, pretty for people (MIRRORNET_LOG_FORMAT=pretty or a TTY), with every
// field that could hold a secret redacted, and credentials in URLs masked (redact.ts). Components take child
// loggers: log.child({ component }).
import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';
import { redactDeep, redactText } from './redact.js';

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
    // Credentials inside URLs, wherever they appear: the message, the fields, a child logger's bindings.
    formatters: { log: (record) => redactDeep(record), bindings: (bindings) => redactDeep(bindings) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  if (opts.destination) return pino(base, opts.destination);
  const pretty =
    opts.pretty ?? (process.env['MIRRORNET_LOG_FORMAT'] === 'pretty' || (process.env['MIRRORNET_LOG_FORMAT'] !== 'json' && Boolean(process.stderr.isTTY)));
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2, colorize: Boolean(process.stderr.isTTY) } } });
  return pino(base, pino.destination(2));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
