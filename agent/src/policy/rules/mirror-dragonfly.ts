// The dfdaemon settings of a region, checked against what Dragonfly's Rust client does with them once mirrornet
// has written them to dfdaemon.yaml (the inventory in model/constraints/dragonfly.ts, read from the client's
// source): what it refuses at start, what makes it abort, and what it accepts but makes useless. Part of the
// mirror family (mirror.ts runs these checks with the others).
import { DFDAEMON_DEFAULTS, DFDAEMON_OWN_PORTS, DFDAEMON_PERCENT, DRAGONFLY_CLIENT, TASK_TTL_MAX_SECONDS } from '../../model/constraints/dragonfly.js';
import { parseHumantime } from '../../model/constraints/humantime.js';
import type { Finding } from '../../model/finding.js';
import type { Region } from '../../model/schema.js';
import type { SourceFile } from '../../model/source.js';
import { reporter, type Rule } from '../rule.js';

const legacyPort = reporter({ id: 'mirror/legacy-proxy-port', severity: 'warning' });
const location = reporter({ id: 'mirror/location', severity: 'error' });
const gc = reporter({ id: 'mirror/gc', severity: 'error' });
const duration = reporter({ id: 'mirror/dragonfly-duration', severity: 'error' });
const ownPort = reporter({ id: 'mirror/dragonfly-port', severity: 'error' });
const manager = reporter({ id: 'mirror/dragonfly-manager', severity: 'error' });

const DFDAEMON = `dfdaemon ${DRAGONFLY_CLIENT.ref}`;
const DF = ['mirror', 'dragonfly'] as const;

export const dragonflyRules: Rule[] = [
  { id: 'mirror/legacy-proxy-port', severity: 'warning', summary: "dfdaemon's proxy is on 4001; 65001 was the old Go client.", example: 'proxyPort: 65001' },
  {
    id: 'mirror/dragonfly-port',
    severity: 'error',
    summary: 'proxyPort is not a port dfdaemon binds itself (4000, 4002-4005): the second bind fails and dfdaemon exits.',
    example: 'proxyPort: 4000',
  },
  { id: 'mirror/location', severity: 'error', summary: 'Dragonfly location has at most 5 non-empty |-separated levels.', example: 'location: a|b|c|d|e|f' },
  {
    id: 'mirror/dragonfly-manager',
    severity: 'error',
    summary: 'The Dragonfly manager address is http:// (mirrornet writes no manager TLS: dfdaemon cannot dial https://) and has a port (warning).',
    example: 'manager: https://10.128.1.10:65003',
  },
  {
    id: 'mirror/gc',
    severity: 'error',
    summary: 'The GC disk marks are whole numbers 1-99 (dfdaemon refuses others) and the low mark is below the high mark (defaults 60 and 80).',
    example: 'diskLowThresholdPercent: 90, diskHighThresholdPercent: 80',
  },
  {
    id: 'mirror/dragonfly-duration',
    severity: 'error',
    summary: 'GC durations are ones dfdaemon runs with: humantime holds them, the interval is not zero (abort), taskTTL neither zero nor past 8e12 s.',
    example: 'gc: { interval: 0s }',
  },
];

function checkDuration(file: SourceFile, key: 'interval' | 'taskTTL', value: string): Finding[] {
  const path = [...DF, 'gc', key];
  const parsed = parseHumantime(value);
  if (!parsed.ok) {
    return [
      duration(
        file,
        path,
        `gc.${key} ${value}: ${DFDAEMON} parses durations with humantime, which refuses this one (${parsed.reason}), and then refuses the whole ` +
          'dfdaemon.yaml. Write a smaller value, such as 30d.',
      ),
    ];
  }
  const zero = parsed.seconds === 0n && parsed.nanos === 0n;
  if (zero && key === 'interval') {
    return [
      duration(
        file,
        path,
        `gc.interval ${value} is zero: ${DFDAEMON} runs its GC on tokio::time::interval, which panics on a zero period, and dfdaemon (built with ` +
          'panic = "abort") exits at start. Write a positive interval such as 15m (dfdaemon\'s default is 900s).',
      ),
    ];
  }
  if (zero) {
    return [
      duration(
        file,
        path,
        `gc.taskTTL ${value} is zero: ${DFDAEMON} evicts a task once its last access is older than taskTTL, so every GC run would empty the ` +
          "region's cache and every pull would go to the core. Write a positive TTL such as 6h (dfdaemon's default is 720h).",
      ),
    ];
  }
  if (key === 'taskTTL' && parsed.seconds > TASK_TTL_MAX_SECONDS) {
    return [
      duration(
        file,
        path,
        `gc.taskTTL ${value} is past what ${DFDAEMON} can add to a date: its GC adds taskTTL to each task's last access time with chrono, which ` +
          'panics past the year 262143, and dfdaemon aborts. Write a TTL of days or months, such as 30d.',
      ),
    ];
  }
  return [];
}

function checkPercent(file: SourceFile, key: 'diskHighThresholdPercent' | 'diskLowThresholdPercent', value: number | undefined): Finding[] {
  if (value === undefined || (Number.isInteger(value) && value >= DFDAEMON_PERCENT.min && value <= DFDAEMON_PERCENT.max)) return [];
  return [
    gc(
      file,
      [...DF, 'gc', key],
      `${key} ${value}: ${DFDAEMON} reads it as a whole number from ${DFDAEMON_PERCENT.min} to ${DFDAEMON_PERCENT.max} (u8 with the validator range ` +
        `${DFDAEMON_PERCENT.min}-${DFDAEMON_PERCENT.max}) and refuses to start with any other value.`,
    ),
  ];
}

function checkGc(file: SourceFile, g: NonNullable<Region['mirror']['dragonfly']['gc']>): Finding[] {
  const out = [
    ...(g.interval !== undefined ? checkDuration(file, 'interval', g.interval) : []),
    ...(g.taskTTL !== undefined ? checkDuration(file, 'taskTTL', g.taskTTL) : []),
    ...checkPercent(file, 'diskHighThresholdPercent', g.diskHighThresholdPercent),
    ...checkPercent(file, 'diskLowThresholdPercent', g.diskLowThresholdPercent),
  ];
  if (out.some((f) => f.rule === 'mirror/gc')) return out;
  // What dfdaemon runs with: mirrornet writes its defaults for the marks a region leaves out.
  const high = g.diskHighThresholdPercent ?? DFDAEMON_DEFAULTS.diskHighThresholdPercent;
  const low = g.diskLowThresholdPercent ?? DFDAEMON_DEFAULTS.diskLowThresholdPercent;
  if (low >= high) {
    const at = g.diskLowThresholdPercent !== undefined ? 'diskLowThresholdPercent' : 'diskHighThresholdPercent';
    const highText = `${high}${g.diskHighThresholdPercent === undefined ? ", dfdaemon's default" : ''}`;
    const lowText = `${low}${g.diskLowThresholdPercent === undefined ? ", dfdaemon's default" : ''}`;
    out.push(
      gc(
        file,
        [...DF, 'gc', at],
        `diskLowThresholdPercent (${lowText}) must be below diskHighThresholdPercent (${highText}): GC starts at the high mark and frees down to ` +
          `the low one; ${DFDAEMON} computes usage minus the low mark in 8-bit arithmetic, which wraps when the low mark is above the usage, and ` +
          'then evicts every cached task.',
      ),
    );
  }
  return out;
}

function checkManager(file: SourceFile, addr: string): Finding[] {
  const path = [...DF, 'manager'];
  const m = /^(https?):\/\/(\[[^\]]*\]|[^/:?#]*)(:\d+)?/.exec(addr);
  if (!m) return []; // the schema reports what is not an http(s) URL
  if (m[1] === 'https') {
    return [
      manager(
        file,
        path,
        `The manager address ${addr} is https://, but ${DFDAEMON} dials the manager with TLS only when manager.caCert, cert and key are set, which ` +
          'mirrornet does not write: tonic fails with "Connecting to HTTPS without TLS enabled" and dfdaemon exits at start. Use http://<manager>:65003.',
      ),
    ];
  }
  if (!m[3]) {
    return [
      manager(
        file,
        path,
        `The manager address ${addr} has no port: dfdaemon dials port 80, and the Dragonfly manager serves gRPC on 65003. Write the port, such as ` +
          `http://${m[2]}:65003.`,
        { severity: 'warning' },
      ),
    ];
  }
  return [];
}

/** Everything a region's mirror.dragonfly can break in dfdaemon. */
export function dragonflyFindings(file: SourceFile, region: Region): Finding[] {
  const df = region.mirror.dragonfly;
  const out: Finding[] = [];
  if (df.proxyPort === 65001) {
    out.push(
      legacyPort(
        file,
        [...DF, 'proxyPort'],
        "Port 65001 is the old Go client's proxy; the Rust dfdaemon proxies on 4001: write proxyPort: 4001 unless you really run the old client.",
      ),
    );
  }
  const taken = DFDAEMON_OWN_PORTS.get(df.proxyPort);
  if (taken) {
    out.push(
      ownPort(
        file,
        [...DF, 'proxyPort'],
        `proxyPort ${df.proxyPort} is the port of dfdaemon's ${taken}: ${DFDAEMON} binds both on 0.0.0.0, the second bind fails and dfdaemon exits. ` +
          'Use 4001, the proxy port dfdaemon is documented with.',
      ),
    );
  }
  if (df.location !== undefined) {
    const levels = df.location.split('|');
    if (levels.length > 5 || levels.some((l) => l.trim() === '')) {
      const why = levels.length > 5 ? `got ${levels.length} levels; the manager and the scheduler ignore every level after the fifth` : 'one level is empty';
      out.push(location(file, [...DF, 'location'], `location is up to 5 non-empty levels separated by |, e.g. overseas|de|frankfurt; ${why}.`));
    }
  }
  out.push(...checkManager(file, df.manager));
  out.push(...checkGc(file, df.gc ?? {}));
  return out;
}
