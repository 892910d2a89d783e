// Configuration shared by every labeled-data format.

export interface LabelSourceBase {
  /** The label file (relative paths resolve against the dataset config's folder). */
  labels: string;
  /** Folder the image names in the label file are relative to. */
  images: string;
  /** Optional list of image ids or paths (one per line) to keep: a split. */
  split?: string;
  /** Std of the Gaussian that turns mean-only labels into distributions (default 15% of the score range). */
  meanStd?: number;
}

/** AVA.txt: index, image id, 10 vote counts (scores 1–10), 2 semantic tags, challenge id; images at `<images>/<id>.jpg`. */
export interface AvaSource extends LabelSourceBase {
  format: 'ava';
  /** Image file extension (default '.jpg'). */
  extension?: string;
}

/** AADB imgList*Regression_score.txt: `<image name> <score in [0, 1]>` per line. */
export interface AadbSource extends LabelSourceBase {
  format: 'aadb';
}

/** PARA-Giaa{Train,Test}.csv: header with imageName, sessionId and aestheticScore_<bin> vote columns. */
export interface ParaSource extends LabelSourceBase {
  format: 'para';
}

/** TAD66K labels CSV: header with an image column and a `score` column (mean score). */
export interface Tad66kSource extends LabelSourceBase {
  format: 'tad66k';
  /** Bin scores (default 1, 2, …, 10). */
  bins?: number[];
}

export interface ColumnMapping {
  /** Column holding the image path, or a template of columns such as "{sessionId}/{imageName}". */
  path: string;
  /** Column holding the mean score (mean-only labels). */
  mean?: string;
  /** Columns holding the histogram, one per bin in order; or (JSONL) one field holding an array. */
  histogram?: string[] | string;
}

/** Any CSV (with a header row) or JSONL file, read through a column mapping. */
export interface TableSource extends LabelSourceBase {
  format: 'csv' | 'jsonl';
  columns: ColumnMapping;
  /** Bin scores, in histogram order. */
  bins: number[];
  /** Whether histogram values are vote counts (true, default) or probabilities. */
  counts?: boolean;
  /** CSV field delimiter (default ','). */
  delimiter?: string;
}

export type LabelSource = AvaSource | AadbSource | ParaSource | Tad66kSource | TableSource;
