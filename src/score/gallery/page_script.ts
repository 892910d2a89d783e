// The gallery page's script (assets/app.js), kept as a string so `tsc` output carries it.
// Plain ES2017 in one classic script: file:// pages may not load ES modules.
// (No backticks or ${ inside: the text is a String.raw template.)
export const PAGE_SCRIPT = String.raw`// The gallery page. Classic script, no modules and no fetch: it must run from file://.
// Data arrive through the CSKD_GALLERY global that data/*.js call.
(function () {
  'use strict';
  var G = (window.CSKD_GALLERY = { live: false, rows: [], loaded: 0 });
  G.meta = function (m) { G.M = m; };
  G.chunk = function (c, rows) {
    var base = c * G.M.chunkRows;
    for (var i = 0; i < rows.length; i++) G.rows[base + i] = rows[i];
    G.loaded++;
    if (G.onChunk) G.onChunk(c);
  };

  var PAGE = 120;
  var $ = function (id) { return document.getElementById(id); };
  var state = { v: 'grid', m: 0, sort: 'mean-desc', min: '', max: '', q: '', open: '', b: '' };
  var order = [];
  var shown = 0;
  var observer = null;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; });
  }
  function fmt(v, d) { return v === null || v === undefined || !isFinite(v) ? '–' : Number(v).toFixed(d === undefined ? 2 : d); }
  function score(row, m) { var s = row.s[m]; return Array.isArray(s) ? s : null; }
  function other() {
    var n = G.M.models.length;
    var b = state.b === '' ? (state.m === 0 ? 1 : 0) : Number(state.b);
    return n > 1 && b !== state.m && b >= 0 && b < n ? b : (state.m === 0 ? 1 : 0);
  }
  function thumbUrl(row) { return row.t ? 'thumbs/' + row.t : ''; }
  function originalUrl(row) {
    return G.live && row.o ? 'images/' + row.o.split('/').map(encodeURIComponent).join('/') : thumbUrl(row);
  }
  function baseName(p) { var i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')); return p.slice(i + 1); }

  // ---- the URL hash holds the view, so a view can be shared ----
  function readHash() {
    var h = new URLSearchParams(location.hash.slice(1));
    state.v = h.get('v') || 'grid';
    state.m = Math.min(Math.max(0, Number(h.get('m')) || 0), G.M.models.length - 1);
    state.sort = h.get('sort') || 'mean-desc';
    state.min = h.get('min') || '';
    state.max = h.get('max') || '';
    state.q = h.get('q') || '';
    state.open = h.get('open') || '';
    state.b = h.get('b') || '';
  }
  function writeHash() {
    var h = new URLSearchParams();
    if (state.v !== 'grid') h.set('v', state.v);
    if (state.m) h.set('m', String(state.m));
    if (state.sort !== 'mean-desc') h.set('sort', state.sort);
    if (state.min !== '') h.set('min', state.min);
    if (state.max !== '') h.set('max', state.max);
    if (state.q !== '') h.set('q', state.q);
    if (state.b !== '') h.set('b', state.b);
    if (state.open !== '') h.set('open', state.open);
    var s = h.toString();
    history.replaceState(null, '', s ? '#' + s : location.pathname + location.search);
  }

  // ---- histograms ----
  function hist(dist, truth, cls, axis) {
    var bins = G.M.bins, K = bins.length, W = 100, H = axis ? 60 : 28, top = axis ? 4 : 1, base = axis ? H - 14 : H;
    var mx = 0, i;
    for (i = 0; i < K; i++) mx = Math.max(mx, dist ? dist[i] : 0, truth ? truth[i] : 0);
    if (!(mx > 0)) mx = 1;
    var bw = W / K, out = '<svg class="' + cls + '" viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none" aria-hidden="true">';
    for (i = 0; i < K; i++) {
      if (dist) {
        var h = (dist[i] / mx) * (base - top);
        out += '<rect class="bar" x="' + (i * bw + bw * 0.12).toFixed(2) + '" y="' + (base - h).toFixed(2) + '" width="' + (bw * 0.76).toFixed(2) + '" height="' + h.toFixed(2) + '" data-p="' + dist[i] + '"></rect>';
      }
      if (truth) {
        var t = (truth[i] / mx) * (base - top);
        out += '<rect class="true" x="' + (i * bw + bw * 0.12).toFixed(2) + '" y="' + (base - t).toFixed(2) + '" width="' + (bw * 0.76).toFixed(2) + '" height="' + t.toFixed(2) + '" data-p="' + truth[i] + '"></rect>';
      }
    }
    out += '</svg>';
    if (axis) {
      out += '<div class="axis" style="grid-template-columns:repeat(' + K + ',1fr)">';
      for (i = 0; i < K; i++) out += '<span>' + esc(bins[i]) + '</span>';
      out += '</div>';
    }
    return out;
  }

  // ---- filtering and sorting ----
  function keyOf(row) {
    var s = score(row, state.m);
    switch (state.sort) {
      case 'mean-asc': return s[0];
      case 'std-desc': return -s[1];
      case 'std-asc': return s[1];
      case 'err-desc': return row.l ? -Math.abs(s[0] - row.l[0]) : Infinity;
      case 'diff-desc': var b = score(row, other()); return b ? -Math.abs(s[0] - b[0]) : Infinity;
      default: return -s[0];
    }
  }
  function compute() {
    var lo = state.min === '' ? -Infinity : Number(state.min);
    var hi = state.max === '' ? Infinity : Number(state.max);
    var q = state.q.toLowerCase();
    var keep = [];
    for (var i = 0; i < G.rows.length; i++) {
      var r = G.rows[i];
      if (!r) continue;
      var s = score(r, state.m);
      if (!s || s[0] < lo || s[0] > hi) continue;
      if (q && r.p.toLowerCase().indexOf(q) < 0) continue;
      keep.push(i);
    }
    var keys = new Float64Array(G.rows.length);
    for (var j = 0; j < keep.length; j++) keys[keep[j]] = keyOf(G.rows[keep[j]]);
    keep.sort(function (a, b) { return keys[a] - keys[b] || a - b; });
    order = keep;
  }

  function card(i) {
    var r = G.rows[i], s = score(r, state.m);
    var truth = r.l ? r.l[1] : null;
    var img = r.t ? '<img loading="lazy" decoding="async" alt="" src="' + esc(thumbUrl(r)) + '">' : '<span class="noimg">' + esc(r.te || 'no thumbnail') + '</span>';
    var sub = r.l ? '<span class="truth">true ' + fmt(r.l[0]) + '</span>' : '';
    return '<figure class="card" tabindex="0" data-i="' + i + '" data-mean="' + s[0] + '" data-std="' + s[1] + '">' +
      '<div class="thumb">' + img + '</div>' +
      '<figcaption><div class="score"><b>' + fmt(s[0]) + '</b> <span class="std">± ' + fmt(s[1]) + '</span>' + sub + '</div>' +
      hist(s[2], truth, 'hist', false) +
      '<div class="path" title="' + esc(r.p) + '">' + esc(baseName(r.p)) + '</div></figcaption></figure>';
  }

  function renderMore() {
    var grid = $('grid'), html = '';
    var end = Math.min(order.length, shown + PAGE);
    for (var k = shown; k < end; k++) html += card(order[k]);
    grid.insertAdjacentHTML('beforeend', html);
    shown = end;
    $('more').hidden = shown >= order.length;
  }

  function renderGrid() {
    compute();
    shown = 0;
    $('grid').innerHTML = '';
    renderMore();
    status();
  }

  function status() {
    var m = G.M.models[state.m];
    var txt = order.length + ' of ' + G.M.rows + ' images shown';
    if (m.errors) txt += ' · ' + m.errors + (m.errors === 1 ? ' error' : ' errors') + ' listed apart';
    $('status').textContent = txt;
  }

  function renderErrors() {
    var rows = [], q = state.q.toLowerCase();
    for (var i = 0; i < G.rows.length; i++) {
      var r = G.rows[i], s = r && r.s[state.m];
      if (s && !Array.isArray(s) && (!q || r.p.toLowerCase().indexOf(q) >= 0)) rows.push('<tr data-i="' + i + '"><td class="p">' + esc(r.p) + '</td><td>' + esc(s.e) + '</td></tr>');
    }
    $('errors').innerHTML = rows.length ? '<thead><tr><th>path</th><th>error</th></tr></thead><tbody>' + rows.join('') + '</tbody>' : '<tbody><tr><td>No errors in ' + esc(G.M.models[state.m].name) + '.</td></tr></tbody>';
    $('status').textContent = rows.length + ' images ' + G.M.models[state.m].name + ' could not score';
  }

  // Spearman over the points shown (ties at their average rank), so a path
  // filter gets the SRCC of the images it leaves, not of all of them.
  function ranks(v) {
    var idx = v.map(function (_, i) { return i; }).sort(function (a, b) { return v[a] - v[b]; });
    var r = new Array(v.length);
    for (var i = 0; i < idx.length;) {
      var j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (var k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  }
  function spearman(xs, ys) {
    if (xs.length < 2) return null;
    var rx = ranks(xs), ry = ranks(ys), n = xs.length, mx = (n + 1) / 2, sxy = 0, sxx = 0, syy = 0;
    for (var i = 0; i < n; i++) { sxy += (rx[i] - mx) * (ry[i] - mx); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - mx) * (ry[i] - mx); }
    return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
  }

  function renderCompare() {
    var a = state.m, b = other(), A = G.M.models[a], B = G.M.models[b];
    var pts = [], lo = Infinity, hi = -Infinity, i, q = state.q.toLowerCase();
    for (i = 0; i < G.rows.length; i++) {
      var r = G.rows[i], sa = r && score(r, a), sb = r && score(r, b);
      if (sa && sb && (!q || r.p.toLowerCase().indexOf(q) >= 0)) { pts.push([i, sa[0], sb[0]]); lo = Math.min(lo, sa[0], sb[0]); hi = Math.max(hi, sa[0], sb[0]); }
    }
    if (!pts.length) { $('scatter').innerHTML = '<p>No image scored by both.</p>'; $('pairs').innerHTML = ''; return; }
    var pad = (hi - lo) * 0.05 || 0.5; lo -= pad; hi += pad;
    var S = 320, L = 40, x = function (v) { return L + ((v - lo) / (hi - lo)) * S; }, y = function (v) { return 10 + S - ((v - lo) / (hi - lo)) * S; };
    var rho = spearman(pts.map(function (t) { return t[1]; }), pts.map(function (t) { return t[2]; }));
    var svg = '<svg class="scatter" viewBox="0 0 ' + (S + L + 12) + ' ' + (S + 50) + '" data-points="' + pts.length + '">' +
      '<rect class="frame" x="' + L + '" y="10" width="' + S + '" height="' + S + '"></rect>' +
      '<line class="diag" x1="' + x(lo) + '" y1="' + y(lo) + '" x2="' + x(hi) + '" y2="' + y(hi) + '"></line>';
    for (var t = Math.ceil(lo); t <= Math.floor(hi); t++) {
      svg += '<text class="tick" x="' + x(t) + '" y="' + (S + 24) + '">' + t + '</text><text class="tick" x="' + (L - 6) + '" y="' + (y(t) + 4) + '" text-anchor="end">' + t + '</text>';
    }
    svg += '<text class="lab" x="' + (L + S / 2) + '" y="' + (S + 44) + '">' + esc(A.name) + ' mean</text>' +
      '<text class="lab" transform="translate(12 ' + (10 + S / 2) + ') rotate(-90)">' + esc(B.name) + ' mean</text>';
    // Past a few thousand points SVG gets slow; a canvas carries them instead.
    var many = pts.length > 4000;
    if (!many) for (i = 0; i < pts.length; i++) svg += '<circle class="pt" r="3" data-i="' + pts[i][0] + '" cx="' + x(pts[i][1]).toFixed(1) + '" cy="' + y(pts[i][2]).toFixed(1) + '"><title>' + esc(G.rows[pts[i][0]].p) + '</title></circle>';
    svg += '</svg>';
    $('scatter').innerHTML = '<h2>' + esc(A.name) + ' vs ' + esc(B.name) + '</h2><p class="srcc">SRCC <b id="srcc">' + fmt(rho, 3) + '</b> over <span id="shared">' + pts.length + '</span> images both scored</p>' + (many ? '<div class="plot"><canvas width="' + (S + L + 12) * 2 + '" height="' + (S + 50) * 2 + '"></canvas>' + svg + '</div>' : svg);
    if (many) {
      var cv = $('scatter').querySelector('canvas'), ctx = cv.getContext('2d');
      ctx.scale(2, 2); ctx.fillStyle = 'rgba(37,99,235,0.35)';
      for (i = 0; i < pts.length; i++) ctx.fillRect(x(pts[i][1]) - 1, y(pts[i][2]) - 1, 2, 2);
    }
    pts.sort(function (u, v) { return Math.abs(v[1] - v[2]) - Math.abs(u[1] - u[2]) || u[0] - v[0]; });
    var html = '<h2>Largest disagreements</h2><div class="pairs">';
    for (i = 0; i < Math.min(24, pts.length); i++) {
      var row = G.rows[pts[i][0]], ra = score(row, a), rb = score(row, b);
      html += '<div class="pair" tabindex="0" data-i="' + pts[i][0] + '"><div class="thumb">' + (row.t ? '<img loading="lazy" alt="" src="' + esc(thumbUrl(row)) + '">' : '') + '</div>' +
        '<div class="side"><div class="who">' + esc(A.name) + '</div><b>' + fmt(ra[0]) + '</b> ± ' + fmt(ra[1]) + hist(ra[2], null, 'hist', false) + '</div>' +
        '<div class="side"><div class="who">' + esc(B.name) + '</div><b>' + fmt(rb[0]) + '</b> ± ' + fmt(rb[1]) + hist(rb[2], null, 'hist b', false) + '</div>' +
        '<div class="path" title="' + esc(row.p) + '">' + esc(baseName(row.p)) + '</div></div>';
    }
    $('pairs').innerHTML = html + '</div>';
    $('status').textContent = pts.length + ' images scored by both';
  }

  // ---- the larger view ----
  function neighbours() {
    if (state.v === 'compare') {
      return Array.prototype.map.call(document.querySelectorAll('#pairs .pair'), function (e) { return Number(e.getAttribute('data-i')); });
    }
    return order;
  }
  function openViewer(i) {
    state.open = String(i);
    writeHash();
    showViewer();
  }
  function showViewer() {
    var i = Number(state.open), r = G.rows[i];
    if (state.open === '' || !r) { $('viewer').hidden = true; document.body.classList.remove('modal'); return; }
    var s = score(r, state.m);
    var models = '';
    for (var m = 0; m < G.M.models.length; m++) {
      var sm = r.s[m];
      models += '<tr><th>' + esc(G.M.models[m].name) + '</th><td>' + (Array.isArray(sm) ? fmt(sm[0]) + ' ± ' + fmt(sm[1]) : sm ? esc(sm.e) : 'not scored') + '</td></tr>';
    }
    if (r.l) models += '<tr class="truth"><th>true (' + esc(G.M.labeled.split) + ')</th><td>' + fmt(r.l[0]) + '</td></tr>';
    var dist = '';
    if (s) {
      // One row per bin, so any number of bins fits the panel's width.
      dist = '<div class="dist-wrap"><table class="dist"><thead><tr><th>score</th><th>predicted</th>' + (r.l ? '<th class="truth">true</th>' : '') + '</tr></thead><tbody>';
      for (var k = 0; k < G.M.bins.length; k++) {
        dist += '<tr><th>' + esc(G.M.bins[k]) + '</th><td class="pred">' + fmt(s[2][k] * 100, 1) + '%</td>' + (r.l ? '<td class="true">' + fmt(r.l[1][k] * 100, 1) + '%</td>' : '') + '</tr>';
      }
      dist += '</tbody></table></div>';
    }
    var list = neighbours(), at = list.indexOf(i);
    $('viewer-body').innerHTML = '<div class="big">' + (r.t || (G.live && r.o) ? '<img alt="" src="' + esc(originalUrl(r)) + '">' : '<span class="noimg">' + esc(r.te || 'no image') + '</span>') + '</div>' +
      '<div class="info"><h2 title="' + esc(r.p) + '">' + esc(r.p) + '</h2>' + (at >= 0 ? '<p class="pos">' + (at + 1) + ' of ' + list.length + '</p>' : '') +
      '<table class="models">' + models + '</table>' +
      (s ? hist(s[2], r.l ? r.l[1] : null, 'hist big-hist', true) + (r.l ? '<p class="legend"><span class="key pred"></span> predicted <span class="key true"></span> true</p>' : '') + dist : '') + '</div>';
    $('viewer').hidden = false;
    document.body.classList.add('modal');
    $('viewer-close').focus({ preventScroll: true });
  }
  function step(d) {
    var list = neighbours(), at = list.indexOf(Number(state.open));
    if (at < 0 || !list.length) return;
    var next = list[Math.min(list.length - 1, Math.max(0, at + d))];
    if (state.v === 'grid') while (order.indexOf(next) >= shown) renderMore();
    openViewer(next);
  }
  function closeViewer() {
    var i = state.open;
    state.open = '';
    writeHash();
    showViewer();
    var el = document.querySelector('[data-i="' + i + '"].card, [data-i="' + i + '"].pair');
    if (el) el.focus({ preventScroll: true });
  }

  // ---- drag and drop, when served live ----
  function dropped(files) {
    var box = $('drop-results');
    Array.prototype.forEach.call(files, function (f) {
      var el = document.createElement('figure');
      el.className = 'card dropped';
      var url = URL.createObjectURL(f);
      el.innerHTML = '<div class="thumb"><img alt="" src="' + url + '"></div><figcaption><div class="score">scoring…</div><div class="path" title="' + esc(f.name) + '">' + esc(f.name) + '</div></figcaption>';
      box.insertBefore(el, box.firstChild);
      var x = new XMLHttpRequest();
      x.open('POST', 'score');
      x.setRequestHeader('content-type', f.type || 'application/octet-stream');
      x.onload = function () {
        var cap = el.querySelector('.score');
        try {
          var j = JSON.parse(x.responseText);
          if (x.status !== 200) throw new Error(j.error ? j.error.message : 'HTTP ' + x.status);
          cap.innerHTML = '<b>' + fmt(j.mean) + '</b> <span class="std">± ' + fmt(j.std) + '</span>';
          cap.insertAdjacentHTML('afterend', hist(j.distribution, null, 'hist', false));
        } catch (e) { cap.textContent = 'error: ' + e.message; cap.className = 'score err'; }
      };
      x.onerror = function () { el.querySelector('.score').textContent = 'error: the server did not answer'; };
      x.send(f);
    });
  }

  function render() {
    ['grid', 'errors', 'compare'].forEach(function (v) { $(v + '-view').hidden = state.v !== v; });
    Array.prototype.forEach.call(document.querySelectorAll('.tabs button'), function (b) { b.setAttribute('aria-selected', String(b.getAttribute('data-view') === state.v)); });
    $('model').value = String(state.m);
    $('sort').value = state.sort;
    $('min').value = state.min;
    $('max').value = state.max;
    $('q').value = state.q;
    $('other').value = String(other());
    document.body.setAttribute('data-view', state.v);
    if (state.v === 'errors') renderErrors();
    else if (state.v === 'compare' && G.M.models.length > 1) renderCompare();
    else renderGrid();
    showViewer();
  }

  function setup() {
    var M = G.M;
    document.title = M.title;
    $('title').textContent = M.title;
    var opts = '';
    M.models.forEach(function (m, i) { opts += '<option value="' + i + '">' + esc(m.name) + '</option>'; });
    $('model').innerHTML = opts;
    $('other').innerHTML = opts;
    $('model-wrap').hidden = M.models.length < 2;
    var errs = M.models.reduce(function (a, m) { return a + m.errors; }, 0);
    $('tab-errors').textContent = 'Errors (' + errs + ')';
    $('tab-compare').hidden = M.models.length < 2;
    $('other-wrap').hidden = M.models.length < 2;
    if (!M.labeled) $('sort').querySelector('[value="err-desc"]').remove();
    if (M.models.length < 2) $('sort').querySelector('[value="diff-desc"]').remove();
    $('drop-hint').textContent = G.live ? 'Drop images here to score them' : 'Scoring dropped images needs the live page (cskd serve --gallery)';

    var change = function () {
      state.m = Number($('model').value);
      state.sort = $('sort').value;
      state.min = $('min').value;
      state.max = $('max').value;
      state.q = $('q').value;
      if (M.models.length > 1) state.b = $('other').value === String(state.m === 0 ? 1 : 0) ? '' : $('other').value;
      writeHash();
      render();
    };
    ['model', 'sort', 'other'].forEach(function (id) { $(id).addEventListener('change', change); });
    var timer = 0;
    ['min', 'max', 'q'].forEach(function (id) {
      $(id).addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(change, 150); });
    });
    Array.prototype.forEach.call(document.querySelectorAll('.tabs button'), function (b) {
      b.addEventListener('click', function () { state.v = b.getAttribute('data-view'); writeHash(); render(); });
    });
    document.addEventListener('click', function (e) {
      var t = e.target.closest ? e.target.closest('.card[data-i], .pair[data-i], circle.pt, #errors tr[data-i]') : null;
      if (t && !$('viewer').contains(t)) openViewer(Number(t.getAttribute('data-i')));
    });
    document.addEventListener('keydown', function (e) {
      if (!$('viewer').hidden) {
        if (e.key === 'Escape') { closeViewer(); e.preventDefault(); }
        else if (e.key === 'ArrowRight') { step(1); e.preventDefault(); }
        else if (e.key === 'ArrowLeft') { step(-1); e.preventDefault(); }
        return;
      }
      if (e.key === 'Enter' && e.target.getAttribute && e.target.hasAttribute('data-i')) openViewer(Number(e.target.getAttribute('data-i')));
    });
    $('viewer-close').addEventListener('click', closeViewer);
    $('viewer-prev').addEventListener('click', function () { step(-1); });
    $('viewer-next').addEventListener('click', function () { step(1); });
    $('viewer').addEventListener('click', function (e) { if (e.target === $('viewer')) closeViewer(); });
    window.addEventListener('hashchange', function () { readHash(); render(); });
    observer = new IntersectionObserver(function (es) { if (es[0].isIntersecting && state.v === 'grid' && shown < order.length) renderMore(); }, { rootMargin: '800px' });
    observer.observe($('more'));
    var depth = 0;
    document.addEventListener('dragenter', function (e) { e.preventDefault(); depth++; $('drop-hint').hidden = false; });
    document.addEventListener('dragleave', function () { if (--depth <= 0) { depth = 0; $('drop-hint').hidden = true; } });
    document.addEventListener('dragover', function (e) { e.preventDefault(); });
    document.addEventListener('drop', function (e) {
      e.preventDefault(); depth = 0; $('drop-hint').hidden = true;
      if (G.live && e.dataTransfer && e.dataTransfer.files.length) { state.v = 'grid'; writeHash(); render(); dropped(e.dataTransfer.files); }
    });
  }

  function loadChunks() {
    var c = 0;
    var next = function () {
      if (c >= G.M.chunks.length) return;
      var s = document.createElement('script');
      s.src = G.M.chunks[c++];
      s.onerror = function () { $('status').textContent = 'could not load ' + s.src; };
      document.head.appendChild(s);
    };
    G.onChunk = function () {
      // Cards appear once every chunk is in: a sort over part of the rows would
      // reorder under the pointer when the rest arrived.
      if (G.loaded === G.M.chunks.length) {
        render();
        document.body.setAttribute('data-ready', 'yes');
      } else $('status').textContent = 'loading ' + G.loaded * G.M.chunkRows + ' of ' + G.M.rows + ' rows…';
      next();
    };
    next();
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (!G.M) { document.body.textContent = 'data/meta.js did not load: open index.html inside the gallery folder.'; return; }
    readHash();
    setup();
    document.body.setAttribute('data-ready', 'loading');
    loadChunks();
  });
})();
`;
