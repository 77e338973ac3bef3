// Channel type -> notifier. A new vendor is a folder with render/request/parse, a line here and its
// documented send limits in model/chat-vendors.ts.
import { dingtalk } from './dingtalk/index.js';
import { feishu } from './feishu/index.js';
import { slack } from './slack/index.js';
import type { ChannelType, Notifier } from './types.js';
import { webhook } from './webhook/index.js';
import { wecom } from './wecom/index.js';

export const NOTIFIERS: Readonly<Record<ChannelType, Notifier>> = { slack, feishu, dingtalk, wecom, webhook };
