// dicomlens web page: the composition root. It builds the job list, the upload queue, the
// poller and the page view, and wires the page's events to them.
// Plain ES modules, no build step: the same files are served by `dicomlens serve` and S3.

import { Api, asApiError, loadConfig } from "./api.js";
import { requestDeidentifiedCopy } from "./deidentify.js";
import { readPlacement } from "./dicom-header.js";
import { byId } from "./dom.js";
import { isSkippedName, wireIntake } from "./intake.js";
import { announce, announcePhase, hideBanner, showApiState, showBanner } from "./notices.js";
import { createPageView } from "./page-view.js";
import { isBusy, isUploading } from "./phases.js";
import { Poller } from "./polling.js";
import { wireSamples } from "./samples.js";
import { JobList, loadJobIds } from "./state.js";
import { UploadQueue, contentTypeFor } from "./upload-queue.js";

let api = null; // the API client, once config.json is read
let viewerUrl = null; // config.json's viewerUrl: where studies open (null: no viewer)
let apiReachable = null; // whether the last API call answered; null before the first
let restored = false; // remembered jobs are put back on the list once, at the first start

const jobs = new JobList({ onChange: () => page.schedule(), onPhaseChange: announcePhase });
const poller = new Poller({ jobs, api: () => api, reachable });
const queue = new UploadQueue({
  jobs,
  api: () => api,
  reachable,
  onUploaded: (entry) => {
    jobs.save();
    poller.start(entry);
  },
});
const imageFailed = (entry, which) => poller.imageFailed(entry, which);
const imageLoaded = (entry, which) => poller.imageLoaded(entry, which);
const page = createPageView(jobs, {
  cardActions: { select, remove, retry: (entry) => queue.retry(entry), imageFailed, imageLoaded },
  detailActions: { remove, setPreset, deidentify, imageFailed, imageLoaded },
  viewer: () => viewerUrl,
});

// ------------------------------------------------------------------------------- actions

function addFiles(files, { select = false } = {}) {
  const accepted = [];
  let skipped = 0;
  for (const file of files) {
    if (isSkippedName(file.name)) {
      skipped += 1;
      continue;
    }
    const type = contentTypeFor(file);
    const entry = jobs.add({
      file,
      fileName: file.name,
      relativePath: file.relativePath || file.webkitRelativePath || null,
      size: file.size,
      nonDicom: type === "image/png" || type === "image/jpeg",
    });
    accepted.push(entry);
    if (!entry.nonDicom) sortIntoStudy(entry);
  }
  if (!accepted.length) {
    announce(skipped ? `Nothing to upload (${skipped} system file(s) skipped).` : "Nothing to upload.");
    return;
  }
  if (select || jobs.selectedKey === null) jobs.selectedKey = accepted[0].key;
  announce(
    `${accepted.length} file(s) added${skipped ? `, ${skipped} system file(s) skipped` : ""}. Uploading…`,
  );
  queue.add(accepted);
  page.schedule();
}

/** Read where a DICOM file belongs (study, series) from its header, so that it is listed
 * under its study while it uploads; the server's summary takes over once analysed. */
async function sortIntoStudy(entry) {
  const sniffed = await readPlacement(entry.file);
  if (sniffed && !entry.removed) jobs.update(entry, { sniffed });
}

function remove(entry) {
  queue.cancel(entry);
  poller.stop(entry);
  jobs.remove(entry);
}

function clearAll() {
  for (const entry of jobs.all()) remove(entry);
  announce("The list is cleared. Results stay on the server until they expire.");
}

function select(entry) {
  jobs.selectedKey = entry.key;
  page.schedule();
  renewSelectedUrls();
  if (window.matchMedia("(max-width: 959px)").matches) {
    byId("detail").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function setPreset(entry, name) {
  jobs.update(entry, { preset: name });
}

function deidentify(entry) {
  return requestDeidentifiedCopy(entry, { api, jobs, reachable });
}

/** Keep the selected result's links fresh while the page is open and visible. */
function renewSelectedUrls() {
  const entry = jobs.selected;
  if (entry && !document.hidden) poller.renewUrlsIfStale(entry);
}

// ------------------------------------------------------------------------------ API state

function reachable(ok, message) {
  if (apiReachable === ok && ok) return;
  apiReachable = ok;
  showApiState(ok ? "ok" : "down", ok ? `API: ${api.describe}` : "API unreachable");
  if (ok) hideBanner();
  else showBanner(`${message || "The API could not be reached."} Jobs keep retrying in the background.`, retryNow);
}

function retryNow() {
  hideBanner();
  if (!api) {
    start();
    return;
  }
  for (const entry of jobs.all()) {
    if (entry.jobId && isBusy(entry)) poller.pollNow(entry);
  }
}

async function start() {
  try {
    const config = await loadConfig();
    api = new Api(config.apiBaseUrl, { tokenRequired: config.apiTokenRequired });
    viewerUrl = config.viewerUrl;
    showApiState("ready", `API: ${api.describe}`);
  } catch (error) {
    const err = asApiError(error);
    showApiState("down", "Not configured");
    showBanner(`${err.userMessage} Uploads are unavailable until it loads.`, () => start());
    return;
  }
  hideBanner();
  queue.pump();
  // Restore remembered jobs (ids only) and fetch their state.
  if (!restored) {
    restored = true;
    for (const jobId of loadJobIds()) poller.start(jobs.add({ jobId, phase: "loading" }), 0);
    jobs.selectFirstIfNone();
  }
  page.schedule();
}

// -------------------------------------------------------------------------------- wiring

function wireLifecycle() {
  setInterval(renewSelectedUrls, 30_000);
  document.addEventListener("visibilitychange", renewSelectedUrls);
  // Leaving the page cancels uploads in flight: ask first.
  window.addEventListener("beforeunload", (event) => {
    if (jobs.all().some(isUploading)) event.preventDefault();
  });
}

wireIntake((files) => addFiles(files));
byId("clear-jobs").addEventListener("click", clearAll);
wireLifecycle();
wireSamples((file) => addFiles([file], { select: true }));
page.schedule();
start();
