// Hand-written SVG plots: what the attention analysis and the run report draw.
// A figure is a grid of panels; a panel maps data to pixels with two linear
// scales and draws its own axes (ticks at 1-2-5 steps), title and legend.
// Plots are plain strings, so they inline into a self-contained HTML report
// and render to PNG with sharp (librsvg) without a browser. Every data mark
// carries its values in data-* attributes, so tests can check marks against
// the inputs without reading pixels.
import sharp from 'sharp';

import type { EncoderAttention } from './attention_analysis.js';

export interface Figure {
  svg: string;
  width: number;
  height: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds for SVG output: two decimals are far below a pixel. */
function r2(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Tick values inside [lo, hi] at a 1-2-5 step, about `count` intervals. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  // The step nearest (geometrically) to span / count among 1, 2, 5 × 10^k (d3's rule).
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const err = raw / mag;
  const step = (err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1) * mag;
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const out: number[] = [];
  for (let i = first; i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** [lo, hi] widened to tick steps (and padded when empty), for an axis that should end on ticks. */
export function niceDomain(lo: number, hi: number, count = 5): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    return [lo - pad, hi + pad];
  }
  const ticks = niceTicks(lo, hi, count);
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : hi - lo;
  return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step];
}

function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

export interface PanelSpec {
  /** Top-left corner of the whole panel (axes and labels included) in the figure. */
  x: number;
  y: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Explicit x ticks (e.g. the layers 1…L); default niceTicks. */
  xTicks?: number[];
}

/** A rectangle of the figure with its scales; plot area = panel minus margins for labels. */
export class Panel {
  static readonly margin = { left: 54, right: 12, top: 26, bottom: 42 };
  readonly spec: PanelSpec;
  readonly left: number;
  readonly top: number;
  readonly plotWidth: number;
  readonly plotHeight: number;

  constructor(spec: PanelSpec) {
    this.spec = spec;
    const m = Panel.margin;
    this.left = spec.x + m.left;
    this.top = spec.y + m.top;
    this.plotWidth = spec.width - m.left - m.right;
    this.plotHeight = spec.height - m.top - m.bottom;
  }

  sx(v: number): number {
    const [a, b] = this.spec.xDomain;
    return this.left + ((v - a) / (b - a || 1)) * this.plotWidth;
  }

  sy(v: number): number {
    const [a, b] = this.spec.yDomain;
    return this.top + this.plotHeight - ((v - a) / (b - a || 1)) * this.plotHeight;
  }

  /** Frame, grid, ticks, tick labels, axis labels and title. */
  axes(): string {
    const s = this.spec;
    const out: string[] = [];
    const L = this.left;
    const T = this.top;
    const W = this.plotWidth;
    const H = this.plotHeight;
    out.push(`<rect class="plot-area" x="${r2(L)}" y="${r2(T)}" width="${r2(W)}" height="${r2(H)}" fill="#fff" stroke="none"/>`);
    const xt = (s.xTicks ?? niceTicks(s.xDomain[0], s.xDomain[1], Math.max(2, Math.floor(W / 60)))).filter((v) => v >= Math.min(...s.xDomain) - 1e-9 && v <= Math.max(...s.xDomain) + 1e-9);
    const yt = niceTicks(s.yDomain[0], s.yDomain[1], Math.max(2, Math.floor(H / 40)));
    const xStep = xt.length > 1 ? (xt[1] as number) - (xt[0] as number) : 1;
    const yStep = yt.length > 1 ? (yt[1] as number) - (yt[0] as number) : 1;
    for (const v of yt) {
      const y = r2(this.sy(v));
      out.push(`<line class="grid" x1="${r2(L)}" x2="${r2(L + W)}" y1="${y}" y2="${y}" stroke="#e6e6e6"/>`);
      out.push(`<line x1="${r2(L - 4)}" x2="${r2(L)}" y1="${y}" y2="${y}" stroke="#333"/>`);
      out.push(`<text class="tick" x="${r2(L - 6)}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(v, yStep)}</text>`);
    }
    for (const v of xt) {
      const x = r2(this.sx(v));
      out.push(`<line x1="${x}" x2="${x}" y1="${r2(T + H)}" y2="${r2(T + H + 4)}" stroke="#333"/>`);
      out.push(`<text class="tick" x="${x}" y="${r2(T + H + 15)}" text-anchor="middle">${formatTick(v, xStep)}</text>`);
    }
    out.push(`<rect x="${r2(L)}" y="${r2(T)}" width="${r2(W)}" height="${r2(H)}" fill="none" stroke="#333"/>`);
    if (s.title) out.push(`<text class="title" x="${r2(L + W / 2)}" y="${r2(s.y + 16)}" text-anchor="middle" font-weight="bold">${escapeXml(s.title)}</text>`);
    if (s.xLabel) out.push(`<text class="label" x="${r2(L + W / 2)}" y="${r2(T + H + 33)}" text-anchor="middle">${escapeXml(s.xLabel)}</text>`);
    if (s.yLabel) {
      const cx = s.x + 13;
      const cy = T + H / 2;
      out.push(`<text class="label" x="${r2(cx)}" y="${r2(cy)}" text-anchor="middle" transform="rotate(-90 ${r2(cx)} ${r2(cy)})">${escapeXml(s.yLabel)}</text>`);
    }
    return out.join('\n');
  }

  /** A clip path id so marks never spill over the axes. */
  clip(id: string): string {
    return `<clipPath id="${id}"><rect x="${r2(this.left)}" y="${r2(this.top)}" width="${r2(this.plotWidth)}" height="${r2(this.plotHeight)}"/></clipPath>`;
  }
}

export interface LegendItem {
  label: string;
  color: string;
  kind: 'marker' | 'line' | 'dashed' | 'bar';
}

/**
 * A legend box inside a panel's plot area, in whichever corner covers the
 * fewest of `avoid` (data points in data coordinates; top-right on ties).
 */
export function legend(p: Panel, items: readonly LegendItem[], avoid: readonly (readonly [number, number])[] = []): string {
  if (items.length === 0) return '';
  const rowH = 15;
  const w = Math.min(p.plotWidth - 8, 30 + 6.6 * Math.max(...items.map((i) => i.label.length)));
  const h = rowH * items.length + 6;
  const corners: [number, number][] = [
    [p.left + p.plotWidth - w - 4, p.top + 4],
    [p.left + 4, p.top + 4],
    [p.left + p.plotWidth - w - 4, p.top + p.plotHeight - h - 4],
    [p.left + 4, p.top + p.plotHeight - h - 4],
  ];
  const pixels = avoid.map(([x, y]) => [p.sx(x), p.sy(y)] as const);
  const covered = ([cx, cy]: [number, number]) => pixels.filter(([x, y]) => x >= cx - 4 && x <= cx + w + 4 && y >= cy - 4 && y <= cy + h + 4).length;
  let [x, y] = corners[0] as [number, number];
  let best = covered([x, y]);
  for (const c of corners.slice(1)) {
    const n = covered(c);
    if (n < best) [x, y, best] = [c[0], c[1], n];
  }
  const out = [`<g class="legend"><rect x="${r2(x)}" y="${r2(y)}" width="${r2(w)}" height="${r2(h)}" fill="#fff" fill-opacity="0.9" stroke="#bbb"/>`];
  items.forEach((it, i) => {
    const cy = y + 3 + rowH * i + rowH / 2;
    const sx = x + 6;
    if (it.kind === 'marker') out.push(`<circle cx="${r2(sx + 5)}" cy="${r2(cy)}" r="3.5" fill="${it.color}"/>`);
    else if (it.kind === 'bar') out.push(`<rect x="${r2(sx)}" y="${r2(cy - 5)}" width="10" height="10" fill="${it.color}" fill-opacity="0.5" stroke="${it.color}"/>`);
    else out.push(`<line x1="${r2(sx)}" x2="${r2(sx + 12)}" y1="${r2(cy)}" y2="${r2(cy)}" stroke="${it.color}" stroke-width="2"${it.kind === 'dashed' ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${r2(sx + 17)}" y="${r2(cy)}" dominant-baseline="middle">${escapeXml(it.label)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Points along a polyline (its vertices and 8 steps between each pair), for legend placement. */
function samplePolyline(pts: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  pts.forEach(([x, y], i) => {
    out.push([x, y]);
    const next = pts[i + 1];
    if (next) for (let t = 1; t < 8; t++) out.push([x + ((next[0] - x) * t) / 8, y + ((next[1] - y) * t) / 8]);
  });
  return out;
}

/** [lo, hi] with `fraction` of its span added on both sides. */
function padded([lo, hi]: [number, number], fraction: number): [number, number] {
  const pad = (hi - lo) * fraction || Math.abs(lo) * fraction || fraction;
  return [lo - pad, hi + pad];
}

function figure(width: number, height: number, body: string[], title?: string): Figure {
  const head = title ? `<text class="figure-title" x="${r2(width / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>` : '';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="11">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${head}\n${body.join('\n')}\n</svg>\n`;
  return { svg, width, height };
}

let clipCounter = 0;
function clipId(prefix: string): string {
  clipCounter += 1;
  return `${prefix}-${clipCounter}`;
}

function finiteExtent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function polyline(p: Panel, pts: readonly (readonly [number, number])[], color: string, attrs = '', width = 1.8): string {
  const d = pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${r2(p.sx(x))},${r2(p.sy(y))}`).join(' ');
  return d ? `<path d="${d}" fill="none" stroke="${color}" stroke-width="${width}"${attrs}/>` : '';
}

// ---- attention per head against depth ----

export interface AttentionFigureOptions {
  /** Models per row of the grid (default 3). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
  title?: string;
}

/**
 * The paper's figure: for each model, mean attention distance (top) and
 * entropy (bottom) per head against depth, one marker per head, a line
 * through each layer's mean over heads, and a dashed line at what uniform
 * attention over all tokens would give (the collapsed extreme).
 */
export function attentionFigure(models: readonly EncoderAttention[], opts: AttentionFigureOptions = {}): Figure {
  if (models.length === 0) throw new RangeError('attentionFigure: no models');
  const cols = Math.min(models.length, opts.columns ?? 3);
  const rows = Math.ceil(models.length / cols);
  const pw = opts.panelWidth ?? 300;
  const ph = opts.panelHeight ?? 210;
  const top = opts.title ? 30 : 6;
  const width = cols * pw + 10;
  const height = top + rows * 2 * ph + 6;
  const maxDepth = Math.max(...models.map((m) => m.depth));
  const xDomain: [number, number] = [0.5, maxDepth + 0.5];
  const xTicks = niceTicks(1, maxDepth, Math.min(maxDepth, 8)).filter((v) => Number.isInteger(v));
  // One y range per row, over every model's heads and uniform references, so panels compare at a glance.
  const range = (metric: 'distance' | 'entropy') => niceDomain(...padded(finiteExtent([...models.flatMap((m) => m[metric].flat()), ...models.map((m) => m.uniform[metric])]), 0.05));
  const domains = { distance: range('distance'), entropy: range('entropy') };
  const body: string[] = [];
  models.forEach((m, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const cx = 5 + (i % cols) * pw;
    const cy = top + Math.floor(i / cols) * 2 * ph;
    const px = m.patchPx === m.patchSize ? 'px' : `px at ${m.patchPx} px/patch`;
    const panels: [Panel, 'distance' | 'entropy'][] = [
      [new Panel({ x: cx, y: cy, width: pw, height: ph, xDomain, yDomain: domains.distance, xTicks, title: m.name, xLabel: 'layer', yLabel: `mean attention distance (${px})` }), 'distance'],
      [new Panel({ x: cx, y: cy + ph, width: pw, height: ph, xDomain, yDomain: domains.entropy, xTicks, xLabel: 'layer', yLabel: 'attention entropy (nats)' }), 'entropy'],
    ];
    for (const [p, metric] of panels) {
      const id = clipId('attn');
      const values = m[metric];
      const u = m.uniform[metric];
      body.push(`<g class="panel" data-model="${escapeXml(m.name)}" data-metric="${metric}">`, p.clip(id), p.axes(), `<g clip-path="url(#${id})">`);
      body.push(polyline(p, [[xDomain[0], u], [xDomain[1], u]], '#888', ` stroke-dasharray="6 4" class="uniform" data-value="${u}"`, 1.2));
      const means = values.map((row, l) => [l + 1, row.reduce((a, b) => a + b, 0) / row.length] as const);
      body.push(polyline(p, means, color, ' stroke-opacity="0.55" class="layer-mean"'));
      const points: [number, number][] = [];
      values.forEach((row, l) =>
        row.forEach((v, h) => {
          if (!Number.isFinite(v)) return;
          points.push([l + 1, v]);
          body.push(`<circle class="head-marker" data-layer="${l + 1}" data-head="${h}" data-value="${v}" cx="${r2(p.sx(l + 1))}" cy="${r2(p.sy(v))}" r="3.5" fill="${color}" fill-opacity="0.7" stroke="#fff" stroke-width="0.6"/>`);
        }),
      );
      body.push('</g>');
      const avoid = [...points, ...samplePolyline(means), ...samplePolyline([[xDomain[0], u], [xDomain[1], u]])];
      if (metric === 'distance') body.push(legend(p, [{ label: `head (${m.heads} per layer)`, color, kind: 'marker' }, { label: 'uniform attention', color: '#888', kind: 'dashed' }], avoid));
      body.push('</g>');
    }
  });
  return figure(width, height, body, opts.title);
}

// ---- predicted against true ----

export interface ScatterOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Both axes' range (default: the data's, widened to ticks; the same on both axes). */
  domain?: [number, number];
  width?: number;
  height?: number;
  color?: string;
  /** Lines of text in the top-left corner (e.g. SRCC, PLCC). */
  notes?: string[];
}

/** One marker per (x, y) pair, with the y = x diagonal. */
export function scatterPlot(x: ArrayLike<number>, y: ArrayLike<number>, opts: ScatterOptions = {}): Figure {
  if (x.length !== y.length) throw new RangeError(`scatterPlot: ${x.length} x values, ${y.length} y values`);
  const width = opts.width ?? 380;
  const height = opts.height ?? 360;
  const all = [...Array.from(x), ...Array.from(y)];
  const domain = opts.domain ?? niceDomain(...finiteExtent(all));
  // Both axes tick alike (the y axis's count for the plot height), so the diagonal reads as y = x.
  const plotH = height - Panel.margin.top - Panel.margin.bottom;
  const ticks = niceTicks(domain[0], domain[1], Math.max(2, Math.floor(plotH / 40)));
  const p = new Panel({ x: 0, y: 0, width, height, xDomain: domain, yDomain: domain, xTicks: ticks, title: opts.title ?? '', xLabel: opts.xLabel ?? 'true mean score', yLabel: opts.yLabel ?? 'predicted mean score' });
  const color = opts.color ?? (PALETTE[0] as string);
  const id = clipId('scatter');
  const body = [p.clip(id), p.axes(), `<g clip-path="url(#${id})">`, polyline(p, [[domain[0], domain[0]], [domain[1], domain[1]]], '#999', ' stroke-dasharray="5 4" class="diagonal"')];
  const r = x.length > 500 ? 2 : 3;
  for (let i = 0; i < x.length; i++) {
    const a = x[i] as number;
    const b = y[i] as number;
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    body.push(`<circle class="point" data-x="${a}" data-y="${b}" cx="${r2(p.sx(a))}" cy="${r2(p.sy(b))}" r="${r}" fill="${color}" fill-opacity="0.55"/>`);
  }
  body.push('</g>');
  (opts.notes ?? []).forEach((line, i) => body.push(`<text class="note" x="${r2(p.left + 6)}" y="${r2(p.top + 14 + 14 * i)}">${escapeXml(line)}</text>`));
  return figure(width, height, body);
}

// ---- histograms ----

export interface HistogramSeries {
  name: string;
  values: ArrayLike<number>;
}

export interface HistogramOptions {
  bins?: number;
  range?: [number, number];
  title?: string;
  xLabel?: string;
  width?: number;
  height?: number;
}

/** Counts of `values` in `bins` equal bins over [lo, hi]; the last bin includes hi; values outside are dropped. */
export function histogramCounts(values: ArrayLike<number>, bins: number, lo: number, hi: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!(v >= lo && v <= hi)) continue;
    const b = Math.min(bins - 1, Math.floor((v - lo) / w));
    counts[b] = (counts[b] as number) + 1;
  }
  return counts;
}

/** Overlaid histograms (translucent bars, one colour per series) on shared bins. */
export function histogramPlot(series: readonly HistogramSeries[], opts: HistogramOptions = {}): Figure {
  if (series.length === 0) throw new RangeError('histogramPlot: no series');
  const width = opts.width ?? 380;
  const height = opts.height ?? 360;
  const bins = opts.bins ?? 20;
  const [lo, hi] = opts.range ?? niceDomain(...finiteExtent(series.flatMap((s) => Array.from(s.values))));
  const counts = series.map((s) => histogramCounts(s.values, bins, lo, hi));
  const top = Math.max(1, ...counts.flat());
  const p = new Panel({ x: 0, y: 0, width, height, xDomain: [lo, hi], yDomain: niceDomain(0, top * 1.15), title: opts.title ?? '', xLabel: opts.xLabel ?? 'mean score', yLabel: 'images' });
  const body = [p.axes()];
  const w = (hi - lo) / bins;
  counts.forEach((c, si) => {
    const color = PALETTE[si % PALETTE.length] as string;
    c.forEach((n, b) => {
      if (n === 0) return;
      const x0 = p.sx(lo + b * w);
      const x1 = p.sx(lo + (b + 1) * w);
      const y = p.sy(n);
      body.push(`<rect class="bar" data-series="${si}" data-bin="${b}" data-count="${n}" x="${r2(x0)}" y="${r2(y)}" width="${r2(Math.max(0.5, x1 - x0))}" height="${r2(p.sy(0) - y)}" fill="${color}" fill-opacity="0.45" stroke="${color}" stroke-width="0.8"/>`);
    });
  });
  // The legend avoids the bars: a grid of points over each bar.
  const avoid: [number, number][] = [];
  counts.forEach((c) => c.forEach((n, b) => {
    if (n > 0) for (let i = 0; i <= 8; i++) for (let j = 0; j <= 5; j++) avoid.push([lo + (b + i / 8) * w, (n * j) / 5]);
  }));
  body.push(legend(p, series.map((s, i) => ({ label: `${s.name} (n=${s.values.length})`, color: PALETTE[i % PALETTE.length] as string, kind: 'bar' })), avoid));
  return figure(width, height, body);
}

// ---- curves per phase ----

export interface CurveSeries {
  name: string;
  /** (x, y) points, e.g. (epoch, loss). */
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  /** Index into the palette (default: the series' position). */
  colorIndex?: number;
}

export interface CurvePanel {
  title: string;
  yLabel?: string;
  series: readonly CurveSeries[];
}

/** One panel per entry (e.g. per training phase), a line with markers per series, in a grid. */
export function curvesFigure(panels: readonly CurvePanel[], opts: { columns?: number; panelWidth?: number; panelHeight?: number; xLabel?: string; title?: string } = {}): Figure {
  if (panels.length === 0) throw new RangeError('curvesFigure: no panels');
  const cols = Math.min(panels.length, opts.columns ?? 3);
  const rows = Math.ceil(panels.length / cols);
  const pw = opts.panelWidth ?? 300;
  const ph = opts.panelHeight ?? 220;
  const top = opts.title ? 30 : 6;
  const body: string[] = [];
  panels.forEach((cp, i) => {
    const pts = cp.series.flatMap((s) => s.points);
    const xe = finiteExtent(pts.map(([x]) => x));
    const ye = finiteExtent(pts.map(([, y]) => y));
    // Half a step of room at both ends, so the first and last points stay off the frame.
    const xDomain: [number, number] = xe[0] === xe[1] ? [xe[0] - 0.5, xe[1] + 0.5] : padded(xe, 0.04);
    const xTicks = niceTicks(xe[0], xe[1], 6).filter((v) => Number.isInteger(v) || xe[1] - xe[0] < 3);
    // Headroom above the data for the legend (15 px a row), so it never sits on a line.
    const [ylo, yhi] = padded(ye, 0.05);
    const plotH = ph - Panel.margin.top - Panel.margin.bottom;
    const legendH = 15 * cp.series.length + 14;
    const yDomain = niceDomain(ylo, yhi + ((yhi - ylo) * legendH) / Math.max(1, plotH - legendH));
    const p = new Panel({ x: 5 + (i % cols) * pw, y: top + Math.floor(i / cols) * ph, width: pw, height: ph, xDomain, xTicks, yDomain, title: cp.title, xLabel: opts.xLabel ?? 'epoch', yLabel: cp.yLabel ?? '' });
    const id = clipId('curve');
    body.push(`<g class="panel" data-title="${escapeXml(cp.title)}">`, p.clip(id), p.axes(), `<g clip-path="url(#${id})">`);
    cp.series.forEach((s, si) => {
      const color = PALETTE[(s.colorIndex ?? si) % PALETTE.length] as string;
      body.push(`<g class="series" data-name="${escapeXml(s.name)}">`, polyline(p, s.points, color, s.dashed ? ' stroke-dasharray="5 3"' : ''));
      if (s.points.length <= 60) for (const [x, y] of s.points) if (Number.isFinite(x) && Number.isFinite(y)) body.push(`<circle class="point" data-x="${x}" data-y="${y}" cx="${r2(p.sx(x))}" cy="${r2(p.sy(y))}" r="2.2" fill="${color}"/>`);
      body.push('</g>');
    });
    body.push('</g>');
    const avoid = cp.series.flatMap((s) => samplePolyline(s.points));
    body.push(legend(p, cp.series.map((s, si) => ({ label: s.name, color: PALETTE[(s.colorIndex ?? si) % PALETTE.length] as string, kind: s.dashed ? 'dashed' : 'line' })), avoid));
    body.push('</g>');
  });
  return figure(cols * pw + 10, top + rows * ph + 6, body, opts.title);
}

/** PNG of an SVG figure via sharp (librsvg); `scale` 2 gives a sharp image on high-density screens. */
export async function figureToPng(fig: Figure, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(fig.svg), { density: 72 * scale }).png().toBuffer();
}
