// `mirrornet rollout status`: how far the revision the publisher rolls out has come — each wave with its sites
// and its state (done, soaking since, waiting for a change window until, halted and why, pending). It reads the
// state the publisher writes beside the bundles (bundle/rollout-status.ts), so it needs only what pulling the
// bundles needs. It compares the state's revision with the channel's head (the bundle index): a rollout that
// another revision replaced reads "superseded" or "stale". The status is unsigned and informational: the signed
// bundles and site tags are what agents follow. Exit 0 when the rollout of the channel's revision is complete,
// 2 while it is not (soaking, waiting, pending, halted, superseded or stale), 1 when it cannot be read.
import { OciClient, parseOciReference } from '../bundle/oci.js';
import { readRolloutStatus, rolloutStatusTag } from '../bundle/rollout-status.js';
import { hostSecrets } from '../host/secrets.js';
import { isSecretReference } from '../redact.js';
import { RolloutState, type WaveStateValue } from '../report/rollout/decide.js';
import { UsageError, UserError } from './errors.js';
import type { Io } from './io.js';
import { channelHead, DEFAULT_CHANNEL } from '../bundle/channel.js';

export interface RolloutStatusOptions {
  source: string;
  registryUsername?: string;
  registryPassword?: string;
  format: 'text' | 'json';
}

/** One wave's state in words. */
function waveText(w: WaveStateValue): string {
  switch (w.state) {
    case 'done':
      return `done ${w.doneAt ?? ''}`.trim();
    case 'soaking':
      if (w.healthySince) return `soaking since ${w.healthySince}`;
      return w.reason ? `soaking, not healthy yet: ${w.reason}` : `its tags moved ${w.releasedAt ?? ''}; waiting for its sites' reports`.replace(' ;', ';');
    case 'waiting':
      return `waiting for a change window${w.waitingUntil ? ` until ${w.waitingUntil}` : ''}: ${w.reason ?? ''}`.replace(/: $/, '');
    case 'halted':
      return `halted: ${w.reason ?? ''}`;
    case 'pending':
      return 'pending';
  }
}

/** The state as text: a header line, then one line per wave. */
function renderRollout(state: RolloutState, channelRevision: string | undefined): string {
  const outcome = state.superseded
    ? `; SUPERSEDED ${state.superseded.at}: ${state.superseded.reason}`
    : state.completeAt
      ? `; complete ${state.completeAt}`
      : state.halted
        ? `; HALTED in ${state.halted.wave}`
        : '';
  const stale =
    channelRevision !== undefined && channelRevision !== state.revision && !state.superseded
      ? `\nSTALE: the channel holds ${channelRevision.slice(0, 12)} now; this status is of an earlier rollout`
      : '';
  const head =
    `revision ${state.revision.slice(0, 12)}, started ${state.startedAt}, soak ${state.soakTime}` +
    `${state.emergency ? `, emergency: ${state.emergency}` : ''}, checked ${state.checkedAt}${outcome}${stale}`;
  const rows = [['WAVE', 'SITES', 'STATE'], ...state.waves.map((w) => [w.name, w.sites.join(',') || '-', waveText(w)])];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${[head, '', ...rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`)].join('\n')}\n`;
}

export async function rolloutStatusCommand(opts: RolloutStatusOptions, io: Io): Promise<number> {
  const target = parseOciReference(opts.source);
  if ('error' in target) throw new UsageError(`--source: ${target.error}.`);
  if ((opts.registryUsername === undefined) !== (opts.registryPassword === undefined)) {
    throw new UsageError('--registry-username and --registry-password go together.');
  }
  if (opts.registryPassword !== undefined && !isSecretReference(opts.registryPassword)) {
    throw new UsageError('--registry-password takes a secret reference (env:NAME or file:/absolute/path); the value given is not repeated here.');
  }
  const password = opts.registryPassword === undefined ? undefined : await hostSecrets().resolve(opts.registryPassword);
  const client = new OciClient(target, {
    access: 'pull',
    credentialFlags: '--registry-username and --registry-password REF',
    ...(opts.registryUsername !== undefined && password !== undefined ? { username: opts.registryUsername, password } : {}),
  });
  const channel = target.tag ?? DEFAULT_CHANNEL;
  const text = await readRolloutStatus(client, channel);
  if (text === undefined) {
    throw new UserError(
      `${target.host}/${target.repository} has no ${rolloutStatusTag(channel)}: no rollout has run in the channel ${channel} ` +
        '(the fleet has no policies/rollout.yaml, or the publisher has not published a revision with it yet).',
    );
  }
  let parsed;
  try {
    parsed = RolloutState.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) throw new UserError(`${rolloutStatusTag(channel)} is not a rollout status this version reads: is the publisher of this version?`);
  const state = parsed.data;
  const channelRevision = (await channelHead(client, channel))?.revision;
  const current = channelRevision === state.revision && !state.superseded;
  io.stdout(
    opts.format === 'json'
      ? `${JSON.stringify({ ...state, ...(channelRevision !== undefined ? { channelRevision } : {}), current }, null, 2)}\n`
      : renderRollout(state, channelRevision),
  );
  return state.completeAt && current ? 0 : 2;
}
