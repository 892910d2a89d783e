import type { ResultRow } from '../train/pipeline.js';

/** The test-split table `cskd train` prints. */
export function formatResultTable(rows: readonly ResultRow[]): string {
  if (rows.length === 0) return '(no test or validation split: nothing scored)';
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  const cols = ['SRCC', 'PLCC', 'KRCC', 'RMSE', 'acc', 'EMD'];
  const head = `${'model'.padEnd(width)}  ${cols.map((c) => c.padStart(6)).join('  ')}`;
  const lines = rows.map((r) => {
    const q = r.report;
    const vals = [q.srcc, q.plcc, q.krcc, q.rmse, q.accuracy, q.emd ?? NaN];
    return `${r.name.padEnd(width)}  ${vals.map((v) => (Number.isFinite(v) ? v.toFixed(3) : '-').padStart(6)).join('  ')}`;
  });
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}
