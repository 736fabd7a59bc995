// Asking for a de-identified copy of a completed DICOM job (POST /jobs/{jobId}/deidentify).
// The entry's `deid` says where it stands; view.js shows the button, the wait or the link.

import { ApiError, asApiError } from "./api.js";
import { safeUrl } from "./dom.js";
import { announce } from "./notices.js";
import { displayName } from "./view.js";

/**
 * Request the copy for `entry`. The button stays in place (busy) until the API answers; the
 * link then takes its place, or the error with a retry. A request already running wins.
 *
 * @param {object} deps
 * @param {import("./api.js").Api | null} deps.api
 * @param {import("./state.js").JobList} deps.jobs
 * @param {(ok: boolean, message?: string) => void} deps.reachable whether the API answered
 */
export async function requestDeidentifiedCopy(entry, { api, jobs, reachable }) {
  if (!api || !entry.jobId || entry.removed || entry.deid?.phase === "busy") return;
  const name = displayName(entry);
  jobs.update(entry, { deid: { phase: "busy" } });
  announce(`${name}: de-identifying. This can take several seconds.`);
  try {
    const copy = await api.deidentify(entry.jobId);
    reachable(true);
    if (entry.removed) return;
    if (!safeUrl(copy.url)) throw new ApiError("BAD_RESPONSE", "The API did not return a download link.");
    const pixelsRedacted = typeof copy.pixelsRedacted === "boolean" ? copy.pixelsRedacted : null;
    jobs.update(entry, { deid: { phase: "done", url: copy.url, pixelsRedacted, at: Date.now() } });
    announce(`${name}: the de-identified DICOM is ready to download.`);
  } catch (error) {
    if (entry.removed) return;
    const err = asApiError(error);
    if (err.isNetwork) reachable(false, err.userMessage);
    jobs.update(entry, { deid: { phase: "failed", error: { code: err.code, message: err.userMessage } } });
    announce(`${name}: de-identification failed — ${err.code} ${err.userMessage}`);
  }
}
