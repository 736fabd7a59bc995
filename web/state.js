// The page's job records (one entry per file or remembered job, in display order), which
// one is selected, and the job ids this browser remembers in localStorage. No DOM and no
// network here: whoever changes an entry goes through update(), which tells the listeners.

const STORAGE_KEY = "dicomlens.jobs";
const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export class JobList {
  #nextKey = 1;

  /**
   * @param {{onChange: () => void, onPhaseChange: (entry) => void}} listeners onChange after
   *   every change (to repaint), onPhaseChange when an entry's phase changed (to announce it).
   */
  constructor({ onChange, onPhaseChange }) {
    this.entries = new Map(); // key -> entry, in display order
    this.selectedKey = null;
    this.onChange = onChange;
    this.onPhaseChange = onPhaseChange;
  }

  /** A new entry at the end of the list; `fields` override the defaults. */
  add(fields) {
    const entry = {
      key: `e${this.#nextKey++}`,
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
      createdAt: Date.now(),
      fetchedAt: 0,
      deid: null, // the de-identified copy: {phase: "busy" | "done" | "failed", ...}
      nonDicom: false, // a PNG or JPEG: never in a study
      sniffed: null, // the study and series its header names, read before the upload
      removed: false,
      version: 0, // bumped on every update, so views repaint only what changed
      ...fields,
    };
    this.entries.set(entry.key, entry);
    return entry;
  }

  update(entry, fields) {
    const before = entry.phase;
    Object.assign(entry, fields);
    entry.version += 1;
    if (before !== entry.phase) this.onPhaseChange(entry);
    this.onChange();
  }

  /** Take an entry off the list for good (work still running on it checks `removed`). */
  remove(entry) {
    entry.removed = true;
    this.entries.delete(entry.key);
    if (this.selectedKey === entry.key) this.selectedKey = null;
    this.save();
    this.onChange();
  }

  all() {
    return [...this.entries.values()];
  }

  get selected() {
    return this.entries.get(this.selectedKey);
  }

  /** Select the first entry when nothing is selected yet. */
  selectFirstIfNone() {
    if (this.selectedKey === null) this.selectedKey = this.entries.keys().next().value ?? null;
  }

  /** Remember the job ids of the list (ids only: results stay on the server). */
  save() {
    const ids = this.all()
      .map((e) => e.jobId)
      .filter(Boolean);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(ids));
    } catch {
      // storage full or disabled: the list simply is not remembered
    }
  }
}

/** The job ids remembered by save(); anything malformed is dropped. */
export function loadJobIds() {
  try {
    const ids = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter((id) => typeof id === "string" && JOB_ID.test(id)) : [];
  } catch {
    return [];
  }
}
