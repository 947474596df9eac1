/** sam2-webgpu: SAM 2 / SAM 2.1 on hand-written WGSL kernels, for Node (Dawn) and browsers (WebGPU). */
export { Gpu, type GpuOptions, type Dispatch } from './runtime/gpu.js';
export { Tensor, numel } from './runtime/tensor.js';
export type { DType } from './runtime/dtype.js';
export type { DeviceInfo, DeviceFeatures, DeviceOptions } from './runtime/device.js';
export { BufferPool, type PoolStats } from './runtime/buffers.js';
export { dispose, type TensorContainer } from './runtime/scope.js';
export { Profiler, type KernelTime } from './runtime/profiler.js';
export {
  Sam2Error,
  NoAdapterError,
  DeviceLostError,
  OutOfMemoryError,
  GpuValidationError,
  ShapeError,
  FormatError,
  FileAccessError,
  DisposedError,
} from './runtime/errors.js';
export { OptionError } from './runtime/options.js';
export { DeviceProfile, adapterFamily, PROFILE_MODES, type ProfileMode, type ProfileOptions, type ProfileSummary, type AdapterFamily } from './runtime/profile.js';
export {
  SafetensorsReader,
  bufferSource,
  openSafetensorsStream,
  openSafetensorsResponse,
  serializeSafetensors,
  TruncatedError,
  type SafetensorsDType,
  type TensorInfo,
} from './runtime/safetensors.js';
export {
  loadWeights,
  WeightStore,
  WeightError,
  NoWeightsError,
  type ModelLoadOptions,
  type LoadOptions,
  type LoadProgress,
  type WeightSource,
  type HostTensor,
} from './checkpoint/weights.js';
export {
  sam2Config,
  configName,
  parseConfigName,
  weightsFileName,
  checkpointFileName,
  MODEL_SIZES,
  type Sam2Config,
  type ModelSize,
  type ModelVersion,
} from './checkpoint/config.js';
export {
  SAM2VideoPredictor,
  InferenceState,
  type FrameResult,
  type PredictorLoadOptions,
  type InitStateOptions,
  type PointsOrBoxPrompt,
  type MaskPrompt,
  type PropagateOptions,
} from './model/video_predictor.js';
export {
  ImagePredictor,
  PromptError,
  type ImagePredictorLoadOptions,
  type ImagePredictorOptions,
  type PredictOptions,
  type PredictResult,
  type ImageInput,
  type RgbImage,
  type HostArray,
  type CachedFeatures,
  type Point,
  type Box,
} from './model/image_predictor.js';
export { SAM2Base, NO_OBJ_SCORE } from './model/sam2_base.js';
export { ImageEncoder, ImageFeatures } from './model/image_encoder.js';
export type { FrameSource, DisposableFrameSource, Frame } from './io/frames.js';
export { framesFromImages, framesFromCallback, framesFromFiles, frameFileOrder, browserImageSize, rgbaToRgb, RgbConverter, type BrowserImage, type RgbaImage, type ImageFramesOptions, type CallbackFramesOptions, type FileFramesOptions, type ImageFile } from './io/browser_frames.js';
export { decodeJpeg, isJpeg, DecodeError } from './io/jpeg.js';
export { fetchWeights, weightsFromFile, hasCachedWeights, clearCachedWeights, WEIGHTS_CACHE, type WeightsProgress, type FetchWeightsOptions, type FetchedWeights } from './io/browser_weights.js';
