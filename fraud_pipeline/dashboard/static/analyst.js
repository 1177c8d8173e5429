// The analyst views: pipeline health, review queue, campaigns, labels, rule hits and quotas, over
// /api/analyst/*. Every value the pipeline saw (post texts, DIDs, domains, reasons) is attacker-
// written: it enters the page only as text, through the dashboard's isolatedText (a <bdi> per value,
// direction and invisible characters shown as markers), never as HTML. Links go only to bsky.app and
// only as the server built them from valid identifiers. Long texts wrap and fold behind "Show more".
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const isolatedText = window.FraudText.isolatedText;
  const fmt = window.FraudCharts.formatNumber;
  const BSKY = "https://bsky.app/profile/";
  const FOLD_CHARS = 280;
  const state = {
    tab: "review",
    review: { rows: [], next: null, paged: false },
    campaign: null, // the campaign opened in detail
    expanded: new Set(), // texts unfolded by the analyst (kept across refreshes)
    labelsBefore: null,
    inFlight: false,
    again: false,
    shown: {}, // what each view last rendered: an unchanged answer leaves the DOM (and selection) alone
  };

  // True when `data` differs from what view `key` shows now (and remembers it).
  function changed(key, data) {
    const text = JSON.stringify(data);
    if (state.shown[key] === text) return false;
    state.shown[key] = text;
    return true;
  }

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function txt(value) {
    if (value === null || value === undefined) return isolatedText("");
    return isolatedText(Array.isArray(value) ? value.join(", ") : String(value));
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

  function link(url, label, kind) {
    // Only the links the server built from valid identifiers, and only to bsky.app.
    if (typeof url !== "string" || !url.startsWith(BSKY)) return null;
    return h("a", { class: "an-link", href: url, target: "_blank", rel: "noopener noreferrer", "data-link": kind, text: label });
  }

  function score(value) {
    return value === null || value === undefined ? "–" : value.toFixed(3);
  }

  function when(iso) {
    if (!iso) return "";
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
    return m ? m[1] + " " + m[2] + " UTC" : String(iso);
  }

  function chips(values, cls) {
    return h("span", { class: "an-chips" }, ...(values || []).map((v) => h("span", { class: "an-chip " + (cls ? cls(v) : "") }, txt(v))));
  }

  function setStatus(id, message, kind) {
    const node = document.getElementById(id);
    node.textContent = message || "";
    node.className = "an-status" + (kind ? " an-status-" + kind : "");
  }

  // One post as a card: verdict, evidence, links; the text wrapped and folded when long.
  function postCard(row) {
    const card = h("article", { class: "an-post", "data-uri": row.uri, "data-action": row.action });
    const head = h("header", { class: "an-post-head" },
      h("span", { class: "an-badge an-action-" + row.action, text: row.action }),
      h("span", { class: "an-time", text: when(row.time_utc) }),
      h("span", { class: "an-score", title: "combined · text · media", text: "score " + score(row.fraud_score) + " · text " + score(row.fraud_text_likelihood) + " · media " + score(row.fraud_media_likelihood) }),
      h("span", { class: "an-policy" }, "policy ", txt(row.policy_version || "–")),
      link(row.post_url, "Post on Bluesky ↗", "post"),
      link(row.account_url, "Account ↗", "account"),
    );
    const text = row.text || "";
    const body = h("div", { class: "an-text" }, isolatedText(text));
    card.append(head, body);
    if (text.length > FOLD_CHARS) {
      const open = state.expanded.has(row.uri);
      body.classList.toggle("an-folded", !open);
      const toggle = h("button", { type: "button", class: "an-more", "aria-expanded": String(open), text: open ? "Show less" : "Show more" });
      toggle.addEventListener("click", () => {
        const nowOpen = !state.expanded.has(row.uri);
        if (nowOpen) state.expanded.add(row.uri);
        else state.expanded.delete(row.uri);
        body.classList.toggle("an-folded", !nowOpen);
        toggle.textContent = nowOpen ? "Show less" : "Show more";
        toggle.setAttribute("aria-expanded", String(nowOpen));
      });
      card.append(toggle);
    }
    const facts = h("dl", { class: "an-facts" });
    const fact = (name, value) => facts.append(h("dt", { text: name }), h("dd", {}, value));
    fact("account", txt(row.did));
    fact("labels", chips(row.labels));
    fact("rule hits", chips(row.rule_hits, (v) => (String(v).startsWith("shadow:") ? "an-shadow" : "")));
    fact("reasons", h("ul", { class: "an-reasons" }, ...(row.reasons || []).map((r) => h("li", {}, txt(r)))));
    if (row.domains && row.domains.length) fact("domains", chips(row.domains));
    if (row.campaign_id) {
      const open = h("button", { type: "button", class: "an-linkish", "data-campaign": row.campaign_id }, txt(row.campaign_id));
      open.addEventListener("click", () => openCampaign(row.campaign_id));
      fact("campaign", open);
    }
    const ls = row.label_state || { published: [], negated: [] };
    fact("on Bluesky", h("span", {},
      ls.published.length ? chips(ls.published, () => "an-published") : null,
      ls.negated.length ? chips(ls.negated.map((v) => v + " (negated)"), () => "an-negated") : null,
      !ls.published.length && !ls.negated.length ? h("span", { class: "an-muted", text: "not labelled" }) : null,
      row.relabelled ? h("span", { class: "an-muted", text: " · re-labelled by a campaign verdict" }) : null));
    fact("uri", txt(row.uri));
    card.append(facts);
    return card;
  }

  // -- review queue -------------------------------------------------------------------------
  async function loadReview(append) {
    const cursor = append && state.review.next ? "&cursor=" + encodeURIComponent(state.review.next) : "";
    const payload = await getJSON("/api/analyst/review?limit=25" + cursor);
    state.review.rows = append ? state.review.rows.concat(payload.rows) : payload.rows;
    state.review.next = payload.next;
    const list = document.getElementById("an-review-list");
    list.dataset.status = payload.status;
    if (changed("review", state.review.rows)) list.replaceChildren(...state.review.rows.map(postCard));
    const w = payload.window;
    if (payload.status === "building") {
      setStatus("an-review-status", payload.message, "empty");
      return;
    }
    setStatus("an-review-status",
      `${payload.total_in_window} posts waiting for review in the newest ${w.hours.length} lake hours (${w.files} files)` +
      (w.files_skipped.length ? ` · ${w.files_skipped.length} unreadable files skipped` : "") +
      (state.review.paged ? " · live refresh paused while you browse older posts" : ""),
      payload.status === "ok" ? "" : "empty");
    document.getElementById("an-review-more").hidden = !payload.next;
    document.getElementById("an-review-newest").hidden = !state.review.paged;
  }

  // -- campaigns ----------------------------------------------------------------------------
  async function loadCampaigns() {
    const payload = await getJSON("/api/analyst/campaigns?limit=100");
    const body = document.querySelector("#an-campaigns tbody");
    document.getElementById("an-campaigns").dataset.status = payload.status;
    if (changed("campaigns", payload.rows)) body.replaceChildren(...payload.rows.map((c) => {
      const open = h("button", { type: "button", class: "an-linkish", "data-campaign": c.campaign_id }, txt(c.campaign_id));
      open.addEventListener("click", () => openCampaign(c.campaign_id));
      const labelled = c.labelled ? `${c.labelled.published} labelled · ${c.labelled.negated} negated` : "open for details";
      return h("tr", { "data-campaign-row": c.campaign_id },
        h("td", {}, open),
        h("td", { class: "an-num", text: fmt(c.posts) }),
        h("td", { class: "an-num", text: fmt(c.accounts) }),
        h("td", { text: when(c.first_seen) }),
        h("td", { text: when(c.last_seen) }),
        h("td", {}, chips(c.domains)),
        h("td", { text: labelled }),
        h("td", { class: "an-sample" }, txt(c.sample_text)),
        h("td", { text: c.source }));
    }));
    setStatus("an-campaigns-status",
      (payload.status === "building" ? payload.message + " · " : "") + payload.rows.length + " campaigns" + (payload.marts_note ? " · history: " + payload.marts_note : ""),
      payload.status === "ok" ? "" : "empty");
    if (state.campaign) await loadCampaign(state.campaign);
  }

  function openCampaign(id) {
    state.campaign = id;
    selectTab("campaigns");
  }

  function bars(points, key) {
    const max = Math.max(1, ...points.map((p) => p.posts || 0));
    return h("div", { class: "an-bars" }, ...points.map((p) => {
      const bar = h("div", { class: "an-bar-fill" });
      bar.style.width = (100 * (p.posts || 0) / max).toFixed(1) + "%";
      return h("div", { class: "an-bar" }, h("span", { class: "an-bar-label", text: when(p[key]) }), h("div", { class: "an-bar-track" }, bar),
        h("span", { class: "an-num", text: fmt(p.posts) + " posts · " + fmt(p.accounts) + " accounts" }));
    }));
  }

  // The campaign's posts and accounts over time, drawn by the page's chart library (ECharts, via
  // static/charts.js); the bars below it say the same in text. Labels are ours, never post text.
  function sizeChart(points, key, name) {
    const box = h("div", { class: "chart-box an-chart", "data-chart": name });
    if (!window.FraudCharts.timeSeries || !window.echarts || points.length < 2) return null;
    const payload = {
      timestamps: points.map((p) => Date.parse(p[key])),
      series: [
        { id: "posts", label: "posts", visible: true, values: points.map((p) => p.posts) },
        { id: "accounts", label: "accounts", visible: true, values: points.map((p) => p.accounts) },
      ],
    };
    requestAnimationFrame(() => window.FraudCharts.timeSeries(box, { key: "campaign-" + name, stacked: false, y_label: "Posts" }, payload));
    return box;
  }

  async function loadCampaign(id) {
    const box = document.getElementById("an-campaign");
    let c;
    try {
      c = await getJSON("/api/analyst/campaigns/" + encodeURIComponent(id));
    } catch (err) {
      box.replaceChildren(h("p", { class: "an-status an-status-error" }, txt("Campaign " + id + ": " + err.message)));
      return;
    }
    if (!changed("campaign", c) && box.dataset.campaign === c.campaign_id) return;
    const close = h("button", { type: "button", class: "an-more", text: "Close" });
    close.addEventListener("click", () => {
      state.campaign = null;
      state.shown.campaign = null;
      box.dataset.campaign = "";
      box.replaceChildren();
      box.hidden = true;
    });
    const lab = c.labelled;
    box.hidden = false;
    box.dataset.campaign = c.campaign_id;
    const parts = [
      h("header", { class: "an-post-head" }, h("h3", {}, "Campaign ", txt(c.campaign_id)), close),
      h("p", { class: "an-muted", text: `${c.posts_in_window} posts and ${c.accounts_count} accounts · ${lab.published} posts labelled, ${lab.negated} negated` }),
      h("h4", { text: "Size over time (10-minute buckets, live window)" }), sizeChart(c.size_over_time.window, "start", "window"), bars(c.size_over_time.window, "start"),
      c.size_over_time.hourly.length ? h("h4", { text: "Size over time (hourly, marts)" }) : null,
      c.size_over_time.hourly.length ? sizeChart(c.size_over_time.hourly, "hour", "hourly") : null,
      c.size_over_time.hourly.length ? bars(c.size_over_time.hourly, "hour") : null,
      h("h4", { text: "Domains" }), chips(c.domains.map((d) => d.domain + " (" + d.posts_in_window + ")")),
      h("h4", { text: "Accounts, first seen first" }),
      h("div", { class: "an-table-wrap" }, h("table", { class: "an-table", id: "an-campaign-accounts" },
        h("thead", {}, h("tr", {}, h("th", { text: "account" }), h("th", { text: "first seen" }), h("th", { text: "posts in window" }), h("th", { text: "" }))),
        h("tbody", {}, ...c.accounts.map((a) => h("tr", {}, h("td", { class: "an-mono" }, txt(a.did)), h("td", { text: when(a.first_seen) }),
          h("td", { class: "an-num", text: fmt(a.posts_in_window) }), h("td", {}, link(a.account_url, "Account ↗", "account"))))))),
      h("h4", { text: "Example posts" }),
      h("div", { class: "an-list", id: "an-campaign-examples" }, ...c.examples.map(postCard)),
    ];
    box.replaceChildren(...parts.filter((part) => part !== null));
  }

  // -- labels -------------------------------------------------------------------------------
  async function loadLabels() {
    const before = state.labelsBefore ? "&before=" + state.labelsBefore : "";
    const payload = await getJSON("/api/analyst/labels?limit=100" + before);
    const table = document.getElementById("an-labels");
    table.dataset.status = payload.status;
    if (changed("labels", [payload.rows, payload.overrides])) table.querySelector("tbody").replaceChildren(...payload.rows.map((l) => h("tr", { "data-seq": String(l.seq) },
      h("td", { class: "an-num", text: String(l.seq) }),
      h("td", { text: when(l.cts) }),
      h("td", {}, h("span", { class: "an-badge " + (l.neg ? "an-negated" : "an-published"), text: l.neg ? "negated" : "published" })),
      h("td", {}, txt(l.val)),
      h("td", {}, l.override ? h("span", {}, h("strong", { text: "override by " }), txt(l.made_by), ": ", txt(l.override_reason)) : h("span", {}, "labeler ", txt(l.src))),
      h("td", { class: "an-mono" }, txt(l.uri)),
      h("td", {}, link(l.post_url, "Post ↗", "post"), " ", link(l.account_url, "Account ↗", "account")))));
    document.querySelector("#an-overrides tbody").replaceChildren(...(payload.overrides || []).map((o) => h("tr", {},
      h("td", { text: when(o.created_at) }), h("td", {}, txt(o.val)), h("td", {}, txt(o.made_by)), h("td", {}, txt(o.reason)), h("td", { class: "an-mono" }, txt(o.uri)), h("td", {}, link(o.post_url, "Post ↗", "post")))));
    setStatus("an-labels-status", payload.status === "ok"
      ? `newest label seq ${payload.head_seq} · ${payload.rows.length} shown · ${payload.overrides.length} overrides`
      : payload.message || "no labels yet", payload.status === "ok" ? "" : "empty");
    document.getElementById("an-labels-older").hidden = !payload.next_before_seq;
    document.getElementById("an-labels-older").dataset.before = payload.next_before_seq || "";
  }

  // -- rules and quotas ---------------------------------------------------------------------
  async function loadRules() {
    const range = document.getElementById("range").value || config.default_range_s;
    const payload = await getJSON("/api/analyst/rules?range=" + encodeURIComponent(range));
    const max = Math.max(1, ...payload.rules.map((r) => r.hits));
    document.querySelector("#an-rules tbody").replaceChildren(...payload.rules.map((r) => {
      const bar = h("div", { class: "an-bar-fill" });
      bar.style.width = (100 * r.hits / max).toFixed(1) + "%";
      return h("tr", { "data-rule": r.rule, "data-mode": r.mode, "data-hits": String(r.hits) },
        h("td", {}, txt(r.rule)),
        h("td", {}, h("span", { class: "an-badge " + (r.mode === "shadow" ? "an-shadow" : ""), text: r.mode })),
        h("td", {}, txt(r.label)), h("td", { text: r.action || "" }), h("td", { text: String(r.weight) }),
        h("td", { class: "an-num", text: fmt(r.hits) }), h("td", { class: "an-bar-cell" }, h("div", { class: "an-bar-track" }, bar)),
        h("td", {}, txt(r.reason)));
    }));
    document.querySelector("#an-quotas tbody").replaceChildren(...payload.quotas.map((q) => h("tr", { "data-label": q.label, "data-subject": q.subject, class: q.tripped ? "an-tripped" : "" },
      h("td", {}, txt(q.subject === "account" ? q.label + " (on accounts)" : q.label)), h("td", { class: "an-num", text: fmt(q.used) }), h("td", { class: "an-num", text: fmt(q.limit) }),
      h("td", { class: "an-num", text: fmt(q.remaining) }), h("td", { text: q.tripped ? "TRIPPED: label → review" : "ok" }))));
    setStatus("an-rules-status", `policy ${payload.policy_version} · hits over the selected range · quotas for ${payload.quotas.length ? payload.quotas[0].day : "today"} (UTC)`, "");
  }

  // -- health -------------------------------------------------------------------------------
  async function loadHealth() {
    const box = document.getElementById("an-health");
    let r;
    try {
      r = await getJSON("/api/analyst/health");
    } catch (err) {
      box.dataset.verdict = "unknown";
      box.replaceChildren(h("span", { class: "an-badge an-verdict-unknown", text: "health unknown" }), txt(err.message));
      return;
    }
    box.dataset.verdict = r.verdict;
    const items = [h("span", { class: "an-badge an-verdict-" + r.verdict, text: "pipeline " + r.verdict })];
    if (r.ingest) items.push(h("span", { class: "an-fact", text: "ingest " + fmt(r.ingest.posts_per_s) + " posts/s" }));
    for (const s of r.streams || []) {
      const c = s.consumers && s.consumers[0];
      items.push(h("span", { class: "an-fact" }, txt(s.name + ": " + (c ? "lag " + fmt(c.lag_s) + " s (" + fmt(c.lag_records) + " records)" : s.status))));
    }
    if (r.scoring && r.scoring.error_records_last_hour !== undefined) items.push(h("span", { class: "an-fact", text: "error records (1 h): " + fmt(r.scoring.error_records_last_hour) }));
    for (const [name, info] of Object.entries((r.scoring && r.scoring.endpoints) || {})) items.push(h("span", { class: "an-fact" }, txt("endpoint " + name + ": " + info.status)));
    if (r.error) items.push(h("span", { class: "an-fact an-status-error" }, txt(r.error)));
    const problems = h("ul", { class: "an-problems" }, ...(r.problems || []).map((p) => h("li", {}, txt(p.part + ": " + p.what + (p.since ? " (since " + when(p.since) + ")" : "")))));
    box.replaceChildren(h("div", { class: "an-health-line" }, ...items), problems);
  }

  // -- tabs and refresh ---------------------------------------------------------------------
  const LOADERS = { review: () => (state.review.paged ? null : loadReview(false)), campaigns: loadCampaigns, labels: loadLabels, rules: loadRules };

  function selectTab(tab) {
    state.tab = tab;
    document.querySelectorAll("#an-tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    document.querySelectorAll(".an-panel").forEach((p) => { p.hidden = p.dataset.panel !== tab; });
    refresh();
  }

  async function refresh() {
    if (state.inFlight) {
      state.again = true; // a tab switch during a refresh: load it right after
      return;
    }
    state.inFlight = true;
    state.again = false;
    try {
      await Promise.allSettled([loadHealth(), Promise.resolve().then(() => LOADERS[state.tab]()).catch((err) => {
        setStatus("an-" + state.tab + "-status", "Could not load: " + err.message, "error");
      })]);
    } finally {
      state.inFlight = false;
      if (state.again) refresh();
    }
  }

  function start() {
    document.querySelectorAll("#an-tabs button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
    document.getElementById("an-review-more").addEventListener("click", () => {
      state.review.paged = true;
      loadReview(true).catch((err) => setStatus("an-review-status", "Could not load: " + err.message, "error"));
    });
    document.getElementById("an-review-newest").addEventListener("click", () => {
      state.review.paged = false;
      refresh();
    });
    const older = document.getElementById("an-labels-older");
    older.addEventListener("click", () => { state.labelsBefore = Number(older.dataset.before) || null; refresh(); });
    document.getElementById("an-labels-newest").addEventListener("click", () => { state.labelsBefore = null; refresh(); });
    document.getElementById("range").addEventListener("change", () => { if (state.tab === "rules") refresh(); });
    selectTab(state.tab);
    setInterval(() => {
      const paused = document.getElementById("pause").getAttribute("aria-pressed") === "true";
      if (!paused && !document.hidden) refresh();
    }, config.refresh_ms);
  }

  start();
})();
