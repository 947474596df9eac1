/** Checks of the option objects the library takes: a misspelt key is an error, never silently ignored. */
import { Sam2Error } from './errors.js';

/** An option object has a key the function does not know (usually a typo), or a value of the wrong kind. */
export class OptionError extends Sam2Error {
  constructor(
    message: string,
    /** The offending key. */
    readonly key: string,
  ) {
    super(message);
  }
}

/**
 * Throws OptionError naming the first key of `opts` that is not in `known`, with the closest known key as a
 * suggestion. `what` names the call in the message ("SAM2VideoPredictor.load").
 */
export function checkOptionKeys(what: string, opts: object | undefined, known: readonly string[]): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== 'object') throw new OptionError(`${what}: options must be an object, not ${typeof opts}`, '');
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    throw new OptionError(
      `${what}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; known options: ${known.join(', ')}`,
      key,
    );
  }
}

/**
 * The likely intended key: one that begins with `key` (or that `key` begins with), else the nearest within an
 * edit distance of a third of the key's length (case-insensitive).
 */
function closest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  const prefix = known.find((x) => x.toLowerCase().startsWith(k) || k.startsWith(x.toLowerCase()));
  if (prefix) return prefix;
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const x of known) {
    const d = editDistance(k, x.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = x;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
