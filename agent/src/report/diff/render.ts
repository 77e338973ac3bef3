// A diff report as markdown (a pull request comment: findings, the fleet-wide summary line, Mermaid topology,
// per site in <details> its item tables, the unified diff of every file its agents write, the restarts and the
// guardrails it trips; the address plan), as plain text for a terminal, or as JSON. Every value that comes from
// the repository is escaped: a pull request cannot inject markup into the comment. The markdown keeps under a
// GitHub comment's size by leaving out file diffs (largest first) with a note pointing to the JSON.
import type { Finding } from '../../model/finding.js';
import { compatibilityLines } from './compatibility.js';
import { mermaidTopology } from './mermaid.js';
import {
  CATEGORIES,
  CATEGORY_TITLES,
  type AddressArea,
  type AddressRow,
  type DiffReport,
  type FieldChange,
  type ItemChange,
  type GuardrailTrip,
  type LinkDiff,
  type SiteDiff,
} from './model.js';

export interface RenderOptions {
  /** Findings listed at most (the rest counted). */
  maxFindings?: number;
  /** Fields shown per added/removed item in markdown (the rest counted). */
  maxFields?: number;
  /** The command that reproduces this report (shown at the bottom). */
  command?: string;
  /** Characters the markdown may take (default 60,000, under GitHub's 65,536 per comment): file diffs are left out beyond. */
  maxLength?: number;
}

/** Under GitHub's 65,536 characters per comment, with room for the marker and a truncation notice. */
const MARKDOWN_BUDGET = 60_000;

const ICON = { add: '➕', change: '✏️', remove: '➖' } as const;
const STATUS_WORD = { added: 'new', changed: 'changed', removed: 'removed' } as const;

/** A site's status as the comment names it: a retiring site's changes are its teardown. */
const statusWord = (s: SiteDiff): string => (s.retiring ? 'retiring' : STATUS_WORD[s.status]);

/** What a retiring site's section says before its teardown. */
const TEARDOWN =
  '**Teardown.** It keeps only its uplink (the links to the sites it links to directly) until its agents report retired, then they remove it; ' +
  'every other site drops what points to it now. Delete its file in a later pull request, once `mirrornet status` shows it retired: its ' +
  'neighbours then drop their side of the uplink.';

function short(sha: string): string {
  return /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 7) : sha;
}

/** Text in a markdown table cell or paragraph: no markup, no raw HTML, no line breaks. */
export function md(text: string): string {
  return text
    .replace(/[\\`*_[\]#~]/g, (m) => `\\${m}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`); // eslint-disable-line no-control-regex
}

/** Text whose `quoted` parts are code spans (a command in a sentence), the rest escaped. */
function mdCode(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 ? code(part) : md(part)))
    .join('');
}

/** An inline code span that survives any content, inside a table cell too. */
function code(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\r?\n/g, ' ').replace(/[\u0000-\u001f\u007f]/g, ' ');
  if (!clean.includes('`')) return `\`${clean.replace(/\|/g, '\\|')}\``;
  return `<code>${clean.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '&#124;').replace(/`/g, '&#96;')}</code>`;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function findingsTable(findings: Finding[], max: number): string[] {
  const out = ['| | Where | Rule | Message |', '|---|---|---|---|'];
  for (const f of findings.slice(0, max))
    out.push(`| ${f.severity === 'error' ? '❌' : '⚠️'} | ${code(`${f.file}:${f.line}:${f.column}`)} | ${code(f.rule)} | ${md(f.message)} |`);
  if (findings.length > max) out.push(`| | | | … and ${findings.length - max} more: run \`mirrornet validate\` |`);
  return out;
}

function fieldText(f: FieldChange, action: ItemChange['action']): string {
  if (action === 'add') return `${code(f.field)} ${code(f.after ?? '')}`;
  if (action === 'remove') return `${code(f.field)} ${code(f.before ?? '')}`;
  if (f.before === undefined) return `${code(f.field)}: set to ${code(f.after ?? '')}`;
  if (f.after === undefined) return `${code(f.field)}: ${code(f.before)} removed`;
  return `${code(f.field)}: ${code(f.before)} → ${code(f.after)}`;
}

/** Categories whose items are single keys (one value each): shown as key, before, after. */
const KEYED = new Set(['dragonfly', 'harbor-config']);

function itemRows(changes: ItemChange[], maxFields: number): string[] {
  const out: string[] = [];
  const keyed = changes.length > 0 && KEYED.has(changes[0]!.category);
  if (keyed) {
    out.push('| | Key | Before | After |', '|---|---|---|---|');
    for (const c of changes) {
      const f = c.fields[0];
      out.push(`| ${ICON[c.action]} | ${code(c.id)} | ${f?.before !== undefined ? code(f.before) : ''} | ${f?.after !== undefined ? code(f.after) : ''} |`);
    }
    return out;
  }
  out.push('| | Item | What |', '|---|---|---|');
  for (const c of changes) {
    let what: string;
    if (c.action === 'change') what = c.fields.map((f) => fieldText(f, 'change')).join('<br>');
    else {
      what = md(c.summary);
      const secretish = c.fields.filter((f) => /secret|privateKey|password|psk/i.test(f.field));
      if (c.fields.length > 1 && c.fields.length <= maxFields && c.category !== 'routes')
        what += `<br><sub>${c.fields.map((f) => fieldText(f, c.action)).join(' · ')}</sub>`;
      else if (secretish.length && c.fields.length > maxFields) what += `<br><sub>${secretish.map((f) => fieldText(f, c.action)).join(' · ')}</sub>`;
    }
    out.push(`| ${ICON[c.action]} | ${code(c.id)} | ${what} |`);
  }
  return out;
}

function siteHeadline(s: SiteDiff): string {
  const parts = [
    s.counts.add && `${s.counts.add} added`,
    s.counts.change && `${s.counts.change} changed`,
    s.counts.remove && `${s.counts.remove} removed`,
  ].filter(Boolean);
  return `${parts.join(', ') || 'no item changes'}`;
}

/** A fenced block that no backtick run inside `text` can close. */
function fenced(lang: string, text: string): string[] {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${lang}`, text.replace(/\n$/, ''), fence];
}

const FILE_WORD = { add: 'new', change: 'changed', remove: 'removed' } as const;

/** The site's files as unified diffs (or, when `diffs` is false, their paths and a pointer to the JSON). */
function fileSection(s: SiteDiff, diffs: boolean): string[] {
  if (!s.files.length) return [];
  const out = ['**Files its agents write** (unified diffs; secrets appear as their references)', ''];
  for (const f of s.files) {
    out.push(`${code(f.path)} — ${FILE_WORD[f.action]}`, '');
    if (diffs) out.push(...fenced('diff', f.diff), '');
  }
  const where: string[] = [];
  if (s.files.some((f) => f.provider === 'containerd'))
    where.push('hosts.toml is shown under containerd’s default config_path; a host writes it under its own');
  if (s.files.some((f) => f.provider === 'docker')) where.push('daemon.json shows only the key mirrornet owns; a host keeps its other keys');
  if (where.length) out.push(`<sub>${md(`${where.join('. ')}.`)}</sub>`, '');
  if (!diffs) out.push(`> The diffs of these files are left out to keep this comment under GitHub's size limit: run ${code(JSON_COMMAND)} for them.`, '');
  return out;
}

const JSON_COMMAND = 'mirrornet diff --format json';

function siteSection(s: SiteDiff, open: boolean, maxFields: number, trips: GuardrailTrip[] = [], diffs = true): string[] {
  const out = [
    `<details${open ? ' open' : ''}><summary><b>${md(s.site)}</b> — ${statusWord(s)} ${s.role === 'hub' ? 'core' : 'region'} ` +
      `(${md(s.area)}, ${md(s.provider)}; roles ${s.roles.join('+')}${s.wave ? `; wave ${md(s.wave)}` : ''}): ${siteHeadline(s)}</summary>`,
    '',
  ];
  if (s.retiring) out.push(`> ${TEARDOWN}`, '');
  for (const note of s.notes) out.push(`> ${md(note)}`, '');
  for (const category of CATEGORIES) {
    const changes = s.changes.filter((c) => c.category === category);
    if (!changes.length) continue;
    out.push(`**${CATEGORY_TITLES[category]}**`, '', ...itemRows(changes, maxFields), '');
  }
  out.push(...fileSection(s, diffs));
  if (s.restarts.length) out.push('**Restarts and reloads**', '', ...s.restarts.map((r) => `- ${mdCode(r)}`), '');
  if (trips.length) out.push('**Guardrails it trips**', '', ...trips.map((t) => `- 🛑 ${code(t.guardrail)}: ${md(t.message)}`), '');
  out.push('</details>', '');
  return out;
}

/** "N sites change: A to add, C to change, D to destroy." */
function summaryLine(report: Pick<DiffReport, 'summary'>): string {
  const x = report.summary;
  return `${plural(x.sites, 'site')} change${x.sites === 1 ? 's' : ''}: ${x.add} to add, ${x.change} to change, ${x.destroy} to destroy.`;
}

const SUMMARY_COUNTS =
  'Counted over the items of each changed site’s desired state: a route, a tunnel, a cloud route, a registry mirror, one key of ' +
  'dfdaemon.yaml or harbor.yml, Docker’s registry-mirrors, a Harbor project, robot, endpoint or replication rule; a link counts at both of its sites.';

function linkRows(links: LinkDiff[]): string[] {
  const out = ['| | Link | Type | What |', '|---|---|---|---|'];
  for (const l of links) {
    const icon = l.status === 'added' ? ICON.add : l.status === 'removed' ? ICON.remove : ICON.change;
    const action = l.status === 'added' ? 'add' : l.status === 'removed' ? 'remove' : 'change';
    const fields =
      l.status === 'changed' ? l.fields : l.fields.filter((f) => ['mtu', 'mssClamp', 'instanceId', 'peeringId', 'persistentKeepalive'].includes(f.field));
    out.push(`| ${icon} | ${code(`${l.a} — ${l.b}`)} | ${code(l.type)} | ${fields.map((f) => fieldText(f, action)).join('<br>')} |`);
  }
  return out;
}

function rowRange(r: AddressRow): string {
  return r.cidr ? code(r.cidr) : `${code(r.first)} – ${code(r.last)} (${r.blocks} blocks)`;
}

function addressTable(a: AddressArea): string[] {
  const block = a.blockPrefix !== undefined ? `/${a.blockPrefix} stride blocks (${a.stride} × /${a.sitePrefix})` : `stride blocks of ${a.blockSize} addresses`;
  const out = [
    `**${md(a.area)}** ${code(a.supernet)}, allocated ${a.allocation}, ${block}: ${a.counts.used} used, ${a.counts.reserved} ` +
      `reserved, ${a.counts.free} free${a.counts.conflict ? `, **${a.counts.conflict} in conflict**` : ''}`,
    '',
    '| Block | Status | Used by | Change |',
    '|---|---|---|---|',
  ];
  for (const r of a.rows) {
    const status = r.status === 'conflict' ? '**conflict**' : r.status;
    const owners = r.owners.map(md).join('<br>');
    const change = r.change ? `**${r.change === 'added' ? 'new' : r.change}**${r.before?.length ? ` (was ${r.before.map(md).join(', ')})` : ''}` : '';
    out.push(`| ${rowRange(r)} | ${status} | ${owners} | ${change} |`);
  }
  if (a.outside.length) out.push('', `Outside the ${md(a.area)} supernet: ${a.outside.map(md).join(', ')}.`);
  out.push('');
  return out;
}

export function renderMarkdown(report: DiffReport, opts: RenderOptions = {}): string {
  const maxFindings = opts.maxFindings ?? 50;
  const maxFields = opts.maxFields ?? 8;
  const out: string[] = [];
  out.push(`## mirrornet plan: ${code(short(report.base.sha))} → ${code(short(report.head.sha))}`, '');
  const h = report.head;
  if (h.valid) {
    out.push(`✅ **The fleet is valid** at ${code(short(h.sha))}: ${plural(h.files, 'file')} checked, ${plural(h.warnings.length, 'warning')}.`, '');
  } else {
    out.push(
      `❌ **The fleet is invalid** at ${code(short(h.sha))}: ${plural(h.errors.length, 'error')}, ${plural(h.warnings.length, 'warning')}. ` +
        'No region will apply it; fix these first.',
      '',
    );
  }
  const findings = [...h.errors, ...h.warnings];
  if (findings.length) out.push(`### Findings`, '', ...findingsTable(findings, maxFindings), '');
  if (!report.compared) {
    out.push(...footer(opts));
    return `${out.join('\n')}\n`;
  }
  out.push(...guardrailSection(report));
  out.push(...compatibilityLines(report.compatibility, 'markdown'));
  for (const note of report.notes) out.push(`> ${md(note)}`, '');

  out.push('### What changes', '', `**${summaryLine(report)}**`, '', `<sub>${md(SUMMARY_COUNTS)}</sub>`, '');
  if (!report.changed) {
    out.push('No site’s desired state, link or address block changes.', '');
  } else {
    if (report.sites.length) {
      // The rollout wave that takes the revision to each site (policies/rollout.yaml), when the fleet has waves.
      const waves = report.sites.some((s) => s.wave !== undefined);
      out.push(`| Site | | Role | Area |${waves ? ' Wave |' : ''} Added | Changed | Removed |`, `|---|---|---|---|${waves ? '---|' : ''}---|---|---|`);
      for (const s of report.sites)
        out.push(
          `| ${code(s.site)} | ${statusWord(s)} | ${s.role === 'hub' ? 'core' : 'region'} | ${md(s.area)} |` +
            `${waves ? ` ${s.wave ? md(s.wave) : '–'} |` : ''} ${s.counts.add} | ${s.counts.change} | ${s.counts.remove} |`,
        );
      out.push('');
    } else out.push('No site’s desired state changes.', '');
    if (report.links.length) out.push(`${plural(report.links.length, 'link')}:`, '', ...linkRows(report.links), '');
  }

  if (report.topology.nodes.length) {
    const { text, hidden } = mermaidTopology(report.topology);
    out.push('### Topology', '');
    if (hidden < report.topology.nodes.length) out.push('```mermaid', text, '```', '');
    const legend = 'Thick: new or changed; dashed: removed; green new, yellow changed, red removed.';
    const limited =
      `The fleet has ${report.topology.nodes.length} sites: only the changed sites and their direct neighbours are drawn ` +
      `(${plural(hidden, 'unchanged site')} not shown).`;
    out.push(hidden ? `${legend} ${limited}` : legend, '');
  }

  const head = out.splice(0);
  if (report.addressPlan.length) {
    out.push('### Address plan', '');
    if (report.addressPlanChanged) out.push('> The address plan policy itself changes in this revision.', '');
    for (const a of report.addressPlan) out.push(...addressTable(a));
  }
  out.push(...footer(opts));
  const tail = out.splice(0);
  const sections = siteSections(report, maxFields, opts.maxLength ?? MARKDOWN_BUDGET, [...head, ...tail].join('\n').length);
  return `${[...head, ...sections, ...tail].join('\n')}\n`;
}

/**
 * The sites' sections, with their file diffs while they fit in `budget` characters (with the rest of the
 * comment, `used`): the largest diffs are left out first, each with a note pointing to the JSON.
 */
function siteSections(report: DiffReport, maxFields: number, budget: number, used: number): string[] {
  if (!report.sites.length) return [];
  const open = report.sites.length <= 3;
  const trips = (s: SiteDiff) => report.guardrails.filter((t) => t.site === s.site);
  const full = report.sites.map((s) => siteSection(s, open, maxFields, trips(s), true).join('\n'));
  const short = report.sites.map((s) => siteSection(s, open, maxFields, trips(s), false).join('\n'));
  const chosen = [...full];
  let total = used + chosen.reduce((n, t) => n + t.length + 1, 0);
  const bySize = chosen.map((t, i) => [t.length - short[i]!.length, i] as const).sort((a, b) => b[0] - a[0]);
  for (const [saved, i] of bySize) {
    if (total <= budget) break;
    chosen[i] = short[i]!;
    total -= saved;
  }
  return ['### Sites', '', ...chosen];
}

const GUARDRAILS_LATER = 'they take effect one revision after this change is applied, and this change is judged by the old ones';

function guardrailSection(report: DiffReport): string[] {
  const out: string[] = [];
  if (report.guardrails.length) {
    out.push(
      '### Guardrails',
      '',
      `🛑 **This change would trip ${plural(report.guardrails.length, 'guardrail')}**, judged by the base’s guardrails as the agents will judge it:`,
      '',
    );
    for (const t of report.guardrails) {
      out.push(`- ${code(t.guardrail)}${t.site ? '' : ' (fleet-wide: every agent refuses)'}: ${md(t.message)}`);
    }
    out.push('');
  }
  if (report.guardrailsChanged.length) {
    out.push(`> ℹ️ The guardrails change (${report.guardrailsChanged.map(code).join(', ')}): ${GUARDRAILS_LATER}.`, '');
  }
  return out;
}

function footer(opts: RenderOptions): string[] {
  return opts.command ? [`<sub>${md(`Generated by ${opts.command}`)}</sub>`, ''] : [];
}

// ---- text ---------------------------------------------------------------------------------------------

const TEXT_ICON = { add: '+', change: '~', remove: '-' } as const;

function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

export function renderText(report: DiffReport): string {
  const out: string[] = [];
  const h = report.head;
  out.push(`mirrornet diff ${short(report.base.sha)}..${short(h.sha)}`);
  out.push(
    h.valid
      ? `head is valid (${plural(h.files, 'file')}, ${plural(h.warnings.length, 'warning')})`
      : `head is INVALID: ${plural(h.errors.length, 'error')}, ${plural(h.warnings.length, 'warning')}`,
  );
  for (const f of [...h.errors, ...h.warnings])
    out.push(`  ${f.severity === 'error' ? 'error  ' : 'warning'} ${plain(f.file)}:${f.line}:${f.column} ${f.rule}: ${plain(f.message)}`);
  if (!report.compared) return `${out.join('\n')}\n`;
  for (const n of report.notes) out.push(`note: ${plain(n)}`);
  for (const t of report.guardrails) out.push(`guardrail ${t.guardrail}: ${plain(t.message)}`);
  if (report.guardrailsChanged.length) out.push(`note: the guardrails change (${plain(report.guardrailsChanged.join('; '))}): ${GUARDRAILS_LATER}.`);
  out.push(...compatibilityLines(report.compatibility, 'text'));
  out.push('', summaryLine(report));
  if (!report.changed) {
    out.push('No changes.');
    return `${out.join('\n')}\n`;
  }
  for (const s of report.sites) {
    out.push(
      `${s.status === 'added' ? '+' : s.status === 'removed' ? '-' : '~'} ${s.site} ` +
        `(${s.role === 'hub' ? 'core' : 'region'}, ${s.area}, ${s.retiring ? 'retiring: teardown' : s.status}${s.wave ? `, wave ${s.wave}` : ''}): ` +
        siteHeadline(s),
    );
    for (const note of s.notes) out.push(`    note: ${plain(note)}`);
    for (const category of CATEGORIES) {
      const changes = s.changes.filter((c) => c.category === category);
      if (!changes.length) continue;
      out.push(`    ${CATEGORY_TITLES[category]}:`);
      for (const c of changes) {
        if (c.action === 'change') {
          out.push(`      ~ ${plain(c.id)}`);
          for (const f of c.fields) out.push(`          ${plain(f.field)}: ${plain(f.before ?? '(unset)')} -> ${plain(f.after ?? '(unset)')}`);
        } else out.push(`      ${TEXT_ICON[c.action]} ${plain(c.id)}: ${plain(c.summary)}`);
      }
    }
    for (const f of s.files)
      out.push(
        ...f.diff
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => `    ${plain(l)}`),
      );
    for (const r of s.restarts) out.push(`    will ${plain(r)}`);
  }
  if (report.links.length) {
    out.push('', 'Links:');
    for (const l of report.links) {
      out.push(`  ${l.status === 'added' ? '+' : l.status === 'removed' ? '-' : '~'} ${l.a} -- ${l.b} (${l.type}, ${l.status})`);
      if (l.status === 'changed')
        for (const f of l.fields) out.push(`      ${plain(f.field)}: ${plain(f.before ?? '(unset)')} -> ${plain(f.after ?? '(unset)')}`);
    }
  }
  if (report.addressPlan.length) {
    out.push('', 'Address plan:');
    for (const a of report.addressPlan) {
      out.push(
        `  ${a.area} ${a.supernet} (${a.allocation}): ${a.counts.used} used, ${a.counts.reserved} reserved, ${a.counts.free} ` +
          `free${a.counts.conflict ? `, ${a.counts.conflict} in conflict` : ''}`,
      );
      for (const r of a.rows) {
        const range = r.cidr ?? `${r.first} - ${r.last} (${r.blocks} blocks)`;
        const change = r.change ? `  [${r.change === 'added' ? 'new' : r.change}${r.before?.length ? `, was ${r.before.join(', ')}` : ''}]` : '';
        out.push(`    ${range.padEnd(18)} ${r.status.padEnd(8)} ${plain(r.owners.join('; '))}${plain(change)}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

export function renderJson(report: DiffReport): string {
  const strip = (f: Finding) => ({ rule: f.rule, severity: f.severity, file: f.file, line: f.line, column: f.column, message: f.message });
  return `${JSON.stringify(
    {
      ...report,
      base: { ...report.base, errors: report.base.errors.length, warnings: report.base.warnings.length },
      head: { ...report.head, errors: report.head.errors.map(strip), warnings: report.head.warnings.map(strip) },
    },
    null,
    2,
  )}\n`;
}
