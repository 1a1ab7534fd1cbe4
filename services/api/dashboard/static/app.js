// Placement matching dashboard. No build step, no framework: each page's shell calls one
// function below, which loads its data from the authenticated JSON routes with the bearer token
// kept in sessionStorage (entered once on /dashboard/login). Data is put in the page with
// textContent only, never as HTML. Charts are inline SVG.
"use strict";

const TOKEN_KEY = "placement.token";
const ME_KEY = "placement.me";
const SVG_NS = "http://www.w3.org/2000/svg";
const LEVEL = {
  workplace_l1: "L1", workplace_l2: "L2", workplace_l3: "L3",
  fe_visit: "FE visit", fe_interaction: "FE talk",
};

// -- talking to the API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.field = body ? body.field : null;
    this.errors = (body && body.errors) || [];
  }
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function signOut(next) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ME_KEY);
  const query = next ? `?next=${encodeURIComponent(next)}` : "";
  location.assign(`/dashboard/login${query}`);
}

async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401) { signOut(location.pathname + location.search); throw new ApiError(401, null); }
  if (!response.ok) {
    let detail = null;
    try { detail = await response.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return raw ? response : response.json();
}

async function whoami() {
  const cached = sessionStorage.getItem(ME_KEY);
  if (cached) return JSON.parse(cached);
  const me = await api("/views/me");
  sessionStorage.setItem(ME_KEY, JSON.stringify(me));
  return me;
}

// -- small DOM helpers ---------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (selector) => document.querySelector(selector);
const pct = (value) => `${Number(value).toFixed(1)}%`;
const num = (value) => Number(value).toLocaleString("en-HK");
const label = (text) => String(text).replaceAll("_", " ");

function fill(tbody, rows, columns, empty) {
  tbody.replaceChildren();
  if (!rows.length) {
    tbody.append(h("tr", {}, h("td", { colspan: columns, class: "empty" }, empty)));
    return;
  }
  for (const row of rows) tbody.append(row);
}

function status(message) { $("#status").textContent = message || ""; }

function kpi(title, value, note, tone) {
  return h("div", { class: `kpi ${tone || ""}` },
    h("div", { class: "label" }, title), h("div", { class: "value" }, value),
    note ? h("div", { class: "note" }, note) : null);
}

function meter(fraction, title) {
  const width = Math.max(0, Math.min(1, fraction)) * 100;
  const bar = h("span", { class: "meter", role: "img", "aria-label": title });
  bar.append(h("span", { style: `width:${width}%` }));
  return bar;
}

function problem(error) {
  const box = h("div", { class: "result-bad" }, error.message);
  if (error.errors && error.errors.length > 1) {
    box.append(h("ul", {}, error.errors.slice(0, 8).map((p) =>
      h("li", {}, `${p.line ? `line ${p.line}, ` : ""}${p.field}: ${p.message}`))));
  }
  return box;
}

function schoolOf(me) {
  if (me.role === "careers") return me.tenant;
  const school = new URLSearchParams(location.search).get("school");
  if (!school) throw new Error("Add ?school=SCHOOL_ID to the address to see a school as admin.");
  return school;
}

// -- charts (inline SVG) -------------------------------------------------------------------------

// Projected and achieved Benchmark 8 coverage per form, as horizontal bars, with the target.
function formChart(forms, target) {
  const rowH = 48, left = 46, right = 20, top = 26, width = 540;
  const plot = width - left - right;
  const height = top + rowH * forms.length + 28;
  const x = (value) => left + (plot * Math.min(100, value)) / 100;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Benchmark 8 coverage by form against the ${target}% target: ` +
      forms.map((f) => `${f.form} projected ${pct(f.projected_pct)}, achieved ${pct(f.achieved_pct)}`).join("; ") });
  for (const tick of [0, 25, 50, 75, 100]) {
    svg.append(s("line", { class: "grid-line", x1: x(tick), x2: x(tick), y1: top, y2: height - 24 }));
    svg.append(s("text", { x: x(tick), y: height - 8, "text-anchor": "middle" }, `${tick}%`));
  }
  // A value sits after its bar, or inside it (in white) when the bar reaches the right edge.
  const value = (v, y) => v > 82
    ? s("text", { x: x(v) - 6, y, "text-anchor": "end", fill: "#fff", style: "fill:#fff;font-weight:600" }, pct(v))
    : s("text", { x: x(v) + 6, y }, pct(v));
  forms.forEach((f, i) => {
    const y = top + i * rowH;
    svg.append(s("text", { x: left - 10, y: y + 25, "text-anchor": "end", "font-weight": "600" }, f.form));
    svg.append(s("rect", { x: left, y: y + 6, width: Math.max(0, x(f.projected_pct) - left), height: 17, rx: 3, fill: "var(--projected)" }));
    svg.append(s("rect", { x: left, y: y + 25, width: Math.max(0, x(f.achieved_pct) - left), height: 17, rx: 3, fill: "var(--achieved)" }));
    svg.append(value(f.projected_pct, y + 19));
    svg.append(value(f.achieved_pct, y + 38));
  });
  svg.append(s("line", { class: "target", x1: x(target), x2: x(target), y1: top - 4, y2: height - 24 }));
  svg.append(s("text", { class: "target-label", x: x(target), y: top - 10, "text-anchor": "middle" }, `target ${target}%`));
  return [svg, legend([["Projected", "var(--projected)"], ["Achieved", "var(--achieved)"], ["Target", "var(--target)", "line"]])];
}

// The share of students holding the pair over time, as a stepped line, with the target.
function fillChart(points, target) {
  if (!points.length) return [h("p", { class: "hint" }, "Nothing placed yet: the line starts with the first round.")];
  const width = 540, height = 230, left = 44, right = 16, top = 12, bottom = 30;
  const times = points.map((p) => new Date(p.at).getTime());
  const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 1000);
  const x = (t) => left + ((width - left - right) * (t - t0)) / (t1 - t0);
  const y = (v) => top + ((height - top - bottom) * (100 - Math.min(100, v))) / 100;
  const last = points[points.length - 1];
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Benchmark 8 projected coverage over time, from ${pct(points[0].pct)} to ${pct(last.pct)}; target ${target}%` });
  for (const tick of [0, 25, 50, 75, 100]) {
    svg.append(s("line", { class: "grid-line", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }));
    svg.append(s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, `${tick}%`));
  }
  let d = `M${x(times[0])},${y(points[0].pct)}`;
  points.forEach((p, i) => { if (i) d += ` H${x(times[i])} V${y(p.pct)}`; });
  d += ` H${width - right}`;
  svg.append(s("path", { d: `${d} V${y(0)} H${x(times[0])} Z`, fill: "var(--projected)", opacity: "0.12" }));
  svg.append(s("path", { d, fill: "none", stroke: "var(--projected)", "stroke-width": 2.5 }));
  svg.append(s("line", { class: "target", x1: left, x2: width - right, y1: y(target), y2: y(target) }));
  svg.append(s("text", { class: "target-label", x: width - right, y: y(target) - 6, "text-anchor": "end" }, `target ${target}%`));
  const fmt = (t) => new Date(t).toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  svg.append(s("text", { x: left, y: height - 8 }, fmt(t0)));
  svg.append(s("text", { x: width - right, y: height - 8, "text-anchor": "end" }, fmt(t1)));
  svg.append(s("circle", { cx: width - right, cy: y(last.pct), r: 4, fill: "var(--projected)" }));
  return [svg, legend([["Projected coverage", "var(--projected)"], ["Target", "var(--target)", "line"]])];
}

function rankChart(distribution) {
  const keys = Object.keys(distribution).sort((a, b) => (a === "unranked") - (b === "unranked") || Number(a) - Number(b));
  if (!keys.length) return [h("p", { class: "hint" }, "No placements.")];
  const width = 540, height = 210, left = 40, bottom = 34, top = 16;
  const most = Math.max(1, ...keys.map((k) => distribution[k]));
  const band = (width - left - 10) / keys.length;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Placements by rank: " + keys.map((k) => `${k === "unranked" ? "unranked" : `rank ${k}`} ${distribution[k]}`).join(", ") });
  svg.append(s("line", { class: "axis", x1: left, x2: width - 10, y1: height - bottom, y2: height - bottom }));
  keys.forEach((k, i) => {
    const value = distribution[k];
    const barH = ((height - top - bottom) * value) / most;
    const x0 = left + i * band + band * 0.15;
    svg.append(s("rect", { x: x0, y: height - bottom - barH, width: band * 0.7, height: barH, rx: 3,
      fill: k === "unranked" ? "#9aa5b1" : "var(--projected)" }));
    svg.append(s("text", { x: x0 + band * 0.35, y: height - bottom - barH - 4, "text-anchor": "middle" }, num(value)));
    svg.append(s("text", { x: x0 + band * 0.35, y: height - 12, "text-anchor": "middle" }, k === "unranked" ? "none" : `#${k}`));
  });
  return [svg];
}

function legend(items) {
  return h("div", { class: "legend", "aria-hidden": "true" },
    items.map(([text, color, kind]) => h("span", { class: kind || "", style: `--c:${color}` }, text)));
}

// -- pages ---------------------------------------------------------------------------------------

const PAGES = {};

PAGES.start = async (me) => {
  const home = { careers: "coverage", admin: "coverage", employer: "employer", student: "student" };
  location.replace(`/dashboard/${home[me.role] || "login"}`);
};

PAGES.login = async () => {
  // `placement up --demo` prints a link with the token in the fragment: never sent to a server.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const form = $("#login-form");
  const next = new URLSearchParams(location.search).get("next");
  const signIn = async (value) => {
    sessionStorage.setItem(TOKEN_KEY, value.trim());
    sessionStorage.removeItem(ME_KEY);
    try {
      await whoami();
      location.replace(next && next.startsWith("/dashboard") ? next : "/dashboard/");
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      $("#login-error").textContent = error.status === 401 || !error.status
        ? "That token was not accepted: check it, or ask for a new one." : error.message;
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); signIn(form.token.value); });
  if (fragment.get("token")) {
    history.replaceState(null, "", location.pathname + location.search);
    await signIn(fragment.get("token"));
  }
};

async function loadCoverage(school) {
  const view = await api(`/views/schools/${encodeURIComponent(school)}/coverage`);
  const below = view.projected_pct < view.target_pct;
  $("#kpis").replaceChildren(
    kpi("Senior students", num(view.students), "S4 to S6"),
    kpi("B8 projected", pct(view.projected_pct), `${num(view.b8_projected)} hold L1 + L2/L3 · target ${view.target_pct}%`, below ? "bad" : "good"),
    kpi("B8 achieved", pct(view.achieved_pct), `${num(view.b8_achieved)} attended and debriefed`),
    kpi("B9 visits", num(view.fe_visits), "students with a further-education visit this year"),
    kpi("B9 interactions", num(view.fe_interactions), "students who met FE staff, students or alumni"),
  );
  return view;
}

PAGES.coverage = async (me) => {
  const school = schoolOf(me);
  $("#school-name").textContent = school;
  const [view, gaps] = await Promise.all([
    loadCoverage(school),
    api(`/views/schools/${encodeURIComponent(school)}/uncovered`),
  ]);
  $("#form-chart").replaceChildren(...(view.forms.length ? formChart(view.forms, view.target_pct) : [h("p", { class: "hint" }, "No students registered yet.")]));
  $("#fill-chart").replaceChildren(...fillChart(view.fill, view.target_pct));
  fill($("#forms-table tbody"), view.forms.map((f) => h("tr", {},
    h("th", { scope: "row" }, f.form), h("td", { class: "num" }, num(f.students)),
    h("td", { class: "num" }, `${num(f.b8_projected)} (${pct(f.projected_pct)}) `, h("span", { class: `pill ${f.below_target ? "below" : "met"}` }, f.below_target ? "below target" : "on target")),
    h("td", { class: "num" }, `${num(f.b8_achieved)} (${pct(f.achieved_pct)})`),
    h("td", { class: "num" }, `${f.target_pct}%`), h("td", { class: "num" }, num(f.fe_visits)),
    h("td", { class: "num" }, num(f.fe_interactions)))), 7, "No students registered yet.");
  const draw = () => {
    const form = $("#uncovered-form").value, missing = $("#uncovered-missing").value;
    const rows = gaps.students.filter((g) => (!form || g.form === form) && (!missing || g.missing.includes(missing)));
    $("#uncovered-count").textContent = `${num(gaps.total)} of ${num(view.students)}` + (gaps.total > gaps.students.length ? ` (first ${gaps.students.length} listed)` : "");
    fill($("#uncovered-table tbody"), rows.map((g) => h("tr", {},
      h("td", {}, g.name || g.student_id, g.name ? h("div", { class: "hint mono" }, g.student_id) : null),
      h("td", {}, g.form),
      h("td", {}, g.missing.map((m) => h("span", { class: "pill level" }, m)).flatMap((p, i) => i ? [" ", p] : [p])),
      h("td", {}, h("ul", { class: "reasons" }, g.reasons.map((r) => h("li", {}, r)))))),
      4, "Every student holds the Benchmark 8 pair.");
  };
  $("#uncovered-form").addEventListener("change", draw);
  $("#uncovered-missing").addEventListener("change", draw);
  draw();
};

function offerRows(offers, withProvider) {
  return offers.map((o) => h("tr", { "data-state": o.state, "data-risk": o.risks.length ? "yes" : "no" },
    h("td", {}, o.title, h("div", { class: "hint mono" }, o.offer_id)),
    withProvider ? h("td", {}, o.provider_name) : null,
    h("td", {}, h("span", { class: "pill level" }, LEVEL[o.kind] || o.kind)),
    h("td", { class: "nowrap" }, o.first_day),
    h("td", { class: "num" }, `${num(o.placed)} / ${num(o.capacity)}`),
    h("td", { class: "nowrap" }, meter(o.fill_pct / 100, `${pct(o.fill_pct)} filled`), pct(o.fill_pct)),
    h("td", { class: "num" }, num(o.ranked_by)),
    h("td", {}, h("span", { class: `pill ${o.state.split(" ")[0]}` }, o.state)),
    withProvider ? h("td", {}, o.risks.length ? o.risks.map((r) => h("span", { class: "pill risk" }, label(r))) : "none") : null));
}

PAGES.offers = async (me) => {
  const view = me.role === "employer"
    ? await api(`/views/providers/${encodeURIComponent(me.tenant)}/offers`)
    : await api("/views/offers");
  $("#kpis").replaceChildren(
    kpi("Places filled", pct(view.fill_pct), `${num(view.placed)} of ${num(view.capacity)} places`),
    kpi("Oversubscribed", num(view.oversubscribed), "ranked by more students than places", view.oversubscribed ? "" : "good"),
    kpi("Unfilled", num(view.unfilled), "no student placed yet", view.unfilled ? "bad" : "good"),
    kpi("With risk flags", num(view.with_risks), "insurance, consent, pre-visit…", view.with_risks ? "bad" : "good"),
  );
  const rows = offerRows(view.offers, true);
  let current = "";
  const draw = () => fill($("#offers-table tbody"), rows.filter((r) =>
    !current || (current === "risk" ? r.dataset.risk === "yes" : r.dataset.state === current)), 9, "No offers match.");
  document.querySelectorAll("[data-filter]").forEach((chip) => chip.addEventListener("click", () => {
    current = chip.dataset.filter;
    document.querySelectorAll("[data-filter]").forEach((c) => c.setAttribute("aria-pressed", String(c === chip)));
    draw();
  }));
  draw();
};

async function loadRounds(school) {
  const rounds = await api(`/views/schools/${encodeURIComponent(school)}/rounds`);
  fill($("#rounds-table tbody"), rounds.map((r) => h("tr", {},
    h("td", {}, h("a", { href: `/dashboard/rounds/${encodeURIComponent(r.round_id)}` }, r.round_id)),
    h("td", {}, r.mode), h("td", {}, h("span", { class: `pill ${r.status}` }, r.status)),
    h("td", { class: "num" }, `${Math.round(100 * r.progress)}%`),
    h("td", {}, r.requested_at.slice(0, 19).replace("T", " ")),
    h("td", {}, r.metrics ? `${num(r.metrics.matched_students)} of ${num(r.metrics.students)} placed · B8 ${pct(r.metrics.b8_coverage_pct)}` : r.message))),
  6, "No rounds yet.");
}

PAGES.careers = async (me) => {
  const school = schoolOf(me);
  $("#school-name").textContent = school;
  const base = `/schools/${encodeURIComponent(school)}`;
  let known = (await Promise.all([loadCoverage(school), loadRounds(school)]))[0].students;

  $("#import-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("#import-file").files[0];
    const out = $("#import-result");
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    out.replaceChildren(h("p", { class: "hint" }, `Importing ${file.name}…`));
    try {
      const accepted = await api(`${base}/students/import`, { method: "POST", form });
      out.replaceChildren(h("div", { class: "result-ok" },
        `${num(accepted.students)} students accepted from ${file.name}; they appear once the service has applied them.`));
      const before = known;
      waitFor(async () => {
        known = (await loadCoverage(school)).students;
        return known > before;  // re-registered students do not add to the count
      }, 20);
    } catch (error) { out.replaceChildren(problem(error)); }
  });

  $("#round-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const mode = new FormData(event.target).get("mode");
    const out = $("#round-result");
    const button = event.target.querySelector("button");
    button.disabled = true;
    try {
      const accepted = await api("/rounds", { method: "POST", json: { scope: "school", school_ids: [school], mode } });
      out.replaceChildren(h("div", { class: "result-ok" }, `Round requested (${mode}). `,
        h("a", { href: `/dashboard/rounds/${encodeURIComponent(accepted.round_id)}` }, "Follow its progress")));
      waitFor(async () => {
        await loadRounds(school);
        try {
          const round = await api(`/rounds/${encodeURIComponent(accepted.round_id)}`);
          if (round.status === "done" || round.status === "failed") { await loadCoverage(school); return true; }
        } catch (error) { if (error.status !== 404) throw error; }
        return false;
      }, 120);
    } catch (error) { out.replaceChildren(problem(error)); }
    finally { button.disabled = false; }
  });

  $("#export").addEventListener("click", async () => {
    const out = $("#export-result");
    try {
      const response = await api(`${base}/allocations.csv`, { raw: true });
      const blob = await response.blob();
      const link = h("a", { href: URL.createObjectURL(blob), download: `allocations-${school}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      const rows = (await blob.text()).trim().split("\n").length - 1;
      out.textContent = ` ${num(rows)} allocations exported.`;
    } catch (error) { out.textContent = ` ${error.message}`; }
  });
};

// Poll `check` once a second until it says done (or `seconds` pass); no fixed waits elsewhere.
function waitFor(check, seconds) {
  const deadline = Date.now() + seconds * 1000;
  const tick = async () => {
    let done = false;
    try { done = await check(); } catch (error) { status(error.message); return; }
    if (!done && Date.now() < deadline) setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

PAGES.round = async () => {
  const roundId = document.body.dataset.roundId;
  const path = `/views/rounds/${encodeURIComponent(roundId)}`;
  const show = (record) => {
    const value = Math.round(100 * record.progress);
    $("#progress").setAttribute("aria-valuenow", String(value));
    $("#progress .bar").style.width = `${value}%`;
    const took = record.started_at && record.finished_at
      ? ` in ${((new Date(record.finished_at) - new Date(record.started_at)) / 1000).toFixed(1)} s` : "";
    $("#round-state").replaceChildren(h("span", { class: `pill ${record.status}` }, record.status),
      ` ${value}%${took} · ${record.mode} · ${record.message || "queued"}`);
  };
  const poll = async () => {
    let summary;
    try { summary = await api(path); } catch (error) {
      if (error.status === 404) { setTimeout(poll, 700); return; }
      throw error;
    }
    show(summary.round);
    if (summary.round.status === "done" || summary.round.status === "failed") { result(summary); return; }
    setTimeout(poll, 700);
  };
  await poll();
};

function result(summary) {
  const m = summary.round.metrics;
  $("#summary").hidden = false;
  if (!m) { $("#kpis").replaceChildren(kpi("Result", summary.round.status, summary.round.message, "bad")); return; }
  $("#kpis").replaceChildren(
    kpi("Students placed", num(m.matched_students), `of ${num(m.students)} in the round`),
    kpi("Placements", num(m.placements), `${num(m.offers)} offers`),
    kpi("B8 pair", pct(m.b8_coverage_pct), `lowest school ${pct(m.lowest_school_coverage_pct)}`),
    kpi("First choice", pct(100 * m.first_choice_share), m.mean_rank ? `mean rank ${m.mean_rank.toFixed(2)}` : "no ranked placements"),
    kpi("Optimality", m.proven_optimal ? "proven" : "not proven", `${m.proven_optimal ? m.method : m.optimality || m.method}, ${m.solve_seconds.toFixed(2)} s`, m.proven_optimal ? "good" : ""),
  );
  $("#rank-chart").replaceChildren(...rankChart(m.rank_distribution));
  fill($("#schools-table tbody"), m.schools.map((c) => h("tr", {},
    h("th", { scope: "row" }, c.school_id), h("td", { class: "num" }, num(c.students)),
    h("td", { class: "num" }, `${num(c.completed)} (${pct(c.coverage_pct)})`), h("td", { class: "num" }, `${c.target_pct}%`))),
  4, "No schools.");
  const note = summary.round.mode === "commit" ? "Every student of the round got a placement." : "A preview places nobody; commit it to see who is left.";
  $("#unmatched-count").textContent = summary.round.mode === "commit" ? `${num(summary.unmatched_total)}` : "";
  fill($("#unmatched-table tbody"), summary.unmatched.map((u) => h("tr", {},
    h("td", {}, u.name || u.student_id, u.name ? h("div", { class: "hint mono" }, u.student_id) : null),
    h("td", {}, u.form), h("td", {}, h("ul", { class: "reasons" }, u.reasons.map((r) => h("li", {}, r)))))),
  3, note);
}

PAGES.student = async (me) => {
  const student = me.role === "student" ? me.tenant : new URLSearchParams(location.search).get("student");
  if (!student) throw new Error("Add ?student=STUDENT_ID to the address.");
  $("#student-name").textContent = student;
  const base = `/students/${encodeURIComponent(student)}`;
  const [offers, prefs, allocations] = await Promise.all([
    api(`${base}/offers`), api(`${base}/preferences`), api(`${base}/allocations`),
  ]);
  const byId = Object.fromEntries([...offers.eligible, ...offers.ineligible].map((o) => [o.offer_id, o]));
  let ranking = prefs.ranked.filter((id) => byId[id]);
  const when = (o) => o.sessions.length ? `${o.sessions[0].date} ${o.sessions[0].start.slice(0, 5)}` : "";

  const drawRanking = () => {
    const list = $("#ranking");
    list.replaceChildren(...ranking.map((id, i) => {
      const o = byId[id];
      return h("li", {},
        h("span", { class: "title" }, o.title, h("small", {}, `${o.provider_name} · ${LEVEL[o.kind]} · ${when(o)}`)),
        h("button", { type: "button", class: "small", "aria-label": `Move ${o.title} up`, disabled: i === 0, onclick: () => { [ranking[i - 1], ranking[i]] = [ranking[i], ranking[i - 1]]; redraw(); } }, "↑"),
        h("button", { type: "button", class: "small", "aria-label": `Move ${o.title} down`, disabled: i === ranking.length - 1, onclick: () => { [ranking[i + 1], ranking[i]] = [ranking[i], ranking[i + 1]]; redraw(); } }, "↓"),
        h("button", { type: "button", class: "small", "aria-label": `Remove ${o.title}`, onclick: () => { ranking = ranking.filter((x) => x !== id); redraw(); } }, "Remove"));
    }));
    $("#ranking-empty").hidden = ranking.length > 0;
  };
  const drawEligible = () => fill($("#eligible-table tbody"), offers.eligible.map((o) => h("tr", {},
    h("td", {}, o.title, h("div", { class: "hint" }, `${o.provider_name} · ${label(o.sector)} · ${label(o.district)}`)),
    h("td", {}, h("span", { class: "pill level" }, LEVEL[o.kind])),
    h("td", { class: "nowrap" }, when(o)),
    h("td", { class: "nowrap" }, o.deadline_passed ? h("span", { class: "pill below" }, "closed") : (o.preference_deadline || "").slice(0, 10) || "any time"),
    h("td", {}, ranking.includes(o.offer_id) ? h("span", { class: "hint" }, `#${ranking.indexOf(o.offer_id) + 1}`)
      : h("button", { type: "button", class: "small", disabled: o.deadline_passed, "aria-label": `Add ${o.title} to my ranking`,
        onclick: () => { ranking.push(o.offer_id); redraw(); } }, "Add")))),
  5, "No open offer fits you yet.");
  const redraw = () => { drawRanking(); drawEligible(); };
  redraw();
  fill($("#ineligible-table tbody"), offers.ineligible.map((o) => h("tr", {},
    h("td", {}, o.title, h("div", { class: "hint" }, o.provider_name)), h("td", {}, LEVEL[o.kind]),
    h("td", {}, h("ul", { class: "reasons" }, o.reasons.map((r) => h("li", {}, r)))))), 3, "Every open offer is open to you.");
  fill($("#allocations-table tbody"), allocations.map((a) => h("tr", {},
    h("td", {}, a.offer_title, h("div", { class: "hint" }, a.provider_name)), h("td", {}, LEVEL[a.kind]),
    h("td", {}, a.rank ? `#${a.rank}` : "not ranked"),
    h("td", {}, h("span", { class: `pill ${a.status}` }, a.status), a.reason ? ` ${a.reason}` : ""))), 4, "No placements yet: they appear after your school runs a round.");

  $("#save-ranking").addEventListener("click", async () => {
    const out = $("#ranking-result");
    try {
      await api(`${base}/preferences`, { method: "PUT", json: { ranked: ranking } });
      out.replaceChildren(h("div", { class: "result-ok" }, `Saved: ${ranking.length} offer${ranking.length === 1 ? "" : "s"} ranked.`));
    } catch (error) { out.replaceChildren(problem(error)); }
  });
};

async function loadProviderOffers(provider) {
  const view = await api(`/views/providers/${encodeURIComponent(provider)}/offers`);
  fill($("#offers-table tbody"), offerRows(view.offers, false), 7, "No offers yet.");
  return view;
}

PAGES.employer = async (me) => {
  const provider = me.role === "employer" ? me.tenant : new URLSearchParams(location.search).get("provider");
  if (!provider) throw new Error("Add ?provider=PROVIDER_ID to the address.");
  $("#provider-name").textContent = provider;
  const form = $("#offer-form");
  const view = await loadProviderOffers(provider);
  if (view.offers.length) form.provider_name.value = view.offers[0].provider_name;
  const insurance = $("#insurance");
  const toggle = () => { insurance.hidden = !["workplace_l2", "workplace_l3"].includes(form.kind.value); };
  form.kind.addEventListener("change", toggle);
  toggle();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    $("#offer-error").textContent = "";
    $("#offer-result").textContent = "";
    const v = (name) => form[name].value.trim();
    const body = {
      offer_id: v("offer_id"), provider_id: provider, provider_name: v("provider_name"), title: v("title"),
      kind: v("kind"), sector: v("sector"), district: v("district"), period: v("period"),
      sessions: [{ date: v("date"), start: v("start"), end: v("end") }],
      capacity: Number(v("capacity")), requires_interview: form.requires_interview.checked,
      prerequisites: {
        required_subjects: v("subjects") ? v("subjects").split(/[;,]/).map((x) => x.trim().toLowerCase()).filter(Boolean) : [],
        min_form: v("min_form") || null,
      },
    };
    if (!insurance.hidden && ["insurer", "policy_number", "valid_from", "expires"].some((n) => v(n))) {
      body.insurance = { insurer: v("insurer"), policy_number: v("policy_number"), valid_from: v("valid_from"), expires: v("expires") };
    }
    if (v("deadline")) body.preference_deadline = `${v("deadline")}T23:59:00+08:00`;
    try {
      const accepted = await api("/offers", { method: "POST", json: body });
      $("#offer-result").replaceChildren(h("div", { class: "result-ok" },
        `Offer ${body.offer_id} submitted (event ${accepted.event_id.slice(0, 8)}…); students can rank it once it is listed below.`));
      waitFor(async () => (await loadProviderOffers(provider)).offers.some((o) => o.offer_id === body.offer_id), 20);
    } catch (error) {
      $("#offer-error").textContent = error.message;
      const field = (error.field || "").split(".");
      const near = { insurance: "insurer", sessions: "date", prerequisites: "subjects", preference_deadline: "deadline" };
      const last = field[field.length - 1];
      const input = (last !== "insurance" && form.elements.namedItem(last)) || form.elements.namedItem(near[field[0]] || field[0]);
      if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    }
  });
};

// -- start ---------------------------------------------------------------------------------------

async function boot() {
  const page = document.body.dataset.page;
  if (page === "login") { await PAGES.login(); return; }
  if (!token()) { signOut(location.pathname + location.search); return; }
  const signOutButton = $("#sign-out");
  if (signOutButton) signOutButton.addEventListener("click", () => signOut());
  try {
    const me = await whoami();
    document.querySelectorAll("[data-roles]").forEach((item) => {
      item.hidden = !item.dataset.roles.split(" ").includes(me.role);
    });
    $("#who").textContent = `${me.role}${me.tenant ? ` · ${me.tenant}` : ""}`;
    await PAGES[page](me);
    document.body.dataset.ready = "true";
  } catch (error) {
    if (error.status !== 401) status(error.message);
    document.body.dataset.ready = "error";
  }
}

document.addEventListener("DOMContentLoaded", boot);
