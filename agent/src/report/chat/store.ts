// The dispatcher's noise-control state (open drifts, recent failures) as a small JSON file in the agent's
// state directory, written atomically (mode 0600), so a restarted agent neither repeats an alert nor
// forgets a reminder. It holds events (sites, components, change ids), never a URL or a secret.
import { HostFiles } from '../../host/files.js';
import type { ChatState } from './decisions.js';
import type { ChatStateStore } from './dispatcher.js';

export const CHAT_STATE_FILE = 'chat-state.json';

export function fileStateStore(dir: string, name: string = CHAT_STATE_FILE): ChatStateStore {
  const files = new HostFiles(dir);
  return {
    async load() {
      const text = await files.read(name);
      return text === undefined ? undefined : (JSON.parse(text) as unknown);
    },
    async save(state: ChatState) {
      await files.writeAtomic(name, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    },
  };
}
