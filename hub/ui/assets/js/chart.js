// Plots: the score chart (uPlot, loaded on first use so the fleet page
// stays light) and small SVG histograms.

import { el, svg, ms } from "./dom.js";

let loading = null;

// loadUPlot adds the vendored uPlot script and stylesheet once.
export function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      document.head.append(el("link", { rel: "stylesheet", href: "vendor/uPlot.min.css" }));
      const s = el("script", { src: "vendor/uPlot.iife.min.js" });
      s.onload = () => resolve(window.uPlot);
      s.onerror = () => { loading = null; reject(new Error("could not load the chart library")); };
      document.head.append(s);
    });
  }
  return loading;
}

const roleColor = { champion: "#2f6fde", twin: "#8a4fd0" };
const challengerColors = ["#e07b00", "#1b9e77", "#c2185b", "#607d8b", "#7cb342", "#00838f"];

// colors gives each of a list of {role} its colour: fixed for champion and
// twin, the challengers in turn.
export function colors(list) {
  let c = 0;
  return list.map((s) => roleColor[s.role] || challengerColors[c++ % challengerColors.length]);
}

// seriesKey names one model on one machine.
export const seriesKey = (p) => p.model + " (" + p.role + ")";

const roleRank = { champion: 0, twin: 1, challenger: 2 };

// scoreData turns metric points into uPlot's columns: time (s), one
// column per model and role, and the champion's threshold.
export function scoreData(points, field = "score_mean") {
  const keys = new Map();
  const times = [];
  const idx = new Map();
  for (const p of points) {
    const k = seriesKey(p);
    if (!keys.has(k)) keys.set(k, { key: k, model: p.model, role: p.role });
    const t = Math.round(ms(p.time) / 1000);
    if (!idx.has(t)) { idx.set(t, -1); times.push(t); }
  }
  times.sort((a, b) => a - b);
  times.forEach((t, i) => idx.set(t, i));
  const series = [...keys.values()].sort((a, b) => (roleRank[a.role] ?? 3) - (roleRank[b.role] ?? 3) || a.model.localeCompare(b.model));
  const cols = series.map(() => new Array(times.length).fill(null));
  const thr = new Array(times.length).fill(null);
  const col = new Map(series.map((s, i) => [s.key, i]));
  for (const p of points) {
    const i = idx.get(Math.round(ms(p.time) / 1000));
    cols[col.get(seriesKey(p))][i] = p[field];
    if (p.role === "champion" && p.threshold > 0) thr[i] = p.threshold;
  }
  // Carry the threshold over gaps so the line stays continuous.
  for (let i = 1; i < thr.length; i++) if (thr[i] == null) thr[i] = thr[i - 1];
  return { series, data: [times, ...cols, thr] };
}

// ScoreChart is a live, zoomable score plot with threshold and alert markers.
export class ScoreChart {
  constructor(container, { height = 280, title = "" } = {}) {
    this.container = container;
    this.height = height;
    this.title = title;
    this.alerts = [];
    this.u = null;
    this.keys = "";
    this.range = null;
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(container);
  }

  size() {
    return { width: Math.max(200, this.container.clientWidth), height: this.height };
  }

  resize() {
    if (this.u) this.u.setSize(this.size());
  }

  // update draws points (API metric points) and alerts ({time, severity, id}).
  async update(points, alerts, field) {
    const uPlot = await loadUPlot();
    const { series, data } = scoreData(points, field);
    this.alerts = (alerts || []).map((a) => ({ t: ms(a.start || a.time) / 1000, severity: a.severity, id: a.id }));
    const keys = series.map((s) => s.key).join("|") + "#" + field;
    const t = data[0];
    const dataRange = t.length ? [t[0], t[t.length - 1]] : null;
    this.container.dataset.last = dataRange ? String(dataRange[1]) : ""; // newest point (s), for tests
    if (this.u && keys === this.keys) {
      const x = this.u.scales.x;
      const zoomed = this.range && x.min != null && (x.min > this.range[0] + 0.5 || x.max < this.range[1] - 0.5);
      this.range = dataRange;
      this.u.setData(data, !zoomed);
      return;
    }
    if (this.u) this.u.destroy();
    this.keys = keys;
    this.range = dataRange;
    const alertsRef = () => this.alerts;
    const palette = colors(series);
    const opts = {
      ...this.size(),
      title: this.title,
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max || 0) * 1.05] } },
      axes: [{}, { size: 45, values: (u, v) => v.map((x) => x.toFixed(2)) }],
      legend: { live: true },
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.key, stroke: palette[i], width: s.role === "champion" ? 2 : 1.5,
          spanGaps: true, value: (u, v) => (v == null ? "–" : v.toFixed(3)),
        })),
        { label: "threshold", stroke: "#d23c3c", width: 1, dash: [6, 4], spanGaps: true,
          value: (u, v) => (v == null ? "–" : v.toFixed(3)) },
      ],
      hooks: {
        draw: [(u) => drawAlerts(u, alertsRef())],
        // The visible time range, for people reading the DOM (and tests).
        setScale: [(u, key) => {
          if (key === "x") this.container.dataset.range = Math.round(u.scales.x.min) + "-" + Math.round(u.scales.x.max);
        }],
      },
    };
    this.u = new uPlot(opts, data, this.container);
  }

  // zoomTo shows [from, to] (ms) on the time axis.
  zoomTo(from, to) {
    if (this.u) this.u.setScale("x", { min: from / 1000, max: to / 1000 });
  }

  dispose() {
    this.ro.disconnect();
    if (this.u) this.u.destroy();
    this.u = null;
  }
}

function drawAlerts(u, alerts) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  for (const a of alerts) {
    const x = Math.round(u.valToPos(a.t, "x", true));
    if (x < left || x > left + width) continue;
    ctx.strokeStyle = a.severity === "critical" ? "rgba(210,60,60,.85)" : "rgba(216,155,0,.9)";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    const s = 6 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x - s, top);
    ctx.lineTo(x + s, top);
    ctx.lineTo(x, top + s * 1.4);
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

// histogram draws score distributions over [0, 1] as outlined steps, one
// per model, normalised to a share of the model's scores; threshold is a
// dashed red line. hists: [{label, color, bins}].
export function histogram(hists, { width = 360, height = 140, threshold } = {}) {
  const pad = { l: 30, r: 8, t: 8, b: 20 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  let top = 0;
  const shares = hists.map((hs) => {
    const total = hs.bins.reduce((a, b) => a + b, 0) || 1;
    const s = hs.bins.map((b) => b / total);
    top = Math.max(top, ...s);
    return s;
  });
  top = top || 1;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "hist", role: "img",
    "aria-label": "score distribution" });
  root.append(svg("line", { x1: pad.l, x2: pad.l + w, y1: pad.t + h, y2: pad.t + h, class: "axis" }));
  for (const v of [0, 0.5, 1]) {
    const x = pad.l + v * w;
    const t = svg("text", { x, y: height - 5, "text-anchor": "middle", class: "tick" });
    t.textContent = String(v);
    root.append(t);
  }
  const yl = svg("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end", class: "tick" });
  yl.textContent = Math.round(top * 100) + "%";
  root.append(yl);
  hists.forEach((hs, k) => {
    const n = shares[k].length;
    let d = `M${pad.l},${pad.t + h}`;
    shares[k].forEach((s, i) => {
      const y = pad.t + h - (s / top) * h;
      d += `L${pad.l + (i / n) * w},${y}L${pad.l + ((i + 1) / n) * w},${y}`;
    });
    d += `L${pad.l + w},${pad.t + h}`;
    root.append(svg("path", { d, fill: hs.color, "fill-opacity": k === 0 ? 0.18 : 0.08, stroke: hs.color, "stroke-width": 1.5 }));
  });
  if (threshold > 0 && threshold <= 1) {
    const x = pad.l + threshold * w;
    root.append(svg("line", { x1: x, x2: x, y1: pad.t, y2: pad.t + h, class: "thr" }));
  }
  return root;
}

// binsOf approximates a distribution from score values when the API gives
// no histogram: 20 equal bins over [0, 1].
export function binsOf(values, n = 20) {
  const bins = new Array(n).fill(0);
  for (const v of values) if (v != null) bins[Math.min(n - 1, Math.max(0, Math.floor(v * n)))]++;
  return bins;
}
