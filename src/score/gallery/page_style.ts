// The gallery page's style sheet (assets/style.css).
// (No backticks or ${ inside: the text is a String.raw template.)
export const PAGE_STYLE = String.raw`:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #f6f8fa; --pred: #2563eb; --true: #d97706; --b: #7c3aed; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
body.modal { overflow: hidden; }
header.bar { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line); padding: 10px 16px 8px; }
h1 { font-size: 17px; margin: 0 0 6px; overflow-wrap: anywhere; }
.tabs { display: flex; gap: 4px; margin-bottom: 8px; }
.tabs button { font: inherit; border: 1px solid var(--line); background: var(--bg); padding: 4px 12px; border-radius: 6px; cursor: pointer; }
.tabs button[aria-selected="true"] { background: var(--fg); color: #fff; border-color: var(--fg); }
.controls { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
.controls label { display: flex; gap: 6px; align-items: center; color: var(--muted); }
.controls select, .controls input { font: inherit; padding: 3px 6px; border: 1px solid var(--line); border-radius: 6px; color: var(--fg); background: #fff; }
.controls input[type="number"] { width: 5.5em; }
.controls input[type="search"] { width: 14em; max-width: 100%; }
body[data-view="compare"] .only-grid, body[data-view="errors"] .only-grid { display: none; }
body:not([data-view="compare"]) .only-compare { display: none; }
#status { margin: 6px 0 0; color: var(--muted); font-size: 13px; }
main { padding: 14px 16px 40px; }
.grid, #drop-results { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 14px; }
#drop-results:not(:empty) { margin-bottom: 14px; padding-bottom: 14px; border-bottom: 2px dashed var(--line); }
.card { margin: 0; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; cursor: pointer; background: #fff; }
.card:hover, .card:focus { outline: 2px solid var(--pred); outline-offset: -1px; }
/* A fixed square box: nothing moves while thumbnails load. */
.thumb { aspect-ratio: 1 / 1; background: var(--bg); display: flex; align-items: center; justify-content: center; overflow: hidden; }
.thumb img { width: 100%; height: 100%; object-fit: contain; display: block; }
.noimg { color: var(--muted); font-size: 12px; padding: 8px; text-align: center; }
figcaption { padding: 6px 8px 8px; }
.score { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; }
.score b { font-size: 16px; }
.std { color: var(--muted); }
.truth { color: var(--true); font-size: 12px; margin-left: auto; }
.err { color: #b42318; }
svg.hist { display: block; width: 100%; height: 28px; margin: 4px 0; }
svg.hist rect.bar { fill: var(--pred); opacity: .85; }
svg.hist.b rect.bar { fill: var(--b); }
svg.hist rect.true { fill: none; stroke: var(--true); stroke-width: 1.2; vector-effect: non-scaling-stroke; }
.path { font-size: 12px; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#more { height: 40px; }
#errors { border-collapse: collapse; width: 100%; }
#errors td, #errors th { text-align: left; border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
#errors td.p { overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 12px; }
#errors tr[data-i] { cursor: pointer; }
#compare-view { display: grid; grid-template-columns: minmax(280px, 460px) 1fr; gap: 24px; align-items: start; }
#compare-view[hidden] { display: none; }
h2 { font-size: 15px; margin: 0 0 6px; }
.srcc { margin: 0 0 6px; color: var(--muted); }
.srcc b { color: var(--fg); font-size: 16px; }
svg.scatter { width: 100%; height: auto; display: block; }
.plot { position: relative; }
.plot canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
svg.scatter .frame { fill: none; stroke: var(--line); }
svg.scatter .diag { stroke: var(--muted); stroke-dasharray: 4 3; }
svg.scatter .pt { fill: var(--pred); fill-opacity: .45; cursor: pointer; }
svg.scatter .pt:hover { fill-opacity: 1; }
svg.scatter .tick { font-size: 11px; fill: var(--muted); text-anchor: middle; }
svg.scatter .lab { font-size: 12px; fill: var(--fg); text-anchor: middle; }
.pairs { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.pair { display: grid; grid-template-columns: 96px 1fr 1fr; grid-template-rows: auto auto; gap: 4px 10px; border: 1px solid var(--line); border-radius: 8px; padding: 8px; cursor: pointer; }
.pair .thumb { grid-row: span 2; width: 96px; }
.pair .side { font-size: 13px; min-width: 0; }
.pair .who { color: var(--muted); font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pair .path { grid-column: 2 / span 2; }
#viewer { position: fixed; inset: 0; z-index: 10; background: rgba(15, 18, 22, .78); display: flex; align-items: center; justify-content: center; padding: 16px; }
#viewer[hidden] { display: none; }
.viewer-box { background: #fff; border-radius: 10px; width: min(1100px, 100%); max-height: 100%; overflow: auto; position: relative; padding: 16px; }
.viewer-nav { display: flex; gap: 6px; justify-content: flex-end; margin-bottom: 8px; }
.viewer-nav button { font: inherit; border: 1px solid var(--line); background: var(--bg); border-radius: 6px; padding: 4px 12px; cursor: pointer; }
#viewer-body { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 2fr); gap: 18px; }
.big { background: var(--bg); display: flex; align-items: center; justify-content: center; min-height: 240px; border-radius: 6px; overflow: hidden; }
/* Small originals and thumbnails are drawn up to the panel, not left at their pixel size. */
.big img { width: 100%; height: 100%; max-height: 70vh; min-height: 240px; object-fit: contain; display: block; }
.info h2 { overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 13px; font-weight: 600; }
.pos { color: var(--muted); margin: 0 0 8px; }
table.models { border-collapse: collapse; margin-bottom: 10px; }
table.models th { text-align: left; font-weight: normal; color: var(--muted); padding: 2px 12px 2px 0; }
table.models td { font-size: 16px; font-weight: 600; }
tr.truth th, tr.truth td { color: var(--true); }
svg.big-hist { height: 110px; }
.axis { display: grid; font-size: 11px; color: var(--muted); text-align: center; margin-top: -14px; }
.legend { font-size: 12px; color: var(--muted); }
.key { display: inline-block; width: 10px; height: 10px; vertical-align: -1px; margin-left: 8px; }
.key.pred { background: var(--pred); }
.key.true { border: 1.5px solid var(--true); }
table.dist { border-collapse: collapse; font-size: 12px; width: 100%; max-width: 320px; font-variant-numeric: tabular-nums; }
table.dist td.true, table.dist th.truth { color: var(--true); }
table.dist th, table.dist td { padding: 2px 3px; text-align: right; border-bottom: 1px solid var(--line); }
table.dist th:first-child { text-align: left; }
.dist-wrap { overflow-x: auto; margin-top: 8px; }
#drop-hint { position: fixed; inset: 12px; z-index: 20; border: 3px dashed var(--pred); border-radius: 12px; background: rgba(37, 99, 235, .08); display: flex; align-items: center; justify-content: center; font-size: 20px; color: var(--pred); pointer-events: none; }
#drop-hint[hidden] { display: none; }
@media (max-width: 640px) {
  /* A sticky header would take a quarter of a phone's screen. */
  header.bar { padding: 8px 10px 6px; position: static; }
  main { padding: 10px; }
  .grid, #drop-results { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  #compare-view { grid-template-columns: 1fr; }
  .pairs { grid-template-columns: 1fr; }
  #viewer { padding: 0; }
  .viewer-box { border-radius: 0; height: 100%; }
  #viewer-body { grid-template-columns: minmax(0, 1fr); }
  .big { min-height: 160px; }
  .big img { max-height: 45vh; min-height: 160px; }
  .controls input[type="search"] { width: 100%; }
  .controls label.q { flex: 1 1 100%; }
}
`;
