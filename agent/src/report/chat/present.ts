// How one channel is to see one notice, decided just before it is rendered (pure): its language, whom it
// mentions (the channel's and its routes' mentions, on alerts of the severities they name, never on a
// resolution or a recovery) and its links (the commit and pull request from the policy's templates or
// repository URL, and the event kind's runbook).
import type { NotificationChannel, NotificationMentions, Notifications } from '../../model/schema.js';
import { mentionable, mentionsOn, severityOf } from './routing.js';
import type { Mentions, Notice, NoticeLinks } from './types.js';

/** A full commit id (or an abbreviation of one): anything else ("unknown", "working-tree") has no page. */
const COMMIT = /^[0-9a-f]{7,64}$/i;

/** `template` with {revision}, {pullRequest} and {site} filled in; undefined when a placeholder has no value. */
function expand(template: string, vars: Record<string, string | undefined>): string | undefined {
  let missing = false;
  const url = template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = vars[name];
    if (value === undefined) missing = true;
    return value === undefined ? whole : encodeURIComponent(value);
  });
  return missing ? undefined : url;
}

/** The commit and pull request templates: the policy's own, else GitHub-style ones under `repository`. */
function templates(links: Notifications['links']): { commit?: string; pullRequest?: string } {
  const repo = links?.repository?.replace(/\/+$/, '').replace(/\.git$/, '');
  const commit = links?.commit ?? (repo ? `${repo}/commit/{revision}` : undefined);
  const pullRequest = links?.pullRequest ?? (repo ? `${repo}/pull/{pullRequest}` : undefined);
  return { ...(commit ? { commit } : {}), ...(pullRequest ? { pullRequest } : {}) };
}

/** The links of a notice under `policy` (none that cannot be filled in). */
export function linksOf(policy: Pick<Notifications, 'links' | 'runbooks'>, notice: Notice): NoticeLinks | undefined {
  const { event } = notice;
  const vars = {
    revision: COMMIT.test(event.revision) ? event.revision : undefined,
    pullRequest: notice.pullRequest !== undefined ? String(notice.pullRequest) : undefined,
    site: event.site,
  };
  const t = templates(policy.links);
  const commit = t.commit ? expand(t.commit, vars) : undefined;
  const pullRequest = t.pullRequest && vars.pullRequest !== undefined ? expand(t.pullRequest, vars) : undefined;
  const runbook = event.kind === 'apply-started' ? undefined : policy.runbooks?.[event.kind];
  const out: NoticeLinks = { ...(commit ? { commit } : {}), ...(pullRequest ? { pullRequest } : {}), ...(runbook ? { runbook } : {}) };
  return Object.keys(out).length ? out : undefined;
}

/** Several mention lists as one, each id once. */
function merge(lists: readonly NotificationMentions[]): Mentions | undefined {
  const out: Mentions = { users: [], mobiles: [], groups: [], all: false };
  for (const m of lists) {
    out.users.push(...(m.users ?? []));
    out.mobiles.push(...(m.mobiles ?? []));
    out.groups.push(...(m.groups ?? []));
    out.all ||= m.all === true;
  }
  const uniq = (xs: string[]) => [...new Set(xs)];
  const merged = { users: uniq(out.users), mobiles: uniq(out.mobiles), groups: uniq(out.groups), all: out.all };
  return merged.users.length || merged.mobiles.length || merged.groups.length || merged.all ? merged : undefined;
}

/** Whom `channel`'s message mentions: its own mentions when its mentionOn covers the event, and its routes' (already filtered). */
function mentionsFor(channel: NotificationChannel, notice: Notice, fromRoutes: readonly NotificationMentions[] = []): Mentions | undefined {
  if (!mentionable(notice.event.kind, notice.occurrence)) return undefined;
  const own = channel.mentions && mentionsOn(channel.mentionOn, severityOf(notice.event.kind)) ? [channel.mentions] : [];
  return merge([...own, ...fromRoutes]);
}

/** `notice` as `channel` shows it: its language (undefined: the vendor's default), mentions and links. */
export function present(
  policy: Pick<Notifications, 'links' | 'runbooks'>,
  channel: NotificationChannel,
  notice: Notice,
  fromRoutes: readonly NotificationMentions[] = [],
): Notice {
  const mentions = mentionsFor(channel, notice, fromRoutes);
  const links = linksOf(policy, notice);
  return { ...notice, ...(channel.language ? { language: channel.language } : {}), ...(mentions ? { mentions } : {}), ...(links ? { links } : {}) };
}
