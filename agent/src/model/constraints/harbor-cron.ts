// Harbor 2.15's check of a replication policy's cron (src/controller/replication/model/model.go, Validate):
// robfig/cron v3.0.1's parser with the fields Second|Minute|Hour|Dom|Month|Dow (utils.CronParser: six fields,
// no @descriptors), then the first field split on " " must be "0" and the second must not be "*". Ported
// here, parse rule for parse rule (robfig/cron parser.go getField/getRange, spec.go bounds), so that the
// validator, the agent and the emulator refuse exactly what Harbor refuses, with Harbor's message.

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/** robfig/cron spec.go: seconds, minutes, hours, day of month, month, day of week. */
const FIELDS: readonly Bounds[] = [
  { min: 0, max: 59 },
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 6, names: DAYS },
];

/** Go's strings.Fields: split around runs of Unicode white space. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/**
 * Go's strconv.Atoi (optional sign, decimal digits) and robfig's "negative number not allowed". A number past
 * int64 fails Atoi where this returns a huge number: either way every field's bounds refuse it.
 */
function mustParseInt(expr: string): number | undefined {
  if (!/^[+-]?\d+$/.test(expr)) return undefined;
  const n = Number(expr);
  return n < 0 ? undefined : n;
}

function parseIntOrName(expr: string, names: Record<string, number> | undefined): number | undefined {
  const named = names?.[expr.toLowerCase()];
  return named ?? mustParseInt(expr);
}

/** robfig getRange: true when one comma-separated part of a field parses. */
function rangeOk(expr: string, r: Bounds): boolean {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0]!.split('-');
  const singleDigit = lowAndHigh.length === 1;
  let start: number | undefined;
  let end: number | undefined;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = r.min;
    end = r.max;
  } else {
    start = parseIntOrName(lowAndHigh[0]!, r.names);
    if (start === undefined) return false;
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseIntOrName(lowAndHigh[1]!, r.names);
    else return false;
    if (end === undefined) return false;
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    const s = mustParseInt(rangeAndStep[1]!);
    if (s === undefined) return false;
    step = s;
    if (singleDigit) end = r.max;
  } else if (rangeAndStep.length > 2) return false;
  return start >= r.min && end <= r.max && start <= end && step !== 0;
}

/** A time zone robfig accepts after TZ= or CRON_TZ= (Go's time.LoadLocation). */
function knownZone(zone: string): boolean {
  if (zone === '' || zone === 'UTC' || zone === 'Local') return true;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Whether robfig/cron v3's parser (six fields, seconds first, no descriptors) accepts the spec. */
function robfigParses(spec: string): boolean {
  if (spec.length === 0) return false;
  let rest = spec;
  if (rest.startsWith('TZ=') || rest.startsWith('CRON_TZ=')) {
    const i = rest.indexOf(' ');
    if (i < 0) return false;
    if (!knownZone(rest.slice(rest.indexOf('=') + 1, i))) return false;
    rest = rest.slice(i).trim();
  }
  if (rest.startsWith('@')) return false;
  const fields = rest.split(GO_SPACE).filter((f) => f !== '');
  if (fields.length !== 6) return false;
  return fields.every((field, i) =>
    field
      .split(',')
      .filter((part) => part !== '')
      .every((part) => rangeOk(part, FIELDS[i]!)),
  );
}

/**
 * Harbor 2.15's refusal of a scheduled trigger's cron, in Harbor's words (400 BAD_REQUEST), or undefined
 * when Harbor takes it.
 */
export function harborCronRefusal(cron: string): string | undefined {
  if (cron.length === 0) return 'the cron string cannot be empty when the trigger type is scheduled';
  if (!robfigParses(cron)) return `invalid cron string for scheduled trigger: ${cron}`;
  const parts = cron.split(' ');
  if (parts[0] !== '0') return 'the 1st field (indicating Seconds of time) of the cron setting must be 0';
  if (parts[1] === '*') return '* is not allowed for the Minutes field of the cron setting of replication policy';
  return undefined;
}
