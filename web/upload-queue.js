// The queue of files to upload, a few at a time: POST /uploads for a job and a presigned
// POST, then the file straight to storage with progress. No DOM here.

import { ApiError, asApiError, uploadToStorage } from "./api.js";

const MAX_PARALLEL_UPLOADS = 3;

export class UploadQueue {
  #waiting = [];
  #running = 0;
  #aborts = new Map(); // entry -> abort() of its transfer in flight

  /**
   * @param {object} deps
   * @param {import("./state.js").JobList} deps.jobs
   * @param {() => import("./api.js").Api | null} deps.api the client, null until configured
   * @param {(ok: boolean, message?: string) => void} deps.reachable whether the API answered
   * @param {(entry) => void} deps.onUploaded the file is in storage: its job can be watched
   */
  constructor({ jobs, api, reachable, onUploaded }) {
    this.jobs = jobs;
    this.api = api;
    this.reachable = reachable;
    this.onUploaded = onUploaded;
  }

  add(entries) {
    this.#waiting.push(...entries);
    this.pump();
  }

  /** Upload a rejected file again (only entries that still hold their File can). */
  retry(entry) {
    if (!entry.file) return;
    this.jobs.update(entry, { phase: "waiting", error: null, progress: 0 });
    this.#waiting.push(entry);
    this.pump();
  }

  /** Stop an entry's transfer in flight and take it out of the queue. */
  cancel(entry) {
    this.#aborts.get(entry)?.();
    this.#waiting = this.#waiting.filter((e) => e !== entry);
  }

  /** Start waiting uploads while slots are free (none before the API is configured). */
  pump() {
    while (this.api() && this.#running < MAX_PARALLEL_UPLOADS && this.#waiting.length) {
      const entry = this.#waiting.shift();
      this.#running += 1;
      this.#upload(entry).finally(() => {
        this.#running -= 1;
        this.pump();
      });
    }
  }

  async #upload(entry) {
    if (entry.removed) return;
    const { jobs } = this;
    jobs.update(entry, { phase: "preparing", progress: 0, error: null });
    try {
      const declared = contentTypeFor(entry.file);
      const created = await this.api().createUpload({
        fileName: entry.file.name,
        contentType: declared,
        size: entry.file.size,
      });
      this.reachable(true);
      if (entry.removed) return;
      if (typeof created.jobId !== "string" || !created.upload?.url) {
        throw new ApiError("BAD_RESPONSE", "The API did not return an upload target.");
      }
      jobs.update(entry, { jobId: created.jobId, phase: "uploading", progress: 0 });
      // The file part carries the declared type too, so no storage can see two different ones.
      const body = entry.file.type === declared ? entry.file : new File([entry.file], entry.file.name, { type: declared });
      const transfer = uploadToStorage(created.upload, body, (fraction) => {
        // Progress events come fast; repaint only on visible change.
        if (Math.round(fraction * 100) !== Math.round(entry.progress * 100)) jobs.update(entry, { progress: fraction });
      });
      this.#aborts.set(entry, transfer.abort);
      await transfer.promise;
      this.#aborts.delete(entry);
      if (entry.removed) return;
      jobs.update(entry, { phase: "PENDING", progress: 1 });
      this.onUploaded(entry);
    } catch (error) {
      this.#aborts.delete(entry);
      if (entry.removed) return;
      const err = asApiError(error);
      if (err.isNetwork) this.reachable(false, err.userMessage);
      // A job whose upload never arrived stays PENDING on the server; forget its id.
      jobs.update(entry, { phase: "rejected", jobId: null, error: { code: err.code, message: err.userMessage } });
    }
  }
}

/** The content type to declare. DICOM files often have no extension and no browser type. */
export function contentTypeFor(file) {
  const type = (file.type || "").toLowerCase();
  if (type === "image/png" || type === "image/jpeg" || type === "application/dicom") return type;
  const dot = file.name.lastIndexOf(".");
  const ext = dot > 0 ? file.name.slice(dot + 1).toLowerCase() : "";
  if (ext === "png") return "image/png";
  if (ext === "jpg" || ext === "jpeg") return "image/jpeg";
  if (ext === "" || ["dcm", "dicom", "dic", "ima"].includes(ext) || /^\d+$/.test(ext)) return "application/dicom";
  return type || "application/octet-stream";
}
