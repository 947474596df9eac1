/**
 * The part of `node:fs` that the shared test files use, for the browser page (vitest.browser.config.ts
 * aliases `node:fs` here): text files are read synchronously from the test server, which serves the
 * repository at its own path, so `readFileSync(new URL('./data/x.json', import.meta.url), 'utf8')` reads
 * the same file as in Node.
 */
function get(path: string | URL, method: 'GET' | 'HEAD'): XMLHttpRequest {
  const xhr = new XMLHttpRequest();
  xhr.open(method, String(path), false);
  xhr.send();
  return xhr;
}

export function readFileSync(path: string | URL, encoding?: string | { encoding?: string }): string {
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  if (enc !== 'utf8' && enc !== 'utf-8') throw new Error(`readFileSync(${String(path)}): the browser shim reads text only (utf8)`);
  const xhr = get(path, 'GET');
  if (xhr.status !== 200) throw new Error(`readFileSync(${String(path)}): HTTP ${xhr.status}`);
  return xhr.responseText;
}

export function existsSync(path: string | URL): boolean {
  return get(path, 'HEAD').status === 200;
}
