// Small inline-SVG line charts for the dashboard: no library, nothing loaded from the network.
// FraudCharts.line(container, data, options) draws one chart; data = {timestamps, series:[{label,
// values, color}]}, values aligned to timestamps, null = no data point (lines join across gaps,
// as CloudWatch line charts do).
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(span, ticks) {
    const raw = span / Math.max(1, ticks);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    const nice = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
    return nice * mag;
  }

  function formatNumber(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(1) + "B";
    if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (abs >= 1e4) return (value / 1e3).toFixed(1) + "k";
    if (abs >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString("en-US");
    if (abs >= 1) return value.toFixed(1);
    return value.toFixed(2);
  }

  function formatTime(ms, spanMs) {
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    if (spanMs <= 10 * 60 * 1000) return hm + ":" + pad(d.getSeconds());
    if (spanMs <= 36 * 3600 * 1000) return hm;
    return pad(d.getMonth() + 1) + "/" + pad(d.getDate()) + " " + hm;
  }

  function line(container, data, options) {
    const opts = Object.assign({ height: 190, yLabel: "" }, options || {});
    const width = Math.max(280, container.clientWidth || 560);
    const height = opts.height;
    const margin = { top: 10, right: 14, bottom: 24, left: 48 };
    const innerW = width - margin.left - margin.right;
    const innerH = height - margin.top - margin.bottom;
    const ts = data.timestamps;
    const series = data.series;

    let yMax = 0;
    let yMin = 0;
    for (const s of series) {
      for (const v of s.values) {
        if (v === null) continue;
        if (v > yMax) yMax = v;
        if (v < yMin) yMin = v;
      }
    }
    if (yMax === yMin) yMax = yMin + 1;
    const step = niceStep(yMax - yMin, 4);
    yMax = Math.ceil(yMax / step) * step;
    yMin = Math.floor(yMin / step) * step;

    const t0 = ts.length ? ts[0] : 0;
    const t1 = ts.length > 1 ? ts[ts.length - 1] : t0 + 1;
    const x = (t) => margin.left + ((t - t0) / (t1 - t0 || 1)) * innerW;
    const y = (v) => margin.top + innerH - ((v - yMin) / (yMax - yMin)) * innerH;

    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "chart" });
    const title = el("title", {}, svg);
    title.textContent = opts.title || "chart";

    const grid = el("g", { class: "grid-lines" }, svg);
    for (let v = yMin; v <= yMax + step / 2; v += step) {
      el("line", { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }, grid);
      const label = el("text", { x: margin.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, svg);
      label.textContent = formatNumber(v);
    }
    const xTicks = Math.min(6, Math.max(2, Math.floor(innerW / 110)));
    for (let i = 0; i <= xTicks; i++) {
      const t = t0 + ((t1 - t0) * i) / xTicks;
      const label = el("text", { x: x(t), y: height - 6, "text-anchor": "middle", class: "tick" }, svg);
      label.textContent = formatTime(t, t1 - t0);
    }

    series.forEach((s, index) => {
      const color = s.color || PALETTE[index % PALETTE.length];
      let d = "";
      let points = 0;
      s.values.forEach((v, i) => {
        if (v === null) return;
        d += (points === 0 ? "M" : "L") + x(ts[i]).toFixed(1) + "," + y(v).toFixed(1);
        points += 1;
      });
      if (points === 1) {
        const i = s.values.findIndex((v) => v !== null);
        el("circle", { cx: x(ts[i]), cy: y(s.values[i]), r: 2.5, fill: color }, svg);
      } else if (points > 1) {
        el("path", { d, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-linejoin": "round" }, svg);
      }
    });

    // Hover: a crosshair and the values at the nearest timestamp.
    const cursor = el("line", { y1: margin.top, y2: margin.top + innerH, class: "cursor", visibility: "hidden" }, svg);
    const hit = el("rect", { x: margin.left, y: margin.top, width: innerW, height: innerH, fill: "transparent" }, svg);
    const tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    hit.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const frac = Math.min(1, Math.max(0, (px - margin.left) / innerW));
      const i = Math.round(frac * (ts.length - 1));
      if (i < 0 || i >= ts.length) return;
      cursor.setAttribute("x1", x(ts[i]));
      cursor.setAttribute("x2", x(ts[i]));
      cursor.setAttribute("visibility", "visible");
      tip.replaceChildren();
      const head = document.createElement("div");
      head.className = "tooltip-time";
      head.textContent = new Date(ts[i]).toLocaleString();
      tip.appendChild(head);
      series.forEach((s, index) => {
        const row = document.createElement("div");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = s.color || PALETTE[index % PALETTE.length];
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(s.label + ": " + formatNumber(s.values[i])));
        tip.appendChild(row);
      });
      tip.hidden = false;
      tip.style.left = Math.min(box.width - 180, Math.max(0, event.clientX - box.left + 12)) + "px";
      tip.style.top = "8px";
    });
    hit.addEventListener("mouseleave", () => {
      tip.hidden = true;
      cursor.setAttribute("visibility", "hidden");
    });

    container.replaceChildren(svg, tip);
  }

  window.FraudCharts = { line, formatNumber, formatTime, PALETTE };
})();
