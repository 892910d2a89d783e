// TAD66K (He et al. 2022): CSVs of mean scores. Read by header names: the
// image column is the first of image / imageName / name / path, the score is
// `score` (or `mean`), on bins 1–10 unless the config says otherwise. Layouts
// that differ can be read with format 'csv' and a column mapping.
import { binRange, LabelCollector } from '../labels.js';
import type { Tad66kSource } from './source.js';
import { collectRows, csvRows } from './table.js';

export const TAD66K_BINS: readonly number[] = binRange(1, 10, 1);

export function readTad66k(text: string, file: string, src: Tad66kSource, imagesDir: string): LabelCollector {
  const bins = src.bins ?? TAD66K_BINS;
  const c = new LabelCollector(file, bins, src.meanStd);
  const { header, rows } = csvRows(text, file, ',', c);
  const pathCol = ['image', 'imageName', 'name', 'path'].find((h) => header.includes(h));
  const meanCol = ['score', 'mean'].find((h) => header.includes(h));
  if (!pathCol || !meanCol) {
    c.issue(1, `not a TAD66K header (needs an image and a score column): ${header.join(',')}; use format 'csv' with a column mapping`);
    return c;
  }
  collectRows(rows, { columns: { path: pathCol, mean: meanCol }, bins, counts: false }, imagesDir, c);
  return c;
}
