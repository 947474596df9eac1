/**
 * Getting converted safetensors weights into a browser: from a URL, streamed with progress and kept in the
 * Cache API so a reload reads them from disk instead of downloading again, or from a file the user picks.
 * Both return a Response whose body streams, for SAM2VideoPredictor.load({ weights }) / loadWeights, which
 * uploads each tensor as soon as its bytes have arrived (the file is never held whole).
 *
 * A download is put in the cache only once it has arrived completely (a failed or cancelled download leaves
 * nothing behind). Where the Cache API is missing (pages served over plain http from another host than
 * localhost), weights are downloaded every time.
 */
import { Sam2Error } from '../runtime/errors.js';

/** The cache the weights are kept in (one entry per URL). */
export const WEIGHTS_CACHE = 'sam2-webgpu-weights';

export interface WeightsProgress {
  /** Bytes received so far (from the network or the cache). */
  loaded: number;
  /** Content-Length when known, else undefined. */
  total?: number;
  fromCache: boolean;
}

export interface FetchWeightsOptions {
  /** Keep the download in the Cache API and read it from there next time (default true). */
  cache?: boolean;
  cacheName?: string;
  onProgress?: (p: WeightsProgress) => void;
  signal?: AbortSignal;
}

export interface FetchedWeights {
  /** The weights as a streaming Response: give it to SAM2VideoPredictor.load({ weights }). */
  response: Response;
  fromCache: boolean;
  /** Content-Length when known. */
  totalBytes?: number;
  /** Resolves once the download is stored in the cache (true), or could not be / was not to be (false). */
  cached: Promise<boolean>;
}

function cacheStorage(): CacheStorage | undefined {
  return typeof caches !== 'undefined' ? caches : undefined;
}

function contentLength(headers: Headers): number | undefined {
  const len = headers.get('content-length');
  const enc = headers.get('content-encoding');
  return len !== null && /^\d+$/.test(len) && (!enc || enc === 'identity') ? Number(len) : undefined;
}

/** A Response with the same status and headers whose body reports progress as it is read. */
function withProgress(response: Response, total: number | undefined, fromCache: boolean, onProgress?: (p: WeightsProgress) => void): Response {
  if (!onProgress || !response.body) return response;
  let loaded = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      loaded += chunk.byteLength;
      onProgress({ loaded, total, fromCache });
      ctl.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(counter), { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * Fetches weights from `url` (or reads them from the cache, where an earlier complete download is kept).
 * HTTP errors are a Sam2Error naming the URL and status.
 */
export async function fetchWeights(url: string, opts: FetchWeightsOptions = {}): Promise<FetchedWeights> {
  const store = opts.cache === false ? undefined : cacheStorage();
  const name = opts.cacheName ?? WEIGHTS_CACHE;
  let cache: Cache | undefined;
  try {
    cache = store ? await store.open(name) : undefined;
  } catch {
    cache = undefined; // opaque origins and some private modes refuse the Cache API
  }
  const hit = await cache?.match(url);
  if (hit && hit.body) {
    const total = contentLength(hit.headers);
    return { response: withProgress(hit, total, true, opts.onProgress), fromCache: true, totalBytes: total, cached: Promise.resolve(true) };
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal });
  } catch (e) {
    throw new Sam2Error(`could not download weights from ${url}: ${(e as Error).message} (is the URL right, and does the server allow this origin?)`);
  }
  if (!res.ok) throw new Sam2Error(`could not download weights from ${url}: HTTP ${res.status} ${res.statusText}`);
  if (!res.body) throw new Sam2Error(`weights from ${url}: the response has no body`);
  const total = contentLength(res.headers);
  if (!cache) return { response: withProgress(res, total, false, opts.onProgress), fromCache: false, totalBytes: total, cached: Promise.resolve(false) };
  // One branch feeds the loader, the other the cache; the cache entry is committed only when its branch ends.
  const [forLoader, forCache] = res.body.tee();
  const headers = new Headers(res.headers);
  const cached = cache
    .put(url, new Response(forCache, { status: 200, headers }))
    .then(() => true)
    .catch(() => false);
  const response = new Response(forLoader, { status: res.status, statusText: res.statusText, headers });
  return { response: withProgress(response, total, false, opts.onProgress), fromCache: false, totalBytes: total, cached };
}

/** True when the cache holds a complete download of `url`. */
export async function hasCachedWeights(url: string, cacheName = WEIGHTS_CACHE): Promise<boolean> {
  const store = cacheStorage();
  if (!store) return false;
  try {
    return !!(await (await store.open(cacheName)).match(url));
  } catch {
    return false;
  }
}

/** Removes `url` from the cache (or every cached weight file when url is omitted). */
export async function clearCachedWeights(url?: string, cacheName = WEIGHTS_CACHE): Promise<void> {
  const store = cacheStorage();
  if (!store) return;
  if (url === undefined) await store.delete(cacheName);
  else await (await store.open(cacheName)).delete(url);
}

/** A file the user picked (<input type=file>, drag and drop) as a streaming Response with its size. */
export function weightsFromFile(file: Blob & { name?: string }, onProgress?: (p: WeightsProgress) => void): Response {
  if (file.size < 8) throw new Sam2Error(`${file.name ?? 'the file'} has ${file.size} bytes: not a safetensors file`);
  const res = new Response(file.stream(), { headers: { 'content-length': String(file.size), 'content-type': 'application/octet-stream' } });
  return withProgress(res, file.size, false, onProgress);
}
