// Findings as text for people, JSON for tools, and GitHub workflow commands for pull-request annotations.
import type { Finding } from '../model/finding.js';
import type { Report } from './validate.js';

export function formatJson(report: Report): string {
  const strip = (f: Finding) => ({ rule: f.rule, file: f.file, line: f.line, column: f.column, message: f.message });
  const notices = report.notices.length ? { notices: report.notices.map(strip) } : {};
  return `${JSON.stringify({ valid: report.valid, errors: report.errors.map(strip), warnings: report.warnings.map(strip), ...notices }, null, 2)}\n`;
}

/** GitHub workflow command values escape %, CR and LF; properties also escape : and ,. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function formatGithub(report: Report): string {
  const lines = [...report.errors, ...report.warnings, ...report.notices].map(
    (f) => `::${f.severity} ` + `file=${escapeProperty(f.file)},line=${f.line},col=${f.column},title=${escapeProperty(f.rule)}::${escapeData(f.message)}`,
  );
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}

function summaryLine(report: Report): string {
  const e = report.errors.length;
  const w = report.warnings.length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const n = report.notices.length ? `, ${plural(report.notices.length, 'notice')}` : '';
  if (report.valid) return `valid: ${plural(report.files, 'file')} checked, ${plural(w, 'warning')}${n}`;
  return `invalid: ${plural(e, 'error')}, ${plural(w, 'warning')}${n} in ${plural(report.files, 'file')}`;
}

/** Control characters (from keys or values in the files) are shown escaped, never printed raw. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

export function formatText(report: Report, opts: { color?: boolean } = {}): string {
  const c = opts.color
    ? {
        red: (s: string) => `\x1b[31m${s}\x1b[0m`,
        yellow: (s: string) => `\x1b[33m${s}\x1b[0m`,
        dim: (s: string) => `\x1b[2m${s}\x1b[0m`,
        bold: (s: string) => `\x1b[1m${s}\x1b[0m`,
      }
    : { red: (s: string) => s, yellow: (s: string) => s, dim: (s: string) => s, bold: (s: string) => s };
  const byFile = new Map<string, Finding[]>();
  for (const f of [...report.errors, ...report.warnings, ...report.notices].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column,
  )) {
    const list = byFile.get(f.file);
    if (list) list.push(f);
    else byFile.set(f.file, [f]);
  }
  const out: string[] = [];
  for (const [file, findings] of byFile) {
    out.push(c.bold(printable(file)));
    const width = findings.reduce((w, f) => Math.max(w, `${f.line}:${f.column}`.length), 0);
    for (const f of findings) {
      const sev = f.severity === 'error' ? c.red('error  ') : f.severity === 'warning' ? c.yellow('warning') : c.dim('notice ');
      out.push(`  ${`${f.line}:${f.column}`.padEnd(width)}  ${sev}  ${printable(f.message)}  ${c.dim(f.rule)}`);
    }
    out.push('');
  }
  out.push(report.valid ? summaryLine(report) : c.red(summaryLine(report)));
  return `${out.join('\n')}\n`;
}
