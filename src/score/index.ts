// Scoring with an exported model: the Scorer API, batch scoring of files, the HTTP service.
export { Scorer, scoreOf, type Score, type ScoredItem, type ScoreManyOptions, type ScorerOptions, type ScorerStats } from './scorer.js';
export { preprocess, openImageBuffer, evalViewOf, type ScoreInput, type PreprocessOptions } from './preprocess.js';
export { expandInputs, parseShard, shardOf, sniffImageFormat, type ExpandedInputs, type Shard } from './inputs.js';
export { ResultWriter, csvHeader, formatRow, resultFormatOf, type ResultFormat, type ResultRow, type ResumeState } from './results.js';
export { scoreFiles, type ScoreFilesOptions, type ScoreFilesProgress, type ScoreFilesSummary } from './files.js';
export { createServer, type ImageScorer, type ScoreServer, type ServeOptions, type ServerMetrics } from './server.js';
export { PooledScorer, defaultPoolSize, type PooledScorerOptions } from './pooled_scorer.js';
export { ModelPool, type ModelPoolOptions } from './model_pool.js';
export { buildGallery, type GalleryOptions, type GallerySummary, type GalleryPair } from './gallery/build.js';
export { createGalleryHandler, type GalleryHandler, type GalleryHandlerOptions } from './gallery/handler.js';
export { readScoreFile, ScoreFileError, type ScoreFile, type ScoreRecord } from './gallery/read_scores.js';
