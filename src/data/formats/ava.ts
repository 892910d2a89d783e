// AVA (Murray et al. 2012), AVA.txt: one image per line, space-separated:
//   index  image-id  v1 … v10  semantic-tag-1  semantic-tag-2  challenge-id
// v_k counts the votes for score k; images live at <images>/<id>.jpg.
import { join } from 'node:path';

import { parseWhitespace } from '../csv.js';
import { binRange, LabelCollector } from '../labels.js';
import type { AvaSource } from './source.js';

export const AVA_BINS: readonly number[] = binRange(1, 10, 1);

export function readAva(text: string, file: string, src: AvaSource, imagesDir: string): LabelCollector {
  const c = new LabelCollector(file, AVA_BINS, src.meanStd);
  const ext = src.extension ?? '.jpg';
  for (const { line, fields } of parseWhitespace(text)) {
    if (fields.length !== 15) {
      c.issue(line, `expected 15 columns (index, image id, 10 vote counts, 2 tags, challenge), got ${fields.length}`);
      continue;
    }
    const id = fields[1]!;
    const votes = fields.slice(2, 12).map((v, k) => {
      const n = c.number(line, `votes for score ${k + 1}`, v);
      if (n !== null && !Number.isInteger(n)) {
        c.issue(line, `votes for score ${k + 1}: '${v}' is not a whole number`);
        return null;
      }
      return n;
    });
    c.addHistogram(line, id, join(imagesDir, `${id}${ext}`), votes, true);
  }
  return c;
}
