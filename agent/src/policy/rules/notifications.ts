// policies/notifications.yaml: routes name declared channels and sites, every channel is used, channel
// names are unique, signing secrets are set where the vendor can check them (and not where it cannot),
// and rate limits stay within what each vendor documents for one robot.
import { vendorPerMinute } from '../../model/chat-vendors.js';
import type { Finding } from '../../model/finding.js';
import type { NotificationChannel } from '../../model/schema.js';
import { didYouMean } from '../../model/suggest.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const unknownChannel = reporter({ id: 'notifications/unknown-channel', severity: 'error' });
const unknownSite = reporter({ id: 'notifications/unknown-site', severity: 'error' });
const unusedChannel = reporter({ id: 'notifications/unused-channel', severity: 'warning' });
const duplicateChannel = reporter({ id: 'notifications/duplicate-channel', severity: 'error' });
const missingSecret = reporter({ id: 'notifications/missing-secret', severity: 'warning' });
const unusedSecret = reporter({ id: 'notifications/unused-secret', severity: 'warning' });
const rateLimit = reporter({ id: 'notifications/rate-limit', severity: 'warning' });

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
    (r.match?.regions ?? []).forEach((site, j) => {
      if (ctx.knownOrBroken(site)) return;
      const guess = didYouMean(site, sites);
      out.push(
        unknownSite(
          f,
          ['routes', i, 'match', 'regions', j],
          `There is no site "${site}": match.regions names regions or cores${guess ? `. Did you mean "${guess}"?` : `, one of ${sites.join(', ')}.`}`,
        ),
      );
    });
  });
  policy.channels.forEach((c, i) => {
    if (!used.has(c.name))
      out.push(unusedChannel(f, ['channels', i, 'name'], `No route sends to the channel ${c.name}: add it to the channels of a route, or remove it.`));
  });
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
      summary: "A route's match.regions names declared regions or cores.",
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
  ],
  check,
};
