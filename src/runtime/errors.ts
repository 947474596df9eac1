/** Typed errors raised by the runtime. Every GPU error names the kernel(s) it came from. */

export class Sam2Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No WebGPU adapter could be found; the message says what to install or enable. */
export class NoAdapterError extends Sam2Error {}

/** The GPU device was lost (driver reset, out of memory at the driver, explicit destroy). */
export class DeviceLostError extends Sam2Error {
  constructor(message: string, readonly reason: string) {
    super(message);
  }
}

/** The device ran out of memory, or a single buffer would exceed the adapter's limits. */
export class OutOfMemoryError extends Sam2Error {
  constructor(message: string, readonly kernels: string[] = []) {
    super(message);
  }
}

/** WebGPU rejected a pipeline, bind group or dispatch. */
export class GpuValidationError extends Sam2Error {
  constructor(message: string, readonly kernels: string[] = []) {
    super(message);
  }
}

/** A tensor given to a kernel has the wrong shape, dtype or size. */
export class ShapeError extends Sam2Error {}

/** A file or buffer (weights, checkpoint) is malformed. */
export class FormatError extends Sam2Error {}

/** A file the engine was given cannot be opened (missing, a folder, unreadable). Names the path. */
export class FileAccessError extends Sam2Error {
  constructor(
    message: string,
    readonly path: string,
    /** The system error code (ENOENT, EACCES, EISDIR, ...). */
    readonly code: string,
  ) {
    super(message);
  }
}

/** Opens nothing: turns a Node file-system error about `path` (given as `what`) into a FileAccessError. */
export function fileAccessError(what: string, path: string, e: unknown): FileAccessError {
  const code = (e as { code?: string }).code ?? 'EIO';
  const why: Record<string, string> = {
    ENOENT: 'does not exist',
    EACCES: 'cannot be read (permission denied)',
    EPERM: 'cannot be read (operation not permitted)',
    EISDIR: 'is a folder, not a file',
    ENOTDIR: 'does not exist (a part of the path is a file)',
  };
  return new FileAccessError(`${what} ${path} ${why[code] ?? `cannot be opened (${code})`}`, path, code);
}

/** A predictor, inference state, frame source or Gpu was used after dispose() / close() / destroy(). */
export class DisposedError extends Sam2Error {}
