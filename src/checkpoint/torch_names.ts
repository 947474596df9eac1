/**
 * PyTorch's spellings of element types, and the only place they appear: the storage classes a checkpoint's
 * pickle names (torch.FloatStorage, …) and the dtype names (str(tensor.dtype) without "torch.") that
 * manifests and checkpoint errors use. Everything past the readers speaks the engine's names (dtype.ts).
 */
import type { ElementType } from '../runtime/dtype.js';

/** torch's dtype name of each element type a checkpoint may hold. */
const DTYPE_NAMES = {
  f32: 'float32',
  f16: 'float16',
  bf16: 'bfloat16',
  f64: 'float64',
  i64: 'int64',
  i32: 'int32',
  i16: 'int16',
  i8: 'int8',
  u8: 'uint8',
  bool: 'bool',
} as const satisfies Partial<Record<ElementType, string>>;

/** Element types of torch storages, in the engine's names. */
export type TorchDType = keyof typeof DTYPE_NAMES;

/** A torch dtype name ('float32', …) as spelled in manifests and messages. */
export type TorchDTypeName = (typeof DTYPE_NAMES)[TorchDType];

const FROM_NAME: ReadonlyMap<string, TorchDType> = new Map(
  (Object.keys(DTYPE_NAMES) as TorchDType[]).map((t) => [DTYPE_NAMES[t], t]),
);

/** How torch names an element type ('float32' for 'f32'). */
export function torchName(t: TorchDType): TorchDTypeName {
  return DTYPE_NAMES[t];
}

/** The element type of a torch dtype name, or undefined for a name torch checkpoints here do not hold. */
export function fromTorchName(name: string): TorchDType | undefined {
  return FROM_NAME.get(name);
}

/** torch storage class names → element type (the classes torch.save names in storage references). */
export const STORAGE_TYPES: Readonly<Record<string, TorchDType>> = {
  FloatStorage: 'f32',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  DoubleStorage: 'f64',
  LongStorage: 'i64',
  IntStorage: 'i32',
  ShortStorage: 'i16',
  CharStorage: 'i8',
  ByteStorage: 'u8',
  BoolStorage: 'bool',
};
