// The cskd TypeScript API.
export { Tensor, type DType, type Device } from './tensor/tensor.js';
export { Arena } from './tensor/arena.js';
export { readSafetensors, parseSafetensors, type SafetensorsFile } from './tensor/safetensors.js';
export * as ops from './ops/index.js';
export { systemInfo, environmentRows, type SystemInfo } from './tensor/devices.js';
export { packageVersion } from './util/package.js';
export { native } from './native.js';
export * from './score/index.js';
export { type ClipEncoder, type ClipEngineName, type EncoderPreprocessing, encoderView, OPENAI_CLIP_PREPROCESSING } from './clip/encoder.js';
export { OnnxClipEncoder, type OnnxEncoderOptions } from './clip/onnx_encoder.js';
export { NativeClipEncoder } from './clip/native_encoder.js';
export { openClipEncoder, type OpenClipOptions } from './clip/open.js';
export { ensureStandinOnnx, buildStandinOnnx, STANDIN_NAME, STANDIN_LABEL } from './clip/standin.js';
export {
  FeatureStore,
  buildFeatureStore,
  type BuildFeatureStoreOptions,
  type BuildFeatureStoreResult,
  type FeatureProgress,
  type BadImage,
  type StoreHeader,
} from './clip/feature_store.js';
export { writeSafetensors, type TensorData } from './tensor/safetensors.js';
// Models
export { VisionTransformer, VIT_DEFAULTS, type VitConfig } from './nn/vit.js';
export { vitConfig, vitPresetNames } from './nn/registry.js';
export { ScoreHead, Projector } from './nn/heads.js';
export { ParameterSet, Parameter } from './nn/parameters.js';
export { loadTimmVit, saveTimmVit, inferVitConfig } from './nn/weights.js';
export { importClipVision, ClipVisionModel } from './nn/clip.js';
export { exportOnnx, type OnnxExportOptions } from './onnx/export.js';
export { readOnnxMetadata } from './onnx/metadata.js';
// Training
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { Ema } from './optim/ema.js';
export { cosineLr, layerDecayScale } from './optim/schedule.js';
export { Model, type ModelConfig, type HeadConfig } from './model/model.js';
export { saveModel, loadModel } from './model/io.js';
export { saveCheckpoint, loadCheckpoint, isCheckpoint, type TrainingState } from './model/checkpoint.js';
export { type FeatureLookup, defaultFeatureStoreDir } from './clip/feature_store.js';
export { alignEncoder, alignStep } from './train/align.js';
export { finetune, supervisedStep } from './train/finetune.js';
export { distill, distillStep, teacherTargets } from './train/distill.js';
export { train, type TrainOptions, type TrainResult } from './train/pipeline.js';
export { clipFeatures, type FeatureProvider, type FeatureStorePlace } from './train/features.js';
export { loadTrainConfig, resolveTrainConfig, DEFAULT_TRAIN_CONFIG, type TrainConfig, ConfigError } from './train/config.js';
export { runPhase, type TrainEvent, type PhaseSettings, PhaseStoppedError } from './train/loop.js';
export { NonFiniteError } from './util/errors.js';
export { runDemo, formatDemoTable } from './train/demo.js';
export { RunDir, type PhaseName, type ModelName } from './run/run_dir.js';
export { readEvents, type RunEvent } from './run/events.js';
// Data and evaluation
export { loadDataset, findSplit, loadUnlabeledPool, type Dataset, type DatasetConfig, type LabeledSplit } from './data/datasets.js';
export { ImageLoader, type LoaderOptions, type Batch } from './data/loader.js';
export { evalView, weakView, strongView, heavyView, CLIP_NORMALIZATION, IMAGENET_NORMALIZATION, type ViewSpec } from './data/transforms.js';
export { ImageFileError } from './data/errors.js';
export { generateDemo } from './data/demo.js';
export * as metrics from './eval/metrics.js';
export { evaluateSplit, predict } from './eval/evaluate.js';
export { evaluateOnnx, evaluateModelFile } from './score/evaluate.js';
export { Rng } from './util/rng.js';
// Attention analysis, plots and the run report
export {
  analyzeAttention,
  uniformAttentionStats,
  encoderFromCheckpoint,
  encoderFromClip,
  encoderAtInit,
  selectImages,
  writeAttentionAnalysis,
  type AnalyzedEncoder,
  type AttentionAnalysis,
  type AttentionAnalysisOptions,
  type EncoderAttention,
} from './eval/attention_analysis.js';
export { attentionFigure, scatterPlot, histogramPlot, curvesFigure, figureToPng, type Figure } from './eval/plots.js';
export { writeRunReport, savePredictions, type RunReportOptions, type SavedPredictions } from './eval/report.js';
