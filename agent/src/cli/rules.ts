import { RULE_FAMILIES } from '../policy/registry.js';
import type { Io } from './io.js';

export function rulesCommand(opts: { format: 'text' | 'markdown' }, io: Io): number {
  const lines: string[] = [];
  if (opts.format === 'markdown') {
    lines.push('| rule | severity | checks | example |', '|---|---|---|---|');
    for (const family of RULE_FAMILIES) {
      const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');
      for (const r of family.rules) lines.push(`| \`${r.id}\` | ${r.severity} | ${cell(r.summary)} | ${cell(r.example)} |`);
    }
  } else {
    for (const family of RULE_FAMILIES) {
      for (const r of family.rules)
        lines.push(`${r.id.padEnd(32)} ${r.severity.padEnd(8)} ${r.summary}\n${''.padEnd(42)}e.g. ${r.example.replace(/\n/g, ' ')}`);
    }
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}
