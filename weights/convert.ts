/**
 * PyTorch checkpoint (.pt, as Meta publishes SAM 2 / SAM 2.1) → safetensors, in TypeScript (no Python).
 *
 * The state dict (`{"model": state_dict}`) is read through the safe unpickler in pickle.ts. Float tensors
 * are written as f32 (bit for bit from f32 sources) or f16 (round to nearest even, as torch's .half());
 * integer and bool tensors keep their type (int8/int16 widen to i32). Non-contiguous views are made dense.
 * The config (sam2.1_hiera_t/s/b+/l or sam2_hiera_*) is inferred by matching the names and shapes against
 * weights/manifests; a checkpoint that matches none is refused unless `allowUnknownConfig` is set.
 *
 * Memory: the checkpoint is read through a file handle, one tensor at a time, and written the same way,
 * so converting the 900 MB large model holds one tensor (a few MB), not the file.
 *
 * The output's `__metadata__`: {format: "pt", config, source (input file name), dtype}.
 */
import { basename, resolve } from 'node:path';
import { FormatError, Sam2Error } from '../src/runtime/errors.js';
import { describeDiff, inferConfig, type ConfigName } from '../src/checkpoint/manifests.js';
import { convertFloatBytes, decodeToF32 } from '../src/runtime/dtype.js';
import type { SafetensorsDType, TensorToWrite } from '../src/runtime/safetensors.js';
import { fileSource, writeSafetensorsFile } from '../src/runtime/safetensors_node.js';
import { TorchCheckpoint, TorchTensor } from '../src/checkpoint/pickle.js';
import type { TorchDType } from '../src/checkpoint/torch_names.js';

export type OutputDType = 'f32' | 'f16';

export interface ConvertProgress {
  /** The tensor just written. */
  tensor: string;
  tensorsDone: number;
  tensorsTotal: number;
  bytesWritten: number;
  bytesTotal: number;
}

export interface ConvertOptions {
  /** Storage type for float tensors (default f32). */
  dtype?: OutputDType;
  /** Convert a checkpoint that matches no official config (written without a config in the metadata). */
  allowUnknownConfig?: boolean;
  /** Refuse (before writing anything) unless the checkpoint is this official config. */
  expectConfig?: ConfigName;
  onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertResult {
  output: string;
  /** The inferred official config, or null for an unknown one (only with allowUnknownConfig). */
  config: ConfigName | null;
  tensors: number;
  bytes: number;
  dtype: OutputDType;
}

/** The checkpoint matches no official config (and allowUnknownConfig was not set). */
export class UnknownConfigError extends FormatError {}

/** The dtype a torch tensor is written as: floats as `target`, int8 / int16 widened to i32, the rest as is. */
export function outputDType(dtype: TorchDType, target: OutputDType): SafetensorsDType {
  switch (dtype) {
    case 'f32':
    case 'f16':
    case 'bf16':
    case 'f64':
      return target;
    case 'i32':
    case 'i16':
    case 'i8':
      return 'i32';
    case 'i64':
    case 'u8':
    case 'bool':
      return dtype;
  }
}

/** Re-encodes a dense tensor's bytes from its torch dtype to `outputDType(dtype, target)`. */
export function convertTensorBytes(dtype: TorchDType, bytes: Uint8Array, target: OutputDType): Uint8Array {
  switch (dtype) {
    case 'f32':
    case 'f16':
    case 'bf16':
      return convertFloatBytes(dtype, target, bytes);
    case 'f64': {
      // Rounds once to f32 (nearest even), then, for f16, once more.
      const f32 = decodeToF32('f64', bytes);
      return convertFloatBytes('f32', target, new Uint8Array(f32.buffer));
    }
    case 'i16':
    case 'i8':
      return new Uint8Array(Int32Array.from(decodeToF32(dtype, bytes)).buffer);
    case 'i64':
    case 'i32':
    case 'u8':
    case 'bool':
      return bytes;
  }
}

/** Lazily converted tensors of a checkpoint's state dict, ready for the safetensors writer. */
export function stateDictTensors(
  ckpt: TorchCheckpoint,
  stateDict: ReadonlyMap<string, TorchTensor>,
  target: OutputDType,
): TensorToWrite[] {
  return [...stateDict].map(([name, t]) => ({
    name,
    dtype: outputDType(t.dtype, target),
    shape: t.shape,
    data: async () => convertTensorBytes(t.dtype, await ckpt.readTensor(t, name), target),
  }));
}

/** Converts a PyTorch checkpoint file to a safetensors file (written to `output.tmp`, then renamed). */
export async function convertCheckpoint(input: string, output: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new Sam2Error(`--dtype must be f32 or f16, not '${String(dtype)}'`);
  if (resolve(input) === resolve(output)) throw new Sam2Error(`the output would overwrite the input (${input})`);
  const src = await fileSource(input);
  try {
    const ckpt = await TorchCheckpoint.open(src);
    const sd = ckpt.stateDict();
    const shapes = [...sd].map(([name, t]) => ({ name, shape: t.shape }));
    const match = inferConfig(shapes);
    if (!match.exact && !opts.allowUnknownConfig) {
      // Name the closest config only when it is close (a damaged or edited checkpoint), not for a foreign one.
      const close = match.diff.missing.length + match.diff.unexpected.length < sd.size / 2;
      throw new UnknownConfigError(
        `${input}: ${sd.size} tensors that match no official SAM 2 / 2.1 config` +
          (close ? `; the closest is ${match.config}: ${describeDiff(match.diff)}` : ` (nor come close to one)`) +
          `. Pass --allow-unknown-config to convert it anyway.`,
      );
    }
    const config = match.exact ? match.config : null;
    if (opts.expectConfig && config !== opts.expectConfig) {
      throw new UnknownConfigError(
        `${input}: expected ${opts.expectConfig} weights, found ${config ?? `an unknown config (${describeDiff(match.diff)})`}`,
      );
    }
    const metadata: Record<string, string> = { format: 'pt', source: basename(input), dtype };
    if (config) metadata.config = config;
    const tensors = stateDictTensors(ckpt, sd, dtype);
    let done = 0;
    const { bytes } = await writeSafetensorsFile(output, tensors, metadata, (p) =>
      opts.onProgress?.({
        tensor: p.tensor,
        tensorsDone: ++done,
        tensorsTotal: tensors.length,
        bytesWritten: p.written,
        bytesTotal: p.total,
      }),
    );
    return { output, config, tensors: tensors.length, bytes, dtype };
  } finally {
    await src.close();
  }
}
