// The attention viewer (docs/VIEWER.md): plain JavaScript, no module, nothing fetched. The one copy shared by
// every page that shows it: the written reports inline this file, a served page may load it as it is.
//
// bertologyAttentionViewer(section, data, config) draws the viewer into `section` (an empty element of class
// bv-viewer, styled by viewer.css): `data` is an AttentionViewerData object (viewer.json), `config` the pattern
// types' { colours, abbreviations, titles }. bertologyAttentionViewerInline(section) does the same with the two
// JSON script elements a written page keeps inside the section (script.bv-data, script.bv-config).
function bertologyAttentionViewerInline(section) {
  bertologyAttentionViewer(section,
    JSON.parse(section.querySelector("script.bv-data").textContent),
    JSON.parse(section.querySelector("script.bv-config").textContent));
}

function bertologyAttentionViewer(section, data, config) {
  var L = data.layers, H = data.heads, N = data.examples.length;
  var models = [{ key: "pretrained", title: "Pre-trained", maps: data.pretrained }];
  if (data.finetuned) models.push({ key: "finetuned", title: "Fine-tuned", maps: data.finetuned });
  var cache = {};
  var state = { ex: 0, layer: 0, head: 0, view: "head" };
  var many = function () { return document.querySelectorAll(".bv-viewer").length > 1; };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function escapeXML(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function bytes(model, ex) {
    var key = model.key + ":" + ex;
    if (!cache[key]) {
      var raw = atob(model.maps.maps[ex]), out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      cache[key] = out;
    }
    return cache[key];
  }
  function map(model, ex, layer, head) {
    var n = data.examples[ex].tokens.length, start = (layer * H + head) * n * n;
    return bytes(model, ex).subarray(start, start + n * n);
  }
  function pattern(model, ex, layer, head) { return model.maps.patterns[ex][layer * H + head]; }
  // White to dark blue, linear in the probability.
  function shade(q) {
    var t = q / 255;
    return "rgb(" + Math.round(255 - 247 * t) + "," + Math.round(255 - 207 * t) + "," + Math.round(255 - 148 * t) + ")";
  }
  function score(layer, head) {
    var s = data.head_scores;
    if (!s) return null;
    var value = +s.scores[layer][head], baseline = +s.baseline;
    if (!isFinite(value) || !isFinite(baseline)) return null;  // not ablated ("NaN")
    return { value: value, baseline: baseline, delta: value - baseline, metric: s.metric };
  }
  function fmt(x, d) { return (x >= 0 ? "" : "\u2212") + Math.abs(x).toFixed(d); }
  function signed(x, d) { return (x > 0 ? "+" : x < 0 ? "\u2212" : "\u00b1") + Math.abs(x).toFixed(d); }
  function deltaColour(delta, scale) {
    var t = Math.max(-1, Math.min(1, delta / scale));
    // Blue when removing the head raises the score, red when it lowers it.
    if (t >= 0) return "rgb(" + Math.round(255 - 180 * t) + "," + Math.round(255 - 130 * t) + "," + 255 + ")";
    return "rgb(255," + Math.round(255 + 180 * t) + "," + Math.round(255 + 180 * t) + ")";
  }

  // Controls.
  var controls = el("div", { "class": "bv-controls" });
  var exampleSelect = el("select", { "class": "bv-example", "aria-label": "Example" });
  data.examples.forEach(function (e, i) {
    var text = e.text_a + (e.text_b ? " / " + e.text_b : "");
    exampleSelect.appendChild(el("option", { value: i }, (i + 1) + ". #" + e.index + ": " + (text.length > 70 ? text.slice(0, 70) + "\u2026" : text)));
  });
  var layerSelect = el("select", { "class": "bv-layer", "aria-label": "Layer" });
  for (var l = 0; l < L; l++) layerSelect.appendChild(el("option", { value: l }, "Layer " + (l + 1)));
  var headSelect = el("select", { "class": "bv-head", "aria-label": "Head" });
  for (var h = 0; h < H; h++) headSelect.appendChild(el("option", { value: h }, "Head " + (h + 1)));
  var oneButton = el("button", { type: "button", "class": "bv-view-head" }, "One head");
  var allButton = el("button", { type: "button", "class": "bv-view-layer" }, "All heads of the layer");
  var label = function (text, node) { var s = el("label", {}, text + " "); s.appendChild(node); return s; };
  controls.appendChild(label("Example", exampleSelect));
  controls.appendChild(label("", layerSelect));
  controls.appendChild(label("", headSelect));
  controls.appendChild(oneButton);
  controls.appendChild(allButton);
  controls.appendChild(el("span", { "class": "bv-keys" },
    "Keys: \u2190 \u2192 head, \u2191 \u2193 layer, j / k next / previous example, a all heads / one head. Click a cell of the grid or a thumbnail to select its head."));
  var text = el("p", { "class": "bv-text" });
  var top = el("div", { "class": "bv-top" });
  var grid = el("table", { "class": "bv-grid" });
  var info = el("div", { "class": "bv-info" });
  top.appendChild(grid);
  top.appendChild(info);
  var mapsBox = el("div", { "class": "bv-maps" });
  var thumbs = el("div", { "class": "bv-thumbs" });
  var hover = el("p", { "class": "bv-hover" }, "\u00a0");
  [controls, text, top, mapsBox, thumbs, hover].forEach(function (n) { section.appendChild(n); });

  // The layers x heads grid: pattern letters of the current example; ablation change as colour.
  var gridCells = [];
  (function () {
    var head = el("tr", {});
    head.appendChild(el("th", {}, ""));
    for (var h = 0; h < H; h++) head.appendChild(el("th", {}, "H" + (h + 1)));
    grid.appendChild(head);
    var s = data.head_scores, scale = 1e-9;
    if (s) s.scores.forEach(function (row) { row.forEach(function (v) { if (isFinite(+v)) scale = Math.max(scale, Math.abs(v - s.baseline)); }); });
    for (var l = 0; l < L; l++) {
      var tr = el("tr", {});
      tr.appendChild(el("th", {}, "L" + (l + 1)));
      gridCells.push([]);
      for (var h = 0; h < H; h++) {
        var td = el("td", { "data-layer": l + 1, "data-head": h + 1 });
        var sc = score(l, h);
        if (sc) {
          td.style.background = deltaColour(sc.delta, scale);
          td.title = "L" + (l + 1) + "-H" + (h + 1) + ": " + sc.metric + " without this head " + fmt(sc.value, 3) + " (" + signed(sc.delta, 3) + ")";
        }
        td.addEventListener("click", (function (l, h) { return function () { set({ layer: l, head: h }); }; })(l, h));
        tr.appendChild(td);
        gridCells[l].push(td);
      }
      grid.appendChild(tr);
    }
  })();

  function drawMap(model) {
    var e = data.examples[state.ex], tokens = e.tokens, n = tokens.length;
    var values = map(model, state.ex, state.layer, state.head);
    var cell = Math.max(6, Math.min(14, Math.floor(520 / n)));
    var longest = tokens.reduce(function (m, t) { return Math.max(m, t.length); }, 1);
    var margin = Math.min(110, 10 + 6.2 * longest), size = n * cell;
    var w = margin + size + 4, hgt = margin + size + 4;
    var p = pattern(model, state.ex, state.layer, state.head);
    var parts = ['<svg class="bv-map" width="' + w + '" height="' + hgt + '" data-model="' + model.key +
      '" data-tokens="' + n + '" data-pattern="' + data.pattern_names[p] + '" data-layer="' + (state.layer + 1) + '" data-head="' + (state.head + 1) + '">'];
    parts.push('<g class="bv-cells" transform="translate(' + margin + ',' + margin + ')">');
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        parts.push('<rect class="bv-cell" x="' + j * cell + '" y="' + i * cell + '" width="' + cell + '" height="' + cell +
          '" fill="' + shade(values[i * n + j]) + '" data-q="' + i + '" data-k="' + j + '"/>');
      }
    }
    parts.push('<rect x="0" y="0" width="' + size + '" height="' + size + '" fill="none" stroke="#999"/>');
    if (e.segment_start < n) {
      var s = e.segment_start * cell;
      parts.push('<line class="bv-segment" x1="' + s + '" y1="0" x2="' + s + '" y2="' + size + '"/>');
      parts.push('<line class="bv-segment" x1="0" y1="' + s + '" x2="' + size + '" y2="' + s + '"/>');
    }
    parts.push('</g>');
    var special = function (t) { return t === "[CLS]" || t === "[SEP]" ? ' bv-special' : ''; };
    tokens.forEach(function (t, i) {
      var y = margin + i * cell + cell / 2 + 3.5, x = margin + i * cell + cell / 2 + 3.5;
      parts.push('<text class="bv-ytok' + special(t) + '" x="' + (margin - 4) + '" y="' + y + '" text-anchor="end">' + escapeXML(t) + '</text>');
      parts.push('<text class="bv-xtok' + special(t) + '" transform="translate(' + x + ',' + (margin - 4) + ') rotate(-90)" text-anchor="start">' + escapeXML(t) + '</text>');
    });
    parts.push('</svg>');
    var figure = el("figure", { "class": "bv-figure", "data-model": model.key });
    var sc = score(state.layer, state.head);
    figure.appendChild(el("figcaption", {}, model.title + " (" + model.maps.model + "), L" + (state.layer + 1) + "-H" + (state.head + 1) + ": "));
    var badge = el("span", { "class": "bv-badge bv-pattern", "data-model": model.key }, data.pattern_names[p]);
    badge.style.background = config.colours[p];
    figure.firstChild.appendChild(badge);
    figure.insertAdjacentHTML("beforeend", parts.join(""));
    var svg = figure.querySelector("svg");
    svg.addEventListener("mousemove", function (event) {
      var target = event.target;
      if (!target.classList.contains("bv-cell")) return;
      var q = +target.getAttribute("data-q"), k = +target.getAttribute("data-k");
      hover.textContent = model.title + ": " + tokens[q] + " (" + (q + 1) + ") \u2192 " + tokens[k] + " (" + (k + 1) + "): " + (values[q * n + k] / 255).toFixed(3);
    });
    return figure;
  }

  function drawThumbs() {
    var n = data.examples[state.ex].tokens.length;
    for (var h = 0; h < H; h++) {
      var figure = el("figure", { "class": "bv-thumb" + (h === state.head ? " bv-selected" : ""), "data-head": h + 1 });
      models.forEach(function (model) {
        var canvas = el("canvas", { width: n, height: n, "data-model": model.key, title: model.title });
        var context = canvas.getContext("2d"), image = context.createImageData(n, n), values = map(model, state.ex, state.layer, h);
        for (var i = 0; i < n * n; i++) {
          var t = values[i] / 255;
          image.data[4 * i] = 255 - 247 * t; image.data[4 * i + 1] = 255 - 207 * t; image.data[4 * i + 2] = 255 - 148 * t; image.data[4 * i + 3] = 255;
        }
        context.putImageData(image, 0, 0);
        figure.appendChild(canvas);
      });
      var caption = "H" + (h + 1) + ": " + models.map(function (m) { return config.abbreviations[pattern(m, state.ex, state.layer, h)]; }).join(" \u2192 ");
      var sc = score(state.layer, h);
      if (sc) caption += " \u00b7 " + signed(sc.delta, 3);
      figure.appendChild(el("figcaption", {}, caption));
      figure.setAttribute("data-patterns", models.map(function (m) { return data.pattern_names[pattern(m, state.ex, state.layer, h)]; }).join(","));
      figure.addEventListener("click", (function (h) { return function () { set({ head: h, view: "head" }); }; })(h));
      thumbs.appendChild(figure);
    }
  }

  function render() {
    var e = data.examples[state.ex];
    section.setAttribute("data-example", state.ex + 1);
    section.setAttribute("data-example-index", e.index);
    section.setAttribute("data-layer", state.layer + 1);
    section.setAttribute("data-head", state.head + 1);
    section.setAttribute("data-view", state.view);
    exampleSelect.value = state.ex; layerSelect.value = state.layer; headSelect.value = state.head;
    oneButton.setAttribute("aria-pressed", state.view === "head");
    allButton.setAttribute("aria-pressed", state.view === "layer");
    headSelect.disabled = false;
    text.innerHTML = "";
    text.appendChild(el("span", {}, "Example " + (state.ex + 1) + " of " + N + " (#" + e.index + " in " + data.task + " " + data.split + "): "));
    text.appendChild(el("b", {}, e.text_a));
    if (e.text_b) { text.appendChild(document.createTextNode(" / ")); text.appendChild(el("b", {}, e.text_b)); }
    if (e.label !== null && e.label !== undefined) text.appendChild(el("span", { "class": "bv-label" }, " \u00b7 label: " + e.label));
    text.appendChild(el("span", { "class": "bv-label" }, " \u00b7 " + e.tokens.length + " tokens" + (e.truncated ? " (cut to " + data.max_tokens + ")" : "")));
    for (var l = 0; l < L; l++) {
      for (var h = 0; h < H; h++) {
        var td = gridCells[l][h];
        var letters = models.map(function (m) { return config.abbreviations[pattern(m, state.ex, l, h)]; });
        td.textContent = letters.length > 1 && letters[0] === letters[1] ? letters[0] : letters.join("\u2192");
        td.setAttribute("data-patterns", models.map(function (m) { return data.pattern_names[pattern(m, state.ex, l, h)]; }).join(","));
        var selected = l === state.layer && (state.view === "layer" || h === state.head);
        td.classList.toggle("bv-selected", selected);
        td.classList.toggle("bv-current-layer", l === state.layer);
        if (!data.head_scores) td.style.background = config.colours[pattern(models[0], state.ex, l, h)] + "55";
      }
    }
    info.innerHTML = "";
    var name = "L" + (state.layer + 1) + "-H" + (state.head + 1);
    info.appendChild(el("div", { "class": "bv-selection" }, state.view === "head" ? "Head " + name : "All heads of layer " + (state.layer + 1)));
    models.forEach(function (m) {
      var p = pattern(m, state.ex, state.layer, state.head);
      var line = el("div", { "class": "bv-type", "data-model": m.key }, m.title + " pattern type of " + name + " on this example: ");
      var badge = el("span", { "class": "bv-badge" }, data.pattern_names[p]);
      badge.style.background = config.colours[p];
      line.appendChild(badge);
      info.appendChild(line);
    });
    var sc = score(state.layer, state.head);
    info.appendChild(el("div", { "class": "bv-ablation", "data-score": sc ? sc.value : "" }, sc
      ? sc.metric + " with " + name + " switched off: " + fmt(sc.value, 4) + " (all heads on: " + fmt(sc.baseline, 4) + ", " + signed(sc.delta, 4) + ")"
      : data.head_scores ? "No ablation score for " + name + "." : "No head-ablation scores in this report."));
    if (sc) info.appendChild(el("div", { "class": "bv-keys" }, "Grid colour: change of the score when the head is switched off (blue: it improves, red: it drops)."));
    info.appendChild(el("div", { "class": "bv-keys" }, "Grid letters: pattern type per head on this example (" + config.abbreviations.map(function (a, i) { return a + " " + data.pattern_names[i]; }).join(", ") + ")" + (models.length > 1 ? ", pre-trained \u2192 fine-tuned where they differ." : ".")));
    mapsBox.innerHTML = "";
    thumbs.innerHTML = "";
    if (state.view === "head") models.forEach(function (m) { mapsBox.appendChild(drawMap(m)); });
    else drawThumbs();
    hover.textContent = "\u00a0";
  }

  function clamp(x, n) { return (x % n + n) % n; }
  function writeHash() {
    var hash = "#" + (many() ? "v=" + encodeURIComponent(section.id) + "&" : "") + "ex=" + (state.ex + 1) + "&layer=" + (state.layer + 1) + "&head=" + (state.head + 1) + "&view=" + state.view;
    if (location.hash !== hash) { try { history.replaceState(null, "", hash); } catch (error) {} }
  }
  function set(change, fromHash) {
    if (change.ex !== undefined) state.ex = clamp(change.ex, N);
    if (change.layer !== undefined) state.layer = clamp(change.layer, L);
    if (change.head !== undefined) state.head = clamp(change.head, H);
    if (change.view === "head" || change.view === "layer") state.view = change.view;
    render();
    if (!fromHash) writeHash();
  }
  function readHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) params[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    if (params.v !== undefined && params.v !== section.id) return;
    var change = {}, number = function (key) { var x = parseInt(params[key], 10); return isFinite(x) ? x - 1 : undefined; };
    change.ex = number("ex"); change.layer = number("layer"); change.head = number("head"); change.view = params.view;
    set(change, true);
    writeHash();  // the whole state, in the order this page writes it
  }

  exampleSelect.addEventListener("change", function () { set({ ex: +exampleSelect.value }); });
  layerSelect.addEventListener("change", function () { set({ layer: +layerSelect.value }); });
  headSelect.addEventListener("change", function () { set({ head: +headSelect.value, view: "head" }); });
  oneButton.addEventListener("click", function () { set({ view: "head" }); });
  allButton.addEventListener("click", function () { set({ view: "layer" }); });
  var activate = function () { window.bertologyActiveViewer = section; };
  section.addEventListener("focusin", activate);
  section.addEventListener("mousedown", activate);
  document.addEventListener("keydown", function (event) {
    var active = window.bertologyActiveViewer || document.querySelector(".bv-viewer");
    if (active !== section || event.altKey || event.ctrlKey || event.metaKey) return;
    var tag = event.target && event.target.tagName;
    if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
    var change = null;
    switch (event.key) {
      case "ArrowLeft": change = { head: state.head - 1 }; break;
      case "ArrowRight": change = { head: state.head + 1 }; break;
      case "ArrowUp": change = { layer: state.layer - 1 }; break;
      case "ArrowDown": change = { layer: state.layer + 1 }; break;
      case "j": change = { ex: state.ex + 1 }; break;
      case "k": change = { ex: state.ex - 1 }; break;
      case "a": change = { view: state.view === "head" ? "layer" : "head" }; break;
    }
    if (change) { event.preventDefault(); set(change); }
  });
  window.addEventListener("hashchange", readHash);
  render();
  readHash();
  section.setAttribute("data-ready", "true");
}
