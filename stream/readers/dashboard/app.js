// The dashboard: reads the JSON API, redraws on Server-Sent Events from /api/live.
"use strict";

const $ = (id) => document.getElementById(id);
// The token lives in this tab's sessionStorage only (gone when the tab closes), never in
// localStorage or a URL; the live stream is opened with a short-lived ticket instead.
const TOKEN_KEY = "sentistream-token";
localStorage.removeItem(TOKEN_KEY);  // where earlier versions kept it
const state = { brand: null, token: sessionStorage.getItem(TOKEN_KEY) || "",
                posts: 0, updates: 0, timer: null, last: 0, alertIds: new Set(),
                alertsLoaded: false, source: null, connected: false };
const SPAN = { "1m": "-60m", "1h": "-48h", "1d": "-30d" };
const KIND = { sentiment_drop: "sentiment drop", sentiment_rise: "sentiment rise",
               volume_spike: "volume spike" };

async function api(path, params, method = "GET") {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== null) url.searchParams.set(k, v);
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const res = await fetch(url, { headers, method });
  if (res.status === 401) {
    const token = prompt("This sentistream API needs a token (SENTISTREAM_API_TOKEN):");
    if (token) { state.token = token; sessionStorage.setItem(TOKEN_KEY, token);
                 return api(path, params, method); }
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

const fmt = {
  signed: (v) => (v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + v.toFixed(3)),
  pct: (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"),
  int: (v) => (v ?? 0).toLocaleString("en-US"),
};

function setStatus(text) { $("status").textContent = text; }

async function loadBrands() {
  // The 20 busiest brands: the list costs the same with ten or a hundred thousand brands.
  const data = await api("/api/brands", { window: $("window").value, limit: 20 });
  const select = $("brand");
  const names = data.brands.map((b) => b.brand);
  const wanted = decodeURIComponent(location.hash.slice(1)) || state.brand || names[0] || null;
  // A brand being watched stays selectable when it drops out of the top 20.
  if (wanted && wanted === state.brand && !names.includes(wanted)) names.push(wanted);
  const current = [...select.options].map((o) => o.value);
  if (names.join("\u0000") !== current.join("\u0000")) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  if (wanted && names.includes(wanted)) select.value = wanted;
  state.brand = select.value || null;
  Charts.hbars($("chart-sov"), data.brands.filter((b) => b.n).map((b) => (
    { label: b.brand, value: b.share_of_voice || 0, me: b.brand === state.brand })));
  $("sov-window").textContent = "last " + data.window;
  return data;
}

function showSummary(s) {
  $("card-n").textContent = fmt.int(s.n);
  $("card-mix").textContent = `${fmt.int(s.positive)} positive · ${fmt.int(s.neutral)} neutral · ` +
                              `${fmt.int(s.negative)} negative (last ${s.window})`;
  for (const [id, v] of [["card-nss", s.nss], ["card-int", s.mean_intensity]]) {
    $(id).textContent = fmt.signed(v);
    $(id).className = "v" + (v > 0.05 ? " good" : v < -0.05 ? " bad" : "");
  }
  showLanguages(s);
  $("card-sov").textContent = fmt.pct(s.share_of_voice);
  $("card-sov-s").textContent = `of ${s.brands_in_window} brands with posts`;
  $("card-authors").textContent = fmt.int(s.unique_authors);
  $("card-authors-s").textContent = `HyperLogLog, ±0.81% · ${fmt.int(s.reposts)} reposts`;
}

// Post texts come from the public: every one goes in with textContent, never as HTML.
function exampleLine(e, term) {
  const div = document.createElement("div"); div.className = "ex";
  div.textContent = (term ? term + ": " : "") + "“" + e.text + "” · " + e.id;
  return div;
}

function driverItem(d) {
  const li = document.createElement("li");
  const term = document.createElement("span"); term.className = "term"; term.textContent = d.term;
  const z = document.createElement("span"); z.className = "z";
  z.textContent = `z ${d.z.toFixed(1)} · ${fmt.int(d.count)} posts`;
  li.append(term, z, ...d.examples.map((e) => exampleLine(e)));
  return li;
}

function showWhy(w) {
  $("why-window").textContent = `last ${w.window} (whole hours) against the brand's baseline`;
  fill($("why-neg"), w.negative, driverItem, "no term stands out");
  fill($("why-pos"), w.positive, driverItem, "no term stands out");
}

// The brand's posts per language in the window (busiest first, as the API orders them); posts
// in languages the model does not score count here and in "posts", never in NSS or intensity.
function showLanguages(s) {
  const mix = Object.entries(s.languages || {});
  const total = mix.reduce((sum, [, n]) => sum + n, 0);
  Charts.hbars($("chart-lang"), mix.slice(0, 10).map(([code, n]) => (
    { label: code, value: total ? n / total : 0, me: false })));
  $("lang-window").textContent = "last " + s.window;
  $("lang-note").textContent = s.unsupported_language
    ? `${fmt.int(s.unsupported_language)} post${s.unsupported_language === 1 ? "" : "s"} ` +
      "in languages the model does not score"
    : "";
}

function showTimeline(t) {
  const starts = t.buckets.map((b) => b.start);
  Charts.lines($("chart-sentiment"), starts, [
    { label: "NSS", color: Charts.css("--accent"), values: t.buckets.map((b) => b.nss) },
    { label: "mean intensity", color: "#d2a8ff", dash: [5, 3],
      values: t.buckets.map((b) => b.mean_intensity) },
  ], t.resolution, -1, 1);
  Charts.stacked($("chart-volume"), starts, t.buckets, t.resolution);
}

function postItem(p) {
  const li = document.createElement("li");
  const i = document.createElement("span"); i.className = "i";
  i.style.color = p.intensity >= 0 ? Charts.css("--pos") : Charts.css("--neg");
  i.textContent = fmt.signed(p.intensity);
  const text = document.createElement("span"); text.textContent = p.text;
  const when = document.createElement("div"); when.className = "t";
  when.textContent = new Date(p.created_at * 1000).toISOString().replace(".000Z", "Z") +
                     " · " + p.id;
  li.append(i, text, when);
  return li;
}

function fill(list, items, make, empty) {
  if (!items.length) {
    const li = document.createElement("li"); li.className = "empty"; li.textContent = empty;
    list.replaceChildren(li);
  } else list.replaceChildren(...items.map(make));
}

function alertItem(a) {
  const li = document.createElement("li");
  li.className = a.kind.replace("sentiment_", "");
  const what = a.kind === "volume_spike"
    ? `${fmt.int(a.n)} posts vs ${a.baseline.toFixed(1)} usual`
    : `${a.metric} ${fmt.signed(a.value)} vs ${fmt.signed(a.baseline)}`;
  const head = document.createElement("b");
  head.textContent = `${KIND[a.kind] || a.kind} · ${a.brand}`;
  const body = document.createElement("span");
  body.textContent = ` ${what} (z ${a.z.toFixed(1)})`;
  const when = document.createElement("div"); when.className = "t";
  when.textContent = `bucket ${a.time} · detected ${a.detected_at}`;
  li.append(head, body, when);
  const side = a.drivers ? a.drivers[a.drivers.side] || [] : [];
  if (side.length) {
    const drv = document.createElement("div"); drv.className = "drv";
    drv.textContent = "drivers: " + side.map((d) => d.term).join(", ");
    li.append(drv);
  }
  for (const e of a.examples || []) li.append(exampleLine(e, e.term));
  if (state.alertsLoaded && !state.alertIds.has(a.id)) li.classList.add("fresh");
  return li;
}

async function refresh() {
  state.last = Date.now();
  try {
    await loadBrands();
    const alerts = await api("/api/alerts", { limit: 30 });
    fill($("alerts"), alerts.alerts, alertItem, "no alerts");
    alerts.alerts.forEach((a) => state.alertIds.add(a.id));
    state.alertsLoaded = true;  // later alerts are new ones: highlight them
    if (!state.brand) { setStatus("no brands yet: start a worker and produce posts"); return; }
    const b = state.brand, w = $("window").value, r = $("resolution").value;
    const [summary, timeline, top, why] = await Promise.all([
      api("/api/query", { brand: b, window: w }),
      api("/api/timeline", { brand: b, resolution: r, from: SPAN[r] }),
      api("/api/top", { brand: b, window: w, limit: 8 }),
      api("/api/why", { brand: b, window: w }),
    ]);
    showSummary(summary);
    showTimeline(timeline);
    showWhy(why);
    fill($("top-pos"), top.positive, postItem, "none in this window");
    fill($("top-neg"), top.negative, postItem, "none in this window");
    setStatus("updated " + new Date().toISOString().slice(11, 19) + " UTC");
  } catch (err) {
    setStatus("error: " + err.message);
  }
}

// Coalesce bursts of announcements: at most one refresh per second.
function scheduleRefresh() {
  if (state.timer) return;
  const wait = Math.max(0, 1000 - (Date.now() - state.last));
  state.timer = setTimeout(() => { state.timer = null; refresh(); }, wait);
}

// EventSource cannot send headers: it opens /api/live with a ticket (valid about a minute)
// from POST /api/live/ticket. The browser reconnects by itself after a network error; when the
// server refuses that (an expired ticket), the source closes and a new ticket is fetched.
async function connectLive() {
  let ticket;
  try { ticket = (await api("/api/live/ticket", null, "POST")).ticket; }
  catch (err) { setStatus("live stream: " + err.message); setTimeout(connectLive, 5000); return; }
  const url = new URL("/api/live", location.origin);
  url.searchParams.set("ticket", ticket);
  const source = state.source = new EventSource(url);
  const live = $("live");
  source.addEventListener("hello", () => {
    live.classList.replace("off", "on");
    if (state.connected) scheduleRefresh();  // a reconnect: what was missed is re-read
    state.connected = true;
  });
  source.onerror = () => {
    live.classList.replace("on", "off");
    if (source.readyState === EventSource.CLOSED) setTimeout(connectLive, 2000);
  };
  // The server could not resend everything missed: re-read the aggregates.
  source.addEventListener("resync", () => scheduleRefresh());
  const pulse = () => { live.classList.add("pulse"); setTimeout(() => live.classList.remove("pulse"), 150); };
  // An update is a live announcement, shaped as documented in stream/schema/live.py
  // (Announcement.to_json; tests/stream/test_schema.py pins it): brands.<name>.n is what a batch
  // added to a brand, brands._all.n to every brand. A compact hint ({"truncated": true}) keeps
  // brands._all alone. Anything else is only a cue to re-read the API.
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data);
    const all = data.brands._all;
    state.posts += all ? all.n : Object.values(data.brands).reduce((s, c) => s + c.n, 0);
    state.updates += 1;
    $("live-counter").textContent = fmt.int(state.posts);
    $("live-updates").textContent = fmt.int(state.updates);
    pulse();
    scheduleRefresh();
  });
  source.addEventListener("alert", () => { pulse(); scheduleRefresh(); });
}

for (const id of ["window", "resolution"]) $(id).addEventListener("change", refresh);
$("brand").addEventListener("change", () => {
  state.brand = $("brand").value;
  history.replaceState(null, "", "#" + encodeURIComponent(state.brand));
  refresh();
});
window.addEventListener("resize", scheduleRefresh);
refresh().then(connectLive);
