// policies/notifications.yaml: routes name declared channels and sites, every channel is used, channel
// and route names are unique, signing secrets are set where the vendor can check them (and not where it
// cannot), rate limits stay within what each vendor documents for one robot, mute windows have a schedule,
// time zone and duration the dispatcher can use and name declared routes and channels, mentions are ones
// the vendor can make, and link templates fill in. Unknown events, components and severities are the
// schema's (schema/value, with a suggestion).
import { vendorPerMinute } from '../../model/chat-vendors.js';
import { cronProblem, timeZoneProblem } from '../../model/cron.js';
import type { Finding } from '../../model/finding.js';
import { goDurationNs } from '../../model/go-duration.js';
import type { NotificationChannel, NotificationMentions, Notifications } from '../../model/schema.js';
import type { PathSegment, SourceFile } from '../../model/source.js';
import { didYouMean } from '../../model/suggest.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const unknownChannel = reporter({ id: 'notifications/unknown-channel', severity: 'error' });
const unknownSite = reporter({ id: 'notifications/unknown-site', severity: 'error' });
const unusedChannel = reporter({ id: 'notifications/unused-channel', severity: 'warning' });
const duplicateChannel = reporter({ id: 'notifications/duplicate-channel', severity: 'error' });
const missingSecret = reporter({ id: 'notifications/missing-secret', severity: 'warning' });
const unusedSecret = reporter({ id: 'notifications/unused-secret', severity: 'warning' });
const rateLimit = reporter({ id: 'notifications/rate-limit', severity: 'warning' });
const unknownRoute = reporter({ id: 'notifications/unknown-route', severity: 'error' });
const duplicateRoute = reporter({ id: 'notifications/duplicate-route', severity: 'error' });
const muteWindow = reporter({ id: 'notifications/mute-window', severity: 'error' });
const mentionUnsupported = reporter({ id: 'notifications/mention-unsupported', severity: 'warning' });
const linkTemplate = reporter({ id: 'notifications/link-template', severity: 'warning' });

const VENDOR: Record<NotificationChannel['type'], string> = {
  slack: 'Slack',
  feishu: 'Feishu/Lark',
  dingtalk: 'DingTalk',
  wecom: 'WeCom',
  webhook: 'generic webhook',
};

/** Why a channel without a secret deserves a look. */
const WITHOUT_SECRET: Partial<Record<NotificationChannel['type'], string>> = {
  dingtalk:
    'without the robot\'s "sign" (加签) security setting anyone who learns the URL can post into the group. ' +
    'Turn it on and add secret: env:NAME holding the SEC... value ' +
    '(a robot secured by keywords must see "mirrornet" in every message: every title has it)',
  feishu: "without the bot's signature verification (签名校验) anyone who learns the URL can post into the group. Turn it on and add secret: env:NAME",
  webhook: 'messages go out unsigned (no X-Mirrornet-Signature-256 header) and the receiver cannot tell them from forged ones. Add secret: env:NAME',
};

/** What the vendor documents beyond the per-minute number. */
const LIMIT_NOTE: Partial<Record<NotificationChannel['type'], string>> = {
  dingtalk: 'beyond it DingTalk silences the robot for 10 minutes',
  wecom: 'beyond it WeCom answers errcode 45009',
  feishu: 'and 5 per second; beyond it Feishu answers code 11232',
  slack: 'about one message per second',
};

function check(ctx: RuleContext): Finding[] {
  const located = ctx.fleet.policies.notifications;
  if (!located) return [];
  const { value: policy, file: f } = located;
  const out: Finding[] = [];

  // Channels: unique names, secrets, rate limits.
  const seen = new Set<string>();
  policy.channels.forEach((c, i) => {
    if (seen.has(c.name))
      out.push(duplicateChannel(f, ['channels', i, 'name'], `The channel "${c.name}" is declared twice: channel names are unique; rename or merge them.`));
    seen.add(c.name);
    const why = WITHOUT_SECRET[c.type];
    if (!c.secret && why) out.push(missingSecret(f, ['channels', i, 'name'], `The ${VENDOR[c.type]} channel ${c.name} has no secret: ${why}.`));
    if (c.secret && (c.type === 'slack' || c.type === 'wecom')) {
      out.push(
        unusedSecret(
          f,
          ['channels', i, 'secret'],
          `${VENDOR[c.type]} robots are not signed (the URL itself is the credential): ` +
            `the secret of ${c.name} is never used; remove it and keep the URL secret.`,
        ),
      );
    }
    const max = vendorPerMinute(c.type);
    if (c.rateLimit && max !== undefined && c.rateLimit.perMinute > max) {
      out.push(
        rateLimit(
          f,
          ['channels', i, 'rateLimit', 'perMinute'],
          `rateLimit.perMinute ${c.rateLimit.perMinute} of ${c.name} is above the ${max} messages per minute ` +
            `${VENDOR[c.type]} documents for one robot (${LIMIT_NOTE[c.type]}): use ${max} or less.`,
        ),
      );
    }
  });

  // Routes: declared channels and sites.
  const names = [...seen];
  const used = new Set<string>();
  const sites = [...ctx.fleet.sites.keys()];
  policy.routes.forEach((r, i) => {
    r.channels.forEach((name, j) => {
      used.add(name);
      if (seen.has(name)) return;
      const guess = didYouMean(name, names);
      const hint = guess ? `. Did you mean "${guess}"?` : `: declare it under channels${names.length ? ` or use one of ${names.join(', ')}` : ''}.`;
      out.push(unknownChannel(f, ['routes', i, 'channels', j], `The route sends to "${name}", which is not a channel of this policy${hint}`));
    });
    for (const part of ['match', 'exclude'] as const) {
      for (const key of ['sites', 'regions'] as const) {
        (r[part]?.[key] ?? []).forEach((site, j) => {
          if (ctx.knownOrBroken(site)) return;
          const guess = didYouMean(site, sites);
          out.push(
            unknownSite(
              f,
              ['routes', i, part, key, j],
              `There is no site "${site}": ${part}.${key} names regions or cores${guess ? `. Did you mean "${guess}"?` : `, one of ${sites.join(', ')}.`}`,
            ),
          );
        });
      }
    }
  });
  out.push(...routeNames(policy, f), ...muteWindows(policy, f, names), ...mentions(policy, f), ...links(policy, f));
  policy.channels.forEach((c, i) => {
    if (!used.has(c.name))
      out.push(unusedChannel(f, ['channels', i, 'name'], `No route sends to the channel ${c.name}: add it to the channels of a route, or remove it.`));
  });
  return out;
}

/** Route names are unique (mute windows name routes by them). */
function routeNames(policy: Notifications, f: SourceFile): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  policy.routes.forEach((r, i) => {
    if (r.name === undefined) return;
    if (seen.has(r.name)) out.push(duplicateRoute(f, ['routes', i, 'name'], `Two routes are named "${r.name}": route names are unique; rename one.`));
    seen.add(r.name);
  });
  return out;
}

const MAX_MUTE_NS = 31n * 86_400_000_000_000n;

/** Each mute window: a schedule, time zone and duration the dispatcher can use, and routes and channels that exist. */
function muteWindows(policy: Notifications, f: SourceFile, channels: string[]): Finding[] {
  const out: Finding[] = [];
  const routes = policy.routes.flatMap((r) => (r.name ? [r.name] : []));
  (policy.muteWindows ?? []).forEach((w, i) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['muteWindows', i, ...rest];
    const cron = cronProblem(w.schedule);
    if (cron) out.push(muteWindow(f, at('schedule'), `The schedule "${w.schedule}" of the mute window ${w.name} ${cron}.`));
    const tz = timeZoneProblem(w.timeZone);
    if (tz) out.push(muteWindow(f, at('timeZone'), `The time zone "${w.timeZone}" of the mute window ${w.name} ${tz}.`));
    const ns = goDurationNs(w.duration);
    if (ns !== undefined && (ns < 60_000_000_000n || ns > MAX_MUTE_NS))
      out.push(
        muteWindow(
          f,
          at('duration'),
          `The mute window ${w.name} lasts ${w.duration}: use 1m to 31d (a window that never closes is a disabled route: remove the route).`,
        ),
      );
    (w.routes ?? []).forEach((name, j) => {
      if (routes.includes(name)) return;
      const guess = didYouMean(name, routes);
      const hint = guess ? ` Did you mean "${guess}"?` : routes.length ? ` Named routes: ${routes.join(', ')}.` : ' Give the route a name: first.';
      out.push(unknownRoute(f, at('routes', j), `The mute window ${w.name} names the route "${name}", which no route is named.${hint}`));
    });
    (w.channels ?? []).forEach((name, j) => {
      if (channels.includes(name)) return;
      const guess = didYouMean(name, channels);
      out.push(
        unknownChannel(
          f,
          at('channels', j),
          `The mute window ${w.name} names "${name}", which is not a channel of this policy${guess ? `. Did you mean "${guess}"?` : '.'}`,
        ),
      );
    });
  });
  return out;
}

/** What each vendor cannot do with a mention, or does not recognise as an id, in the documented formats. */
interface MentionProblem {
  key: keyof NotificationMentions;
  /** Why, and what becomes of it: left out of the message, or sent as an id the vendor does not resolve. */
  why: string;
}

function mentionProblems(type: NotificationChannel['type'], m: NotificationMentions): MentionProblem[] {
  const out: MentionProblem[] = [];
  const cannot = (key: keyof NotificationMentions, why: string) => {
    const v = m[key];
    if (v === true || (Array.isArray(v) && v.length)) out.push({ key, why: `${why}: this mention is left out` });
  };
  const unresolved = (key: keyof NotificationMentions, why: string) => out.push({ key, why: `${why}: it would mention no one` });
  switch (type) {
    case 'feishu':
      cannot('mobiles', 'a Feishu custom bot mentions users by open_id only');
      cannot('groups', 'Feishu has no user groups to mention');
      if (m.users?.some((u) => !u.startsWith('ou_'))) unresolved('users', 'a Feishu custom bot mentions users by open_id (ou_...) only');
      break;
    case 'dingtalk':
      cannot('groups', 'DingTalk robots mention mobiles, userIds or everyone, not groups');
      break;
    case 'wecom':
      cannot('mobiles', 'WeCom markdown messages mention members by userid (<@userid>) only');
      cannot('all', 'WeCom markdown messages cannot mention everyone');
      cannot('groups', 'WeCom has no user groups to mention');
      break;
    case 'slack':
      cannot('mobiles', 'Slack mentions members and user groups by id, not by mobile');
      if (m.users?.some((u) => !/^[UW][A-Z0-9]{2,}$/.test(u))) unresolved('users', 'Slack member ids look like U0123ABCD, not names');
      if (m.groups?.some((g) => !/^S[A-Z0-9]{2,}$/.test(g))) unresolved('groups', 'Slack user group ids look like S0123ABCD, not handles');
      break;
    case 'webhook':
      for (const key of ['users', 'mobiles', 'groups', 'all'] as const) cannot(key, 'the generic webhook mentions no one');
      break;
  }
  return out;
}

/** Mentions each vendor can make; a route's mentions go to channels of one vendor (ids belong to one). */
function mentions(policy: Notifications, f: SourceFile): Finding[] {
  const out: Finding[] = [];
  const byName = new Map(policy.channels.map((c) => [c.name, c]));
  policy.channels.forEach((c, i) => {
    if (!c.mentions) return;
    for (const p of mentionProblems(c.type, c.mentions))
      out.push(mentionUnsupported(f, ['channels', i, 'mentions', p.key], `The channel ${c.name} mentions ${p.key}, but ${p.why}.`));
  });
  policy.routes.forEach((r, i) => {
    if (!r.mentions) return;
    const types = [...new Set(r.channels.flatMap((n) => byName.get(n)?.type ?? []))];
    if (types.length > 1) {
      out.push(
        mentionUnsupported(
          f,
          ['routes', i, 'mentions'],
          `The route mentions the same ids on ${types.join(' and ')} channels, but an id belongs to one vendor: move the mentions to each channel.`,
          { key: true },
        ),
      );
      return;
    }
    if (types[0] === undefined) return;
    for (const p of mentionProblems(types[0], r.mentions))
      out.push(mentionUnsupported(f, ['routes', i, 'mentions', p.key], `The route mentions ${p.key} on ${types[0]} channels, but ${p.why}.`));
  });
  return out;
}

const PLACEHOLDERS = ['revision', 'pullRequest', 'site'];

/** Link templates fill in: known placeholders, and the one each link is about. */
function links(policy: Notifications, f: SourceFile): Finding[] {
  const out: Finding[] = [];
  const templates = [
    ['commit', 'revision'],
    ['pullRequest', 'pullRequest'],
  ] as const;
  for (const [key, needs] of templates) {
    const t = policy.links?.[key];
    if (!t) continue;
    const used = [...t.matchAll(/\{(\w*)\}/g)].map((m) => m[1]!);
    const unknown = used.filter((u) => !PLACEHOLDERS.includes(u));
    if (unknown.length)
      out.push(
        linkTemplate(
          f,
          ['links', key],
          `links.${key} has {${unknown.join('}, {')}}: only {revision}, {pullRequest} and {site} are filled in, so no link is made.`,
        ),
      );
    else if (!used.includes(needs)) out.push(linkTemplate(f, ['links', key], `links.${key} has no {${needs}}: every message would link the same page.`));
  }
  return out;
}

export const notificationRules: RuleFamily = {
  id: 'notifications',
  rules: [
    {
      id: 'notifications/unknown-channel',
      severity: 'error',
      summary: 'A route sends to channels the policy declares.',
      example: 'channels: [network-cm] with no channel network-cm',
    },
    {
      id: 'notifications/unknown-site',
      severity: 'error',
      summary: "A route's match and exclude sites (or regions) name declared regions or cores.",
      example: 'regions: [cn-shangai]',
    },
    { id: 'notifications/unused-channel', severity: 'warning', summary: 'Every channel is used by a route.', example: 'a channel audit that no route names' },
    { id: 'notifications/duplicate-channel', severity: 'error', summary: 'Channel names are unique.', example: 'two channels named network-cn' },
    {
      id: 'notifications/missing-secret',
      severity: 'warning',
      summary: "DingTalk, Feishu/Lark and generic webhook channels have a signing secret (the vendors' signature security setting).",
      example: 'type: dingtalk without secret',
    },
    {
      id: 'notifications/unused-secret',
      severity: 'warning',
      summary: 'Slack and WeCom channels have no secret (they are not signed; the URL is the credential).',
      example: 'type: slack with secret: env:X',
    },
    {
      id: 'notifications/rate-limit',
      severity: 'warning',
      summary: "rateLimit.perMinute stays within the vendor's documented limit per robot (DingTalk 20, WeCom 20, Feishu 100, Slack 60).",
      example: 'type: dingtalk, rateLimit: { perMinute: 60 }',
    },
    {
      id: 'notifications/unknown-route',
      severity: 'error',
      summary: 'A mute window names routes by their name: routes that exist.',
      example: 'muteWindows: [{routes: [cn-oncal]}] with no route named cn-oncal',
    },
    { id: 'notifications/duplicate-route', severity: 'error', summary: 'Route names are unique.', example: 'two routes named cn-oncall' },
    {
      id: 'notifications/mute-window',
      severity: 'error',
      summary: 'A mute window has a five-field cron schedule, an IANA time zone and a duration of 1m to 31d.',
      example: 'schedule: "0 0 2 * * 6" (six fields), timeZone: China/Beijing',
    },
    {
      id: 'notifications/mention-unsupported',
      severity: 'warning',
      summary: 'Mentions are ones the vendor can make (Feishu open_ids, DingTalk mobiles and userIds, Slack U/S ids, WeCom userids).',
      example: 'type: wecom with mentions: {mobiles: [...]} (WeCom markdown mentions userids only)',
    },
    {
      id: 'notifications/link-template',
      severity: 'warning',
      summary: 'links.commit has {revision} and links.pullRequest has {pullRequest}, and no other placeholder than {site}.',
      example: 'commit: https://github.com/org/fleet/commit/{sha}',
    },
  ],
  check,
};
