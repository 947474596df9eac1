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
