/**
 * `npm run weights -- tiny|small|base_plus|large [--v2.0] [--dtype f32|f16] [--out DIR]`
 *
 * Downloads Meta's published SAM 2.1 checkpoint (SAM 2 with --v2.0) and converts it to safetensors:
 *
 *   <out>/checkpoints/sam2.1_hiera_tiny.pt      the original checkpoint (kept; re-used on the next run)
 *   <out>/sam2.1_hiera_tiny.safetensors         f32 (or sam2.1_hiera_tiny.f16.safetensors with --dtype f16)
 *
 * `out` defaults to weights/ in the current folder (or $SAM2_WEBGPU_WEIGHTS), where `track` and `load()` look. The download goes to `<file>.tmp` and is renamed when
 * complete (its length checked against Content-Length), so an interrupted run never leaves a partial
 * checkpoint under the real name. Offline, the first request fails within seconds (DNS / connect timeout)
 * with an OfflineError that explains how to convert a checkpoint obtained elsewhere.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { shortPath, weightsDir } from '../src/io/weights_files.js';
import { checkpointFileName, configName, MODEL_SIZES, weightsFileName, type ModelSize } from '../src/checkpoint/config.js';
import type { ConfigName } from '../src/checkpoint/manifest_check.js';
import { Sam2Error } from '../src/runtime/errors.js';
import { convertCheckpoint, type ConvertProgress, type OutputDType } from './convert.js';

export { MODEL_SIZES, type ModelSize };

/** Where Meta publishes the checkpoints (as in the sam2 repository's checkpoints/download_ckpts.sh). */
export const SAM2_1_BASE_URL = 'https://dl.fbaipublicfiles.com/segment_anything_2/092824/';
export const SAM2_BASE_URL = 'https://dl.fbaipublicfiles.com/segment_anything_2/072824/';

/** Meta's file name, our config name and the download URL for a size and version. */
export function checkpointInfo(size: ModelSize, v2_0 = false): { file: string; config: ConfigName; url: string } {
  const version = v2_0 ? '2.0' : '2.1';
  const file = checkpointFileName(size, version);
  return { file, config: configName(size, version) as ConfigName, url: `${v2_0 ? SAM2_BASE_URL : SAM2_1_BASE_URL}${file}` };
}

/** The checkpoint server cannot be reached (offline, DNS, firewall) or refused the download. */
export class OfflineError extends Sam2Error {}

export interface DownloadProgress {
  phase: 'download' | 'convert';
  bytesDone: number;
  bytesTotal?: number;
  tensor?: string;
}

export interface DownloadOptions {
  size: ModelSize;
  /** SAM 2 (July 2024) instead of SAM 2.1. */
  v2_0?: boolean;
  dtype?: OutputDType;
  /** Output folder (default: weightsDir(), weights/ in the current folder). */
  outDir?: string;
  /** Replaces Meta's base URL (mirrors, tests). */
  baseUrl?: string;
  /** Time allowed until the response headers arrive (default 10 s), and between two chunks (default 60 s). */
  connectTimeoutMs?: number;
  stallTimeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
}

export interface DownloadResult {
  checkpoint: string;
  safetensors: string;
  config: ConfigName;
  downloaded: boolean;
}

function offlineHelp(size: ModelSize, v2_0: boolean | undefined, file: string, url: string, outDir: string, dtype: OutputDType): string {
  const pt = shortPath(join(outDir, 'checkpoints', file));
  const st = shortPath(join(outDir, weightsFileName(size, v2_0 ? '2.0' : '2.1', dtype)));
  return (
    `To use a checkpoint obtained elsewhere (another machine, a mirror, Hugging Face facebook/${file.replace(/_hiera_(\w+)\.pt$/, (_, s: string) => `-hiera-${s.replace('_', '-')}`)}):\n` +
    `  1. copy ${file} (from ${url}) to ${pt}\n` +
    `  2. run   npx sam2-webgpu convert ${pt} ${st}${dtype === 'f16' ? ' --dtype f16' : ''}\n` +
    `or re-run this command once ${pt} is in place (an existing checkpoint is converted without downloading).`
  );
}

/** Streams `url` to `path` (via `path.tmp`), with progress and timeouts. */
async function downloadTo(url: string, path: string, opts: DownloadOptions, help: string): Promise<void> {
  const fetchImpl = opts.fetchImpl ?? fetch;
  const ctrl = new AbortController();
  const connectMs = opts.connectTimeoutMs ?? 10_000;
  const stallMs = opts.stallTimeoutMs ?? 60_000;
  let timer = setTimeout(() => ctrl.abort(new Error(`no response within ${connectMs / 1000} s`)), connectMs);
  let resp: Response;
  try {
    resp = await fetchImpl(url, { signal: ctrl.signal, redirect: 'follow' });
  } catch (e) {
    clearTimeout(timer);
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.cause?.code ?? err.cause?.message ?? (ctrl.signal.aborted ? String(ctrl.signal.reason?.message) : err.message);
    throw new OfflineError(`Cannot download ${url} (${why}). This machine seems to be offline.\n${help}`);
  }
  clearTimeout(timer);
  if (!resp.ok || !resp.body) {
    throw new OfflineError(`Download of ${url} failed: HTTP ${resp.status} ${resp.statusText}.\n${help}`);
  }
  const lenHeader = resp.headers.get('content-length');
  const total = lenHeader && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  let ok = false;
  let done = 0;
  const reader = resp.body.getReader();
  try {
    while (true) {
      timer = setTimeout(() => ctrl.abort(new Error(`download stalled for ${stallMs / 1000} s`)), stallMs);
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new OfflineError(`Download of ${url} broke off after ${done} bytes: ${String(ctrl.signal.reason?.message ?? (e as Error).message)}.\n${help}`);
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) break;
      let off = 0;
      while (off < chunk.value.length) {
        const { bytesWritten } = await fh.write(chunk.value, off, chunk.value.length - off, done + off);
        off += bytesWritten;
      }
      done += chunk.value.length;
      opts.onProgress?.({ phase: 'download', bytesDone: done, bytesTotal: total });
    }
    if (total !== undefined && done !== total) {
      throw new OfflineError(`Download of ${url} ended after ${done} of ${total} bytes.\n${help}`);
    }
    ok = true;
  } finally {
    await fh.close();
    if (!ok) {
      reader.cancel().catch(() => {});
      await rm(tmp, { force: true });
    }
  }
  await rename(tmp, path);
}

/** Downloads (unless already present) and converts one official checkpoint. */
export async function downloadWeights(opts: DownloadOptions): Promise<DownloadResult> {
  if (!MODEL_SIZES.includes(opts.size)) {
    throw new Sam2Error(`unknown model size '${opts.size}' (one of ${MODEL_SIZES.join(', ')})`);
  }
  const dtype = opts.dtype ?? 'f32';
  const info = checkpointInfo(opts.size, opts.v2_0);
  const outDir = opts.outDir ?? weightsDir();
  const url = opts.baseUrl ? new URL(info.file, opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`).href : info.url;
  const checkpoint = join(outDir, 'checkpoints', info.file);
  const safetensors = join(outDir, weightsFileName(opts.size, opts.v2_0 ? '2.0' : '2.1', dtype));
  const help = offlineHelp(opts.size, opts.v2_0, info.file, url, outDir, dtype);

  let downloaded = false;
  if (!(existsSync(checkpoint) && (await stat(checkpoint)).size > 0)) {
    await downloadTo(url, checkpoint, opts, help);
    downloaded = true;
  }
  await convertCheckpoint(checkpoint, safetensors, {
    dtype,
    expectConfig: info.config,
    onProgress: (p: ConvertProgress) =>
      opts.onProgress?.({ phase: 'convert', bytesDone: p.bytesWritten, bytesTotal: p.bytesTotal, tensor: p.tensor }),
  });
  return { checkpoint, safetensors, config: info.config, downloaded };
}
