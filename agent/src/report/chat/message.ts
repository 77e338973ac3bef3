// What a chat message says, whatever the vendor: what happened, where (site, area, hosts), which commit,
// what to do and where to read more, in a few short lines a phone shows without scrolling. Vendors lay this
// card out in their own format (Slack blocks, a Feishu card, DingTalk and WeCom markdown) and add their own
// mentions. A channel reads English, Chinese or both (each label in Chinese then English); every title
// starts with "mirrornet" (a DingTalk robot's custom keyword can use it).
import type { EventKind } from '../../reconcile/events.js';
import type { Language, Notice } from './types.js';

export type Tone = 'good' | 'info' | 'warning' | 'danger';

interface Fact {
  label: string;
  value: string;
}

interface Link {
  label: string;
  url: string;
}

export interface Card {
  tone: Tone;
  icon: string;
  /** "mirrornet · ⚠️ Drift detected: cn-shanghai" */
  title: string;
  /** The event's sentence: what happened. */
  headline: string;
  facts: Fact[];
  actionLabel: string;
  /** What to do (for both: the Chinese sentence, then the English one). */
  action: string[];
  /** The commit, the pull request and the runbook, when the policy links them. */
  links: Link[];
  changesLabel: string;
  /** At most MAX_CHANGES lines; `moreChanges` says how many were left out. */
  changes: string[];
  moreChanges: number;
  diffLabel: string;
  /** Drift: the masked unified diff of what was found (already bounded by the agent), as a code block's text. */
  diff?: string;
  /** Fingerprint and time, small print. */
  footer: string;
}

const MAX_CHANGES = 10;
/** Hosts named in the Hosts fact; the rest are counted. */
const MAX_HOSTS = 8;

interface Headline {
  icon: string;
  en: string;
  zh: string;
  tone: Tone;
}

function heading(kind: EventKind, occurrence: Notice['occurrence']): Headline {
  switch (kind) {
    case 'applied':
      return { icon: '✅', en: 'Applied', zh: '已应用', tone: 'good' };
    case 'apply-started':
      return { icon: '⏳', en: 'Applying', zh: '正在应用', tone: 'info' };
    case 'apply-failed':
      return { icon: '❌', en: 'Apply failed', zh: '应用失败', tone: 'danger' };
    case 'revision-refused':
      return { icon: '⛔', en: 'Revision refused', zh: '版本被拒绝', tone: 'danger' };
    case 'guardrail-blocked':
      return { icon: '🛑', en: 'Blocked by a guardrail', zh: '被护栏拦截', tone: 'warning' };
    case 'drift-detected':
      return occurrence === 'reminder'
        ? { icon: '⏰', en: 'Drift still present', zh: '配置漂移仍未恢复', tone: 'warning' }
        : { icon: '⚠️', en: 'Drift detected', zh: '检测到配置漂移', tone: 'warning' };
    case 'drift-resolved':
      return { icon: '✅', en: 'Drift resolved', zh: '配置漂移已恢复', tone: 'good' };
    case 'agent-stalled':
      return { icon: '🧊', en: 'Agent stalled', zh: 'agent 停滞', tone: 'danger' };
    case 'agent-recovered':
      return { icon: '✅', en: 'Agent recovered', zh: 'agent 已恢复', tone: 'good' };
    case 'drift-healed':
      return { icon: '🩹', en: 'Drift found and healed', zh: '发现配置漂移并已自动修复', tone: 'info' };
    case 'site-silent':
      return occurrence === 'reminder'
        ? { icon: '⏰', en: 'Site still silent', zh: '站点仍未上报', tone: 'danger' }
        : { icon: '📵', en: 'Site silent', zh: '站点停止上报', tone: 'danger' };
    case 'site-back':
      return { icon: '✅', en: 'Site reporting again', zh: '站点已恢复上报', tone: 'good' };
    case 'site-suspended':
      return { icon: '⏸️', en: 'Site suspended', zh: '站点已暂停', tone: 'warning' };
    case 'site-resumed':
      return { icon: '▶️', en: 'Site resumed', zh: '站点已恢复运行', tone: 'good' };
    case 'rollout-advanced':
      return { icon: '🌊', en: 'Rollout advanced', zh: '发布推进到下一批', tone: 'info' };
    case 'rollout-halted':
      return { icon: '🛑', en: 'Rollout halted', zh: '发布已暂停', tone: 'danger' };
    case 'rollout-complete':
      return { icon: '✅', en: 'Rollout complete', zh: '发布已完成', tone: 'good' };
    case 'rollout-superseded':
      return { icon: '↩️', en: 'Rollout superseded', zh: '发布已被取代', tone: 'info' };
    case 'site-retired':
      return { icon: '🏁', en: 'Site retired', zh: '站点已退役', tone: 'good' };
  }
}

function advice(notice: Notice): { en: string; zh: string } {
  const { event } = notice;
  const site = event.site;
  const component = event.component ?? 'a component';
  switch (event.kind) {
    case 'apply-failed':
      return {
        en: `The agent on ${site} tries again on its next reconcile. If this repeats, read the agent's log on ${site} and fix the repository or the host.`,
        zh: `${site} 上的 agent 会在下次调和时重试；若持续失败，请查看 ${site} 上 agent 的日志，修复仓库或主机。`,
      };
    case 'revision-refused':
      return {
        en: `${site} keeps its last applied revision. Fix the commit (its signature, or run \`mirrornet validate\`) and push a new one.`,
        zh: `${site} 保持上一个已应用的版本。请修复该提交（签名，或运行 mirrornet validate 检查）后重新推送。`,
      };
    case 'guardrail-blocked':
      return {
        en:
          'Nothing was changed. Review the changes; if they are intended, raise the limit in policies/guardrails.yaml or split the change into ' +
          'smaller commits.',
        zh: '未做任何更改。请核对变更；如确属预期，请在 policies/guardrails.yaml 中调高限制，或拆分为更小的提交。',
      };
    case 'drift-detected':
      return {
        en:
          `${component} on ${site} was changed outside the repository. Undo the change on the host, or commit it to the repository; with drift: ` +
          'heal in policies/guardrails.yaml the agent restores it itself.',
        zh:
          `${site} 上的 ${component} 被仓库之外的操作修改。请在主机上撤销该修改，或将其提交到仓库；在 ` +
          'policies/guardrails.yaml 中设置 drift: heal 后 agent 会自动恢复。',
      };
    case 'agent-stalled':
      return {
        en:
          `The agent on ${site} applies nothing until this ends. Read its log on ${site}: a hook or validation that hangs is stopped at its timeout ` +
          '(--hook-timeout); a state file that cannot be read must be fixed or moved away (mirrornet then never prunes what it created before).',
        zh:
          `在此恢复之前，${site} 上的 agent 不会应用任何变更。请查看 ${site} 上 agent 的日志：卡住的钩子或校验会在超时后被终止（--hook-timeout）；` +
          '无法读取的状态文件需要修复或移走（之后 mirrornet 不会再清理它此前创建的内容）。',
      };
    case 'drift-healed':
      return {
        en:
          `Nothing to do now: the agent restored ${component} on ${site}. If this repeats, find what changes it outside the repository ` +
          '(a person, a script, another daemon) and stop it, or commit the change to the repository.',
        zh:
          `当前无需处理：agent 已恢复 ${site} 上的 ${component}。若反复出现，请找出在仓库之外修改它的来源（人工、脚本或其他守护进程）并停止它，` +
          '或将该修改提交到仓库。',
      };
    case 'site-silent':
      return {
        en:
          `The gateway of ${site} has not reported to its core for more than three intervals. Check that the gateway's agent runs and reaches ` +
          `the core (its log on the gateway, mirrornet status); the hosts of ${site} keep what they applied meanwhile.`,
        zh:
          `${site} 的网关已超过三个周期未向核心上报。请确认网关上的 agent 正在运行且能连到核心（查看网关上 agent 的日志，或运行 mirrornet status）；` +
          `在此期间 ${site} 的主机保持已应用的配置。`,
      };
    case 'site-suspended':
      return {
        en: `The agents of ${site} apply no new revision and heal no drift (drift is still detected and reported) until an operator resumes the site.`,
        zh: `在操作员恢复该站点之前，${site} 的 agent 不会应用新版本，也不会修复配置漂移（漂移仍会被检测和上报）。`,
      };
    case 'rollout-halted':
      return {
        en:
          "Later waves keep the revision they have. Read the failing site's errors (mirrornet status, mirrornet rollout status), fix the " +
          'repository and merge a new commit: it starts a new rollout from the first wave.',
        zh: '后续批次保持当前版本。请查看失败站点的错误（mirrornet status、mirrornet rollout status），修复仓库后合并新的提交：新提交会从第一批重新发布。',
      };
    case 'site-retired':
      return {
        en: `Everything mirrornet created for ${site} is removed and its agents stopped. Delete its file in a pull request of its own.`,
        zh: `mirrornet 为 ${site} 创建的内容已全部删除，其 agent 已停止。请在单独的拉取请求中删除该站点的文件。`,
      };
    default:
      return { en: 'Nothing to do.', zh: '无需处理。' };
  }
}

/** The first 12 characters of a commit id (as the agent's messages print it). */
function shortSha(revision: string): string {
  return /^[0-9a-f]{13,}$/i.test(revision) ? revision.slice(0, 12) : revision;
}

/** "n3, n7", or the first MAX_HOSTS and how many more. */
function hostList(hosts: readonly string[], lang: Language): string {
  const shown = hosts.slice(0, MAX_HOSTS).join(', ');
  const more = hosts.length - MAX_HOSTS;
  if (more <= 0) return shown;
  return lang === 'zh' ? `${shown} 等 ${hosts.length} 台` : lang === 'both' ? `${shown} … (+${more}, 共 ${hosts.length} 台)` : `${shown} … (+${more} more)`;
}

/** The card of `notice` in `lang` (the notice's own language first). */
export function compose(notice: Notice, lang: Language = 'en'): Card {
  const { event } = notice;
  const h = heading(event.kind, notice.occurrence);
  const label = (en: string, cn: string) => (lang === 'both' ? `${cn} ${en}` : lang === 'zh' ? cn : en);
  const facts: Fact[] = [{ label: label('Site', '站点'), value: event.site }];
  if (notice.area) facts.push({ label: label('Area', '区域'), value: notice.area });
  if (event.hosts?.length) facts.push({ label: label('Hosts', '主机'), value: hostList(event.hosts, lang) });
  facts.push({ label: label('Commit', '提交'), value: shortSha(event.revision) });
  if (event.component) facts.push({ label: label('Component', '组件'), value: event.component });
  if (notice.since && (notice.occurrence === 'reminder' || notice.occurrence === 'resolved')) {
    facts.push({ label: label('Since', '起始时间'), value: notice.since });
  }
  if (notice.suppressed) {
    facts.push({
      label: label('Repeated', '重复'),
      value:
        lang === 'both'
          ? `此前 ${notice.suppressed} 条相同消息已合并 (${notice.suppressed} identical left out)`
          : lang === 'zh'
            ? `此前 ${notice.suppressed} 条相同消息已合并`
            : `${notice.suppressed} identical message(s) left out before this one`,
    });
  }
  const changes = (event.changes ?? []).map((c) => `${c.action} ${c.provider} ${c.id}${c.reason ? ` — ${c.reason}` : ''}`);
  const a = advice(notice);
  const links: Link[] = [];
  const l = notice.links;
  if (l?.commit) links.push({ label: `${label('Commit', '提交')} ${shortSha(event.revision)}`, url: l.commit });
  if (l?.pullRequest) links.push({ label: `${label('Pull request', '合并请求')} #${notice.pullRequest}`, url: l.pullRequest });
  if (l?.runbook) links.push({ label: label('Runbook', '处理手册'), url: l.runbook });
  return {
    tone: h.tone,
    icon: h.icon,
    title: `mirrornet · ${h.icon} ${lang === 'both' ? `${h.zh} ${h.en}` : lang === 'zh' ? h.zh : h.en}: ${event.site}`,
    headline: event.message,
    facts,
    actionLabel: label('What to do', '处理建议'),
    action: lang === 'both' && a.zh !== a.en ? [a.zh, a.en] : lang === 'zh' ? [a.zh] : [a.en],
    links,
    changesLabel: label('Changes', '变更'),
    changes: changes.slice(0, MAX_CHANGES),
    moreChanges: Math.max(0, changes.length - MAX_CHANGES),
    diffLabel: label('Diff (host against repository)', '差异（主机 对比 仓库）'),
    ...(event.diff ? { diff: event.diff } : {}),
    footer: `mirrornet · ${event.kind} · fingerprint ${event.fingerprint} · ${notice.sentAt ?? event.at}`,
  };
}

/** A diff as a fenced block no line of it can close (backticks become a look-alike). */
export function diffBlock(diff: string): string {
  return `\`\`\`diff\n${diff.replace(/\n$/, '').replace(/`/g, 'ˋ')}\n\`\`\``;
}

/** `url` safe inside markdown links (`[text](url)`, Slack's `<url|text>`): the characters that would end one are percent-encoded. */
export function linkUrl(url: string): string {
  return url.replace(/[()<>|\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
