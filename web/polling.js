// Watching jobs: GET /jobs/{jobId} until the job is done or failed, brisk at first and then
// backing off, a few requests at a time; and re-reading finished jobs whose short-lived
// image URLs expired. No DOM here.

import { asApiError } from "./api.js";
import { API_STATUSES, isBusy, isDone } from "./phases.js";

const MAX_PARALLEL_POLLS = 6;
// Most files finish within seconds: poll briskly at first, then back off for long jobs.
export const POLL_FIRST_MS = 250;
const POLL_GROWTH = 1.3;
const POLL_EARLY_MAX_MS = 1500;
const POLL_EARLY_PERIOD_MS = 60_000;
const POLL_MAX_MS = 5000;
const POLL_OFFLINE_MAX_MS = 15000;
const URL_REFRESH_AFTER_MS = 4 * 60 * 1000;
const EXPIRED_ERROR = Object.freeze({
  code: "EXPIRED",
  message: "The upload form expired before the file reached storage. Add the file again to upload it.",
});

export class Poller {
  #running = 0;
  #slotWaiters = [];
  #watches = new WeakMap(); // entry -> {timer, delay, since, refreshing, imageFailures}

  /**
   * @param {object} deps
   * @param {import("./state.js").JobList} deps.jobs
   * @param {() => import("./api.js").Api | null} deps.api
   * @param {(ok: boolean, message?: string) => void} deps.reachable whether the API answered
   */
  constructor({ jobs, api, reachable }) {
    this.jobs = jobs;
    this.api = api;
    this.reachable = reachable;
  }

  /** Begin watching an entry's job afresh: first poll after `delay`, brisk backoff again. */
  start(entry, delay = POLL_FIRST_MS) {
    const watch = this.#watch(entry);
    watch.since = Date.now();
    watch.delay = POLL_FIRST_MS;
    this.#schedule(entry, delay);
  }

  /** Poll now and poll briskly again (after the API came back), keeping the watch's age. */
  pollNow(entry) {
    this.#watch(entry).delay = POLL_FIRST_MS;
    this.#schedule(entry, 0);
  }

  stop(entry) {
    clearTimeout(this.#watches.get(entry)?.timer);
  }

  /** Re-fetch a finished job: its URLs are short-lived. One refresh at a time per entry. */
  async refresh(entry) {
    const watch = this.#watch(entry);
    if (watch.refreshing || entry.removed || !entry.jobId || isBusy(entry)) return;
    watch.refreshing = true;
    watch.delay = POLL_FIRST_MS;
    await this.#poll(entry);
    watch.refreshing = false;
  }

  /** A finished job's links are renewed before they expire, while someone looks at them. */
  renewUrlsIfStale(entry) {
    if (isDone(entry) && Date.now() - entry.fetchedAt > URL_REFRESH_AFTER_MS) this.refresh(entry);
  }

  /** A preview or thumbnail (`which`) did not load: most likely its URL expired. */
  imageFailed(entry, which) {
    // Twice in a row without a successful load means broken, not expired: stop there.
    const watch = this.#watch(entry);
    const failures = watch.imageFailures[which] || 0;
    if (watch.refreshing || failures >= 2) return;
    watch.imageFailures[which] = failures + 1;
    this.refresh(entry);
  }

  imageLoaded(entry, which) {
    this.#watch(entry).imageFailures[which] = 0;
  }

  #watch(entry) {
    let watch = this.#watches.get(entry);
    if (!watch) {
      watch = { timer: null, delay: POLL_FIRST_MS, since: entry.createdAt, refreshing: false, imageFailures: {} };
      this.#watches.set(entry, watch);
    }
    return watch;
  }

  #schedule(entry, delay) {
    const watch = this.#watch(entry);
    clearTimeout(watch.timer);
    const jitter = delay * 0.15 * Math.random();
    watch.timer = setTimeout(() => this.#poll(entry), delay + jitter);
  }

  async #withSlot(fn) {
    if (this.#running >= MAX_PARALLEL_POLLS) {
      await new Promise((resolve) => this.#slotWaiters.push(resolve));
    }
    this.#running += 1;
    try {
      return await fn();
    } finally {
      this.#running -= 1;
      this.#slotWaiters.shift()?.();
    }
  }

  async #poll(entry) {
    if (entry.removed || !entry.jobId) return;
    const watch = this.#watch(entry);
    try {
      const job = await this.#withSlot(() => this.api().getJob(entry.jobId));
      this.reachable(true);
      if (entry.removed) return;
      watch.refreshing = false;
      this.jobs.update(entry, { job, ...phaseOfJob(job), fetchedAt: Date.now() });
      if (isBusy(entry)) {
        const cap = Date.now() - watch.since < POLL_EARLY_PERIOD_MS ? POLL_EARLY_MAX_MS : POLL_MAX_MS;
        watch.delay = Math.min(cap, watch.delay * POLL_GROWTH);
        this.#schedule(entry, watch.delay);
      }
    } catch (error) {
      if (entry.removed) return;
      const err = asApiError(error);
      if (err.status === 404) {
        this.jobs.update(entry, {
          phase: "missing",
          error: { code: err.code || "NOT_FOUND", message: err.userMessage || "Unknown job." },
        });
        return;
      }
      if (err.isNetwork) this.reachable(false, err.userMessage);
      watch.delay = Math.min(POLL_OFFLINE_MAX_MS, Math.max(1000, watch.delay * 2));
      this.#schedule(entry, watch.delay);
    }
  }
}

/** The entry's phase and error for a job as GET /jobs/{jobId} answered it. */
function phaseOfJob(job) {
  const status = API_STATUSES.includes(job.status) ? job.status : "PENDING";
  if (status === "EXPIRED") return { phase: status, error: EXPIRED_ERROR };
  const error =
    status === "FAILED"
      ? {
          code: job.error?.code || "FAILED",
          message: job.error?.message || "Processing failed.",
        }
      : null;
  return { phase: status, error };
}
