/** Node-only additions: video files and frame folders through ffmpeg, the whole tracking job, file outputs. */
export * from './index.js';
export { openFrames, openFrameFolder, openVideoFile, framesFromMemory } from './io/frames.js';
export { weightsDir, findWeights } from './io/weights_files.js';
export { Mp4Writer, probe, decodeImage, FfmpegMissingError, DecodeError } from './io/ffmpeg.js';
export { encodeIndexedPng, encodeRgbPng, davisPalette } from './io/png.js';
export { renderOverlay, objectColor } from './io/render.js';
export { trackVideo, type TrackJobOptions, type TrackPrompt, type TrackSummary, type TrackProgress } from './track.js';
export { OutputPlan, OutputError, installSignalCleanup, onInterrupt, type OutputSpec, type OutputPlanOptions } from './io/outputs.js';
