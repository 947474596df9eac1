/**
 * The official SAM 2 / SAM 2.1 model configurations (sam2/configs/sam2{,.1}/sam2{,.1}_hiera_{t,s,b+,l}.yaml
 * with the defaults of the official constructors and the video-predictor overrides of
 * `build_sam2_video_predictor`), in one table. `image_size` is a parameter: 1024 is the official value;
 * smaller sizes (multiples of 32) run the same weights at lower cost.
 */
import { Sam2Error } from '../runtime/errors.js';

export type ModelSize = 'tiny' | 'small' | 'base_plus' | 'large';
export type ModelVersion = '2.1' | '2.0';

export const MODEL_SIZES: readonly ModelSize[] = ['tiny', 'small', 'base_plus', 'large'];

export interface HieraConfig {
  embedDim: number;
  numHeads: number;
  stages: number[];
  globalAttBlocks: number[];
  windowSpec: number[];
  windowPosEmbedBkgSpatialSize: [number, number];
  /** Number of stage transitions with query pooling. */
  qPool: number;
  qStride: [number, number];
  dimMul: number;
  headMul: number;
  /** LayerNorm eps inside Hiera blocks. */
  normEps: number;
}

export interface NeckConfig {
  dModel: number;
  /** Channels of the trunk's outputs, deepest first (as the official config lists them). */
  backboneChannelList: number[];
  fpnTopDownLevels: number[];
  fpnInterpModel: 'nearest';
  /** Number of lowest-resolution levels dropped from the neck's output. */
  scalp: number;
}

export interface Sam2Config {
  /** Official config name, e.g. "sam2.1_hiera_t". */
  name: string;
  size: ModelSize;
  version: ModelVersion;
  imageSize: number;
  backboneStride: number;
  hiera: HieraConfig;
  neck: NeckConfig;
  /** Transformer width of the SAM heads and memory attention. */
  hiddenDim: number;
  /** Memory feature width (memory encoder out_dim). */
  memDim: number;
  numMaskmem: number;
  memoryAttention: { numLayers: number; dimFeedforward: number; ropeTheta: number; numHeads: number };
  memoryEncoder: { fuserLayers: number; fuserKernel: number; maskDownsamplerStride: number; maskDownsamplerKernel: number; maskDownsamplerTotalStride: number };
  sigmoidScaleForMemEnc: number;
  sigmoidBiasForMemEnc: number;
  binarizeMaskFromPtsForMemEnc: boolean;
  useMaskInputAsOutputWithoutSam: boolean;
  maxCondFramesInAttn: number;
  directlyAddNoMemEmbed: boolean;
  useHighResFeaturesInSam: boolean;
  multimaskOutputInSam: boolean;
  multimaskMinPtNum: number;
  multimaskMaxPtNum: number;
  multimaskOutputForTracking: boolean;
  useMultimaskTokenForObjPtr: boolean;
  iouPredictionUseSigmoid: boolean;
  memoryTemporalStrideForEval: number;
  nonOverlapMasksForMemEnc: boolean;
  useObjPtrsInEncoder: boolean;
  maxObjPtrsInEncoder: number;
  addTposEncToObjPtrs: boolean;
  projTposEncInObjPtrs: boolean;
  useSignedTposEncToObjPtrs: boolean;
  onlyObjPtrsInThePastForEval: boolean;
  predObjScores: boolean;
  predObjScoresMlp: boolean;
  fixedNoObjPtr: boolean;
  softNoObjPtr: boolean;
  useMlpForObjPtrProj: boolean;
  noObjEmbedSpatial: boolean;
  maskDecoder: {
    numMultimaskOutputs: number;
    transformerDepth: number;
    transformerMlpDim: number;
    transformerNumHeads: number;
    attentionDownsampleRate: number;
    iouHeadDepth: number;
    iouHeadHiddenDim: number;
    dynamicMultimaskViaStability: boolean;
    dynamicMultimaskStabilityDelta: number;
    dynamicMultimaskStabilityThresh: number;
  };
  /** Video predictor post-processing: fill holes up to this area in the output masks (0 = off). */
  fillHoleArea: number;
  nonOverlapMasks: boolean;
}

const TRUNKS: Record<ModelSize, Omit<HieraConfig, 'qPool' | 'qStride' | 'dimMul' | 'headMul' | 'normEps'>> = {
  tiny: { embedDim: 96, numHeads: 1, stages: [1, 2, 7, 2], globalAttBlocks: [5, 7, 9], windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [7, 7] },
  small: { embedDim: 96, numHeads: 1, stages: [1, 2, 11, 2], globalAttBlocks: [7, 10, 13], windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [7, 7] },
  base_plus: { embedDim: 112, numHeads: 2, stages: [2, 3, 16, 3], globalAttBlocks: [12, 16, 20], windowSpec: [8, 4, 14, 7], windowPosEmbedBkgSpatialSize: [14, 14] },
  large: { embedDim: 144, numHeads: 2, stages: [2, 6, 36, 4], globalAttBlocks: [23, 33, 43], windowSpec: [8, 4, 16, 8], windowPosEmbedBkgSpatialSize: [7, 7] },
};

const SHORT: Record<ModelSize, string> = { tiny: 't', small: 's', base_plus: 'b+', large: 'l' };

export function configName(size: ModelSize, version: ModelVersion): string {
  return `${version === '2.1' ? 'sam2.1' : 'sam2'}_hiera_${SHORT[size]}`;
}

/**
 * The file name of converted weights: Meta's checkpoint name with `.safetensors` (`sam2.1_hiera_tiny.safetensors`,
 * `sam2_hiera_base_plus.safetensors`), `.f16.safetensors` for f16 storage. `weights`, `convert`, `track` and
 * `load()` all use it.
 */
export function weightsFileName(size: ModelSize, version: ModelVersion, dtype: 'f32' | 'f16' = 'f32'): string {
  return `${version === '2.1' ? 'sam2.1' : 'sam2'}_hiera_${size}${dtype === 'f16' ? '.f16' : ''}.safetensors`;
}

/** Meta's checkpoint file name (`sam2.1_hiera_tiny.pt`). */
export function checkpointFileName(size: ModelSize, version: ModelVersion): string {
  return `${version === '2.1' ? 'sam2.1' : 'sam2'}_hiera_${size}.pt`;
}

/** Parses "sam2.1_hiera_t" / "sam2_hiera_b+" back to size and version. */
export function parseConfigName(name: string): { size: ModelSize; version: ModelVersion } {
  const m = /^(sam2\.1|sam2)_hiera_(t|s|b\+|l)$/.exec(name);
  if (!m) throw new Sam2Error(`unknown SAM 2 config name "${name}" (expected e.g. sam2.1_hiera_t or sam2_hiera_b+)`);
  const size = (Object.keys(SHORT) as ModelSize[]).find((k) => SHORT[k] === m[2])!;
  return { size, version: m[1] === 'sam2.1' ? '2.1' : '2.0' };
}

/** Freezes a config and everything in it (a loaded model's config is fixed: changing it is a TypeError). */
export function frozenConfig(config: Sam2Config): Readonly<Sam2Config> {
  const freeze = (o: object): void => {
    for (const v of Object.values(o)) if (v && typeof v === 'object' && !Object.isFrozen(v)) freeze(v);
    Object.freeze(o);
  };
  freeze(config);
  return config;
}

export interface ConfigOptions {
  /** Input resolution (official: 1024). Must be a multiple of 32 (the trunk's total stride × 2). */
  imageSize?: number;
}

export function sam2Config(size: ModelSize, version: ModelVersion = '2.1', opts: ConfigOptions = {}): Sam2Config {
  if (!TRUNKS[size]) throw new Sam2Error(`unknown model size "${size}" (expected one of ${MODEL_SIZES.join(', ')})`);
  if (version !== '2.1' && version !== '2.0') throw new Sam2Error(`unknown SAM 2 version "${version}" (2.1 or 2.0)`);
  const imageSize = opts.imageSize ?? 1024;
  if (!Number.isInteger(imageSize) || imageSize < 64 || imageSize % 32 !== 0) {
    throw new Sam2Error(`imageSize ${imageSize} must be a multiple of 32, at least 64`);
  }
  const t = TRUNKS[size];
  const c0 = t.embedDim;
  const v21 = version === '2.1';
  return {
    name: configName(size, version),
    size,
    version,
    imageSize,
    backboneStride: 16,
    hiera: { ...t, qPool: 3, qStride: [2, 2], dimMul: 2, headMul: 2, normEps: 1e-6 },
    neck: {
      dModel: 256,
      backboneChannelList: [8 * c0, 4 * c0, 2 * c0, c0],
      fpnTopDownLevels: [2, 3],
      fpnInterpModel: 'nearest',
      scalp: 1,
    },
    hiddenDim: 256,
    memDim: 64,
    numMaskmem: 7,
    memoryAttention: { numLayers: 4, dimFeedforward: 2048, ropeTheta: 10000, numHeads: 1 },
    memoryEncoder: { fuserLayers: 2, fuserKernel: 7, maskDownsamplerStride: 2, maskDownsamplerKernel: 3, maskDownsamplerTotalStride: 16 },
    sigmoidScaleForMemEnc: 20,
    sigmoidBiasForMemEnc: -10,
    binarizeMaskFromPtsForMemEnc: true,
    useMaskInputAsOutputWithoutSam: true,
    maxCondFramesInAttn: -1,
    directlyAddNoMemEmbed: true,
    useHighResFeaturesInSam: true,
    multimaskOutputInSam: true,
    multimaskMinPtNum: 0,
    multimaskMaxPtNum: 1,
    multimaskOutputForTracking: true,
    useMultimaskTokenForObjPtr: true,
    iouPredictionUseSigmoid: true,
    memoryTemporalStrideForEval: 1,
    nonOverlapMasksForMemEnc: false,
    useObjPtrsInEncoder: true,
    maxObjPtrsInEncoder: 16,
    addTposEncToObjPtrs: v21,
    projTposEncInObjPtrs: v21,
    useSignedTposEncToObjPtrs: v21,
    onlyObjPtrsInThePastForEval: true,
    predObjScores: true,
    predObjScoresMlp: true,
    fixedNoObjPtr: true,
    softNoObjPtr: false,
    useMlpForObjPtrProj: true,
    noObjEmbedSpatial: v21,
    maskDecoder: {
      numMultimaskOutputs: 3,
      transformerDepth: 2,
      transformerMlpDim: 2048,
      transformerNumHeads: 8,
      attentionDownsampleRate: 2,
      iouHeadDepth: 3,
      iouHeadHiddenDim: 256,
      dynamicMultimaskViaStability: true,
      dynamicMultimaskStabilityDelta: 0.05,
      dynamicMultimaskStabilityThresh: 0.98,
    },
    fillHoleArea: 8,
    nonOverlapMasks: false,
  };
}
