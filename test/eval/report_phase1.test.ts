// The report's phase-1 section from hand-written metrics.jsonl events: the
// curve's points, the selected epoch, the last block of a phase extended
// later, and the probe table's interval (one seed) or mean ± std (seeds).
import { describe, expect, it } from 'vitest';

import { alignEvalPanels, probeTable } from '../../src/eval/report_phase1.js';

const ev = (phase: string, epoch: number, loss: number, selected = false) => ({ event: 'align-eval', phase, epoch, loss, baseline: 0.3, heldOut: 70, selected });

describe('report: phase 1', () => {
  it('plots the last align-eval block per encoder with its baseline and the selected epoch', () => {
    const events = [ev('align-student', 0, 0.5), ev('align-student', 1, 0.4, true), ev('align-student', 0, 0.45), ev('align-student', 1, 0.35), ev('align-student', 2, 0.2, true)];
    const [panel] = alignEvalPanels([{ seed: null, events }]);
    expect(panel!.title).toBe('align-student');
    const by = Object.fromEntries(panel!.series.map((s) => [s.name, s.points.map((p) => [...p])]));
    expect(by['held-out 1 − cos']).toEqual([
      [1, 0.45],
      [2, 0.35],
      [3, 0.2],
    ]);
    expect(by['mean direction']).toEqual([
      [1, 0.3],
      [2, 0.3],
      [3, 0.3],
    ]);
    expect(by['selected epoch']).toEqual([[3, 0.2]]);
  });

  it('shows the interval for one run and mean ± sample std over seeds', () => {
    const p = (srcc: number) => ({ event: 'probe', features: 'frozen', split: 'test', srcc, low: srcc - 0.1, high: srcc + 0.1 });
    expect(probeTable([{ seed: null, events: [p(0.4)] }])).toContain('0.400 <span class="spread">[0.30, 0.50]</span>');
    // 0.2, 0.4, 0.6: mean 0.4, sample std 0.2.
    expect(probeTable([0.2, 0.4, 0.6].map((s, i) => ({ seed: i, events: [p(s)] })))).toContain('0.400 <span class="spread">± 0.200</span>');
  });
});
