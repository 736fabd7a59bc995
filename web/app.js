// dicomlens web page: intake (drop, pick, samples), uploads, polling and the result view.
// Plain ES modules, no build step: the same files are served by `dicomlens serve` and S3.

import { Api, ApiError, fetchSample, listSamples, loadConfig, uploadToStorage } from "./api.js";
import { replaceChildren, safeUrl } from "./dom.js";
import { displayName, isBusy, phaseText, renderCard, renderDetail } from "./view.js";

const STORAGE_KEY = "dicomlens.jobs";
const MAX_PARALLEL_UPLOADS = 3;
const MAX_PARALLEL_POLLS = 6;
// Most files finish within seconds: poll briskly at first, then back off for long jobs.
const POLL_FIRST_MS = 250;
const POLL_GROWTH = 1.3;
const POLL_EARLY_MAX_MS = 1500;
const POLL_EARLY_PERIOD_MS = 60_000;
const POLL_MAX_MS = 5000;
const POLL_OFFLINE_MAX_MS = 15000;
const URL_REFRESH_AFTER_MS = 4 * 60 * 1000;
const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Files a folder commonly holds that are never images worth a job.
const SKIPPED_NAMES = /^(\..*|thumbs\.db|desktop\.ini|dicomdir)$/i;

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  entries: new Map(), // key -> entry, in display order
  selectedKey: null,
  uploadQueue: [],
  uploadsRunning: 0,
  pollsRunning: 0,
  pollWaiters: [],
  apiReachable: null,
  nextKey: 1,
  renderedDetail: null,
};

// ------------------------------------------------------------------------------- entries

function newEntry(fields) {
  const entry = {
    key: `e${state.nextKey++}`,
    jobId: null,
    fileName: null,
    relativePath: null,
    size: null,
    file: null,
    phase: "waiting",
    progress: 0,
    job: null,
    error: null,
    preset: null,
    pollDelay: POLL_FIRST_MS,
    watchedSince: Date.now(),
    pollTimer: null,
    abort: null,
    fetchedAt: 0,
    refreshing: false,
    imageFailures: {},
    deid: null, // the de-identified copy: {phase: "busy" | "done" | "failed", ...}
    version: 0,
    ...fields,
  };
  state.entries.set(entry.key, entry);
  return entry;
}

function update(entry, fields) {
  const before = entry.phase;
  Object.assign(entry, fields);
  entry.version += 1;
  if (before !== entry.phase) announcePhase(entry);
  scheduleRender();
}

function announcePhase(entry) {
  const name = displayName(entry);
  if (entry.phase === "COMPLETED") announce(`${name}: done.`);
  else if (entry.phase === "FAILED" || entry.phase === "rejected" || entry.phase === "missing")
    announce(`${name}: ${phaseText(entry).toLowerCase()} — ${entry.error?.code ?? ""} ${entry.error?.message ?? ""}`);
  else if (entry.phase === "PENDING") announce(`${name}: uploaded, queued for processing.`);
}

function removeEntry(entry) {
  entry.abort?.();
  clearTimeout(entry.pollTimer);
  entry.removed = true;
  state.entries.delete(entry.key);
  state.uploadQueue = state.uploadQueue.filter((e) => e !== entry);
  if (state.selectedKey === entry.key) state.selectedKey = null;
  saveJobIds();
  scheduleRender();
}

function clearAll() {
  for (const entry of [...state.entries.values()]) removeEntry(entry);
  announce("The list is cleared. Results stay on the server until they expire.");
}

// --------------------------------------------------------------------------- persistence

function loadJobIds() {
  try {
    const ids = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string" && JOB_ID.test(id)) : [];
  } catch {
    return [];
  }
}

function saveJobIds() {
  const ids = [...state.entries.values()].map((e) => e.jobId).filter(Boolean);
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(ids));
  } catch {
    // storage full or disabled: the list simply is not remembered
  }
}

// ------------------------------------------------------------------------------- intake

function addFiles(files, { select = false } = {}) {
  const accepted = [];
  let skipped = 0;
  for (const file of files) {
    if (SKIPPED_NAMES.test(file.name)) {
      skipped += 1;
      continue;
    }
    accepted.push(
      newEntry({
        file,
        fileName: file.name,
        relativePath: file.relativePath || file.webkitRelativePath || null,
        size: file.size,
      }),
    );
  }
  if (!accepted.length) {
    announce(skipped ? `Nothing to upload (${skipped} system file(s) skipped).` : "Nothing to upload.");
    return;
  }
  if (select || state.selectedKey === null) state.selectedKey = accepted[0].key;
  announce(
    `${accepted.length} file(s) added${skipped ? `, ${skipped} system file(s) skipped` : ""}. Uploading…`,
  );
  state.uploadQueue.push(...accepted);
  pumpUploads();
  scheduleRender();
}

function pumpUploads() {
  while (state.api && state.uploadsRunning < MAX_PARALLEL_UPLOADS && state.uploadQueue.length) {
    const entry = state.uploadQueue.shift();
    state.uploadsRunning += 1;
    upload(entry).finally(() => {
      state.uploadsRunning -= 1;
      pumpUploads();
    });
  }
}

async function upload(entry) {
  if (entry.removed) return;
  update(entry, { phase: "preparing", progress: 0, error: null });
  try {
    const declared = contentTypeFor(entry.file);
    const created = await state.api.createUpload({
      fileName: entry.file.name,
      contentType: declared,
      size: entry.file.size,
    });
    apiReachable(true);
    if (entry.removed) return;
    if (typeof created.jobId !== "string" || !created.upload?.url) {
      throw new ApiError("BAD_RESPONSE", "The API did not return an upload target.");
    }
    update(entry, { jobId: created.jobId, phase: "uploading", progress: 0 });
    // The file part carries the declared type too, so no storage can see two different ones.
    const body = entry.file.type === declared ? entry.file : new File([entry.file], entry.file.name, { type: declared });
    const transfer = uploadToStorage(created.upload, body, (fraction) => {
      // Progress events come fast; repaint only on visible change.
      if (Math.round(fraction * 100) !== Math.round(entry.progress * 100)) update(entry, { progress: fraction });
    });
    entry.abort = transfer.abort;
    await transfer.promise;
    entry.abort = null;
    if (entry.removed) return;
    update(entry, { phase: "PENDING", progress: 1 });
    saveJobIds();
    entry.watchedSince = Date.now();
    entry.pollDelay = POLL_FIRST_MS;
    schedulePoll(entry, POLL_FIRST_MS);
  } catch (error) {
    entry.abort = null;
    if (entry.removed) return;
    const err = asApiError(error);
    if (err.isNetwork) apiReachable(false, err.userMessage);
    // A job whose upload never arrived stays PENDING on the server; forget its id.
    update(entry, { phase: "rejected", jobId: null, error: { code: err.code, message: err.userMessage } });
  }
}

function retry(entry) {
  if (!entry.file) return;
  update(entry, { phase: "waiting", error: null, progress: 0 });
  state.uploadQueue.push(entry);
  pumpUploads();
}

/** The content type to declare. DICOM files often have no extension and no browser type. */
function contentTypeFor(file) {
  const type = (file.type || "").toLowerCase();
  if (type === "image/png" || type === "image/jpeg" || type === "application/dicom") return type;
  const dot = file.name.lastIndexOf(".");
  const ext = dot > 0 ? file.name.slice(dot + 1).toLowerCase() : "";
  if (ext === "png") return "image/png";
  if (ext === "jpg" || ext === "jpeg") return "image/jpeg";
  if (ext === "" || ["dcm", "dicom", "dic", "ima"].includes(ext) || /^\d+$/.test(ext)) return "application/dicom";
  return type || "application/octet-stream";
}

/** Files (recursively through folders) of a drop. Entries must be taken synchronously. */
async function filesFromDrop(dataTransfer) {
  const items = [...(dataTransfer.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((e) => !e)) return [...dataTransfer.files];
  const files = [];
  for (const entry of entries) await walkEntry(entry, files);
  return files;
}

async function walkEntry(entry, out) {
  if (entry.isFile) {
    try {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      file.relativePath = entry.fullPath.replace(/^\//, "");
      out.push(file);
    } catch {
      // unreadable (permissions, vanished): leave it out
    }
    return;
  }
  if (!entry.isDirectory || SKIPPED_NAMES.test(entry.name)) return;
  const reader = entry.createReader();
  // readEntries returns the listing in chunks (about 100 at a time) until an empty one.
  for (;;) {
    const chunk = await new Promise((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (!chunk.length) break;
    for (const child of chunk) await walkEntry(child, out);
  }
}

// ------------------------------------------------------------------------------- polling

function schedulePoll(entry, delay) {
  clearTimeout(entry.pollTimer);
  const jitter = delay * 0.15 * Math.random();
  entry.pollTimer = setTimeout(() => poll(entry), delay + jitter);
}

async function withPollSlot(fn) {
  if (state.pollsRunning >= MAX_PARALLEL_POLLS) {
    await new Promise((resolve) => state.pollWaiters.push(resolve));
  }
  state.pollsRunning += 1;
  try {
    return await fn();
  } finally {
    state.pollsRunning -= 1;
    state.pollWaiters.shift()?.();
  }
}

async function poll(entry) {
  if (entry.removed || !entry.jobId) return;
  try {
    const job = await withPollSlot(() => state.api.getJob(entry.jobId));
    apiReachable(true);
    if (entry.removed) return;
    applyJob(entry, job);
    if (isBusy(entry)) {
      const cap = Date.now() - entry.watchedSince < POLL_EARLY_PERIOD_MS ? POLL_EARLY_MAX_MS : POLL_MAX_MS;
      entry.pollDelay = Math.min(cap, entry.pollDelay * POLL_GROWTH);
      schedulePoll(entry, entry.pollDelay);
    }
  } catch (error) {
    if (entry.removed) return;
    const err = asApiError(error);
    if (err.status === 404) {
      update(entry, {
        phase: "missing",
        error: { code: err.code || "NOT_FOUND", message: err.userMessage || "Unknown job." },
      });
      return;
    }
    if (err.isNetwork) apiReachable(false, err.userMessage);
    entry.pollDelay = Math.min(POLL_OFFLINE_MAX_MS, Math.max(1000, entry.pollDelay * 2));
    schedulePoll(entry, entry.pollDelay);
  }
}

function applyJob(entry, job) {
  const status = ["PENDING", "PROCESSING", "COMPLETED", "FAILED"].includes(job.status) ? job.status : "PENDING";
  const error =
    status === "FAILED"
      ? {
          code: job.error?.code || "FAILED",
          message: job.error?.message || "Processing failed.",
        }
      : null;
  update(entry, { job, phase: status, error, fetchedAt: Date.now(), refreshing: false });
}

/** Re-fetch a finished job: its URLs are short-lived. One refresh at a time per entry. */
async function refresh(entry) {
  if (entry.refreshing || entry.removed || !entry.jobId || isBusy(entry)) return;
  entry.refreshing = true;
  entry.pollDelay = POLL_FIRST_MS;
  await poll(entry);
  entry.refreshing = false;
}

/** A preview or thumbnail (`which`) did not load: most likely its URL expired. */
function imageFailed(entry, which) {
  // Twice in a row without a successful load means broken, not expired: stop there.
  const failures = entry.imageFailures[which] || 0;
  if (entry.refreshing || failures >= 2) return;
  entry.imageFailures[which] = failures + 1;
  refresh(entry);
}

function imageLoaded(entry, which) {
  entry.imageFailures[which] = 0;
}

/** Keep the selected result's links fresh while the page is open and visible. */
function renewSelectedUrls() {
  const entry = state.entries.get(state.selectedKey);
  if (!entry || document.hidden || entry.phase !== "COMPLETED") return;
  if (Date.now() - entry.fetchedAt > URL_REFRESH_AFTER_MS) refresh(entry);
}

function select(entry) {
  state.selectedKey = entry.key;
  scheduleRender();
  renewSelectedUrls();
  if (window.matchMedia("(max-width: 959px)").matches) {
    $("detail").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function setPreset(entry, name) {
  update(entry, { preset: name });
}

/**
 * Ask for a de-identified copy of a completed DICOM job. The button stays in place (busy)
 * until the API answers; the link then takes its place, or the error with a retry.
 */
async function deidentify(entry) {
  if (!state.api || !entry.jobId || entry.removed || entry.deid?.phase === "busy") return;
  const name = displayName(entry);
  update(entry, { deid: { phase: "busy" } });
  announce(`${name}: de-identifying. This can take several seconds.`);
  try {
    const copy = await state.api.deidentify(entry.jobId);
    apiReachable(true);
    if (entry.removed) return;
    if (!safeUrl(copy.url)) throw new ApiError("BAD_RESPONSE", "The API did not return a download link.");
    const pixelsRedacted = typeof copy.pixelsRedacted === "boolean" ? copy.pixelsRedacted : null;
    update(entry, { deid: { phase: "done", url: copy.url, pixelsRedacted, at: Date.now() } });
    announce(`${name}: the de-identified DICOM is ready to download.`);
  } catch (error) {
    if (entry.removed) return;
    const err = asApiError(error);
    if (err.isNetwork) apiReachable(false, err.userMessage);
    update(entry, { deid: { phase: "failed", error: { code: err.code, message: err.userMessage } } });
    announce(`${name}: de-identification failed — ${err.code} ${err.userMessage}`);
  }
}

function asApiError(error) {
  return error instanceof ApiError ? error : new ApiError("CLIENT_ERROR", String(error?.message || error));
}

// ------------------------------------------------------------------------------ API state

function apiReachable(ok, message) {
  if (state.apiReachable === ok && ok) return;
  state.apiReachable = ok;
  const el = $("api-state");
  el.dataset.state = ok ? "ok" : "down";
  el.textContent = ok ? `API: ${state.api.describe}` : "API unreachable";
  if (ok) hideBanner();
  else showBanner(`${message || "The API could not be reached."} Jobs keep retrying in the background.`, retryNow);
}

function retryNow() {
  hideBanner();
  if (!state.api) {
    start();
    return;
  }
  for (const entry of state.entries.values()) {
    if (entry.jobId && (isBusy(entry) || entry.phase === "loading")) {
      entry.pollDelay = POLL_FIRST_MS;
      schedulePoll(entry, 0);
    }
  }
}

function showBanner(text, onRetry) {
  $("banner-text").textContent = text;
  $("banner-retry").hidden = !onRetry;
  $("banner-retry").onclick = onRetry || null;
  $("banner").hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

let announceTimer = null;
function announce(text) {
  const el = $("announcer");
  clearTimeout(announceTimer);
  el.textContent = "";
  // A fresh text node after a tick makes screen readers read repeated messages.
  announceTimer = setTimeout(() => {
    el.textContent = text;
  }, 50);
}

// ------------------------------------------------------------------------------- render

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

const cardActions = { select, remove: removeEntry, retry, imageFailed, imageLoaded };
const detailActions = { remove: removeEntry, setPreset, deidentify, imageFailed, imageLoaded };

function render() {
  const entries = [...state.entries.values()];
  const list = $("job-list");
  // Cards are rebuilt only when their entry changed, so thumbnails are not reloaded and
  // focus stays where the user left it.
  entries.forEach((entry, index) => {
    const stamp = `${entry.version}:${entry.key === state.selectedKey}`;
    if (entry.cardStamp !== stamp) {
      const card = renderCard(entry, { selected: entry.key === state.selectedKey, actions: cardActions });
      const old = entry.cardEl;
      const focused = old?.contains(document.activeElement) ? document.activeElement : null;
      if (old?.parentNode === list) list.replaceChild(card, old);
      entry.cardEl = card;
      entry.cardStamp = stamp;
      if (focused) {
        const same = [...focused.classList].map((c) => `.${c}`).join("");
        (card.querySelector(same || "button") || card.querySelector("button"))?.focus({ preventScroll: true });
      }
    }
    if (list.children[index] !== entry.cardEl) list.insertBefore(entry.cardEl, list.children[index] || null);
  });
  while (list.children.length > entries.length) list.lastElementChild.remove();
  $("jobs-empty").hidden = entries.length > 0;
  $("clear-jobs").disabled = entries.length === 0;
  const busy = entries.filter(isBusy).length;
  const failed = entries.filter((e) => ["FAILED", "rejected", "missing"].includes(e.phase)).length;
  $("job-count").textContent = entries.length
    ? `(${entries.length}${busy ? `, ${busy} in progress` : ""}${failed ? `, ${failed} failed` : ""})`
    : "";
  renderSelected();
}

function renderSelected() {
  const entry = state.entries.get(state.selectedKey);
  const body = $("detail-body");
  $("detail-empty").hidden = Boolean(entry);
  $("detail-empty").firstElementChild.textContent = state.entries.size
    ? "Select a file to see its preview, labels, metadata and findings."
    : "Add a file, or try a sample: its preview, labels, metadata and findings appear here.";
  body.hidden = !entry;
  if (!entry) {
    state.renderedDetail = null;
    body.replaceChildren();
    return;
  }
  const stamp = `${entry.key}:${entry.version}`;
  if (state.renderedDetail === stamp) return;
  // Progress ticks only change the bar; keep the rest (and any loaded image) in place.
  const bar = body.querySelector("progress");
  if (state.renderedDetail?.startsWith(`${entry.key}:`) && entry.phase === "uploading" && bar && body.dataset.phase === "uploading") {
    bar.value = Math.round(entry.progress * 100);
    body.querySelector(".detail-head .badge").textContent = phaseText(entry);
    state.renderedDetail = stamp;
    return;
  }
  state.renderedDetail = stamp;
  // The detail is rebuilt on every change: a control that is rebuilt under the same
  // data-focus-key (a preset, the de-identify button that becomes its link) keeps the focus.
  const focused = body.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined;
  const sameEntry = body.dataset.key === entry.key;
  body.dataset.phase = entry.phase;
  body.dataset.key = entry.key;
  replaceChildren(body, renderDetail(entry, detailActions));
  if (focused && sameEntry) body.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
}

// -------------------------------------------------------------------------------- wiring

function wireIntake() {
  const zone = $("dropzone");
  const fileInput = $("file-input");
  const folderInput = $("folder-input");

  $("pick-files").addEventListener("click", (event) => {
    event.stopPropagation();
    fileInput.click();
  });
  $("pick-folder").addEventListener("click", (event) => {
    event.stopPropagation();
    folderInput.click();
  });
  zone.addEventListener("click", (event) => {
    if (event.target === zone || event.target.closest(".dropzone-title, .dropzone-icon")) fileInput.click();
  });
  for (const input of [fileInput, folderInput]) {
    input.addEventListener("change", () => {
      addFiles([...input.files]);
      input.value = "";
    });
  }

  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.dataset.state = "over";
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.dataset.state = "idle";
  });
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    depth = 0;
    zone.dataset.state = "idle";
    const files = await filesFromDrop(event.dataTransfer);
    addFiles(files);
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => hasFiles(event) && event.preventDefault());
  window.addEventListener("drop", (event) => hasFiles(event) && event.preventDefault());

  $("clear-jobs").addEventListener("click", clearAll);
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

async function wireSamples() {
  const select = $("sample-select");
  const button = $("sample-button");
  let samples = [];
  try {
    samples = await listSamples();
  } catch {
    samples = [];
  }
  select.replaceChildren();
  if (!samples.length) {
    select.append(new Option("No examples available", ""));
    select.disabled = true;
    button.disabled = true;
    return;
  }
  for (const sample of samples) {
    const option = new Option(sample.description ? `${sample.name} — ${sample.description}` : sample.name, sample.name);
    select.append(option);
  }
  select.disabled = false;
  button.disabled = false;
  button.addEventListener("click", async () => {
    const sample = samples.find((s) => s.name === select.value) || samples[0];
    button.disabled = true;
    button.textContent = "Fetching…";
    try {
      const file = await fetchSample(sample);
      addFiles([file], { select: true });
    } catch (error) {
      const err = asApiError(error);
      announce(`The example could not be loaded: ${err.userMessage}`);
      showBanner(`The example “${sample.name}” could not be loaded: ${err.userMessage}`, null);
    } finally {
      button.disabled = false;
      button.textContent = "Try a sample";
    }
  });
}

async function start() {
  const el = $("api-state");
  try {
    const config = await loadConfig();
    state.api = new Api(config.apiBaseUrl);
    el.dataset.state = "ready";
    el.textContent = `API: ${state.api.describe}`;
  } catch (error) {
    const err = asApiError(error);
    el.dataset.state = "down";
    el.textContent = "Not configured";
    showBanner(`${err.userMessage} Uploads are unavailable until it loads.`, () => start());
    return;
  }
  hideBanner();
  pumpUploads();
  // Restore remembered jobs (ids only) and fetch their state.
  if (!state.restored) {
    state.restored = true;
    for (const jobId of loadJobIds()) {
      const entry = newEntry({ jobId, phase: "loading" });
      schedulePoll(entry, 0);
    }
    if (state.selectedKey === null) state.selectedKey = state.entries.keys().next().value ?? null;
  }
  scheduleRender();
}

function wireLifecycle() {
  setInterval(renewSelectedUrls, 30_000);
  document.addEventListener("visibilitychange", renewSelectedUrls);
  // Leaving the page cancels uploads in flight: ask first.
  window.addEventListener("beforeunload", (event) => {
    const uploading = [...state.entries.values()].some((e) => ["waiting", "preparing", "uploading"].includes(e.phase));
    if (uploading) event.preventDefault();
  });
}

wireIntake();
wireLifecycle();
wireSamples();
scheduleRender();
start();
