/* sith explore: the page's behaviour. Data: the JSON block "sith-data" (always) and one
   block "sith-layer-L" per layer (parsed the first time layer L is needed). No network. */
(function () {
  "use strict";

  const D = JSON.parse(document.getElementById("sith-data").textContent);
  const META = D.meta;
  const CONCEPTS = D.concepts;
  const LAYERS = META.layers;
  const SVS = META.sv_types;
  const CHUNK = 16;
  const LOG_FORMAT = "sith-edit-log/1";
  const SV_LABEL = { right: "writes (right)", left: "reads (left)" };
  const view = document.getElementById("view");
  const search = document.getElementById("search");
  const noticeBox = document.getElementById("notice");
  const help = document.getElementById("help");
  const layerCache = new Map();
  const state = { view: null, head: null, comp: null, edits: new Map(), editFile: null, colour: "theme" };

  // ---------- helpers ----------
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat(Infinity)) {
      if (k !== null && k !== undefined && k !== false) n.append(k.nodeType ? k : String(k));
    }
    return n;
  }
  function svg(tag, attrs) {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    return n;
  }
  const fmt = (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  const pct = (x) => Math.round(100 * x) + "%";
  const key3 = (l, h, i) => l + "-" + h + "-" + i;
  const link = (l, h, i) => "#L" + l + "H" + h + (i === undefined || i === null ? "" : "C" + i);
  const hueBg = (hue) => (hue < 0 ? "#eceef2" : "hsl(" + hue + ", 62%, 87%)");
  const hueFg = (hue) => (hue < 0 ? "#adb5bd" : "hsl(" + hue + ", 55%, 50%)");

  function show(...kids) {
    view.replaceChildren(...kids.filter((k) => k !== null && k !== undefined && k !== false));
  }
  function layerData(l) {
    if (!layerCache.has(l)) {
      const node = document.getElementById("sith-layer-" + l);
      layerCache.set(l, node ? JSON.parse(node.textContent) : null);
    }
    return layerCache.get(l);
  }

  // ---------- blur words ----------
  const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const blurRes = (D.blur || []).map((w) => new RegExp("(^|[^\\p{L}\\p{N}])" + escapeRe(w) + "($|[^\\p{L}\\p{N}])", "u"));
  const blurred = CONCEPTS.map((c) => blurRes.some((re) => re.test(c.toLowerCase())));
  function concept(cid, marked) {
    const cls = ["concept", blurred[cid] ? "blur" : ""].join(" ").trim();
    const span = el("span", { class: cls, text: CONCEPTS[cid], title: blurred[cid] ? "blurred: hover to read" : null });
    return marked ? el("mark", {}, span) : span;
  }

  // ---------- notices ----------
  function notice(message, isError) {
    noticeBox.replaceChildren(message, " ", el("a", { href: "#", onclick: (e) => { e.preventDefault(); noticeBox.hidden = true; } }, "dismiss"));
    noticeBox.className = isError ? "error" : "";
    noticeBox.hidden = false;
  }

  // ---------- edits ----------
  function setEdits(record, source) {
    state.edits = new Map(record.edits.map((e) => [key3(e.layer, e.head, e.index), e]));
    state.editFile = source;
    document.getElementById("edits-link").textContent = "Edits (" + state.edits.size + ")";
  }
  function headEdits(l, h) {
    let n = 0;
    for (const e of state.edits.values()) if (e.layer === l && e.head === h) n++;
    return n;
  }
  function loadLogText(text, name) {
    let record;
    try { record = JSON.parse(text); } catch (err) {
      notice(name + " is not valid JSON; load a log written by `sith edit`.", true);
      return;
    }
    if (!record || record.format !== LOG_FORMAT || !Array.isArray(record.edits)) {
      notice(name + " is not a sith edit log; load a JSON file written by `sith edit`.", true);
      return;
    }
    const m = record.model || {};
    if (m.fingerprint !== META.model.fingerprint) {
      notice(name + " is an edit log for another model (" + m.model_name + " " + m.pretrained +
        "); this page shows " + META.model.model_name + " " + META.model.pretrained + ".", true);
      return;
    }
    const edits = record.edits.map((e) => ({ layer: +e.layer, head: +e.head, index: +e.index, alpha: +e.alpha, reason: e.reason || "" }));
    setEdits({ edits }, name);
    notice("Loaded " + edits.length + " edit" + (edits.length === 1 ? "" : "s") + " from " + name + ".", false);
    state.view = null;
    route();
  }
  document.getElementById("log-file").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => loadLogText(String(reader.result), file.name);
    reader.readAsText(file);
    ev.target.value = "";
  });

  // ---------- overview ----------
  function compareScale() {
    const vals = Object.values(D.compare || {}).map((c) => Math.abs(c.value));
    return Math.max(1e-12, ...vals);
  }
  function heatColour(t) {
    return "hsl(14, 85%, " + (96 - 46 * Math.min(1, Math.abs(t))) + "%)";
  }
  function cell(l, h) {
    const o = D.overview[String(l)][h];
    const [t1, ...rest] = o.theme;
    let bg = hueBg(o.hue);
    const cmp = (D.compare || {})[l + "-" + h];
    if (state.colour === "change") bg = cmp ? heatColour(cmp.value / compareScale()) : "#f1f3f5";
    const n = headEdits(l, h);
    const tip = "L" + l + " H" + h + ": " + o.theme.map(([c, s]) => (blurred[c] ? "(blurred)" : CONCEPTS[c]) + " " + pct(s)).join(", ") +
      (cmp ? " · change " + fmt(cmp.value, 3) : "") + (n ? " · " + n + " edited" : "");
    return el("a", { class: "cell", href: link(l, h), "data-l": l, "data-h": h, style: "background:" + bg, title: tip },
      el("span", { class: "t1" }, t1 ? concept(t1[0]) : "—"),
      el("span", { class: "t2" }, rest.map(([c], j) => [j ? " · " : "", concept(c)])),
      n ? el("span", { class: "badge", title: n + " edited component(s)" }, "✎" + n) : null);
  }
  function legend() {
    const count = new Map(), hues = new Map();
    for (const l of LAYERS) for (const o of D.overview[String(l)]) {
      if (!o.theme.length) continue;
      const cid = o.theme[0][0];
      count.set(cid, (count.get(cid) || 0) + 1);
      hues.set(cid, o.hue);
    }
    const top = [...count.entries()].filter(([, n]) => n > 1).sort((a, b) => b[1] - a[1]).slice(0, 16);
    if (!top.length) return null;
    return el("div", { class: "legend" }, el("span", { class: "muted" }, "Themes shared by several heads:"),
      top.map(([cid, n]) => el("a", { href: "#search=" + encodeURIComponent(CONCEPTS[cid]) },
        el("span", { class: "chip", style: "background:" + hueFg(hues.get(cid)) }), concept(cid), el("span", { class: "muted" }, "×" + n))));
  }
  // Which configuration each layer shows, when they differ or others are on disk (gather.choose).
  function layerConfigs() {
    const lc = META.layer_configs || {};
    const ls = Object.keys(lc).map(Number).sort((a, b) => a - b);
    const shown = new Set(ls.map((l) => lc[l].config));
    const others = ls.filter((l) => lc[l].others.length);
    if (shown.size < 2 && !others.length) return null;
    const runs = [];
    for (const l of ls) {
      const last = runs[runs.length - 1];
      if (last && last.config === lc[l].config) last.layers.push(l); else runs.push({ config: lc[l].config, seed: lc[l].seed_recipe, layers: [l] });
    }
    const span = (r) => "L" + r.layers[0] + (r.layers.length > 1 ? "–L" + r.layers[r.layers.length - 1] : "");
    return el("div", { class: "sub", id: "layer-configs" },
      "Configuration per layer: " + runs.map((r) => span(r) + " " + r.config + (r.seed ? " (seed recipe)" : "")).join("; ") +
      (others.length ? ". Also on disk, not shown: " + others.map((l) => "L" + l + " " + lc[l].others.join(", ")).join("; ") +
        " (pick with --method/--sparsity/--dictionary)." : "."));
  }
  function showOverview() {
    state.view = "overview";
    state.head = null;
    document.title = "sith explore · " + META.model.model_name + " " + META.model.pretrained;
    const c = META.config;
    const head = el("tr", {}, el("th"), [...Array(META.n_heads).keys()].map((h) => el("th", {}, "H" + h)));
    const rows = LAYERS.map((l) => el("tr", {}, el("th", { class: "row" }, "Layer " + l),
      D.overview[String(l)].map((_, h) => el("td", {}, cell(l, h)))));
    const hasCompare = Object.keys(D.compare || {}).length > 0;
    const toolbar = el("div", { class: "toolbar" },
      el("span", {}, "Each head is labelled and coloured by its theme: its concepts weighted by weight × σ share."),
      hasCompare ? el("label", {}, "Colour by ", el("select", { id: "colour-by", onchange: (e) => { state.colour = e.target.value; showOverview(); } },
        el("option", { value: "theme", selected: state.colour === "theme" }, "theme"),
        el("option", { value: "change", selected: state.colour === "change" }, "change (compare)"))) : null);
    const queries = (D.queries || []).length ? el("div", { class: "card" }, el("h3", { text: "Ranked searches (computed at build time)" }),
      el("div", { class: "matches" }, D.queries.map((q) => el("a", { class: "match", href: "#search=" + encodeURIComponent(q.query) }, q.query)))) : null;
    show(
      el("h2", { text: "Every head" }),
      el("div", { class: "sub" }, LAYERS.length + " layer" + (LAYERS.length === 1 ? "" : "s") + " × " + META.n_heads + " heads × " + META.rank +
        " components · " + c.method + ", K = " + c.sparsity + ", dictionary " + (c.dictionary_name || c.dictionary) + (c.fold_ln === false ? ", no fold-ln" : ", fold-ln") +
        " · " + SVS.join(" + ")),
      layerConfigs(),
      el("div", { class: "card" }, toolbar, el("div", { class: "gridwrap" }, el("table", { class: "grid", id: "grid", style: "--heads:" + META.n_heads }, el("thead", {}, head), el("tbody", {}, rows))), legend()),
      queries);
  }
  function moveCursor(dl, dh) {
    const cur = document.activeElement && document.activeElement.classList.contains("cell") ? document.activeElement : null;
    let li = cur ? LAYERS.indexOf(+cur.dataset.l) : 0;
    let h = cur ? +cur.dataset.h : 0;
    if (cur) {
      li = Math.max(0, Math.min(LAYERS.length - 1, li + dl));
      h = Math.max(0, Math.min(D.overview[String(LAYERS[li])].length - 1, h + dh));
    }
    const next = view.querySelector('a.cell[data-l="' + LAYERS[li] + '"][data-h="' + h + '"]');
    if (next) next.focus();
  }

  // ---------- head view ----------
  function spectrum(l, h, S, T) {
    const w = 1000, hgt = 120, pad = 16, n = S.length;
    const max = Math.max(...S, 1e-12);
    const bw = (w - 2 * pad) / n;
    const root = svg("svg", { class: "spectrum", viewBox: "0 0 " + w + " " + hgt, preserveAspectRatio: "none", role: "img", "aria-label": "singular values" });
    S.forEach((s, i) => {
      const bh = Math.max(1, (hgt - 22) * s / max);
      const classes = ["bar", T[i] ? "tied" : "", state.edits.has(key3(l, h, i)) ? "edited" : ""].join(" ").trim();
      const r = svg("rect", { class: classes, x: pad + i * bw + bw * 0.12, y: hgt - 16 - bh, width: bw * 0.76, height: bh, "data-i": i });
      const t = svg("title", {});
      t.textContent = "#" + i + "  σ = " + fmt(s, 4) + (T[i] ? " (nearly tied)" : "");
      r.append(t);
      r.addEventListener("click", () => { location.hash = link(l, h, i); });
      root.append(r);
    });
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      const t = svg("text", { x: pad + (i + 0.5) * bw, y: hgt - 3, "text-anchor": "middle" });
      t.textContent = String(i);
      root.append(t);
    }
    return root;
  }
  function explanation(label, flat, fidelity) {
    const maxW = Math.max(1e-12, ...flat.filter((_, j) => j % 2 === 1).map(Math.abs));
    const rows = [];
    for (let j = 0; j < flat.length; j += 2) {
      const w = flat[j + 1];
      rows.push(el("div", { class: "crow" }, concept(flat[j]),
        el("span", { class: "w" }, el("i", { style: "width:" + (100 * Math.abs(w) / maxW).toFixed(1) + "%" })),
        el("span", { class: "v num" }, fmt(w, 3))));
    }
    if (!rows.length) rows.push(el("div", { class: "muted" }, "no concept (all weights 0)"));
    return [el("div", { class: "label" }, label + (fidelity === undefined ? "" : " · fidelity " + fmt(fidelity, 2))), rows];
  }
  // Grounding (`sith ground` output): top images of each sign, one row per sign; an image is
  // an index into the shared table D.gimages.
  function chunks(a, n) {
    const out = [];
    for (let j = 0; j < a.length; j += n) out.push(a.slice(j, j + n));
    return out;
  }
  function thumb(im) {
    const src = (D.gimages || [])[im.img];
    if (!src) return null;
    const tip = (im.sign < 0 ? "bottom" : "top") + " image" + (im.score === undefined ? "" : ", activation " + fmt(im.score, 3)) +
      (im.label ? " · " + im.label : "");
    const box = el("div", { class: "thumb" + (im.sign < 0 ? " neg" : ""), title: tip }, el("img", { src: src, alt: im.label || "" }));
    if (im.heat) {
      // base-36 digits 0–35 over a square patch grid, row-major, already scaled per image
      const heat = chunks([...im.heat].map((c) => parseInt(c, 36)), Math.round(Math.sqrt(im.heat.length)));
      const rows = heat.length, cols = heat[0].length;
      const cv = el("canvas", { width: cols, height: rows });
      const ctx = cv.getContext("2d");
      heat.forEach((row, y) => row.forEach((v, x) => {
        ctx.fillStyle = "rgba(240, 62, 62, " + Math.min(1, v / 35).toFixed(3) + ")";
        ctx.fillRect(x, y, 1, 1);
      }));
      box.append(cv);
    }
    if (im.score !== undefined) box.append(el("span", {}, fmt(im.score, 2)));
    return box;
  }
  function thumbs(l, h, i) {
    const imgs = (D.grounding || {})[key3(l, h, i)];
    if (!imgs) return null;
    const rows = [1, -1].map((sign) => imgs.filter((im) => (im.sign < 0 ? -1 : 1) === sign))
      .filter((row) => row.length)
      .map((row) => el("div", { class: "thumbs", "data-sign": row[0].sign < 0 ? "-" : "+" },
        el("span", { class: "sign", title: row[0].sign < 0 ? "most negative activations" : "largest activations" }, row[0].sign < 0 ? "−" : "+"),
        row.map(thumb)));
    return el("div", { class: "grounding" }, rows);
  }
  function compRow(ctx, i) {
    const { l, h, ld, main } = ctx;
    const e = state.edits.get(key3(l, h, i));
    const tied = main.T[h][i], pol = main.P ? main.P[h][i] : 1;
    const judge = (D.judge || {})[key3(l, h, i)];
    const expls = SVS.filter((sv) => ld[sv]).map((sv) => el("div", { class: "expl " + sv },
      SVS.length > 1 ? explanation(SV_LABEL[sv], ld[sv].C[h][i], ld[sv].F[h][i]) : explanation("explanation", ld[sv].C[h][i]),
      ld[sv].alt ? el("details", { class: "alt" }, el("summary", {}, "other polarity · fidelity " + fmt(ld[sv].alt.F[h][i], 2)),
        explanation("explains " + (pol < 0 ? "+v" : "−v"), ld[sv].alt.C[h][i])) : null));
    return el("div", { class: "comp" + (e ? " edited" : ""), id: "c" + i, "data-i": i },
      el("div", {},
        el("div", { class: "id" }, el("a", { href: link(l, h, i), title: "permalink" }, "#" + i)),
        el("div", { class: "stats num" }, "σ " + fmt(main.S[h][i], 4)),
        el("div", { class: "stats" }, "fidelity ", el("span", { class: "fid" }, el("i", { style: "width:" + pct(Math.max(0, main.F[h][i])) })), " " + fmt(main.F[h][i], 2)),
        el("div", {},
          tied ? el("span", { class: "flag tie", title: "σ within 1% of a neighbour: only the span is identifiable" }, "tied") : null,
          pol < 0 ? el("span", { class: "flag neg", title: "the explanation is of −v (polarity)" }, "−v") : null,
          e ? el("span", { class: "flag edit", title: e.reason || "edited" }, "α = " + fmt(e.alpha, 2)) : null,
          judge !== undefined ? el("span", { class: "flag judge", title: "judge score" }, "judge " + judge) : null)),
      el("div", {}, el("div", { class: "expls" }, expls)),
      thumbs(l, h, i));
  }
  function renderMore(ctx, upto) {
    const end = Math.min(upto, ctx.n);
    while (ctx.next < end) ctx.list.insertBefore(compRow(ctx, ctx.next++), ctx.sentinel);
    if (ctx.next >= ctx.n) { ctx.sentinel.remove(); if (ctx.observer) ctx.observer.disconnect(); }
  }
  function neighbour(l, h, step) {
    let li = LAYERS.indexOf(l), hh = h + step;
    const heads = (x) => D.overview[String(LAYERS[x])].length;
    if (hh >= heads(li)) { li = (li + 1) % LAYERS.length; hh = 0; }
    if (hh < 0) { li = (li - 1 + LAYERS.length) % LAYERS.length; hh = heads(li) - 1; }
    return [LAYERS[li], hh];
  }
  function showHead(l, h, c) {
    const ld = LAYERS.includes(l) ? layerData(l) : null;
    const sv0 = ld && SVS.find((sv) => ld[sv]);
    if (!ld || !sv0 || h < 0 || h >= ld[sv0].S.length) {
      notice("This page has no layer " + l + " head " + h + "; layers " + LAYERS.join(", ") + ", heads 0–" + (META.n_heads - 1) + ".", true);
      showOverview();
      return;
    }
    const main = ld[sv0];
    const n = main.S[h].length;
    if (state.view !== "head" || state.head !== l + "-" + h) {
      state.view = "head";
      state.head = l + "-" + h;
      document.title = "L" + l + " H" + h + " · sith explore";
      const o = D.overview[String(l)][h];
      const [pl, ph] = neighbour(l, h, -1), [nl, nh] = neighbour(l, h, 1);
      const list = el("div", { id: "comps", class: SVS.length > 1 ? "" : "dense" });
      const sentinel = el("div", { class: "more" }, "…");
      list.append(sentinel);
      const ctx = { l, h, ld, main, n, list, sentinel, next: 0 };
      state.ctx = ctx;
      const cmp = (D.compare || {})[l + "-" + h];
      const ne = headEdits(l, h);
      show(
        el("div", { class: "crumbs" }, el("a", { href: "#" }, "Overview"), el("span", {}, "›"), el("span", {}, "Layer " + l), el("span", {}, "›"), el("span", {}, "Head " + h), el("span", { class: "spacer" }),
          el("a", { class: "button", href: link(pl, ph), title: "previous head (h)" }, "← L" + pl + " H" + ph),
          el("a", { class: "button", href: link(nl, nh), title: "next head (l)" }, "L" + nl + " H" + nh + " →")),
        el("h2", { text: "Layer " + l + " · Head " + h }),
        el("div", { class: "themes" }, o.theme.map(([cid, s]) => el("span", { class: "theme", style: "background:" + hueBg(o.hue) }, concept(cid), " " + pct(s))),
          ne ? el("span", { class: "badge" }, ne + " edited") : null),
        el("div", { class: "card" }, el("h3", { text: "Spectrum" }),
          el("div", { class: "sub" }, n + " singular values of the head's value-output matrix; purple: nearly tied, orange: edited. Click a bar."),
          spectrum(l, h, main.S[h], main.T[h]),
          cmp && cmp.values ? [el("div", { class: "sub", style: "margin:8px 0 0" }, "Change per component (compare): head value " + fmt(cmp.value, 3)),
            el("div", { class: "heatstrip", id: "heatstrip" }, cmp.values.map((v, i) => el("span", { title: "#" + i + ": " + fmt(v, 4), style: "background:" + heatColour(v / Math.max(1e-12, ...cmp.values.map(Math.abs))) })))] : null),
        el("div", { class: "card" }, el("h3", { text: "Components" }), list));
      if ("IntersectionObserver" in window) {
        ctx.observer = new IntersectionObserver((entries) => { if (entries.some((x) => x.isIntersecting)) renderMore(ctx, ctx.next + CHUNK); });
        ctx.observer.observe(sentinel);
      }
      renderMore(ctx, CHUNK);
      if (c === null) window.scrollTo(0, 0);
    }
    selectComp(c);
  }
  function selectComp(c) {
    const ctx = state.ctx;
    view.querySelectorAll(".comp.sel").forEach((x) => x.classList.remove("sel"));
    view.querySelectorAll("rect.bar.sel").forEach((x) => x.classList.remove("sel"));
    state.comp = c;
    if (c === null || c === undefined) return;
    if (c < 0 || c >= ctx.n) { notice("Head " + ctx.h + " of layer " + ctx.l + " has components 0–" + (ctx.n - 1) + ".", true); return; }
    renderMore(ctx, c + 1);
    const row = document.getElementById("c" + c);
    row.classList.add("sel");
    const bar = view.querySelector('rect.bar[data-i="' + c + '"]');
    if (bar) bar.classList.add("sel");
    row.scrollIntoView({ block: "center" });
  }
  function stepComp(step) {
    const ctx = state.ctx;
    const c = state.comp === null ? (step > 0 ? 0 : ctx.n - 1) : Math.max(0, Math.min(ctx.n - 1, state.comp + step));
    history.replaceState(null, "", link(ctx.l, ctx.h, c));
    selectComp(c);
  }

  // ---------- search ----------
  let lowered = null, grams = null;
  function trigrams(s) {
    const t = "  " + s + " ";
    const g = new Set();
    for (let i = 0; i < t.length - 2; i++) g.add(t.slice(i, i + 3));
    return g;
  }
  function similarity(q, qg, i) {
    const s = lowered[i];
    if (s === q) return 1;
    const at = s.indexOf(q);
    if (at >= 0) {
      const wordStart = at === 0 || !/[\p{L}\p{N}]/u.test(s[at - 1]);
      const wordEnd = at + q.length === s.length || !/[\p{L}\p{N}]/u.test(s[at + q.length]);
      return wordStart && wordEnd ? 0.9 : wordStart ? 0.8 : 0.6;
    }
    if (s.length >= 3 && q.indexOf(s) >= 0) return 0.6;
    if (!grams[i]) grams[i] = trigrams(s);
    let common = 0;
    for (const g of qg) if (grams[i].has(g)) common++;
    return (0.8 * 2 * common) / (qg.size + grams[i].size);
  }
  function matchConcepts(q) {
    if (!lowered) { lowered = CONCEPTS.map((c) => c.toLowerCase()); grams = new Array(CONCEPTS.length); }
    const qg = trigrams(q);
    const out = new Map();
    for (let i = 0; i < CONCEPTS.length; i++) {
      const s = similarity(q, qg, i);
      if (s >= 0.45) out.set(i, s);
    }
    return out;
  }
  function explCells(flat, matched) {
    const parts = [];
    for (let j = 0; j < flat.length; j += 2) {
      parts.push(j ? ", " : "", concept(flat[j], matched && matched.has(flat[j])), el("span", { class: "muted num" }, " " + fmt(flat[j + 1], 2)));
    }
    return parts;
  }
  function rankedQuery(q) {
    const hit = (D.queries || []).find((x) => x.query.toLowerCase() === q);
    if (!hit) return null;
    const rows = hit.hits.map(([l, h, i, pol, cos, s], r) => {
      const ld = layerData(l), sv = ld && SVS.find((x) => ld[x]);
      const flat = sv && ld[sv].C[h] && ld[sv].C[h][i] ? ld[sv].C[h][i] : null;
      return el("tr", {}, el("td", { class: "num" }, r + 1), el("td", {}, el("a", { href: link(l, h, i) }, "L" + l + " H" + h + " #" + i)),
        el("td", {}, pol > 0 ? "+" : "−"), el("td", { class: "num" }, fmt(cos, 3)), el("td", { class: "num" }, fmt(s, 4)),
        el("td", {}, flat ? explCells(flat, null) : el("span", { class: "muted" }, "not in this page")));
    });
    return el("div", { class: "card", id: "ranked" }, el("h3", { text: "Ranked by alignment: sith search “" + hit.query + "” (computed at build time)" }),
      el("div", { class: "sub" }, "|cos| between the concept's atom and each component's joint-space vector, both polarities; no images."),
      el("table", { class: "list" }, el("tr", {}, ["#", "component", "pol", "|cos|", "σ", "explanation"].map((t) => el("th", {}, t))), rows));
  }
  function showSearch(q) {
    state.view = "search";
    state.head = null;
    if (document.activeElement !== search) search.value = q;
    document.title = "search: " + q + " · sith explore";
    const qn = q.trim().toLowerCase();
    if (!qn) { showOverview(); return; }
    const matched = matchConcepts(qn);
    const results = [];
    for (const l of LAYERS) {
      const ld = layerData(l);
      for (const sv of SVS) {
        if (!ld[sv]) continue;
        ld[sv].C.forEach((comps, h) => comps.forEach((flat, i) => {
          let best = 0;
          for (let j = 0; j < flat.length; j += 2) {
            const s = matched.get(flat[j]);
            if (s !== undefined) best = Math.max(best, s * Math.abs(flat[j + 1]));
          }
          if (best > 0) results.push({ l, h, i, sv, score: best, flat });
        }));
      }
    }
    results.sort((a, b) => b.score - a.score);
    const chips = [...matched.entries()].sort((a, b) => b[1] - a[1]).slice(0, 24);
    const table = el("table", { class: "list", id: "results" }, el("tr", {}, ["component", "σ", "fid", SVS.length > 1 ? "side" : null, "explanation"].filter(Boolean).map((t) => el("th", {}, t))));
    const addRows = (from, to) => results.slice(from, to).forEach((r) => {
      const ld = layerData(r.l);
      table.append(el("tr", {}, el("td", {}, el("a", { href: link(r.l, r.h, r.i) }, "L" + r.l + " H" + r.h + " #" + r.i)),
        el("td", { class: "num" }, fmt(ld[r.sv].S[r.h][r.i], 3)), el("td", { class: "num" }, fmt(ld[r.sv].F[r.h][r.i], 2)),
        SVS.length > 1 ? el("td", {}, r.sv) : null, el("td", {}, explCells(r.flat, matched))));
    });
    addRows(0, 100);
    const more = results.length > 100 ? el("div", { class: "more" }, el("a", { href: "#", onclick: (e) => { e.preventDefault(); addRows(100, results.length); more.remove(); } }, "show all " + results.length)) : null;
    show(
      el("h2", { text: "Search: " + q }),
      rankedQuery(qn),
      el("div", { class: "card" }, el("h3", { text: "Explanations that mention it" }),
        el("div", { class: "sub", id: "result-count" }, results.length + " component" + (results.length === 1 ? "" : "s") + " whose explanation contains one of " + matched.size +
          " matching concept" + (matched.size === 1 ? "" : "s") + " (exact, substring or similar spelling); ranked by match × weight."),
        el("div", { class: "matches" }, chips.map(([cid, s]) => el("span", { class: "match", title: "similarity " + fmt(s, 2) }, concept(cid)))),
        results.length ? table : el("div", { class: "muted" }, "No explanation mentions it."), more));
  }

  // ---------- edits view ----------
  function showEdits() {
    state.view = "edits";
    state.head = null;
    document.title = "edits · sith explore";
    if (!state.edits.size) {
      show(el("h2", { text: "Edits" }), el("div", { class: "card" },
        "No edit log loaded. Use “Load edit log” above, or build the page with ", el("code", {}, "sith explore --edit-log FILE"), "."));
      return;
    }
    const rows = [...state.edits.values()].sort((a, b) => a.layer - b.layer || a.head - b.head || a.index - b.index).map((e) => {
      const ld = LAYERS.includes(e.layer) ? layerData(e.layer) : null;
      const sv = ld && SVS.find((x) => ld[x]);
      const flat = sv && ld[sv].C[e.head] ? ld[sv].C[e.head][e.index] : null;
      return el("tr", {}, el("td", {}, flat ? el("a", { href: link(e.layer, e.head, e.index) }, "L" + e.layer + " H" + e.head + " #" + e.index) : "L" + e.layer + " H" + e.head + " #" + e.index),
        el("td", { class: "num" }, fmt(e.alpha, 2)), el("td", {}, e.reason),
        el("td", {}, flat ? explCells(flat, null) : el("span", { class: "muted" }, "layer not in this page")));
    });
    show(el("h2", { text: "Edits" }),
      el("div", { class: "sub" }, state.edits.size + " component" + (state.edits.size === 1 ? "" : "s") + " changed by " + state.editFile + " (σ scaled by α)."),
      el("div", { class: "card" }, el("table", { class: "list", id: "edit-table" }, el("tr", {}, ["component", "α", "reason", "explanation"].map((t) => el("th", {}, t))), rows)));
  }

  // ---------- routing and keys ----------
  function route() {
    const h = decodeURIComponent(location.hash.slice(1));
    const m = /^L(-?\d+)H(\d+)(?:C(\d+))?$/.exec(h);
    if (m) showHead(+m[1], +m[2], m[3] === undefined ? null : +m[3]);
    else if (h.startsWith("search=")) showSearch(h.slice(7));
    else if (h === "edits") showEdits();
    else showOverview();
  }
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const q = search.value;
      if (!q.trim()) { if (state.view === "search") location.hash = ""; return; }
      const url = "#search=" + encodeURIComponent(q);
      if (state.view === "search") history.replaceState(null, "", url); else history.pushState(null, "", url);
      showSearch(q);
    }, 120);
  });
  document.getElementById("help-button").addEventListener("click", () => { help.hidden = !help.hidden; });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target === search) { if (ev.key === "Escape") search.blur(); return; }
    const k = ev.key;
    if (k === "/") { ev.preventDefault(); search.focus(); search.select(); return; }
    if (k === "?") { help.hidden = !help.hidden; return; }
    if (k === "Escape") { if (!help.hidden) help.hidden = true; else location.hash = ""; return; }
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (state.view === "overview" && moves[k]) { ev.preventDefault(); moveCursor(...moves[k]); return; }
    if (state.view === "head") {
      const ctx = state.ctx;
      if (k === "j" || k === "ArrowDown") { ev.preventDefault(); stepComp(1); }
      else if (k === "k" || k === "ArrowUp") { ev.preventDefault(); stepComp(-1); }
      else if (k === "h" || k === "ArrowLeft") { ev.preventDefault(); location.hash = link(...neighbour(ctx.l, ctx.h, -1)); }
      else if (k === "l" || k === "ArrowRight") { ev.preventDefault(); location.hash = link(...neighbour(ctx.l, ctx.h, 1)); }
    }
  });
  window.addEventListener("hashchange", route);

  document.getElementById("model").textContent = META.model.model_name + " · " + META.model.pretrained;
  if (D.edits) setEdits(D.edits, D.edits.file);
  route();
  window.sithReadyAt = performance.now();
  document.documentElement.dataset.ready = "1";
})();
