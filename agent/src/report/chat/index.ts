// Chat notifications for the agent's events: dispatcher.ts is the entry point, decisions.ts says what
// goes where (routing and noise control), delivery.ts sends it; one folder per vendor (slack, feishu,
// dingtalk, wecom, webhook) for its signature and message format.
export { createChatDispatcher } from './dispatcher.js';
export { NO_NOTIFICATIONS } from './decisions.js';
export { sentFrom } from './routing.js';
export { fileStateStore } from './store.js';
