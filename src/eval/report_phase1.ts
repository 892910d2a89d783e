// The report's phase-1 section: the held-out alignment curve per encoder
// (metrics.jsonl `align-eval` lines: 1 − cos on held-out images against the
// mean-direction baseline, the selected epoch marked) and the transfer-probe
// table (`probe` lines: SRCC with its bootstrap interval per feature set and
// split; over seeds, the mean ± sample std of the SRCC).
import type { RunEvent } from '../run/events.js';
import { meanAndSpread } from './metrics.js';
import { type CurvePanel, type Figure, curvesFigure, escapeXml } from './plots.js';

interface Run {
  seed: number | null;
  events: RunEvent[];
}

/** The last `align-eval` block of each phase of a run (a phase extended later logs its block again). */
function alignEvals(events: RunEvent[]): Map<string, RunEvent[]> {
  const out = new Map<string, RunEvent[]>();
  for (const e of events) {
    if (e['event'] !== 'align-eval') continue;
    const phase = String(e['phase']);
    const list = out.get(phase) ?? [];
    // Epoch 0 again opens a new block.
    if (e['epoch'] === 0) list.length = 0;
    list.push(e);
    out.set(phase, list);
  }
  return out;
}

/** One panel per aligned encoder: held-out loss per epoch and its mean-direction baseline, per seed. */
export function alignEvalPanels(runs: readonly Run[]): CurvePanel[] {
  const phases = ['align-teacher', 'align-student'];
  return phases
    .map((phase) => {
      const series: CurvePanel['series'][number][] = [];
      runs.forEach((r, ri) => {
        const lines = alignEvals(r.events).get(phase) ?? [];
        if (lines.length === 0) return;
        const tag = runs.length > 1 && r.seed !== null ? `, seed ${r.seed}` : '';
        const pts = lines.map((l) => [(l['epoch'] as number) + 1, l['loss'] as number] as const);
        series.push({ name: `held-out 1 − cos${tag}`, points: pts, colorIndex: 0, dashed: ri % 2 === 1 });
        series.push({ name: `mean direction${tag}`, points: lines.map((l) => [(l['epoch'] as number) + 1, l['baseline'] as number] as const), colorIndex: 7, dashed: true });
        const sel = lines.find((l) => l['selected'] === true);
        if (sel) series.push({ name: `selected epoch${tag}`, points: [[(sel['epoch'] as number) + 1, sel['loss'] as number]], colorIndex: 1 });
      });
      return { title: phase, yLabel: '1 − cos (held out)', series };
    })
    .filter((p) => p.series.length > 0);
}

/** The selected epoch's figures per phase and run: [phase, seed, epoch, loss, baseline, explained, held out]. */
function selectedRows(runs: readonly Run[]): string[][] {
  const rows: string[][] = [];
  for (const r of runs)
    for (const [phase, lines] of alignEvals(r.events)) {
      const s = lines.find((l) => l['selected'] === true);
      if (!s) continue;
      const loss = s['loss'] as number;
      const base = s['baseline'] as number;
      rows.push([escapeXml(phase), r.seed === null ? '' : String(r.seed), String((s['epoch'] as number) + 1), loss.toFixed(4), base.toFixed(4), (1 - loss / base).toFixed(3), String(s['heldOut'])]);
    }
  return rows;
}

function table(head: string[], rows: string[][]): string {
  return (
    `<table><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? '' : ' class="num"'}>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
  );
}

/** The probe table: one row per feature set, one column per split. */
export function probeTable(runs: readonly Run[]): string {
  const probes = runs.flatMap((r) => r.events.filter((e) => e['event'] === 'probe'));
  if (probes.length === 0) return '<p class="note">No transfer probe in this run (align.probe false, no val/test split, or phase 1 skipped).</p>';
  const names = [...new Set(probes.map((p) => String(p['features'])))];
  const splits = [...new Set(probes.map((p) => String(p['split'])))];
  const cell = (name: string, split: string) => {
    const got = runs.map((r) => [...r.events].reverse().find((e) => e['event'] === 'probe' && e['features'] === name && e['split'] === split)).filter((e): e is RunEvent => e !== undefined);
    if (got.length === 0) return '–';
    if (got.length === 1) {
      const g = got[0] as RunEvent;
      return `${(g['srcc'] as number).toFixed(3)} <span class="spread">[${(g['low'] as number).toFixed(2)}, ${(g['high'] as number).toFixed(2)}]</span>`;
    }
    const { mean, std } = meanAndSpread(got.map((g) => g['srcc'] as number));
    return `${mean.toFixed(3)} <span class="spread">± ${std.toFixed(3)}</span>`;
  };
  const note =
    runs.length > 1
      ? `Mean ± sample standard deviation of the probe SRCC over ${runs.length} seeds.`
      : 'SRCC with its bootstrap 95% interval (images resampled with replacement).';
  return (
    table(['features', ...splits.map((s) => `probe SRCC on ${s}`)], names.map((n) => [escapeXml(n), ...splits.map((s) => cell(n, s))])) +
    `<p class="note">A ridge regression from pooled features to the mean score, fitted on the train split (λ by 5-fold cross-validation). ` +
    `frozen: the frozen encoder's own embeddings; aligned-*: the encoders after phase 1 (the selected epoch); init-*: the same encoders before it. ${note}</p>`
  );
}

/** The whole section: the curves, the selected epochs, the probe table. */
export function phase1Section(runs: readonly Run[], figureHtml: (fig: Figure, caption: string) => string): string {
  const parts: string[] = [];
  const panels = alignEvalPanels(runs);
  if (panels.length > 0) {
    parts.push(
      figureHtml(
        curvesFigure(panels, { columns: 2, panelWidth: 420, panelHeight: 240 }),
        'Held-out alignment per encoder: 1 − cos between the prediction and the raw stored embedding on the held-out slice of the pool, against the same loss for the mean-direction predictor (dashed); the marked point is the epoch phase 2 reads. Below the dashed line, the encoder learned something per image.',
      ),
    );
    parts.push(table(['phase', 'seed', 'selected epoch', 'held-out 1 − cos', 'mean direction', 'explained', 'held-out images'], selectedRows(runs)));
  } else parts.push('<p class="note">No held-out alignment figures (no align-eval lines).</p>');
  parts.push('<h3>Transfer probe</h3>', probeTable(runs));
  return parts.join('\n');
}
