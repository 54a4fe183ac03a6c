// photogate gallery. Plain ES module, no build step: the state lives in the
// URL (so a search can be bookmarked), the server checks the signed-in
// user's grants on every request, and state-changing requests carry the
// session's CSRF token.
import { thumbHashToDataURL } from "./vendor/thumbhash.js";

const $ = (id) => document.getElementById(id);
const API = "/gallery/api/";
const PAGE = 100;
const FILTERS = ["bucket", "prefix", "taken_after", "taken_before", "make", "model", "lens", "has_gps", "tag", "bbox"];

let session = null;
let items = [];        // the grid's photos, in order
let cursor = "";       // next page of the current search; "" = no more
let searchSeq = 0;     // drops answers of superseded searches
let loading = false;
let map = null, cluster = null, miniMap = null, miniMarker = null;
let current = -1;      // index in items of the photo in the viewer

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (session) headers["X-CSRF-Token"] = session.csrf;
  }
  const resp = await fetch(API + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data.error || {};
    if (resp.status === 401 && path !== "session") showSignIn();
    throw new APIError(resp.status, e.code || String(resp.status), e.message || resp.statusText);
  }
  return data;
}

// ---- state in the URL ----

function state() {
  const p = new URLSearchParams(location.search);
  const s = {};
  for (const k of [...FILTERS, "view", "photo"]) if (p.get(k)) s[k] = p.get(k);
  return s;
}

function setState(changes, { replace = false } = {}) {
  const s = { ...state(), ...changes };
  const p = new URLSearchParams();
  for (const k of [...FILTERS, "view", "photo"]) if (s[k]) p.set(k, s[k]);
  const url = location.pathname + (p.toString() ? "?" + p : "");
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
}

function searchParams(s, extra = {}) {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (s[k]) p.set(k, s[k]);
  if (s.taken_after) p.set("taken_after", s.taken_after + "T00:00:00Z");
  if (s.taken_before) p.set("taken_before", nextDay(s.taken_before) + "T00:00:00Z");
  if (s.has_gps) p.set("has_gps", "true");
  if (!s.sort) p.set("sort", "-taken");
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

function nextDay(d) {
  const t = new Date(d + "T00:00:00Z");
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

// ---- sign-in ----

function showSignIn() {
  session = null;
  $("app").hidden = true;
  $("signin").hidden = false;
  $("access-key").focus();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("signin-error").textContent = "";
  try {
    session = await api("session", {
      method: "POST",
      body: { access_key: $("access-key").value.trim(), secret_key: $("secret-key").value },
    });
    $("secret-key").value = "";
    start();
  } catch (e) {
    $("signin-error").textContent = e.message;
  }
});

$("new-bucket").addEventListener("click", async () => {
  const name = prompt("Name of the new bucket (lower-case letters, digits, dots and hyphens)");
  if (!name) return;
  try {
    session = await api("buckets", { method: "POST", body: { name: name.trim() } });
    history.pushState(null, "", location.pathname + "?bucket=" + encodeURIComponent(name.trim()));
    facetsFor = "";
    start();
  } catch (e) {
    $("status").textContent = `${e.code}: ${e.message}`;
  }
});

$("signout").addEventListener("click", async () => {
  try { await api("session", { method: "DELETE" }); } catch { /* signed out anyway */ }
  showSignIn();
});

// ---- the app ----

function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = session.user;
  $("new-bucket").hidden = !session.can_create_buckets;
  const s = state();
  const select = $("f-bucket");
  select.replaceChildren(...session.buckets.map((b) => new Option(b, b)));
  let notice = "";
  if (!s.bucket || !session.buckets.includes(s.bucket)) {
    if (session.buckets.length === 0) {
      $("status").textContent = "You have no bucket you may read." +
        (session.can_create_buckets ? " Make one with New bucket, then drop photos here." : "");
      return;
    }
    // A bookmark of a bucket this user may not read opens their own
    // first bucket instead, without the rest of the bookmark.
    if (s.bucket) notice = `You have no read grant on bucket ${s.bucket}; showing ${session.buckets[0]}. `;
    history.replaceState(null, "", location.pathname + "?bucket=" + encodeURIComponent(session.buckets[0]));
  }
  render().then(() => { if (notice) $("status").textContent = notice + $("status").textContent; });
}

window.addEventListener("popstate", () => { if (session) render(); });

async function render() {
  const s = state();
  fillForm(s);
  const mapView = s.view === "map";
  $("view-grid").setAttribute("aria-pressed", String(!mapView));
  $("view-map").setAttribute("aria-pressed", String(mapView));
  $("map-view").hidden = !mapView;
  $("grid").hidden = mapView;
  loadFacets(s);
  if (mapView) await loadMap(s); else await loadGrid(s);
  if (s.photo) openPhotoByKey(s.photo); else if ($("viewer").open) $("viewer").close();
}

function fillForm(s) {
  $("f-bucket").value = s.bucket || "";
  $("f-prefix").value = s.prefix || "";
  $("f-after").value = s.taken_after || "";
  $("f-before").value = s.taken_before || "";
  $("f-gps").checked = !!s.has_gps;
  $("f-tag").value = s.tag || "";
  for (const f of ["make", "model", "lens"]) {
    const sel = $("f-" + f);
    if (s[f] && ![...sel.options].some((o) => o.value === s[f])) sel.add(new Option(s[f], s[f]));
    sel.value = s[f] || "";
  }
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setState({
    bucket: $("f-bucket").value, prefix: $("f-prefix").value.trim(),
    taken_after: $("f-after").value, taken_before: $("f-before").value,
    make: $("f-make").value, model: $("f-model").value, lens: $("f-lens").value,
    has_gps: $("f-gps").checked ? "true" : "", tag: $("f-tag").value.trim(), bbox: "", photo: "",
  });
  render();
});
for (const id of ["f-bucket", "f-make", "f-model", "f-lens", "f-gps"]) {
  $(id).addEventListener("change", () => $("filters").requestSubmit());
}
$("f-clear").addEventListener("click", () => {
  const bucket = state().bucket;
  history.pushState(null, "", location.pathname + "?bucket=" + encodeURIComponent(bucket));
  render();
});
$("view-grid").addEventListener("click", () => { setState({ view: "" }); render(); });
$("view-map").addEventListener("click", () => { setState({ view: "map" }); render(); });

// ---- facets: camera lists and the timeline ----

let facetsFor = "";
async function loadFacets(s) {
  if (facetsFor === s.bucket) { renderTimeline(s); return; }
  facetsFor = s.bucket;
  const bucket = encodeURIComponent(s.bucket);
  try {
    for (const f of ["make", "model", "lens"]) {
      const data = await api(`facets?field=${f}&bucket=${bucket}`);
      const sel = $("f-" + f);
      sel.replaceChildren(new Option("any", ""), ...data.values.map((v) => new Option(`${v.value} (${v.count})`, v.value)));
      sel.value = state()[f] || "";
    }
    years = (await api(`facets?field=year&bucket=${bucket}`)).values
      .map((v) => ({ year: v.value, count: v.count })).sort((a, b) => b.year.localeCompare(a.year));
  } catch (e) {
    $("status").textContent = e.message;
  }
  renderTimeline(state());
}

let years = [];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function renderTimeline(s) {
  const tl = $("timeline");
  const nodes = [heading("Timeline")];
  const selYear = s.taken_after ? s.taken_after.slice(0, 4) : "";
  for (const y of years) {
    const b = button(`${y.year} (${y.count})`, () => pickRange(`${y.year}-01-01`, `${y.year}-12-31`));
    b.className = "year";
    if (y.year === selYear) b.setAttribute("aria-current", "true");
    nodes.push(b);
    if (y.year === selYear) {
      const months = document.createElement("div");
      months.className = "months";
      const counts = monthCounts[s.bucket + "/" + y.year];
      if (!counts) loadMonths(s.bucket, y.year);
      MONTHS.forEach((m, i) => {
        const mm = String(i + 1).padStart(2, "0");
        const last = new Date(Date.UTC(+y.year, i + 1, 0)).getUTCDate();
        const label = counts ? `${m} ${counts[i]}` : m;
        const mb = button(label, () => pickRange(`${y.year}-${mm}-01`, `${y.year}-${mm}-${last}`));
        if (counts && counts[i] === 0) mb.classList.add("empty");
        mb.setAttribute("aria-label", `${m} ${y.year}`);
        if (s.taken_after === `${y.year}-${mm}-01` && s.taken_before === `${y.year}-${mm}-${last}`) mb.setAttribute("aria-current", "true");
        months.append(mb);
      });
      nodes.push(months);
    }
  }
  if (s.taken_after || s.taken_before) nodes.push(button("All dates", () => pickRange("", "")));
  tl.replaceChildren(...nodes);
}

// Month counts per bucket and year, from the index's date index.
const monthCounts = {};
async function loadMonths(bucket, year) {
  try {
    const data = await api(`months?bucket=${encodeURIComponent(bucket)}&year=${year}`);
    monthCounts[bucket + "/" + year] = data.counts;
    renderTimeline(state());
  } catch { /* the months stay without counts */ }
}

function pickRange(after, before) {
  setState({ taken_after: after, taken_before: before, photo: "" });
  render();
}

function heading(text) { const h = document.createElement("h2"); h.textContent = text; return h; }
function button(text, onclick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.addEventListener("click", onclick);
  return b;
}

// ---- the grid ----

async function loadGrid(s) {
  const seq = ++searchSeq;
  items = []; cursor = "";
  $("grid").replaceChildren();
  $("status").textContent = "Loading…";
  await nextPage(s, seq);
}

async function nextPage(s, seq) {
  loading = true;
  try {
    const extra = { limit: String(PAGE) };
    if (cursor) extra.cursor = cursor;
    const data = await api("search?" + searchParams(s, extra));
    if (seq !== searchSeq) return;
    cursor = data.next_cursor || "";
    const start = items.length;
    items.push(...data.items);
    $("grid").append(...data.items.map((it, i) => tile(it, start + i)));
    $("status").textContent = items.length === 0 ? "No photos match." : `${items.length}${cursor ? "+" : ""} photos`;
  } catch (e) {
    if (seq === searchSeq) $("status").textContent = e.message;
  } finally {
    loading = false;
  }
}

new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && cursor && !loading && session && state().view !== "map") {
    nextPage(state(), searchSeq);
  }
}, { rootMargin: "800px" }).observe($("sentinel"));

function describe(it) {
  const parts = [it.key.split("/").pop()];
  const camera = [it.make, it.model].filter(Boolean).join(" ");
  if (camera) parts.push(camera);
  if (it.taken_at) parts.push(it.taken_at.slice(0, 10));
  return parts.join(", ");
}

function placeholder(it) {
  if (!it.placeholder) return "";
  try {
    const bin = atob(it.placeholder);
    return thumbHashToDataURL(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch { return ""; }
}

function tile(it, index) {
  const wrap = document.createElement("div");
  wrap.className = "tile";
  wrap.setAttribute("role", "listitem");
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.key = it.key;
  b.setAttribute("aria-label", "Open " + describe(it));
  b.addEventListener("click", () => openPhoto(index));
  const ph = placeholder(it);
  if (ph) {
    const p = document.createElement("img");
    p.className = "ph"; p.alt = ""; p.src = ph;
    b.append(p);
  } else {
    const label = document.createElement("span");
    label.className = "label"; label.textContent = (it.format || "photo").toUpperCase();
    b.append(label);
  }
  if (it.thumb) {
    const img = document.createElement("img");
    img.className = "thumb"; img.alt = describe(it); img.loading = "lazy"; img.decoding = "async";
    loadWithRetry(img, it.thumb);
    b.append(img);
  }
  wrap.append(b);
  return wrap;
}

// A rendition still being made answers 202 (not an image): try again a few
// times, the placeholder showing meanwhile (the thumbnail is transparent
// until it has loaded).
function loadWithRetry(img, url, attempt = 0) {
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.addEventListener("error", () => {
    if (attempt < 6) setTimeout(() => { img.removeAttribute("src"); loadWithRetry(img, url, attempt + 1); }, 1500 * (attempt + 1));
  }, { once: true });
  img.src = url;
}

// loadInto shows url in img once it has loaded, leaving what img shows
// until then.
function loadInto(img, url, isCurrent, attempt = 0) {
  const probe = new Image();
  probe.onload = () => { if (isCurrent()) img.src = url; };
  probe.onerror = () => { if (attempt < 6 && isCurrent()) setTimeout(() => loadInto(img, url, isCurrent, attempt + 1), 1500 * (attempt + 1)); };
  probe.src = url;
}

// ---- the photo view ----

async function openPhotoByKey(key) {
  const i = items.findIndex((it) => it.key === key);
  if (i >= 0) return openPhoto(i, { push: false });
  await showPhoto({ key, bucket: state().bucket }, -1);
}

async function openPhoto(index, { push = true } = {}) {
  const it = items[index];
  if (!it) return;
  if (push) setState({ photo: it.key });
  await showPhoto(it, index);
}

async function showPhoto(it, index) {
  current = index;
  const dlg = $("viewer");
  if (!dlg.open) dlg.showModal();
  $("v-prev").disabled = index <= 0;
  $("v-next").disabled = index < 0 || (index >= items.length - 1 && !cursor);
  $("v-image").src = placeholder(it) || "";
  $("v-image").alt = describe(it);
  $("v-caption").textContent = it.key;
  $("v-exif").replaceChildren();
  $("v-tag-status").textContent = "";
  let data;
  try {
    data = await api(`photo?bucket=${encodeURIComponent(it.bucket)}&key=${encodeURIComponent(it.key)}`);
  } catch (e) {
    $("v-caption").textContent = e.message;
    return;
  }
  if (current !== index) return;
  const item = data.item;
  if (data.preview) loadInto($("v-image"), data.preview, () => current === index && $("viewer").open);
  $("v-download").href = data.download;
  renderExif(item);
  renderTags(item.tags || {}, data.writable);
  renderMiniMap(item.gps);
}

function renderExif(it) {
  const rows = [
    ["Camera", [it.make, it.model].filter(Boolean).join(" ")],
    ["Lens", it.lens],
    ["Exposure", [it.exposure_time && it.exposure_time + " s", it.f_number && "f/" + it.f_number,
      it.iso && "ISO " + it.iso, it.focal_length && it.focal_length + " mm"].filter(Boolean).join(" · ")],
    ["Taken", it.taken_at ? takenAt(it) : ""],
    ["Dimensions", it.display_width ? `${it.display_width} × ${it.display_height}` : (it.width ? `${it.width} × ${it.height}` : "")],
    ["Format", it.format ? it.format.toUpperCase() : ""],
    ["Size", it.size ? bytes(it.size) : ""],
    ["Place", it.gps ? `${it.gps.lat.toFixed(5)}, ${it.gps.lon.toFixed(5)}` : ""],
  ];
  const nodes = [];
  for (const [k, v] of rows) {
    if (!v) continue;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.dataset.field = k.toLowerCase();
    nodes.push(dt, dd);
  }
  $("v-exif").replaceChildren(...nodes);
}

// takenAt shows the local time the camera recorded, with its offset when
// the file says: the moment in UTC shifted back by the offset.
function takenAt(it) {
  const t = new Date(it.taken_at);
  if (!it.taken_offset) return t.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  const m = /^([+-])(\d\d):(\d\d)$/.exec(it.taken_offset);
  if (!m) return it.taken_at;
  const mins = (m[1] === "-" ? -1 : 1) * (+m[2] * 60 + +m[3]);
  return new Date(t.getTime() + mins * 60000).toISOString().replace("T", " ").slice(0, 19) + " " + it.taken_offset;
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function renderTags(tags, writable) {
  const rows = $("v-tag-rows");
  rows.replaceChildren();
  for (const [k, v] of Object.entries(tags)) rows.append(tagRow(k, v, writable));
  $("v-tag-add").hidden = !writable;
  $("v-tags").querySelector("button[type=submit]").hidden = !writable;
}

function tagRow(k = "", v = "", writable = true) {
  const row = document.createElement("div");
  row.className = "tag-row";
  const key = document.createElement("input");
  key.value = k; key.placeholder = "key"; key.setAttribute("aria-label", "Tag key"); key.readOnly = !writable;
  const val = document.createElement("input");
  val.value = v; val.placeholder = "value"; val.setAttribute("aria-label", "Tag value"); val.readOnly = !writable;
  row.append(key, val);
  if (writable) row.append(button("Remove", () => row.remove()));
  return row;
}

$("v-tag-add").addEventListener("click", () => { const r = tagRow(); $("v-tag-rows").append(r); r.querySelector("input").focus(); });
$("v-tags").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const it = current >= 0 ? items[current] : { bucket: state().bucket, key: state().photo };
  const tags = {};
  for (const row of $("v-tag-rows").children) {
    const [k, v] = row.querySelectorAll("input");
    if (k.value.trim()) tags[k.value.trim()] = v.value;
  }
  $("v-tag-status").textContent = "Saving…";
  try {
    const item = await api("tags", { method: "PUT", body: { bucket: it.bucket, key: it.key, tags } });
    if (current >= 0) items[current] = { ...items[current], tags: item.tags };
    $("v-tag-status").textContent = "Saved.";
  } catch (e) {
    $("v-tag-status").textContent = `${e.code}: ${e.message}`;
  }
});

function renderMiniMap(gps) {
  const el = $("v-map");
  el.hidden = !gps;
  if (!gps || !window.L) return;
  if (!miniMap) {
    miniMap = L.map(el, { zoomControl: true, attributionControl: false, maxZoom: 18 });
    baseLayer(miniMap);
    miniMarker = L.circleMarker([0, 0], { radius: 7, color: "#c0392b", fillOpacity: 0.8 }).addTo(miniMap);
  }
  miniMarker.setLatLng([gps.lat, gps.lon]);
  miniMap.setView([gps.lat, gps.lon], session.tile_url ? 12 : 4);
  setTimeout(() => miniMap.invalidateSize(), 0);
}

$("v-prev").addEventListener("click", () => step(-1));
$("v-next").addEventListener("click", () => step(1));
$("v-close").addEventListener("click", () => $("viewer").close());
$("viewer").addEventListener("close", () => {
  current = -1;
  if (state().photo) setState({ photo: "" });
});
$("viewer").addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "INPUT") return;
  if (ev.key === "ArrowLeft") { ev.preventDefault(); step(-1); }
  if (ev.key === "ArrowRight") { ev.preventDefault(); step(1); }
});

async function step(delta) {
  if (current < 0) return;
  const next = current + delta;
  if (next >= items.length && cursor) await nextPage(state(), searchSeq);
  if (next >= 0 && next < items.length) openPhoto(next, { push: false }).then(() => setState({ photo: items[next].key }, { replace: true }));
}

// ---- the map ----

function baseLayer(m) {
  if (session.tile_url) {
    L.tileLayer(session.tile_url, { maxZoom: 18, attribution: "map tiles" }).addTo(m);
    return;
  }
  // No tile server (the default, and offline): a graticule every 15°.
  const style = { color: "#9aa5b1", weight: 1, opacity: 0.6, interactive: false };
  for (let lon = -180; lon <= 180; lon += 15) L.polyline([[-85, lon], [85, lon]], style).addTo(m);
  for (let lat = -75; lat <= 75; lat += 15) L.polyline([[lat, -180], [lat, 180]], style).addTo(m);
  L.polyline([[0, -180], [0, 180]], { ...style, weight: 2 }).addTo(m);
}

async function loadMap(s) {
  const seq = ++searchSeq;
  if (!map) {
    map = L.map("map", { worldCopyJump: true, minZoom: 1, maxZoom: 18 }).setView([20, 0], 2);
    baseLayer(map);
    cluster = L.markerClusterGroup({ showCoverageOnHover: false });
    map.addLayer(cluster);
  }
  setTimeout(() => map.invalidateSize(), 0);
  cluster.clearLayers();
  items = []; cursor = "";
  $("status").textContent = "Loading places…";
  let next = "", n = 0;
  const markers = [];
  try {
    do {
      const extra = { has_gps: "true", limit: "1000" };
      if (next) extra.cursor = next;
      const data = await api("search?" + searchParams(s, extra));
      if (seq !== searchSeq) return;
      for (const it of data.items) {
        if (!it.gps) continue;
        const index = items.length;
        items.push(it);
        const m = L.circleMarker([it.gps.lat, it.gps.lon], { radius: 6, color: "#1f6feb", fillOpacity: 0.7 });
        m.bindTooltip(describe(it));
        m.on("click", () => openPhoto(index));
        markers.push(m);
      }
      next = data.next_cursor || "";
      n++;
    } while (next && n < 10);
  } catch (e) {
    $("status").textContent = e.message;
    return;
  }
  cluster.addLayers(markers);
  $("status").textContent = `${markers.length} photos with a place${next ? " (the first 10000)" : ""}`;
  if (markers.length && !s.bbox) map.fitBounds(cluster.getBounds(), { maxZoom: 12, padding: [20, 20] });
}

$("map-search").addEventListener("click", () => {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  let w = b.getWest(), e = b.getEast();
  if (e - w >= 360) { w = -180; e = 180; }
  w = ((w + 540) % 360) - 180; e = ((e + 540) % 360) - 180;
  if (e === -180) e = 180;
  const box = [w, clamp(b.getSouth(), -90, 90), e, clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(5)).join(",");
  setState({ bbox: box, view: "" });
  render();
});

// ---- uploads ----

let form = null;
async function uploadForm(bucket, prefix) {
  if (form && form.bucket === bucket && form.prefix === prefix && new Date(form.expires) - Date.now() > 60000) return form;
  form = { ...(await api("upload-form", { method: "POST", body: { bucket, prefix } })), bucket };
  return form;
}

async function upload(files) {
  const s = state();
  if (!session.writable.includes(s.bucket)) {
    $("status").textContent = `You may not upload into ${s.bucket}.`;
    return;
  }
  const prefix = s.prefix && s.prefix.endsWith("/") ? s.prefix : "";
  let f;
  try { f = await uploadForm(s.bucket, prefix); } catch (e) { $("status").textContent = e.message; return; }
  const jobs = [...files].map((file) => uploadOne(f, prefix, file));
  await Promise.all(jobs);
  if (state().view !== "map") loadGrid(state());
}

function uploadOne(f, prefix, file) {
  const li = document.createElement("li");
  const name = document.createElement("span"); name.textContent = file.name;
  const bar = document.createElement("progress"); bar.max = file.size || 1; bar.value = 0;
  bar.setAttribute("aria-label", "Upload of " + file.name);
  const msg = document.createElement("span"); msg.className = "msg";
  li.append(name, bar, msg);
  $("uploads").append(li);
  const body = new FormData();
  body.set("key", prefix + file.name);
  body.set("Content-Type", file.type || "application/octet-stream");
  for (const [k, v] of Object.entries(f.fields)) body.set(k, v);
  body.set("file", file);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", f.url);
    xhr.setRequestHeader("X-CSRF-Token", session.csrf);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; } });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = bar.max; msg.textContent = "uploaded"; li.className = "done";
      } else {
        li.className = "failed";
        msg.textContent = "refused: " + s3Message(xhr.responseText, xhr.status);
      }
      resolve();
    });
    xhr.addEventListener("error", () => { li.className = "failed"; msg.textContent = "failed: connection lost"; resolve(); });
    xhr.send(body);
  });
}

// s3Message is the <Message> of an S3 error document (or the gallery's own
// JSON error).
function s3Message(text, status) {
  try {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const m = doc.querySelector("Error > Message"), c = doc.querySelector("Error > Code");
    if (m) return (c ? c.textContent + ": " : "") + m.textContent;
  } catch { /* not XML */ }
  try { const e = JSON.parse(text).error; if (e) return `${e.code}: ${e.message}`; } catch { /* not JSON */ }
  return "HTTP " + status;
}

$("file-input").addEventListener("change", (ev) => { upload(ev.target.files); ev.target.value = ""; });
let dragDepth = 0;
window.addEventListener("dragenter", (ev) => { if (session && hasFiles(ev)) { dragDepth++; $("drop-overlay").hidden = false; } });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop-overlay").hidden = true; } });
window.addEventListener("dragover", (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
window.addEventListener("drop", (ev) => {
  if (!hasFiles(ev)) return;
  ev.preventDefault();
  dragDepth = 0; $("drop-overlay").hidden = true;
  if (session) upload(ev.dataTransfer.files);
});
function hasFiles(ev) { return ev.dataTransfer && [...ev.dataTransfer.types].includes("Files"); }

// ---- go ----

api("session").then((s) => { session = s; start(); }).catch(showSignIn);
