/**
 * Browser-page setup (vitest.browser.config.ts): the one Node global the shared test files use,
 * `Buffer.from(base64, 'base64')`, giving a Uint8Array. A function, so that `x instanceof Buffer` checks in
 * libraries stay valid (and false).
 */
function BrowserBuffer(): never {
  throw new Error('Buffer: the browser shim only provides Buffer.from(base64, "base64")');
}
BrowserBuffer.from = (s: string, encoding: string): Uint8Array => {
  if (encoding !== 'base64') throw new Error(`Buffer.from: the browser shim decodes base64 only, not ${encoding}`);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
};
BrowserBuffer.isBuffer = (_x: unknown): boolean => false;

const g = globalThis as { Buffer?: unknown };
g.Buffer ??= BrowserBuffer;
