// What a chat message says, whatever the vendor: what happened, where (site, area), which commit, and
// what to do, in a few short lines a phone shows without scrolling. Vendors lay this card out in their
// own format (Slack blocks, a Feishu card, DingTalk and WeCom markdown). Chinese vendors get bilingual
// labels and advice; every title starts with "mirrornet" (a DingTalk robot's custom keyword can use it).
import type { EventKind } from '../../reconcile/events.js';
import type { Notice } from './types.js';

export type Tone = 'good' | 'info' | 'warning' | 'danger';
export type Lang = 'en' | 'zh';

interface Fact {
  label: string;
  value: string;
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
  /** What to do (for zh: the Chinese sentence, then the English one). */
  action: string[];
  changesLabel: string;
  /** At most MAX_CHANGES lines; `moreChanges` says how many were left out. */
  changes: string[];
  moreChanges: number;
  /** Fingerprint and time, small print. */
  footer: string;
}

const MAX_CHANGES = 10;

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
    default:
      return { en: 'Nothing to do.', zh: '无需处理。' };
  }
}

/** The first 12 characters of a commit id (as the agent's messages print it). */
function shortSha(revision: string): string {
  return /^[0-9a-f]{13,}$/i.test(revision) ? revision.slice(0, 12) : revision;
}

export function compose(notice: Notice, lang: Lang = 'en'): Card {
  const { event } = notice;
  const h = heading(event.kind, notice.occurrence);
  const zh = lang === 'zh';
  const label = (en: string, cn: string) => (zh ? `${cn} ${en}` : en);
  const facts: Fact[] = [{ label: label('Site', '站点'), value: event.site }];
  if (notice.area) facts.push({ label: label('Area', '区域'), value: notice.area });
  facts.push({ label: label('Commit', '提交'), value: shortSha(event.revision) });
  if (event.component) facts.push({ label: label('Component', '组件'), value: event.component });
  if (notice.since && (notice.occurrence === 'reminder' || notice.occurrence === 'resolved')) {
    facts.push({ label: label('Since', '起始时间'), value: notice.since });
  }
  if (notice.suppressed) {
    facts.push({
      label: label('Repeated', '重复'),
      value: zh
        ? `此前 ${notice.suppressed} 条相同消息已合并 (${notice.suppressed} identical left out)`
        : `${notice.suppressed} identical message(s) left out before this one`,
    });
  }
  const changes = (event.changes ?? []).map((c) => `${c.action} ${c.provider} ${c.id}${c.reason ? ` — ${c.reason}` : ''}`);
  const a = advice(notice);
  return {
    tone: h.tone,
    icon: h.icon,
    title: `mirrornet · ${h.icon} ${zh ? `${h.zh} ${h.en}` : h.en}: ${event.site}`,
    headline: event.message,
    facts,
    actionLabel: label('What to do', '处理建议'),
    action: zh && a.zh !== a.en ? [a.zh, a.en] : [a.en],
    changesLabel: label('Changes', '变更'),
    changes: changes.slice(0, MAX_CHANGES),
    moreChanges: Math.max(0, changes.length - MAX_CHANGES),
    footer: `mirrornet · ${event.kind} · fingerprint ${event.fingerprint} · ${notice.sentAt ?? event.at}`,
  };
}
