// The gallery page (index.html): the shell app.js fills in. Scripts come last, app.js
// first, so that data/meta.js and data/live.js find the CSKD_GALLERY global it defines.
// (No backticks or ${ inside: the text is a String.raw template.)
export const PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cskd gallery</title>
<link rel="stylesheet" href="assets/style.css">
</head>
<body data-view="grid">
<header class="bar">
  <h1 id="title">cskd gallery</h1>
  <nav class="tabs" aria-label="views">
    <button type="button" data-view="grid" id="tab-grid">Images</button>
    <button type="button" data-view="errors" id="tab-errors">Errors</button>
    <button type="button" data-view="compare" id="tab-compare">Compare</button>
  </nav>
  <div class="controls">
    <label id="model-wrap">Model <select id="model"></select></label>
    <label id="other-wrap" class="only-compare">against <select id="other"></select></label>
    <label class="only-grid">Sort <select id="sort">
      <option value="mean-desc">mean, highest first</option>
      <option value="mean-asc">mean, lowest first</option>
      <option value="std-desc">std, widest first</option>
      <option value="std-asc">std, narrowest first</option>
      <option value="err-desc">error vs true mean, largest first</option>
      <option value="diff-desc">disagreement with the other model</option>
    </select></label>
    <label class="only-grid">Mean from <input id="min" type="number" step="0.1" inputmode="decimal" aria-label="lowest mean"> to <input id="max" type="number" step="0.1" inputmode="decimal" aria-label="highest mean"></label>
    <label class="q">Path <input id="q" type="search" placeholder="filter by path" autocomplete="off"></label>
  </div>
  <p id="status" role="status">loading…</p>
</header>
<main>
  <section id="grid-view"><div id="drop-results"></div><div id="grid" class="grid"></div><div id="more"></div></section>
  <section id="errors-view" hidden><table id="errors"></table></section>
  <section id="compare-view" hidden><div id="scatter"></div><div id="pairs"></div></section>
</main>
<div id="viewer" hidden role="dialog" aria-modal="true" aria-label="image">
  <div class="viewer-box">
    <div class="viewer-nav"><button type="button" id="viewer-prev" aria-label="previous">← prev</button><button type="button" id="viewer-next" aria-label="next">next →</button><button type="button" id="viewer-close" aria-label="close">close (Esc)</button></div>
    <div id="viewer-body"></div>
  </div>
</div>
<div id="drop-hint" hidden></div>
<script src="assets/app.js"></script>
<script src="data/meta.js"></script>
<script src="data/live.js"></script>
</body>
</html>
`;
