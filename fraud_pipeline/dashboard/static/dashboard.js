// The dashboard page: reads the widget spec, then refreshes headline numbers, every widget and the
// open drill-down table every few seconds. All data goes into the page as text nodes (post texts are
// attacker-written; nothing is inserted as HTML). Each table value is isolated in a <bdi> (its
// direction cannot leak into the next cell or the page), and invisible or direction-changing
// characters (U+202E and the other bidi controls, zero-width characters, C0/C1 controls) are shown
// as visible markers instead of acting on the text the analyst reads.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const fmt = window.FraudCharts.formatNumber;
  const state = {
    range: config.default_range_s,
    paused: false,
    widgets: [],
    tables: [],
    activeTable: null,
    inFlight: false,
  };

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = { error: "not JSON (" + response.status + ")" };
    }
    if (!response.ok) throw new Error(body && body.error ? body.error : "HTTP " + response.status);
    return body;
  }

  function periodText(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds % 3600 === 0) return seconds / 3600 + " h";
    if (seconds % 60 === 0) return seconds / 60 + " min";
    return seconds + " s";
  }

  function rangeText(seconds) {
    const option = document.querySelector(`#range option[value="${seconds}"]`);
    return option ? option.textContent : periodText(seconds);
  }

  // -- layout ------------------------------------------------------------------------
  // Cards follow the spec's order and its CloudWatch grid widths (24 columns): a row of the page is
  // a row of the CloudWatch dashboard.
  function buildWidgets(widgets) {
    const grid = document.getElementById("widgets");
    grid.replaceChildren();
    widgets.forEach((widget) => {
      const kind = widget.view === "pie" ? "donut" : widget.view === "singleValue" ? "single" : widget.stacked ? "stacked" : "lines";
      const card = h("article", {
        class: `card widget span-${widget.width} view-${kind}`,
        "data-widget": widget.key,
        "data-view": widget.view,
        "data-stacked": String(widget.stacked),
        "data-state": "loading",
      });
      card.append(
        h("header", { class: "card-head" }, h("h3", { text: widget.title }), h("span", { class: "meta" })),
        h("div", { class: widget.view === "singleValue" ? "single-values" : "chart-box" }),
        h("p", { class: "note" }),
      );
      grid.append(card);
    });
  }

  function buildTabs(tables) {
    const tabs = document.getElementById("table-tabs");
    tabs.replaceChildren();
    tables.forEach((table) => {
      const tab = h("button", { type: "button", role: "tab", "data-table": table.key, text: table.title });
      tab.addEventListener("click", () => {
        state.activeTable = table.key;
        markActiveTab();
        loadTable();
      });
      tabs.append(tab);
    });
    markActiveTab();
  }

  function markActiveTab() {
    document.querySelectorAll("#table-tabs button").forEach((tab) => {
      tab.setAttribute("aria-selected", String(tab.dataset.table === state.activeTable));
    });
  }

  // -- rendering ---------------------------------------------------------------------
  function hasData(payload) {
    return payload.series.some((s) => s.visible && s.values.some((v) => v !== null));
  }

  // A range longer than the live metrics keep: its older part comes from a dbt mart.
  function sourceText(payload) {
    if (!payload.history) return "";
    const until = new Date(payload.history.until_ms);
    const hm = String(until.getHours()).padStart(2, "0") + ":" + String(until.getMinutes()).padStart(2, "0");
    return ` · before ${hm} from ${payload.history.relation}` + (payload.history.stale ? " (previous build)" : "");
  }

  function markState(card, payload) {
    const ready = hasData(payload);
    const notes = [];
    if (!ready) notes.push("No data points in this range yet.");
    if (payload.note) notes.push(payload.note);
    card.querySelector(".note").textContent = notes.join(" ");
    card.dataset.state = ready ? "ready" : "empty";
    card.dataset.source = payload.history ? "marts" : "metrics";
    card.querySelector(".meta").textContent += sourceText(payload);
  }

  function renderSeries(card, widget, payload) {
    const visible = payload.series.filter((s) => s.visible);
    const stats = [...new Set(visible.filter((s) => s.stat).map((s) => s.stat))].join(", ") || "math";
    card.querySelector(".meta").textContent =
      `${stats} per ${periodText(payload.period_s)}` + (widget.stacked ? " · stacked" : "");
    window.FraudCharts.timeSeries(card.querySelector(".chart-box"), widget, payload);
    markState(card, payload);
  }

  function renderDonut(card, widget, payload) {
    card.querySelector(".meta").textContent = "sum over " + rangeText(payload.period_s);
    window.FraudCharts.donut(card.querySelector(".chart-box"), widget, payload);
    markState(card, payload);
  }

  // Single values: one number per visible series over the range.
  function renderSingle(card, widget, payload) {
    const box = card.querySelector(".single-values");
    const shown = payload.series.filter((s) => s.visible);
    box.replaceChildren(
      ...shown.map((s) => {
        const value = s.values[0];
        const single = h("div", { class: "single", "data-series": s.id, "data-value": value === null ? "" : String(value) },
          h("div", { class: "big", text: s.label.startsWith("%") ? pct(value) : fmt(value) }),
          h("div", { class: "small", text: s.label }));
        if (s.color) single.querySelector(".big").style.color = s.color;
        return single;
      }),
    );
    card.querySelector(".meta").textContent = "sum over " + rangeText(payload.period_s);
    markState(card, payload);
  }

  function pct(value) {
    return value === null || value === undefined ? "–" : value.toFixed(value >= 10 ? 1 : 2) + "%";
  }

  function renderHeadline(summary) {
    const root = document.getElementById("headline");
    root.replaceChildren(
      ...summary.cards.map((c) => {
        const isPct = c.derived && (c.id.endsWith("pct") || c.label.includes("%"));
        const main = isPct ? pct(c.range_value) : fmt(c.range_value);
        let sub = "last minute: " + (isPct ? pct(c.last_minute_value) : fmt(c.last_minute_value));
        if (c.per_second !== null) sub += " · " + fmt(c.per_second) + "/s";
        const card = h("div", {
          class: "kpi" + (c.id.includes("fraud") ? " kpi-alert" : ""),
          "data-card": c.id,
          "data-range-value": c.range_value === null ? "" : String(c.range_value),
          "data-last-minute-value": c.last_minute_value === null ? "" : String(c.last_minute_value),
        });
        card.append(
          h("div", { class: "kpi-label", text: c.label + " · " + rangeText(summary.range_s) }),
          h("div", { class: "kpi-value", text: main }),
          h("div", { class: "kpi-sub", text: sub }),
        );
        return card;
      }),
    );
  }

  function cellText(column, value) {
    if (value === null || value === undefined) return "";
    if (Array.isArray(value)) return value.join(", ");
    if (typeof value === "number") {
      if (/score|likelihood|rate|share|pct|ratio/.test(column) && !Number.isInteger(value)) return value.toFixed(3);
      return fmt(value);
    }
    if (typeof value === "object") return JSON.stringify(value);
    const iso = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]00:00)?$/.exec(value);
    if (iso) return iso[1] + " " + iso[2];
    return String(value);
  }

  // Characters that reorder or hide text: bidi embeddings, overrides, isolates and marks, zero-width
  // characters, line/paragraph separators, C0 (but tab and newline) and C1 controls, BOM.
  const HIDDEN_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

  function codePoint(ch) {
    return "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
  }

  // One value as a direction-isolated element whose control characters are visible markers.
  function isolatedText(text) {
    const node = h("bdi", {});
    let last = 0;
    for (const match of text.matchAll(HIDDEN_CHARS)) {
      if (match.index > last) node.append(text.slice(last, match.index));
      node.append(h("span", { class: "ctl", title: codePoint(match[0]) + " (hidden character)", text: "[" + codePoint(match[0]) + "]" }));
      last = match.index + match[0].length;
    }
    if (last < text.length) node.append(text.slice(last));
    return node;
  }
  window.FraudText = { isolatedText }; // shared with the analyst views (static/analyst.js)

  function renderTable(payload) {
    const table = document.getElementById("drill-table");
    const status = document.getElementById("table-status");
    const meta = state.tables.find((t) => t.key === payload.key);
    document.getElementById("table-desc").textContent = meta ? meta.description : "";
    table.dataset.table = payload.key;
    table.dataset.status = payload.status;
    let message = payload.message || "";
    if (payload.status === "ok") {
      message = payload.rows.length + " rows · times in UTC";
      if (payload.relation) message += " from " + payload.relation;
      if (payload.files_scanned !== undefined) message += ` (newest ${payload.files_scanned} lake files)`;
      if (payload.stale) message += " · warehouse is being rebuilt, showing the previous build";
      if (payload.files_skipped && payload.files_skipped.length) message += ` · ${payload.files_skipped.length} unreadable files skipped`;
    }
    status.textContent = message;
    status.className = "table-status status-" + payload.status;
    const head = table.querySelector("thead");
    const body = table.querySelector("tbody");
    head.replaceChildren(h("tr", {}, ...payload.columns.map((c) => h("th", { text: c }))));
    body.replaceChildren(
      ...payload.rows.map((row) =>
        h("tr", {}, ...row.map((v, i) => h("td", { class: "col-" + payload.columns[i] }, isolatedText(cellText(payload.columns[i], v))))),
      ),
    );
  }

  // -- refresh loop --------------------------------------------------------------------
  async function loadTable() {
    if (!state.activeTable) return;
    const key = state.activeTable;
    try {
      const payload = await getJSON(`/api/tables/${encodeURIComponent(key)}?limit=50`);
      if (key === state.activeTable) renderTable(payload);
    } catch (err) {
      const status = document.getElementById("table-status");
      status.textContent = "Could not load table: " + err.message;
      status.className = "table-status status-error";
    }
  }

  async function refresh() {
    if (state.inFlight) return;
    state.inFlight = true;
    const range = state.range;
    let failures = 0;
    try {
      const summaryPromise = getJSON(`/api/summary?range=${range}`);
      const seriesPromises = state.widgets.map((w) =>
        getJSON(`/api/series?widget=${encodeURIComponent(w.key)}&range=${range}`),
      );
      const results = await Promise.allSettled([summaryPromise, ...seriesPromises]);
      const [summaryResult, ...widgetResults] = results;
      if (summaryResult.status === "fulfilled") renderHeadline(summaryResult.value);
      else failures += 1;
      state.widgets.forEach((w, i) => {
        const card = document.querySelector(`[data-widget="${w.key}"]`);
        const result = widgetResults[i];
        if (result.status === "rejected") {
          failures += 1;
          card.dataset.state = "error";
          card.querySelector(".note").textContent = "Error: " + result.reason.message;
          return;
        }
        if (w.view === "singleValue") renderSingle(card, w, result.value);
        else if (w.view === "pie") renderDonut(card, w, result.value);
        else renderSeries(card, w, result.value);
      });
      await loadTable();
      const status = document.getElementById("status");
      status.textContent = (failures ? failures + " failed · " : "") + "updated " + new Date().toLocaleTimeString();
      status.className = "status " + (failures ? "status-warn" : "status-ok");
    } finally {
      state.inFlight = false;
    }
  }

  async function start() {
    document.getElementById("env-line").textContent =
      `env ${config.env} · backend ${config.backend} · namespace ${config.namespace} · refresh every ${config.refresh_ms / 1000} s`;
    const select = document.getElementById("range");
    select.value = String(state.range);
    select.addEventListener("change", () => {
      state.range = Number(select.value);
      refresh();
    });
    const pause = document.getElementById("pause");
    pause.addEventListener("click", () => {
      state.paused = !state.paused;
      pause.textContent = state.paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(state.paused));
    });
    try {
      const [spec, tables] = await Promise.all([getJSON("/api/widgets"), getJSON("/api/tables")]);
      state.widgets = spec.widgets;
      state.tables = tables.tables;
      state.activeTable = state.tables.length ? state.tables[0].key : null;
    } catch (err) {
      document.getElementById("status").textContent = "Cannot load the dashboard spec: " + err.message;
      return;
    }
    buildWidgets(state.widgets);
    buildTabs(state.tables);
    await refresh();
    // Poll every few seconds; long ranges (coarse periods) poll less often, about once per
    // chart point, capped at two minutes.
    let last = Date.now();
    setInterval(() => {
      const every = Math.min(120000, Math.max(config.refresh_ms, (state.range * 1000) / 900));
      if (state.paused || document.hidden || Date.now() - last < every) return;
      last = Date.now();
      refresh();
    }, 1000);
  }

  start();
})();
