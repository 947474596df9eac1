/**
 * Node file access for safetensors (kept apart from safetensors.ts so browser bundles never see node:fs).
 *
 * Reading goes through a file handle: the header first, then each tensor's bytes on demand, so a large file
 * is never loaded whole. Writing streams tensors one at a time to `<path>.partial-<pid>` and renames it over `<path>`
 * once complete, so a crash or a failed conversion never leaves a half-written file under the real name.
 *
 * `node:fs` is imported dynamically inside the functions: a browser bundle that reaches this module through
 * the loader's dynamic import then still loads (esbuild would otherwise hoist a static `node:` import to the
 * top of the bundle); the functions are simply never called there.
 */
import type { FileHandle } from 'node:fs/promises';
import { fileAccessError, FormatError } from './errors.js';
import {
  planSafetensors,
  SafetensorsReader,
  tensorBytes,
  type ByteSource,
  type TensorToWrite,
} from './safetensors.js';

/** A random-access ByteSource over a file; close() releases the handle. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const { open } = await import('node:fs/promises');
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw fileAccessError('file', path, e);
  }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw fileAccessError('file', path, { code: 'EISDIR' });
  }
  const size = st.size;
  return {
    size,
    description: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new FormatError(`${path}: unexpected end of file at byte ${offset + done} (wanted [${offset}, ${offset + length}))`);
        }
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

/** Opens and validates a safetensors file; close the reader when done. */
export async function openSafetensorsFile(path: string): Promise<SafetensorsReader> {
  const src = await fileSource(path);
  try {
    return await SafetensorsReader.open(src);
  } catch (e) {
    await src.close();
    throw e;
  }
}

export interface WriteProgress {
  /** Bytes written so far, including the header. */
  written: number;
  total: number;
  tensor: string;
}

/**
 * Writes a safetensors file. Tensor data may be given lazily (a function called when the tensor's turn
 * comes), so at most one tensor is held in memory. The file appears under `path` only when complete.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
  onProgress?: (p: WriteProgress) => void,
): Promise<{ bytes: number }> {
  const { open, rename, rm } = await import('node:fs/promises');
  const layout = planSafetensors(tensors, metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  // A temporary name that carries the final one; 'wx' never truncates a file that happens to exist.
  const tmp = `${path}.partial-${process.pid}`;
  const fh = await open(tmp, 'wx');
  let ok = false;
  try {
    await writeAll(fh, layout.prefix, 0);
    let pos = layout.prefix.length;
    for (const info of layout.tensors) {
      const data = await tensorBytes(byName.get(info.name)!, info);
      await writeAll(fh, data, pos);
      pos += data.length;
      onProgress?.({ written: pos, total: layout.totalBytes, tensor: info.name });
    }
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(tmp, { force: true });
  }
  await rename(tmp, path);
  return { bytes: layout.totalBytes };
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
