/*
 * app.js — ferd-http's live page. No library: an EventSource, a canvas and
 * a few DOM nodes.
 *
 * The live picture comes one of two ways (docs/HTTP.md measures both):
 *   canvas (default): /api/events?image=jpeg streams ferd's RESULT objects,
 *     some with the frame attached as base64 JPEG; the page draws the frame
 *     and, on it, the boxes, labels and probabilities of that same RESULT, so
 *     boxes never lag the picture;
 *   mjpeg: an <img> shows /api/stream.mjpg (frames annotated by ferd), and
 *     /api/events without pictures feeds the faces list and the chart.
 * The faces list shows each face's label and probability as ferd computed
 * them for the frame (its moving average beside it), and its scores: all of
 * them for one face, the three highest of each when several are in view (the
 * list scrolls past 45% of the window's height), so the chart stays in view.
 *
 * The chart counts face-time, not messages: each RESULT stands for the time
 * since the one before it on ferd's clock (mono_ns; at most MAX_STEP_S, and
 * nothing for the first after a (re)connect), and each face in it adds that
 * time to its per-frame label. A bar is one second: each label's share of the
 * face-seconds in it. The legend is each label's share of all face-seconds in
 * the chart's window, so several faces at once each count for their time in
 * view, and a burst of messages or a drop in ferd's rate weighs nothing extra.
 * A note under the legend says the window actually covered (shorter than a
 * minute just after the page opened), the face-seconds and the faces in view
 * on average. The chart is redrawn within CHART_MS of a RESULT, so the legend
 * never lags the picture by more than that.
 *
 * Messages are the objects of ferd's protocol (proto/PROTOCOL.md); classes the
 * page does not know are ignored, as the protocol asks. ferd-http's own
 * notices arrive as "gateway" events.
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const COLORS = {
    angry: "#e5534b", disgust: "#57ab5a", fear: "#986ee2", happy: "#e0b000",
    sad: "#4184e4", surprise: "#39c5cf", neutral: "#9aa3ad",
  };
  const SPARE = ["#d16d9e", "#c69026", "#6cb6ff", "#8ddb8c", "#f69d50", "#dcbdfb"];
  const WINDOW_S = 60;
  const MAX_STEP_S = 1;    // a longer gap between RESULTs (a reconnect, a stall) counts as this
  const CHART_MS = 250;    // the chart is redrawn at most this often on RESULTs

  const st = {
    info: null,
    view: "canvas",
    images: true,          // ask for pictures (off after ferd refuses them)
    es: null,
    retry: null,
    classes: [],           // label order, from the model
    tracks: new Map(),     // id -> last label seen, for the changes list
    buckets: [],           // [{t: second, secs: {label: face-seconds}, faceSecs, span}]
    lastT: null,           // ferd's clock (s) at the last RESULT of this stream
    since: null,           // Date.now() at the first RESULT counted
    chart: null,           // what the chart and legend show (drawChart), for the test
    chartDrawn: 0,         // performance.now() of the last drawChart
    framesDrawn: 0,
    frameTimes: [],
    pending: null,         // a frame being decoded
    lastDrawn: null,       // the RESULT whose frame is on the canvas
    results: 0,
    pictureNote: "",       // why there is no picture, while that lasts
  };
  window.ferdPage = st;    // for the curious, and for the browser test

  function color(label) {
    if (COLORS[label]) return COLORS[label];
    let h = 0;
    for (const c of label) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return SPARE[h % SPARE.length];
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A transient notice (the stream's state), or else the lasting one about
  // pictures (why there are none).
  function notice(text) {
    const n = $("notice");
    const t = text || st.pictureNote || "";
    n.textContent = t;
    n.hidden = !t;
  }

  function badge(cls, text) {
    const b = $("conn");
    b.className = "badge " + cls;
    b.textContent = text;
  }

  const pct = (p) => (100 * p).toFixed(0) + "%";

  // ---- the picture ----

  function drawResult(img, r) {
    const cv = $("picture");
    const w = img ? img.naturalWidth : r.width, h = img ? img.naturalHeight : r.height;
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    const g = cv.getContext("2d");
    if (img) {
      g.drawImage(img, 0, 0, w, h);
    } else {
      g.fillStyle = "#000";
      g.fillRect(0, 0, w, h);
    }
    const sx = w / r.width, sy = h / r.height;
    const lw = Math.max(2, Math.round(w / 240));
    const font = Math.max(12, Math.round(h / 26));
    g.font = "600 " + font + "px system-ui, sans-serif";
    g.textBaseline = "top";
    for (const f of r.faces || []) {
      const c = color(f.label);
      const x = f.box.x * sx, y = f.box.y * sy, bw = f.box.w * sx, bh = f.box.h * sy;
      g.lineWidth = lw;
      g.strokeStyle = c;
      g.strokeRect(x, y, bw, bh);
      const text = f.label + " " + pct(f.prob);
      const tw = g.measureText(text).width + 8, th = font + 6;
      // Above the box, or inside its top edge when there is no room above.
      const ty = y - th >= 0 ? y - th : y;
      g.fillStyle = c;
      g.fillRect(x - lw / 2, ty, tw, th);
      g.fillStyle = "#000";
      g.fillText(text, x + 4 - lw / 2, ty + 3);
    }
    st.lastDrawn = r;
    st.framesDrawn++;
    const now = performance.now();
    st.frameTimes.push(now);
    while (st.frameTimes.length && now - st.frameTimes[0] > 3000) st.frameTimes.shift();
    $("frame").textContent = "frame " + r.seq + ", " + (r.faces || []).length + " face" +
      ((r.faces || []).length === 1 ? "" : "s");
    if (st.frameTimes.length > 1) {
      const span = (st.frameTimes[st.frameTimes.length - 1] - st.frameTimes[0]) / 1000;
      if (span > 0) $("fps").textContent = ((st.frameTimes.length - 1) / span).toFixed(1) + " pictures/s";
    }
  }

  // Decodes the frame attached to r, then draws it with r's boxes. A frame
  // that arrives while one is decoding replaces it (fresh over complete).
  function showFrame(r) {
    const img = new Image();
    st.pending = img;
    img.onload = () => {
      if (st.pending !== img) return;
      st.pending = null;
      drawResult(img, r);
    };
    img.onerror = () => { if (st.pending === img) st.pending = null; };
    img.src = "data:image/jpeg;base64," + r.image.data;
  }

  // ---- faces, chart, changes ----

  function showFaces(r) {
    const ol = $("faces");
    ol.textContent = "";
    const faces = r.faces || [];
    if (!faces.length) {
      ol.append(el("li", "none", "no face in view"));
      return;
    }
    for (const f of faces) {
      const li = el("li");
      li.dataset.id = f.id;
      const sw = el("span", "swatch");
      sw.style.background = color(f.label);
      li.append(sw, el("span", "label", f.label), el("span", "prob", pct(f.prob)),
        el("span", "id", "face " + f.id));
      if (f.smoothed)
        li.append(el("span", "smoothed", "average: " + f.smoothed.label + " " + pct(f.smoothed.prob)));
      if (f.scores) {
        const bars = el("div", "bars");
        let names = st.classes.length ? st.classes : Object.keys(f.scores);
        // Several faces: each shows its three highest scores, so the list
        // stays short enough to keep the chart and its legend in view.
        if (faces.length > 1)
          names = names.filter(n => n in f.scores)
            .sort((a, b) => f.scores[b] - f.scores[a]).slice(0, 3);
        for (const name of names) {
          if (!(name in f.scores)) continue;
          const bar = el("span", "bar"), fill = el("span");
          fill.style.width = pct(f.scores[name]);
          fill.style.background = color(name);
          bar.append(fill);
          bars.append(el("span", "", name), bar, el("span", "", pct(f.scores[name])));
        }
        li.append(bars);
      }
      ol.append(li);
    }
  }

  function logChange(text) {
    const ol = $("log");
    const li = el("li");
    li.append(el("span", "", new Date().toLocaleTimeString() + " "));
    const b = el("b", "", text);
    li.append(b);
    ol.prepend(li);
    while (ol.children.length > 20) ol.lastChild.remove();
  }

  // Changes follow each track's moving average (ferd's "smoothed" label), as
  // ferd's own FACE events do: a single frame's label flickers.
  function trackChanges(r) {
    const seen = new Set();
    for (const f of r.faces || []) {
      seen.add(f.id);
      const label = f.smoothed ? f.smoothed.label : f.label;
      const before = st.tracks.get(f.id);
      if (before === undefined) logChange("face " + f.id + " appears: " + label);
      else if (before !== label) logChange("face " + f.id + ": " + before + " → " + label);
      st.tracks.set(f.id, label);
    }
    for (const id of r.ended || []) {
      if (st.tracks.has(id)) logChange("face " + id + " leaves");
      st.tracks.delete(id);
    }
    // Tracks that vanished without an "ended" (a min_prob filter, a reconnect).
    if (st.tracks.size > 64)
      for (const id of st.tracks.keys()) if (!seen.has(id)) st.tracks.delete(id);
  }

  // The time r stands for: the seconds since the previous RESULT of this
  // stream on ferd's clock (mono_ns, else its wall time), at most MAX_STEP_S;
  // 0 for the first RESULT after a (re)connect and when the clock went back
  // (ferd restarted).
  function step(r) {
    const t = typeof r.mono_ns === "number" ? r.mono_ns / 1e9 : Date.parse(r.time) / 1000;
    const prev = st.lastT;
    st.lastT = Number.isFinite(t) ? t : null;
    if (prev === null || st.lastT === null) return 0;
    const dt = st.lastT - prev;
    return dt > 0 ? Math.min(dt, MAX_STEP_S) : 0;
  }

  // Adds r's face-time to the bucket of the second it arrived in.
  function count(r) {
    const dt = step(r);
    const t = Math.floor(Date.now() / 1000);
    if (st.since === null) st.since = Date.now();
    let b = st.buckets[st.buckets.length - 1];
    if (!b || b.t !== t) {
      b = { t, secs: {}, faceSecs: 0, span: 0 };
      st.buckets.push(b);
    }
    b.span += dt;
    for (const f of r.faces || []) {
      b.secs[f.label] = (b.secs[f.label] || 0) + dt;
      b.faceSecs += dt;
    }
    while (st.buckets.length && st.buckets[0].t <= t - WINDOW_S) st.buckets.shift();
  }

  // A stacked bar per second: each label's share of the face-seconds in it;
  // the legend: each label's share of all face-seconds in the window.
  function drawChart() {
    st.chartDrawn = performance.now();
    const cv = $("chart"), g = cv.getContext("2d");
    const W = cv.width, H = cv.height, padL = 30, padB = 16, plotW = W - padL - 4, plotH = H - padB - 6;
    g.clearRect(0, 0, W, H);
    g.fillStyle = "#9aa3ad";
    g.font = "10px system-ui, sans-serif";
    g.strokeStyle = "#2c323b";
    g.lineWidth = 1;
    g.textBaseline = "middle";
    for (const frac of [0, 0.5, 1]) {
      const y = 6 + plotH * (1 - frac);
      g.beginPath(); g.moveTo(padL, y + 0.5); g.lineTo(W - 4, y + 0.5); g.stroke();
      g.fillText(Math.round(frac * 100) + "%", 2, y);
    }
    g.textBaseline = "alphabetic";
    for (const s of [60, 45, 30, 15, 0]) {
      const x = padL + plotW * (1 - s / WINDOW_S);
      g.fillText(s ? "-" + s + "s" : "now", Math.min(x - 8, W - 22), H - 3);
    }
    const now = Math.floor(Date.now() / 1000);
    const colW = plotW / WINDOW_S;
    const labels = st.classes.length ? st.classes : [];
    const totals = {};
    let all = 0, span = 0;
    for (const b of st.buckets) {
      const age = now - b.t;
      if (age >= WINDOW_S || age < 0) continue;
      span += b.span;
      if (!b.faceSecs) continue;
      const x = padL + plotW - (age + 1) * colW;
      let y = 6 + plotH;
      const names = labels.length ? labels : Object.keys(b.secs);
      for (const name of names) {
        const n = b.secs[name] || 0;
        if (!n) continue;
        totals[name] = (totals[name] || 0) + n;
        all += n;
        const h = plotH * n / b.faceSecs;
        g.fillStyle = color(name);
        g.fillRect(x + 0.5, y - h, Math.max(1, colW - 1), h);
        y -= h;
      }
    }
    const legend = $("legend");
    legend.textContent = "";
    const names = labels.length ? labels : Object.keys(totals);
    for (const name of names) {
      const li = el("li");
      const sw = el("span", "swatch");
      sw.style.background = color(name);
      li.append(sw, document.createTextNode(name + (all ? " " + pct((totals[name] || 0) / all) : "")));
      legend.append(li);
    }
    // The window actually covered: a minute, or less since the page opened.
    const windowS = st.since === null ? 0 : Math.min(WINDOW_S, Math.round((Date.now() - st.since) / 1000));
    const shares = {};
    for (const name of Object.keys(totals)) shares[name] = totals[name] / all;
    st.chart = { window_s: windowS, span_s: span, face_s: all, seconds: totals, shares };
    let note;
    if (!all) {
      note = st.since === null ? "No result yet." : "No face in view over the last " + windowS + " s.";
    } else {
      note = "Share of face-time per expression (ferd's label for each frame; every face counts " +
        "for the time it is in view) over the last " + windowS + " s" +
        (windowS < WINDOW_S ? " (since this page opened)" : "") + ": " + all.toFixed(1) +
        " face-seconds, " + (span > 0 ? (all / span).toFixed(1) : "0") + " faces in view on average.";
    }
    $("chart-note").textContent = note;
  }

  // ---- the stream ----

  function onResult(r) {
    st.results++;
    if (!st.classes.length && r.faces)
      for (const f of r.faces) if (f.scores) { st.classes = Object.keys(f.scores); break; }
    showFaces(r);
    trackChanges(r);
    count(r);
    if (performance.now() - st.chartDrawn >= CHART_MS) drawChart();
    if (r.image && r.image.data) showFrame(r);
    else if (st.view === "canvas" && !st.images) drawResult(null, r);
    const t = Date.parse(r.time);
    if (!isNaN(t)) $("delay").textContent = "delay " + Math.max(0, Date.now() - t) + " ms";
  }

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    switch (m.class) {
      case "RESULT": onResult(m); break;
      case "WATCH":
        if (st.images && st.view === "canvas" && m.image === "none") {
          st.pictureNote = "ferd sends no pictures to ferd-http; faces and the chart still update.";
          notice("");
        }
        break;
      case "SHUTDOWN": badge("wait", "ferd stopping"); notice("ferd stopped: " + (m.message || "")); break;
      default: break; // FACE and classes this page does not know
    }
  }

  function onGateway(ev) {
    let g;
    try { g = JSON.parse(ev.data); } catch (e) { return; }
    if (g.ferd === "connected") { st.lastT = null; badge("ok", "live"); notice(""); }
    else if (g.ferd === "connecting") badge("wait", "connecting…");
    else { badge("bad", g.ferd === "refused" ? "refused" : "ferd unreachable"); notice(g.message || ""); }
  }

  function streamUrl() {
    const fps = st.info ? st.info.page.fps : 15;
    if (st.view === "mjpeg") return "/api/events?max_fps=" + fps;
    return "/api/events?max_fps=" + fps + (st.images ? "&image=jpeg" : "");
  }

  // An EventSource that failed for good: ask the same address once more to
  // learn why (status and text), then decide.
  async function diagnose(url) {
    const ctl = new AbortController();
    try {
      const resp = await fetch(url, { signal: ctl.signal, cache: "no-store" });
      if (resp.ok) { ctl.abort(); return { status: 200, text: "" }; }
      return { status: resp.status, text: (await resp.text()).trim() };
    } catch (e) {
      return { status: 0, text: "ferd-http is not reachable" };
    }
  }

  function connect() {
    if (st.es) st.es.close();
    clearTimeout(st.retry);
    const url = streamUrl();
    st.lastT = null;       // a new stream: its first RESULT starts the clock again
    const es = new EventSource(url);
    st.es = es;
    es.onmessage = onMessage;
    es.addEventListener("gateway", onGateway);
    // The browser reconnects by itself after a loss: restart the clock then too.
    es.onopen = () => { st.lastT = null; badge("ok", "live"); };
    es.onerror = async () => {
      if (es.readyState !== EventSource.CLOSED) { badge("wait", "reconnecting…"); return; }
      const why = await diagnose(url);
      if (st.es !== es) return;
      if (why.status === 403 && st.images && st.view === "canvas") {
        st.images = false;
        st.pictureNote = "No picture: " + why.text + " Faces and the chart still update.";
        notice("");
        connect();
        return;
      }
      badge("bad", why.status ? "error " + why.status : "offline");
      notice(why.text || "The stream ended.");
      st.retry = setTimeout(connect, 3000);
    };
  }

  function startMjpeg() {
    const img = $("mjpeg");
    const fps = st.info ? st.info.page.fps : 15;
    img.hidden = false;
    $("picture").hidden = true;
    img.onerror = () => {
      notice("No picture from /api/stream.mjpg (ferd may not allow pictures to ferd-http); retrying.");
      setTimeout(() => { img.src = "/api/stream.mjpg?max_fps=" + fps + "&t=" + Date.now(); }, 3000);
    };
    img.src = "/api/stream.mjpg?max_fps=" + fps;
  }

  // ---- the header: ferd's STATUS every few seconds ----

  async function refreshStatus() {
    try {
      const resp = await fetch("/api/status", { cache: "no-store" });
      if (!resp.ok) throw new Error((await resp.text()).trim());
      const s = await resp.json();
      const src = s.source || {};
      $("source").textContent = "source " + (src.name || "?") + " · " + (src.state || "?") +
        (src.fps ? " · " + src.fps.toFixed(1) + " fps" : "");
      if (s.model) {
        $("model").textContent = "model " + s.model.name +
          (s.model.test_acc ? " (test accuracy " + pct(s.model.test_acc) + ")" : "");
        if (s.model.classes) st.classes = s.model.classes;
      }
      if (s.clients) $("clients").textContent = s.clients.connected + " client" +
        (s.clients.connected === 1 ? "" : "s") + " of ferd";
    } catch (e) {
      $("source").textContent = "ferd: " + (e.message || "not reachable");
    }
  }

  async function start() {
    try {
      const resp = await fetch("/api/info", { cache: "no-store" });
      st.info = await resp.json();
    } catch (e) {
      st.info = null;
    }
    const q = new URLSearchParams(location.search).get("view");
    st.view = q === "mjpeg" || q === "canvas" ? q : (st.info && st.info.page.view) || "canvas";
    const acc = $("access");
    if (st.info) {
      if (st.info.auth) {
        acc.className = "access locked";
        acc.textContent = "Listening on " + st.info.listen + " (a network address): every request needs ferd-http's secret.";
      } else {
        acc.textContent = "Listening on " + st.info.listen + " (this machine only). From another machine: " +
          "ssh -L 8090:" + st.info.listen + " HOST, then open http://localhost:8090/.";
      }
    }
    $("view").textContent = st.view === "mjpeg" ? "view: MJPEG (drawn by ferd)" : "view: canvas (drawn here)";
    if (st.view === "mjpeg") startMjpeg();
    connect();
    refreshStatus();
    setInterval(refreshStatus, 3000);
    setInterval(drawChart, 1000);
    drawChart();
  }

  start();
})();
