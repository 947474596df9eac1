/**
 * sam2-webgpu/kernels: the WGSL compute kernels behind the model, one dispatcher per kernel family (see
 * src/kernels/README.md). Each takes the Gpu and Tensors, checks shapes and dtypes (ShapeError), records its
 * dispatch and returns a new Tensor (or writes `out`). Tensors and the Gpu are the same classes as the root
 * export's, so tensors made with `Gpu` from 'sam2-webgpu' work here.
 */
export { Gpu, type GpuOptions, type Dispatch } from '../runtime/gpu.js';
export { Tensor, numel } from '../runtime/tensor.js';
export type { DType } from '../runtime/dtype.js';
export { ShapeError } from '../runtime/errors.js';

// Matrix products with a fused epilogue.
export {
  matmul,
  linear,
  matmulStrided,
  type MatmulAct,
  type MatmulOptions,
  type EpilogueOptions,
  type MatmulOperand,
  type StridedMatmul,
} from './matmul.js';
// Attention: fused scaled-dot-product kernel over head views, and the dispatcher that may route it to matmuls.
export {
  attention,
  headMajor,
  tokenMajor,
  packedQKV,
  MAX_HEAD_DIM,
  type HeadsView,
  type AttentionOptions,
  type AttentionTuning,
} from './attention.js';
export { sdpa, type SdpaImpl, type SdpaOptions } from './sdpa.js';
// Convolutions.
export {
  conv2d,
  convTranspose2d,
  packConv2dWeight,
  type ConvAct,
  type Conv2dOptions,
  type ConvTranspose2dOptions,
  type Pair,
} from './conv2d.js';
// Normalization, softmax, activations, broadcasting arithmetic.
export { layerNorm, layerNorm2d, type NormOptions } from './norm.js';
export { softmax, type SoftmaxOptions } from './softmax.js';
export { unary, type UnaryOp, type UnaryOptions } from './elementwise.js';
export {
  binary,
  add,
  sub,
  mul,
  channelAffine,
  broadcastShape,
  type BinaryOp,
  type BinaryOptions,
  type ChannelAffineOptions,
} from './binary.js';
// Layout: permutes, windows, concatenation, slices and dtype casts.
export {
  permute,
  windowPartition,
  windowUnpartition,
  concat,
  slice,
  cast,
  type LayoutDType,
  type LayoutOptions,
  type PermuteOptions,
  type PermuteMethod,
} from './layout.js';
// Resampling and pooling.
export { resize, type ResizeMode, type ResizeOptions } from './resize.js';
export { pilResizeNormalize, uploadPixels, type PilResizeOptions } from './pil_resize.js';
export { maxPool2d, type MaxPool2dOptions, type PoolLayout } from './pool.js';
// Axial rotary position embedding.
export { rope, ropeTable, type RopeTable, type RopeOptions } from './rope.js';
// Multimask selection and the tracking step's small kernels.
export { maskSelection, selectRows, type MaskSelectionOptions } from './mask_select.js';
export { clampToF32, gateMasks, gatePointer, maskPresence, memoryMask, memoryBankEntry, NO_OBJ_SCORE } from './tracking.js';
