/**
 * sam2-webgpu/model: the SAM 2 modules one by one, each named after its official counterpart
 * (sam2/modeling/...), for composing a model from parts. Every module is built from a ModelContext (the Gpu
 * and a WeightStore holding the official state dict) and binds its weights by state-dict prefix at
 * construction. The predictors (SAM2VideoPredictor, ImagePredictor) are exported from 'sam2-webgpu'.
 */
export { Gpu, type GpuOptions } from '../runtime/gpu.js';
export { Tensor } from '../runtime/tensor.js';

// Configs (sam2/configs/*.yaml) and weights.
export {
  sam2Config,
  configName,
  parseConfigName,
  MODEL_SIZES,
  type Sam2Config,
  type HieraConfig,
  type NeckConfig,
  type ConfigOptions,
  type ModelSize,
  type ModelVersion,
} from '../checkpoint/config.js';
export {
  loadWeights,
  validateTensors,
  WeightStore,
  WeightError,
  type HostTensor,
  type WeightSource,
  type WeightConfig,
  type WeightErrorKind,
  type LoadOptions,
  type LoadProgress,
} from '../checkpoint/weights.js';

// Shared layers (nn.Linear, nn.LayerNorm, sam2_utils.LayerNorm2d / MLP, nn.Conv2d / ConvTranspose2d).
export { Linear, LayerNorm, LayerNorm2d, Conv2d, ConvTranspose2d, MLP, dtypeOf, type ModelContext } from './layers.js';

// The whole model's tracking step (sam2_base.py).
export {
  SAM2Base,
  NO_OBJ_SCORE,
  selectMemory,
  selectClosestCondFrames,
  releaseOutput,
  type PointInputs,
  type FrameOutput,
  type ObjectOutputDict,
  type TrackStepArgs,
  type TrackObjectsArgs,
  type TrackStepResult,
  type MemorySelectionConfig,
  type MemorySelection,
  type MemoryFrame,
  type PointerFrame,
  type OutputSource,
} from './sam2_base.js';

// Image encoder (backbones/image_encoder.py, backbones/hieradet.py).
export { ImageEncoder, ImageFeatures, type ImageEncoderOptions, type EncodeOptions, type Tap } from './image_encoder.js';
export { Hiera, MultiScaleBlock, MultiScaleAttention, hieraBlocks, type HieraOptions, type BlockSpec } from './hiera.js';
export { FpnNeck } from './fpn_neck.js';

// SAM heads (sam/prompt_encoder.py, sam/mask_decoder.py, sam/transformer.py).
export {
  PromptEncoder,
  PromptError,
  POINT_LABELS,
  type PointPrompts,
  type PromptEncoderInput,
  type PromptEmbeddings,
} from './prompt_encoder.js';
export {
  MaskDecoder,
  maskDecoderOptions,
  type MaskDecoderOptions,
  type MaskDecoderInput,
  type MaskDecoderOutput,
  type MaskPrediction,
} from './mask_decoder.js';
export { TwoWayTransformer, TwoWayAttentionBlock, Attention } from './two_way_transformer.js';

// Memory (memory_attention.py, memory_encoder.py, sam/transformer.py RoPEAttention).
export { MemoryAttention, MemoryAttentionLayer, OFFICIAL_LAYER_OPTIONS, type MemoryAttentionLayerOptions } from './memory_attention.js';
export { RoPEAttention, RopeTables, applyRope, type RoPEAttentionOptions, type RoPEForwardOptions } from './rope_attention.js';
export {
  MemoryEncoder,
  MaskDownSampler,
  CXBlock,
  Fuser,
  maskForMemory,
  addNoObjectEmbedding,
  toMemoryBank,
  type MemoryEncoderOutput,
  type MaskForMemoryOptions,
} from './memory_encoder.js';

// Position encodings (position_encoding.py: PositionEmbeddingSine, PositionEmbeddingRandom; get_1d_sine_pe).
export {
  sinePositionEncoding,
  sine1d,
  randomFourierEncode,
  randomFourierGrid,
  randomFourierPoints,
  type SineOptions,
} from './position_encoding.js';

// Pre- and post-processing (utils/misc.py, utils/transforms.py; sam2_video_predictor.py).
export {
  preprocess,
  preprocessVideoFrame,
  preprocessImage,
  type PreprocessTransform,
  type PreprocessOptions,
} from './preprocess.js';
export { fillHolesInMaskScores, applyNonOverlappingConstraints } from './postprocess.js';
