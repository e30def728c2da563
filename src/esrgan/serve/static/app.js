// The page of `esrgan serve`: uploads, jobs and their progress (one event stream), the before/after viewer,
// and the alpha slider's live preview of the visible region. Plain ES module, no build step, no outside assets.

const $ = (id) => document.getElementById(id);
const PAGE = { "X-Esrgan-Page": "1" };
const RELEASE_DELAY_MS = 300;   // the slider at rest this long counts as released: the whole image is run
const VIEW_DELAY_MS = 350;      // zoom and pan at rest this long: the NIQE of the view is asked for
const QUICK_PREVIEW_S = 0.3;    // a preview this fast that left part of the view out is followed by a larger one

const state = {
  catalogue: null,
  models: new Map(),
  images: [],                   // {key, id, name, width, height, error, jobId, job, result, li}
  selected: null,
  jobs: new Map(),              // every job snapshot the event stream sent, by id
  view: { z: 1, tx: 0, ty: 0, fit: true, width: 0, height: 0 },
  divider: 0.5,
  preview: { busy: false, again: false, key: null, released: false },
  shownKey: null,               // settings of the result in view
};
let nextKey = 0;
let releaseTimer = null;
let viewTimer = null;
let niqeAsked = 0;

// --- settings ---------------------------------------------------------------------------------------------

function denoisePair(model, blend) {
  for (const [strong, weak] of state.catalogue.denoise_pairs) {
    if (model === strong && blend === weak) return { inverted: true };
    if (model === weak && blend === strong) return { inverted: false };
  }
  return null;
}

function settings() {
  const model = $("model").value;
  const blend = $("blend").value || null;
  const slider = Number($("alpha").value);
  const pair = blend ? denoisePair(model, blend) : null;
  const alpha = blend ? Math.round((pair && pair.inverted ? 1 - slider : slider) * 10000) / 10000 : 1;
  const outscale = $("outscale").value ? Number($("outscale").value) : null;
  return { model, blend, alpha, outscale };
}

function settingsKey(s) {
  return JSON.stringify([s.model, s.blend, s.blend ? s.alpha : null, s.outscale]);
}

function finalScale(s) {
  return s.outscale || state.models.get(s.model).scale;
}

// --- models -----------------------------------------------------------------------------------------------

async function loadCatalogue() {
  const response = await fetch("/api/models");
  state.catalogue = await response.json();
  const groups = { checkpoint: "Your checkpoints", offline: "On this machine", download: "Downloaded on first use" };
  for (const [source, label] of Object.entries(groups)) {
    const models = state.catalogue.models.filter((m) => m.source === source);
    if (!models.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const m of models) {
      state.models.set(m.name, m);
      group.append(new Option(m.source === "download" ? `${m.name} (download)` : m.name, m.name));
    }
    $("model").append(group);
  }
  $("model").value = state.catalogue.default;
  const mb = (state.catalogue.max_bytes / 1e6).toFixed(0);
  const mp = state.catalogue.max_pixels ? `, ${(state.catalogue.max_pixels / 1e6).toFixed(0)} M pixels` : "";
  $("limits").textContent = `Up to ${mb} MB${mp} per image. Nothing leaves this computer.`;
  modelChanged();
}

function modelChanged() {
  const model = state.models.get($("model").value);
  $("model-info").textContent = `${model.architecture}. ${model.description}`;
  $("outscale").placeholder = String(model.scale);
  const previous = $("blend").value;
  const blend = $("blend");
  blend.replaceChildren(new Option("none", ""));
  const partners = state.catalogue.models.filter((m) => m.name !== model.name && m.architecture === model.architecture);
  for (const m of partners) blend.append(new Option(m.name, m.name));
  const twin = state.catalogue.denoise_pairs.find(([strong]) => strong === model.name);
  if (partners.some((m) => m.name === previous)) blend.value = previous;
  else if (twin) { blend.value = twin[1]; $("alpha").value = "1"; }
  blendChanged();
}

function blendChanged() {
  const s = settings();
  const box = $("slider-box");
  box.classList.toggle("disabled", !s.blend);
  $("alpha").disabled = !s.blend;
  const pair = s.blend ? denoisePair(s.model, s.blend) : null;
  if (pair) {
    $("alpha-label").textContent = "Denoise strength";
    $("end-a").textContent = "0 · keep the grain";
    $("end-b").textContent = "1 · denoise fully";
  } else {
    $("alpha-label").textContent = "α";
    const partners = $("blend").options.length > 1;
    $("end-a").textContent = s.blend ? `0 · ${s.model}` : partners ? "Choose a model to blend with" : "No other model of this architecture";
    $("end-b").textContent = s.blend ? `1 · ${s.blend}` : "";
  }
  $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
  $("after-tag").textContent = afterLabel(s);
  if (s.blend) requestPreview();
}

function afterLabel(s) {
  if (!s.blend) return s.model;
  const pair = denoisePair(s.model, s.blend);
  return pair ? `${pair.inverted ? s.model : s.blend}, denoise ${Number($("alpha").value).toFixed(2)}`
              : `${s.model} → ${s.blend}, α ${s.alpha.toFixed(2)}`;
}

// --- uploads ----------------------------------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) {
    const item = { key: ++nextKey, name: file.name, status: "uploading" };
    state.images.push(item);
    render(item);
    upload(item, file);
  }
}

async function upload(item, file) {
  try {
    if (file.size > state.catalogue.max_bytes) {
      throw new Error(`${file.name}: ${(file.size / 1e6).toFixed(1)} MB is over the upload limit of `
                      + `${(state.catalogue.max_bytes / 1e6).toFixed(0)} MB`);
    }
    const response = await fetch(`/api/images?name=${encodeURIComponent(file.name)}`,
                                 { method: "POST", headers: PAGE, body: file });
    const body = await response.json().catch(() => ({ error: `${file.name}: upload failed (HTTP ${response.status})` }));
    if (!response.ok) throw new Error(body.error);
    Object.assign(item, body, { status: "ready" });
    if (!state.selected) select(item);
  } catch (error) {
    item.error = error.message.startsWith("Failed to fetch") ? `${file.name}: the upload was cut off` : error.message;
  }
  render(item);
  updateButtons();
}

// --- jobs -------------------------------------------------------------------------------------------------

async function submit(item, s) {
  if (item.jobId && ["queued", "running"].includes(state.jobs.get(item.jobId)?.state)) {
    fetch(`/api/jobs/${item.jobId}`, { method: "DELETE", headers: PAGE });
  }
  item.job = { state: "queued", ahead: 0, done: 0, total: 0 };
  item.jobId = null;
  render(item);
  const response = await fetch("/api/jobs", {
    method: "POST", headers: { ...PAGE, "Content-Type": "application/json" },
    body: JSON.stringify({ ...s, image: item.id }),
  });
  const body = await response.json();
  if (!response.ok) {
    item.job = { state: "error", message: body.error };
  } else {
    item.jobId = body.id;
    if (state.jobs.has(body.id)) jobChanged(state.jobs.get(body.id));
  }
  render(item);
}

function runAll() {
  const s = settings();
  for (const item of state.images) if (item.id && !item.error) submit(item, s);
}

function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (message) => {
    const data = JSON.parse(message.data);
    for (const job of data.jobs) {
      state.jobs.set(job.id, job);
      jobChanged(job);
    }
    const { running, queued } = data.queue;
    $("queue").textContent = running ? `running${queued ? ` · ${queued} queued` : ""}` : "idle";
    $("queue").classList.toggle("busy", running > 0);
  };
}

function jobChanged(job) {
  const item = state.images.find((i) => i.jobId === job.id);
  if (!item) return;
  item.job = job;
  if (job.state === "done") {
    item.result = job;
    if (item === state.selected) showResult(item);
  }
  render(item);
  updateButtons();
}

// --- the list ---------------------------------------------------------------------------------------------

function render(item) {
  if (!item.li) {
    item.li = document.createElement("li");
    item.li.className = "card";
    item.li.dataset.key = item.key;
    item.li.addEventListener("click", (event) => {
      if (!item.error && item.id && !event.target.closest("a")) select(item);
    });
    $("images").append(item.li);
  }
  const li = item.li;
  li.classList.toggle("failed", Boolean(item.error));
  li.classList.toggle("selected", item === state.selected);
  const job = item.job;
  li.dataset.state = item.error ? "error" : job ? job.state : item.status;
  const thumb = item.id ? `/api/images/${item.id}/thumbnail.png` : "";
  let info = "";
  let progress = 0;
  if (item.error) info = item.error;
  else if (item.status === "uploading") info = "uploading…";
  else if (!job) info = `${item.width}×${item.height} · ready`;
  else if (job.state === "queued") info = job.ahead ? `queued · ${job.ahead} ahead` : "queued · next";
  else if (job.state === "running") {
    info = job.total ? `tile ${job.done} / ${job.total}` : "loading the model…";
    progress = job.total ? job.done / job.total : 0.02;
  } else if (job.state === "done") {
    info = `${item.width}×${item.height} → ${job.width}×${job.height}`;
    progress = 1;
  } else if (job.state === "error") info = `failed: ${job.message}`;
  else info = job.state;
  li.replaceChildren();
  const img = document.createElement("img");
  img.className = "thumb";
  if (thumb) img.src = thumb;
  img.alt = "";
  const head = document.createElement("div");
  head.className = "head";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = item.name;
  name.title = item.name;
  head.append(name);
  if (item.result && !item.error) {
    const link = document.createElement("a");
    link.className = "download";
    link.href = `/api/jobs/${item.result.id}/result.png?download=1`;
    link.download = item.result.download_name;
    link.textContent = "Download";
    link.title = item.result.download_name;
    head.append(link);
  }
  const line = document.createElement("div");
  line.className = "info";
  line.textContent = info;
  const bar = document.createElement("div");
  bar.className = `progress${progress >= 1 ? " done" : ""}`;
  const fill = document.createElement("div");
  fill.style.width = `${Math.round(progress * 100)}%`;
  bar.append(fill);
  li.append(img, head, line);
  if (!item.error) li.append(bar);
}

function updateButtons() {
  $("run").disabled = !state.images.some((i) => i.id && !i.error);
  const done = state.images.filter((i) => i.result && !i.error).map((i) => i.result.id);
  $("zip").classList.toggle("disabled", done.length === 0);
  $("zip").href = done.length ? `/api/results.zip?jobs=${done.join(",")}` : "#";
}

// --- the viewer -------------------------------------------------------------------------------------------

function select(item) {
  const previous = state.selected;
  state.selected = item;
  if (previous) render(previous);
  render(item);
  hidePreview();
  $("viewer").classList.add("has-image");
  $("empty").style.display = "none";
  state.view.fit = true;
  showResult(item);
}

function showResult(item) {
  const s = settings();
  const result = item.result;
  const scale = result ? result.width / item.width : finalScale(s);
  const width = result ? result.width : Math.round(item.width * scale);
  const height = result ? result.height : Math.round(item.height * scale);
  const resized = width !== state.view.width || height !== state.view.height;
  state.view.width = width;
  state.view.height = height;
  const stage = $("stage");
  stage.style.width = `${width}px`;
  stage.style.height = `${height}px`;
  stage.classList.add("shown");
  $("divider").classList.add("shown");
  const before = $("before");
  const beforeSrc = `/api/images/${item.id}/bicubic.png?scale=${scale}`;
  if (before.getAttribute("src") !== beforeSrc) before.src = beforeSrc;
  before.width = width;
  before.height = height;
  const after = $("after");
  if (result) {
    after.src = `/api/jobs/${result.id}/result.png`;
    after.dataset.job = result.id;
    after.dataset.alpha = String(result.alpha);
    after.style.display = "block";
    state.shownKey = settingsKey(result);
    if (state.preview.key === state.shownKey) {
      hidePreview();
      status("");
    }
    $("after-tag").textContent = afterLabel({ ...result, blend: result.blend });
  } else {
    after.removeAttribute("src");
    delete after.dataset.job;
    after.style.display = "none";
    state.shownKey = null;
  }
  after.width = width;
  after.height = height;
  if (resized || state.view.fit) fit();
  else applyView();
}

function viewerSize() {
  const box = $("viewer").getBoundingClientRect();
  return { w: box.width, h: box.height };
}

function fit() {
  const { w, h } = viewerSize();
  const v = state.view;
  if (!v.width) return;
  v.z = Math.min(w / v.width, h / v.height) * 0.96;
  v.tx = (w - v.width * v.z) / 2;
  v.ty = (h - v.height * v.z) / 2;
  v.fit = true;
  applyView();
}

function zoomTo(z, cx, cy) {
  const v = state.view;
  const { w, h } = viewerSize();
  cx = cx ?? w / 2;
  cy = cy ?? h / 2;
  z = Math.min(Math.max(z, 0.02), 32);
  v.tx = cx - (cx - v.tx) * (z / v.z);
  v.ty = cy - (cy - v.ty) * (z / v.z);
  v.z = z;
  v.fit = false;
  applyView();
}

function applyView() {
  const v = state.view;
  const { w } = viewerSize();
  $("stage").style.transform = `translate(${v.tx}px, ${v.ty}px) scale(${v.z})`;
  $("stage").classList.toggle("pixels", v.z > 1.01);
  $("zoom").textContent = `${Math.round(v.z * 100)}%`;
  const x = state.divider * w;
  $("divider").style.left = `${x}px`;
  const cut = Math.min(Math.max((x - v.tx) / v.z, 0), v.width);
  $("after-layer").style.clipPath = `inset(0 0 0 ${cut}px)`;
  if ($("niqe").checked && state.selected?.result && $("niqe-value").textContent !== "NIQE …") showNiqe("…");
  clearTimeout(viewTimer);
  viewTimer = setTimeout(viewSettled, VIEW_DELAY_MS);
}

function visibleRegion() {
  // The part of the output in view, in output pixels.
  const v = state.view;
  const { w, h } = viewerSize();
  const x0 = Math.max(0, -v.tx / v.z), y0 = Math.max(0, -v.ty / v.z);
  const x1 = Math.min(v.width, (w - v.tx) / v.z), y1 = Math.min(v.height, (h - v.ty) / v.z);
  return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}

function viewSettled() {
  const item = state.selected;
  if (!item) return;
  const s = settings();
  if (s.blend && state.shownKey !== settingsKey(s)) requestPreview();
  else if ($("niqe").checked && item.result) measureView(item.result);
  else if ($("niqe").checked) showNiqe(null);
}

async function measureView(result) {
  const r = visibleRegion();
  const query = new URLSearchParams({ x: r.x, y: r.y, width: r.width, height: r.height });
  const asked = ++niqeAsked;
  const response = await fetch(`/api/jobs/${result.id}/niqe?${query}`);
  const body = await response.json();
  if (asked !== niqeAsked) return;  // the view has moved on since
  showNiqe(response.ok && body.niqe !== null ? body.niqe.toFixed(3) : null);
}

function showNiqe(value) {
  // value: a score as text, "…" while it is computed, null where the view is too small or flat for NIQE.
  const shown = $("niqe-value");
  shown.textContent = !$("niqe").checked ? "" : value === null ? "NIQE —" : `NIQE ${value}`;
  shown.title = value === null ? "NIQE needs at least two textured 96×96 blocks in view"
                               : "NIQE of the visible region (no reference needed; lower looks more natural)";
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

// --- the alpha slider's preview ---------------------------------------------------------------------------

function hidePreview() {
  const preview = $("preview");
  preview.classList.remove("shown");
  delete preview.dataset.alpha;
  state.preview.key = null;
}

async function requestPreview() {
  const item = state.selected;
  if (!item || !item.id) return;
  if (state.preview.busy) { state.preview.again = true; return; }
  state.preview.busy = true;
  const s = settings();
  const scale = state.view.width / item.width;
  const view = visibleRegion();
  const region = { x: view.x / scale, y: view.y / scale, width: view.width / scale, height: view.height / scale };
  try {
    const response = await fetch("/api/preview", {
      method: "POST", headers: { ...PAGE, "Content-Type": "application/json" },
      // The preview is placed on the image in view, so it is made at that image's scale.
      body: JSON.stringify({ ...s, outscale: scale, image: item.id, region, niqe: $("niqe").checked }),
    });
    if (!response.ok) {
      status((await response.json()).error, true);
    } else if (state.selected === item) {
      const blob = await response.blob();
      const [x, y, w, h] = response.headers.get("x-region").split(",").map(Number);
      const preview = $("preview");
      const old = preview.src;
      preview.src = URL.createObjectURL(blob);
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      Object.assign(preview.style, { left: `${x}px`, top: `${y}px`, width: `${w}px`, height: `${h}px`,
                                     outlineWidth: `${1 / state.view.z}px` });
      await preview.decode().catch(() => {});
      preview.dataset.alpha = String(s.alpha);
      preview.dataset.region = `${x},${y},${w},${h}`;
      preview.classList.add("shown");
      state.preview.key = settingsKey(s);
      const seconds = Number(response.headers.get("x-seconds"));
      status(`preview ${w}×${h} px in ${seconds.toFixed(2)} s`);
      if ($("niqe").checked) showNiqe(response.headers.get("x-niqe") || null);
      // The server sizes each preview from the speed it measured on the last ones: while the slider rests,
      // a quick one that left part of the view out is followed by a larger one, until the run on release.
      const seen = visibleRegion();
      if (!state.preview.released && seconds < QUICK_PREVIEW_S && w * h < 0.95 * seen.width * seen.height) {
        state.preview.again = true;
      }
    }
  } catch (error) {
    status(`preview failed: ${error.message}`, true);
  } finally {
    state.preview.busy = false;
    if (state.preview.again) {
      state.preview.again = false;
      requestPreview();
    }
  }
}

function sliderMoved() {
  state.preview.released = false;
  // A run of the selected image at an earlier alpha is of no use now: stop it, so the previews need not wait.
  const item = state.selected;
  const job = item && item.jobId ? state.jobs.get(item.jobId) || item.job : null;
  if (job && (job.state === "queued" || job.state === "running")) {
    fetch(`/api/jobs/${item.jobId}`, { method: "DELETE", headers: PAGE });
  }
  $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
  $("after-tag").textContent = afterLabel(settings());
  requestPreview();
}

function sliderReleased() {
  state.preview.released = true;
  clearTimeout(releaseTimer);
  releaseTimer = setTimeout(() => {
    const item = state.selected;
    if (item && item.id && settings().blend) submit(item, settings());
  }, RELEASE_DELAY_MS);
}

// --- wiring -----------------------------------------------------------------------------------------------

function wire() {
  $("files").addEventListener("change", (event) => { addFiles([...event.target.files]); event.target.value = ""; });
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles([...event.dataTransfer.files]);
  });
  document.body.addEventListener("dragover", (event) => event.preventDefault());
  document.body.addEventListener("drop", (event) => { event.preventDefault(); addFiles([...event.dataTransfer.files]); });

  $("model").addEventListener("change", modelChanged);
  $("blend").addEventListener("change", blendChanged);
  $("alpha").addEventListener("input", sliderMoved);
  $("alpha").addEventListener("change", sliderReleased);
  $("outscale").addEventListener("change", () => { if (state.selected && !state.selected.result) showResult(state.selected); });
  $("niqe").addEventListener("change", () => { showNiqe("…"); viewSettled(); });
  $("run").addEventListener("click", runAll);
  $("fit").addEventListener("click", fit);
  $("one").addEventListener("click", () => zoomTo(1));
  $("zoom-in").addEventListener("click", () => zoomTo(state.view.z * 1.5));
  $("zoom-out").addEventListener("click", () => zoomTo(state.view.z / 1.5));

  const viewer = $("viewer");
  viewer.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = viewer.getBoundingClientRect();
    zoomTo(state.view.z * Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  viewer.addEventListener("dblclick", () => (state.view.fit ? zoomTo(1) : fit()));
  let drag = null;
  viewer.addEventListener("pointerdown", (event) => {
    const onDivider = event.target.closest(".handle");
    drag = { divider: Boolean(onDivider), x: event.clientX, y: event.clientY, tx: state.view.tx, ty: state.view.ty };
    viewer.setPointerCapture(event.pointerId);
    viewer.classList.toggle("panning", !drag.divider);
  });
  viewer.addEventListener("pointermove", (event) => {
    if (!drag) return;
    if (drag.divider) {
      const box = viewer.getBoundingClientRect();
      state.divider = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    } else {
      state.view.tx = drag.tx + event.clientX - drag.x;
      state.view.ty = drag.ty + event.clientY - drag.y;
      state.view.fit = false;
    }
    applyView();
  });
  const stop = () => { drag = null; viewer.classList.remove("panning"); };
  viewer.addEventListener("pointerup", stop);
  viewer.addEventListener("pointercancel", stop);
  window.addEventListener("resize", () => (state.view.fit ? fit() : applyView()));
}

wire();
listen();
loadCatalogue();
