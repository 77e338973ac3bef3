// Chat notifications for the agent's events: see dispatcher.ts for routing and noise control, and one
// folder per vendor (slack, feishu, dingtalk, wecom, webhook) for its signature and message format.
export {
  createChatDispatcher,
  NO_NOTIFICATIONS,
  route,
  chatWorthy,
  parseDuration,
  type ChatDispatcher,
  type ChatDispatcherOptions,
  type ChatState,
  type ChatStateStore,
  type ChatStats,
} from './dispatcher.js';
export { fileStateStore, CHAT_STATE_FILE } from './store.js';
export { NOTIFIERS, vendorPerMinute } from './registry.js';
export type { ChannelType, Notice, Notifier, Occurrence, Outcome } from './types.js';
