// Generic labels: a CSV with a header row, or JSONL, read through a column
// mapping. PARA and TAD66K are presets of this reader (para.ts, tad66k.ts).
import { join } from 'node:path';

import { parseCsv } from '../csv.js';
import { LabelCollector } from '../labels.js';
import type { ColumnMapping } from './source.js';

export interface TableOptions {
  columns: ColumnMapping;
  bins: readonly number[];
  counts: boolean;
  meanStd?: number;
}

/** One row: a lookup by column name, plus the line it came from. */
export interface TableRow {
  line: number;
  get(column: string): unknown;
}

export function csvRows(text: string, file: string, delimiter: string, c: LabelCollector): { header: string[]; rows: TableRow[] } {
  const records = parseCsv(text, delimiter);
  const head = records.shift();
  if (!head) {
    c.issue(0, 'empty file: expected a header row');
    return { header: [], rows: [] };
  }
  const header = head.fields.map((h) => h.trim());
  const index = new Map(header.map((h, i) => [h, i]));
  const rows: TableRow[] = [];
  for (const r of records) {
    if (r.fields.length !== header.length) {
      c.issue(r.line, `expected ${header.length} columns (as the header on line ${head.line}), got ${r.fields.length}`);
      continue;
    }
    rows.push({ line: r.line, get: (col) => (index.has(col) ? r.fields[index.get(col)!] : undefined) });
  }
  return { header, rows };
}

export function jsonlRows(text: string, c: LabelCollector): TableRow[] {
  const rows: TableRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      c.issue(i + 1, `not valid JSON: ${(e as Error).message}`);
      return;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      c.issue(i + 1, 'expected a JSON object');
      return;
    }
    const o = obj as Record<string, unknown>;
    rows.push({ line: i + 1, get: (col) => o[col] });
  });
  return rows;
}

/** Resolves a path column or a "{a}/{b}" template; null (with an issue) when a column is absent. */
function rowPath(row: TableRow, mapping: string, c: LabelCollector): string | null {
  const cols = mapping.includes('{') ? [...mapping.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!) : [mapping];
  const values = new Map<string, string>();
  for (const col of cols) {
    const v = row.get(col);
    if (v === undefined || v === null || String(v).trim() === '') {
      c.issue(row.line, `no value in path column '${col}'`);
      return null;
    }
    values.set(col, String(v).trim());
  }
  return mapping.includes('{') ? mapping.replace(/\{([^}]+)\}/g, (_, col: string) => values.get(col)!) : values.get(mapping)!;
}

function text(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

/** Feeds mapped rows into a collector: a histogram when mapped, else a mean. */
export function collectRows(rows: TableRow[], o: TableOptions, imagesDir: string, c: LabelCollector): void {
  const { columns } = o;
  if (!columns.histogram && !columns.mean) {
    c.issue(0, 'column mapping needs a histogram or a mean column');
    return;
  }
  for (const row of rows) {
    const id = rowPath(row, columns.path, c);
    if (id === null) continue;
    const path = join(imagesDir, id);
    if (columns.histogram) {
      let raw: unknown[];
      if (typeof columns.histogram === 'string') {
        const v = row.get(columns.histogram);
        if (!Array.isArray(v)) {
          c.issue(row.line, `histogram field '${columns.histogram}' is not an array`);
          continue;
        }
        raw = v;
      } else raw = columns.histogram.map((col) => row.get(col));
      const names = typeof columns.histogram === 'string' ? raw.map((_, k) => `${columns.histogram as string}[${k}]`) : columns.histogram;
      c.addHistogram(row.line, id, path, raw.map((v, k) => c.number(row.line, names[k]!, text(v))), o.counts);
    } else {
      c.addMean(row.line, id, path, c.number(row.line, columns.mean!, text(row.get(columns.mean!))));
    }
  }
}

export function readTable(
  body: string,
  file: string,
  kind: 'csv' | 'jsonl',
  o: TableOptions,
  imagesDir: string,
  delimiter = ',',
): LabelCollector {
  const c = new LabelCollector(file, o.bins, o.meanStd);
  const rows = kind === 'csv' ? csvRows(body, file, delimiter, c).rows : jsonlRows(body, c);
  collectRows(rows, o, imagesDir, c);
  return c;
}
