// Text limits of chat vendors are in UTF-8 bytes (WeCom markdown: 4096) or characters (Slack blocks):
// cut on a character boundary, never inside a multi-byte sequence or a user-perceived character.

const segmenter = typeof Intl !== 'undefined' && 'Segmenter' in Intl ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : undefined;

function graphemes(text: string): Iterable<string> {
  if (segmenter)
    return (function* () {
      for (const s of segmenter.segment(text)) yield s.segment;
    })();
  return text; // code points
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, `suffix` included when it was cut. Cuts between
 * graphemes, so the result is valid UTF-8 and no character is broken (汉字 are 3 bytes, emoji 4+).
 */
export function truncateUtf8(text: string, maxBytes: number, suffix = '…'): string {
  if (utf8Bytes(text) <= maxBytes) return text;
  const budget = maxBytes - utf8Bytes(suffix);
  if (budget <= 0) return truncateUtf8(suffix, maxBytes, '');
  let out = '';
  let used = 0;
  for (const g of graphemes(text)) {
    const n = utf8Bytes(g);
    if (used + n > budget) break;
    out += g;
    used += n;
  }
  return out + suffix;
}

/** `text` cut to at most `max` characters (UTF-16 code units, as Slack counts), on a grapheme boundary. */
export function truncateChars(text: string, max: number, suffix = '…'): string {
  if (text.length <= max) return text;
  const budget = max - suffix.length;
  let out = '';
  for (const g of graphemes(text)) {
    if (out.length + g.length > budget) break;
    out += g;
  }
  return out + suffix;
}
