// The ownership marker. Registries, policies and robots mirrornet creates end their description with
// `[mirrornet]`, or `[mirrornet <fingerprint>]` when they hold a secret: a keyed HMAC of the secret (see
// HarborApi.fingerprint), so a changed secret behind a secret reference shows without reading it back.
// Objects without the marker are never changed or deleted, only reported.
export const MARKER = '[mirrornet]';
const MARKER_RE = /\s*\[mirrornet(?: ([0-9a-f]{16}))?\]\s*$/;

/** `text [mirrornet]`, or `text [mirrornet <fingerprint>]` for objects that hold a secret. */
export function withMarker(text: string, fingerprint?: string): string {
  const tag = fingerprint ? `[mirrornet ${fingerprint}]` : MARKER;
  return text ? `${text} ${tag}` : tag;
}

export function ownedByMirrornet(description: string | null | undefined): boolean {
  return MARKER_RE.test(description ?? '');
}

export function markerFingerprint(description: string | null | undefined): string | undefined {
  return MARKER_RE.exec(description ?? '')?.[1];
}

export function stripMarker(description: string | null | undefined): string {
  return (description ?? '').replace(MARKER_RE, '');
}
