// Chat notifications for the agent's events: dispatcher.ts is the entry point, decisions.ts says what
// goes where (routing and noise control), delivery.ts sends it; one folder per vendor (slack, feishu,
// dingtalk, wecom, webhook) for its signature and message format.
export { createChatDispatcher, type ChatDispatcher, type ChatDispatcherOptions, type ChatStateStore, type ChatStats } from './dispatcher.js';
export { NO_NOTIFICATIONS, route, chatWorthy, parseDuration, type ChatState } from './decisions.js';
export { fileStateStore, CHAT_STATE_FILE } from './store.js';
export { NOTIFIERS } from './registry.js';
export type { ChannelType, Notice, Notifier, Occurrence, Outcome } from './types.js';
