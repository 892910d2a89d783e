// PARA (Yang et al. 2022), annotation/PARA-Giaa{Train,Test}.csv. Read by
// header names: the image is imgs/<sessionId>/<imageName> and the score
// distribution is the aestheticScore_<bin> columns (bins 1.0, 1.5, …, 5.0 in
// the release), whose numbers give the bin scores. Layouts that differ can be
// read with format 'csv' and a column mapping.
import { LabelCollector } from '../labels.js';
import type { ParaSource } from './source.js';
import { collectRows, csvRows } from './table.js';

const HIST = /^aestheticScore_(\d+(?:\.\d+)?)$/;

export function readPara(text: string, file: string, src: ParaSource, imagesDir: string): LabelCollector {
  // Parse once with a throwaway collector to learn the header, then for real with the right bins.
  const probe = new LabelCollector(file, [0, 1]);
  const { header } = csvRows(text, file, ',', probe);
  const hist = header.filter((h) => HIST.test(h)).sort((a, b) => Number(HIST.exec(a)![1]) - Number(HIST.exec(b)![1]));
  const bins = hist.map((h) => Number(HIST.exec(h)![1]));
  if (hist.length < 2 || !header.includes('imageName')) {
    const c = new LabelCollector(file, [0, 1]);
    c.issue(1, `not a PARA GIAA header (needs imageName and aestheticScore_<bin> columns): ${header.join(',')}; use format 'csv' with a column mapping`);
    return c;
  }
  const c = new LabelCollector(file, bins, src.meanStd);
  const { rows } = csvRows(text, file, ',', c);
  const path = header.includes('sessionId') ? '{sessionId}/{imageName}' : 'imageName';
  collectRows(rows, { columns: { path, histogram: hist }, bins, counts: true }, imagesDir, c);
  return c;
}
