// The dashboard's charts, drawn by Apache ECharts (vendored under static/vendor/echarts/, served by
// the dashboard itself: nothing loads from the internet). ECharts gives the page what the seed's
// CloudWatch widgets had and more: stacked areas, pies (drawn as donuts here), tooltips, zoom
// (mouse wheel / drag, and the slider under each time chart) and a legend whose entries toggle their
// series.
//
// FraudCharts.timeSeries(box, widget, payload) and FraudCharts.donut(box, widget, payload) draw one
// widget from its /api/series answer; a second call on the same box updates the data and keeps what
// the analyst chose (zoom window, series toggled off in the legend).
//
// Content-Security-Policy: ECharts draws on a canvas and positions its own elements through the
// CSSOM (element.style), which `style-src 'self'` allows. Its default HTML tooltip would set inline
// `style="..."` attributes through HTML markup, which that policy refuses, so the tooltip is rendered
// as rich text on the canvas (`renderMode: "richText"`) and the CSP stays as strict as it was.
(function () {
  "use strict";
  const PALETTE = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b"];
  const TEXT = "#e2e8f0";
  const MUTED = "#94a3b8";
  const LINE = "#23324f";

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

  function formatValue(value, percent) {
    if (!percent) return formatNumber(value);
    return value === null || value === undefined ? "–" : value.toFixed(value >= 10 ? 1 : 2) + "%";
  }

  function lastValue(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  function colorOf(series, index) {
    return series.color || PALETTE[index % PALETTE.length];
  }

  // One ECharts instance per box, made on first use and reused by every refresh.
  function chartFor(box) {
    const existing = window.echarts.getInstanceByDom(box);
    if (existing) return existing;
    const chart = window.echarts.init(box, null, { renderer: "canvas" });
    new ResizeObserver(() => chart.resize()).observe(box);
    return chart;
  }

  const TOOLTIP_BASE = {
    renderMode: "richText",
    confine: true,
    backgroundColor: "#020617",
    borderColor: LINE,
    textStyle: { color: TEXT, fontSize: 12 },
  };

  function legendOption(names) {
    return {
      type: "scroll",
      top: 0,
      data: names,
      textStyle: { color: TEXT, fontSize: 11 },
      pageTextStyle: { color: MUTED },
      inactiveColor: "#475569",
      itemWidth: 14,
      itemHeight: 8,
    };
  }

  // A time-series widget: one line per visible series, or stacked areas when the spec says so.
  function timeSeries(box, widget, payload) {
    const chart = chartFor(box);
    const shown = payload.series.filter((s) => s.visible);
    const percent = widget.y_label === "Percentage";
    const latest = new Map(shown.map((s) => [s.label, lastValue(s.values)]));
    const series = shown.map((s, i) => {
      const points = s.values.filter((v) => v !== null).length;
      const item = {
        id: s.id,
        name: s.label,
        type: "line",
        showSymbol: points <= 60, // a few points (a short replay): draw them, a line alone is invisible
        symbolSize: 4,
        connectNulls: !widget.stacked, // lines join across gaps as CloudWatch draws them
        color: colorOf(s, i),
        lineStyle: { width: widget.stacked ? 1 : 1.6 },
        emphasis: { focus: "series" },
        data: payload.timestamps.map((ts, j) => [ts, s.values[j]]),
      };
      if (widget.stacked) {
        item.stack = widget.key; // every visible series of the widget on one stack
        item.areaStyle = { opacity: 0.55 };
      }
      return item;
    });
    chart.setOption(
      {
        animation: false,
        backgroundColor: "transparent",
        textStyle: { color: TEXT },
        aria: { enabled: true },
        grid: { left: 62, right: 16, top: 34, bottom: 52 },
        legend: Object.assign(legendOption(shown.map((s) => s.label)), {
          formatter: (name) => name + "  " + formatValue(latest.get(name), percent),
        }),
        tooltip: Object.assign({}, TOOLTIP_BASE, {
          trigger: "axis",
          valueFormatter: (value) => formatValue(value, percent),
        }),
        xAxis: {
          type: "time",
          min: payload.start_ms,
          max: payload.end_ms,
          axisLabel: { color: MUTED, fontSize: 10, hideOverlap: true },
          axisLine: { lineStyle: { color: LINE } },
          splitLine: { show: false },
        },
        yAxis: {
          type: "value",
          min: 0,
          name: widget.y_label,
          nameLocation: "middle",
          nameGap: 44,
          nameTextStyle: { color: MUTED, fontSize: 10 },
          axisLabel: { color: MUTED, fontSize: 10, formatter: (v) => formatNumber(v) },
          splitLine: { lineStyle: { color: LINE } },
        },
        dataZoom: [
          { type: "inside", filterMode: "none" },
          {
            type: "slider",
            height: 14,
            bottom: 6,
            filterMode: "none",
            borderColor: LINE,
            textStyle: { color: MUTED, fontSize: 10 },
            showDataShadow: false,
          },
        ],
        series,
      },
      { replaceMerge: ["series"] }, // keeps zoom and legend choices, replaces the data
    );
    return chart;
  }

  // A pie widget, drawn as a donut: one slice per visible series, its value over the whole range.
  function donut(box, widget, payload) {
    const chart = chartFor(box);
    const shown = payload.series.filter((s) => s.visible);
    const data = shown.map((s, i) => ({
      name: s.label,
      value: s.values[0] === null ? 0 : s.values[0],
      itemStyle: { color: colorOf(s, i) },
    }));
    const values = new Map(data.map((d) => [d.name, d.value]));
    chart.setOption(
      {
        animation: false,
        backgroundColor: "transparent",
        textStyle: { color: TEXT },
        aria: { enabled: true },
        legend: Object.assign(legendOption(data.map((d) => d.name)), {
          type: "plain", // a few slices: wrap onto lines rather than page
          top: "auto",
          bottom: 0,
          formatter: (name) => name + "  " + formatNumber(values.get(name)),
        }),
        tooltip: Object.assign({}, TOOLTIP_BASE, {
          trigger: "item",
          formatter: (p) => `${p.name}\n${formatNumber(p.value)} (${p.percent}%)`,
        }),
        series: [
          {
            id: widget.key,
            name: widget.title,
            type: "pie",
            radius: ["42%", "66%"],
            center: ["50%", "42%"],
            avoidLabelOverlap: true,
            label: { color: TEXT, fontSize: 11, formatter: "{d}%" },
            labelLine: { length: 6, length2: 6 },
            data,
          },
        ],
      },
      { replaceMerge: ["series"] },
    );
    return chart;
  }

  window.FraudCharts = { timeSeries, donut, formatNumber, formatValue, lastValue, PALETTE };
})();
