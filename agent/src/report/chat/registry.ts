// Channel type -> notifier. A new vendor is a folder with render/request/parse and a line here.
import { dingtalk } from './dingtalk/index.js';
import { feishu } from './feishu/index.js';
import { slack } from './slack/index.js';
import type { ChannelType, Notifier, VendorLimit } from './types.js';
import { webhook } from './webhook/index.js';
import { wecom } from './wecom/index.js';

export const NOTIFIERS: Readonly<Record<ChannelType, Notifier>> = { slack, feishu, dingtalk, wecom, webhook };

/** The documented per-minute limit of one robot of a vendor (undefined: none documented). */
export function vendorPerMinute(type: ChannelType): number | undefined {
  return NOTIFIERS[type].limits.find((l: VendorLimit) => l.perMs === 60_000)?.max;
}
