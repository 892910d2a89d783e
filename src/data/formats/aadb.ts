// AADB (Kong et al. 2016), imgListFiles_label/imgList{Train,Validation,TestNew}Regression_score.txt:
//   <image file name> <overall score in [0, 1]>
// Five raters scored each image 1–5; the published score is their mean mapped
// to [0, 1], so the bins are the five rating levels on that scale.
import { join } from 'node:path';

import { parseWhitespace } from '../csv.js';
import { LabelCollector } from '../labels.js';
import type { AadbSource } from './source.js';

export const AADB_BINS: readonly number[] = [0, 0.25, 0.5, 0.75, 1];

export function readAadb(text: string, file: string, src: AadbSource, imagesDir: string): LabelCollector {
  const c = new LabelCollector(file, AADB_BINS, src.meanStd);
  for (const { line, fields } of parseWhitespace(text)) {
    if (fields.length !== 2) {
      c.issue(line, `expected 2 columns (image name, score), got ${fields.length}`);
      continue;
    }
    c.addMean(line, fields[0]!, join(imagesDir, fields[0]!), c.number(line, 'score', fields[1]));
  }
  return c;
}
