// The phases an entry goes through: local ones (before the server has the file, or while its
// job is looked up) and the API's job statuses. The one place that says which phases are
// busy, done or failed; everything else asks these functions instead of comparing strings.

/** The job statuses GET /jobs/{jobId} answers; anything else is read as PENDING. */
export const API_STATUSES = Object.freeze(["PENDING", "PROCESSING", "COMPLETED", "FAILED", "EXPIRED"]);

/** Before the file reached storage: leaving the page now would lose it. */
export const UPLOAD_PHASES = Object.freeze(["waiting", "preparing", "uploading"]);

/**
 * The end of the road: processing failed, the upload never arrived before its form expired,
 * storage refused the file, or the job is gone.
 */
export const FAILED_PHASES = Object.freeze(["FAILED", "EXPIRED", "rejected", "missing"]);

export const DONE_PHASE = "COMPLETED";

export function isFailed(entry) {
  return FAILED_PHASES.includes(entry.phase);
}

export function isDone(entry) {
  return entry.phase === DONE_PHASE;
}

/** Still moving: every phase that is neither done nor failed (unknown ones included). */
export function isBusy(entry) {
  return !isDone(entry) && !isFailed(entry);
}

export function isUploading(entry) {
  return UPLOAD_PHASES.includes(entry.phase);
}

/** The colour family a phase is shown in: "busy", "ok" or "bad". */
export function phaseTone(entry) {
  if (isFailed(entry)) return "bad";
  return isDone(entry) ? "ok" : "busy";
}
