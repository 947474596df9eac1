/**
 * PyTorch checkpoint (.pt, as Meta publishes SAM 2 / SAM 2.1) → safetensors, in TypeScript (no Python).
 *
 * The state dict (`{"model": state_dict}`) is read through the safe unpickler in pickle.ts. Float tensors
 * are written as f32 (bit for bit from f32 sources) or f16 (round to nearest even, as torch's .half());
 * integer and bool tensors keep their type (int8/int16 widen to I32). Non-contiguous views are made dense.
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
import {
  aligned,
  convertFloatBytes,
  f32BitsToF16Bits,
  type SafetensorsDType,
  type TensorToWrite,
} from '../src/runtime/safetensors.js';
import { fileSource, writeSafetensorsFile } from '../src/runtime/safetensors_node.js';
import { TorchCheckpoint, TorchTensor, type TorchDType } from '../src/checkpoint/pickle.js';

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

/** The safetensors dtype a torch tensor is written as. */
export function outputDType(dtype: TorchDType, target: OutputDType): SafetensorsDType {
  switch (dtype) {
    case 'float32':
    case 'float16':
    case 'bfloat16':
    case 'float64':
      return target === 'f16' ? 'F16' : 'F32';
    case 'int64':
      return 'I64';
    case 'int32':
    case 'int16':
    case 'int8':
      return 'I32';
    case 'uint8':
      return 'U8';
    case 'bool':
      return 'BOOL';
  }
}

/** Re-encodes a dense tensor's bytes from its torch dtype to `outputDType(dtype, target)`. */
export function convertTensorBytes(dtype: TorchDType, bytes: Uint8Array, target: OutputDType): Uint8Array {
  const to = target === 'f16' ? 'F16' : 'F32';
  switch (dtype) {
    case 'float32':
      return convertFloatBytes('F32', to, bytes);
    case 'float16':
      return convertFloatBytes('F16', to, bytes);
    case 'bfloat16':
      return convertFloatBytes('BF16', to, bytes);
    case 'float64': {
      // Rounds once to f32 (nearest even), then, for f16, once more.
      const a = aligned(bytes, 8);
      const f32 = Float32Array.from(new Float64Array(a.buffer, a.byteOffset, a.length / 8));
      if (to === 'F32') return new Uint8Array(f32.buffer);
      const out = new Uint16Array(f32.length);
      f32BitsToF16Bits(new Uint32Array(f32.buffer), out);
      return new Uint8Array(out.buffer);
    }
    case 'int16': {
      const a = aligned(bytes, 2);
      return new Uint8Array(Int32Array.from(new Int16Array(a.buffer, a.byteOffset, a.length / 2)).buffer);
    }
    case 'int8':
      return new Uint8Array(Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length)).buffer);
    case 'int64':
    case 'int32':
    case 'uint8':
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
