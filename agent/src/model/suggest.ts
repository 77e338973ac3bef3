// "Did you mean ...?" only when the closest known word is plausibly a typo of what was written.
import { closest, distance } from 'fastest-levenshtein';

export function didYouMean(word: string, options: readonly string[]): string | undefined {
  if (options.length === 0) return undefined;
  const guess = closest(word, [...options]);
  const d = distance(word.toLowerCase(), guess.toLowerCase());
  return d <= Math.max(2, Math.floor(word.length / 3)) ? guess : undefined;
}
