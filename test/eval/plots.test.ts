// The plots' structure against their inputs: every mark is present once, sits
// where the axes' linear maps put its data (checked from the drawn frame and
// tick labels, not from the module's own scale), and renders to PNG.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import type { EncoderAttention } from '../../src/eval/attention_analysis.js';
import { attentionFigure, curvesFigure, figureToPng, histogramCounts, histogramPlot, niceDomain, niceTicks, scatterPlot } from '../../src/eval/plots.js';

type Attrs = Record<string, string>;

function elements(svg: string, tag: string, cls?: string): Attrs[] {
  const out: Attrs[] = [];
  for (const m of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)/?>`, 'g'))) {
    const attrs: Attrs = {};
    for (const a of (m[1] as string).matchAll(/([\w-]+)="([^"]*)"/g)) attrs[a[1] as string] = a[2] as string;
    if (cls === undefined || attrs['class'] === cls) out.push(attrs);
  }
  return out;
}

const num = (a: Attrs, k: string) => Number(a[k]);

/** Pixel position of a tick's value from the tick labels drawn (text → position), to check marks against. */
function tickMap(svg: string, axis: 'x' | 'y'): Map<number, number> {
  const m = new Map<number, number>();
  for (const t of svg.matchAll(/<text class="tick" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)<\/text>/g)) {
    const anchorEnd = t[0].includes('text-anchor="end"');
    if ((axis === 'y') === anchorEnd) m.set(Number(t[3]), Number(axis === 'x' ? t[1] : t[2]));
  }
  return m;
}

/** The affine map value → pixel through two ticks. */
function affine(ticks: Map<number, number>): (v: number) => number {
  const [[v0, p0], [v1, p1]] = [...ticks.entries()].slice(0, 2).length === 2 ? ([...ticks.entries()].slice(0, 2) as [[number, number], [number, number]]) : [[0, 0], [1, 1]];
  return (v) => p0 + ((v - v0) / (v1 - v0)) * (p1 - p0);
}

describe('ticks', () => {
  it('steps by 1, 2 or 5 times a power of ten and covers the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 37, 4)).toEqual([0, 10, 20, 30]);
    expect(niceTicks(1, 12, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(niceTicks(1, 24, 8)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
    expect(niceTicks(0, 40, 8)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40]);
    expect(niceTicks(-0.013, 0.021, 3)).toEqual([-0.01, 0, 0.01, 0.02]);
    expect(niceDomain(0.13, 0.91)).toEqual([0, 1]);
    expect(niceDomain(3, 3)).toEqual([2.7, 3.3]);
  });
});

describe('scatterPlot', () => {
  it('puts one marker per pair where the axes say, with the diagonal from corner to corner', () => {
    const x = [1, 2.5, 4, 7, 10];
    const y = [2, 2, 5, 6, 9.5];
    const fig = scatterPlot(x, y, { domain: [0, 10], notes: ['SRCC 0.900'] });
    const pts = elements(fig.svg, 'circle', 'point');
    expect(pts.length).toBe(5);
    const sx = affine(tickMap(fig.svg, 'x'));
    const sy = affine(tickMap(fig.svg, 'y'));
    pts.forEach((p, i) => {
      expect(num(p, 'data-x')).toBe(x[i]);
      expect(num(p, 'cx')).toBeCloseTo(sx(x[i] as number), 1);
      expect(num(p, 'cy')).toBeCloseTo(sy(y[i] as number), 1);
    });
    // The frame is the domain: the diagonal's ends are the plot area's bottom-left and top-right corners.
    const area = elements(fig.svg, 'rect', 'plot-area')[0] as Attrs;
    const d = /d="M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)"[^>]*class="diagonal"/.exec(fig.svg);
    expect(d).not.toBeNull();
    const [x0, y0, x1, y1] = (d as RegExpExecArray).slice(1).map(Number) as [number, number, number, number];
    expect([x0, y0, x1, y1]).toEqual([num(area, 'x'), num(area, 'y') + num(area, 'height'), num(area, 'x') + num(area, 'width'), num(area, 'y')]);
    expect(fig.svg).toContain('SRCC 0.900');
    expect(() => scatterPlot([1], [1, 2])).toThrow(/1 x values, 2 y values/);
  });

  it('escapes text', () => {
    expect(scatterPlot([1], [1], { title: 'a < b & "c"' }).svg).toContain('a &lt; b &amp; &quot;c&quot;');
  });
});

describe('histogramPlot', () => {
  it('counts into equal bins (last bin closed) and draws one bar per non-empty bin with its count as height', () => {
    expect(histogramCounts([0, 0.99, 1, 2.5, 4, 5, 7], 5, 0, 5)).toEqual([2, 1, 1, 0, 2]);
    const fig = histogramPlot(
      [
        { name: 'true', values: [1, 1.2, 1.4, 3.1, 4.9] },
        { name: 'predicted', values: [2.2, 2.4] },
      ],
      { bins: 5, range: [0, 5] },
    );
    const bars = elements(fig.svg, 'rect', 'bar');
    expect(bars.map((b) => [b['data-series'], b['data-bin'], b['data-count']])).toEqual([
      ['0', '1', '3'],
      ['0', '3', '1'],
      ['0', '4', '1'],
      ['1', '2', '2'],
    ]);
    const sy = affine(tickMap(fig.svg, 'y'));
    const sx = affine(tickMap(fig.svg, 'x'));
    for (const b of bars) {
      expect(num(b, 'y')).toBeCloseTo(sy(num(b, 'data-count')), 1);
      expect(num(b, 'y') + num(b, 'height')).toBeCloseTo(sy(0), 1);
      expect(num(b, 'x')).toBeCloseTo(sx(num(b, 'data-bin')), 1); // bins are 1 wide from 0
      expect(num(b, 'width')).toBeCloseTo(sx(1) - sx(0), 1);
    }
    expect(fig.svg).toContain('predicted (n=2)');
  });
});

describe('attentionFigure', () => {
  const model = (name: string, depth: number, heads: number, scale: number): EncoderAttention => ({
    name,
    imgSize: 64,
    patchSize: 8,
    patchPx: 8,
    depth,
    heads,
    images: 4,
    distance: Array.from({ length: depth }, (_, l) => Array.from({ length: heads }, (_, h) => scale * (l + 1) + h)),
    entropy: Array.from({ length: depth }, (_, l) => Array.from({ length: heads }, (_, h) => 1 + 0.1 * l + 0.05 * h)),
    uniform: { distance: 30, entropy: 4 },
  });

  it('draws one marker per layer and head in a distance and an entropy panel per model, at the layer and value', () => {
    const models = [model('before alignment', 3, 2, 4), model('after alignment', 4, 3, 6)];
    const fig = attentionFigure(models);
    const panels = [...fig.svg.matchAll(/<g class="panel" data-model="([^"]*)" data-metric="(\w+)">([\s\S]*?)<\/g>\n<\/g>/g)];
    expect(panels.map((p) => [p[1], p[2]])).toEqual([
      ['before alignment', 'distance'],
      ['before alignment', 'entropy'],
      ['after alignment', 'distance'],
      ['after alignment', 'entropy'],
    ]);
    for (const p of panels) {
      const m = models.find((x) => x.name === p[1]) as EncoderAttention;
      const body = p[3] as string;
      const markers = elements(body, 'circle', 'head-marker');
      expect(markers.length).toBe(m.depth * m.heads);
      const sx = affine(tickMap(body, 'x'));
      const sy = affine(tickMap(body, 'y'));
      for (const mk of markers) {
        const l = num(mk, 'data-layer');
        const h = num(mk, 'data-head');
        const v = (m[p[2] as 'distance' | 'entropy'][l - 1] as number[])[h] as number;
        expect(num(mk, 'data-value')).toBe(v);
        expect(num(mk, 'cx')).toBeCloseTo(sx(l), 1);
        expect(num(mk, 'cy')).toBeCloseTo(sy(v), 1);
      }
    }
    // The uniform-attention reference is a horizontal line at its value in every panel.
    for (const p of panels) {
      const body = p[3] as string;
      const line = /d="M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)"[^>]*class="uniform" data-value="([\d.]+)"/.exec(body);
      expect(line).not.toBeNull();
      const [, , y0, , y1, v] = (line as RegExpExecArray).map(Number) as number[];
      expect(v).toBe(p[2] === 'distance' ? 30 : 4);
      expect(y0).toBe(y1);
      expect(y0).toBeCloseTo(affine(tickMap(body, 'y'))(v as number), 1);
    }
    // Rows share the y axis: the largest distance (6·4 + 2 = 26) fits both distance panels' range.
    const yTicks = [...tickMap(panels[0]?.[3] as string, 'y').keys()];
    expect(Math.max(...yTicks)).toBeGreaterThanOrEqual(26);
    expect([...tickMap(panels[2]?.[3] as string, 'y').keys()]).toEqual(yTicks);
  });

  it('renders to a PNG of the figure size times the scale', async () => {
    const fig = attentionFigure([model('m', 2, 2, 3)]);
    const png = await figureToPng(fig, 2);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', fig.width * 2, fig.height * 2]);
  });
});

describe('curvesFigure', () => {
  it('draws a panel per phase and a line with a point per epoch for each series', () => {
    const fig = curvesFigure([
      { title: 'teacher', series: [{ name: 'emd', points: [[0, 0.3], [1, 0.25], [2, 0.2]] }] },
      {
        title: 'student',
        series: [
          { name: 'labeled', points: [[0, 0.4], [1, 0.3]] },
          { name: 'unlabeled', points: [[0, 0.2], [1, 0.1]], dashed: true },
        ],
      },
    ]);
    const panels = [...fig.svg.matchAll(/<g class="panel" data-title="([^"]*)">([\s\S]*?)<g class="legend">/g)];
    expect(panels.map((p) => p[1])).toEqual(['teacher', 'student']);
    const student = panels[1]?.[2] as string;
    const pts = elements(student, 'circle', 'point');
    expect(pts.map((p) => [num(p, 'data-x'), num(p, 'data-y')])).toEqual([[0, 0.4], [1, 0.3], [0, 0.2], [1, 0.1]]);
    const sy = affine(tickMap(student, 'y'));
    for (const p of pts) expect(num(p, 'cy')).toBeCloseTo(sy(num(p, 'data-y')), 1);
    expect(student).toContain('stroke-dasharray="5 3"');
  });
});
