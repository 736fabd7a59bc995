// The page's grouping: studies, then series, then files. A pure function of the entries: no
// DOM, no network. A file's place comes from the server's summary once it is analysed, and
// before that from the header read in the browser (dicom-header.js); PNG/JPEG files and DICOM
// files without a Study Instance UID are "other images".

import { isBusy, isDone, isFailed } from "./phases.js";

/** Group kinds besides studies, in the order they follow the studies. */
export const OTHER = "other"; // analysed images that belong to no study
export const UNSORTED = "unsorted"; // still busy, study not known yet
export const UNREAD = "unread"; // failed before their study was known

const NON_STUDY_TITLES = {
  [OTHER]: "Other images",
  [UNSORTED]: "Not sorted yet",
  [UNREAD]: "Not analysed",
};
const NON_STUDY_HINTS = {
  [OTHER]: "PNG and JPEG files, and DICOM files that name no study.",
  [UNSORTED]: "Files whose study is known once they are analysed.",
  [UNREAD]: "Files that failed before their study was known.",
};

/**
 * Where an entry belongs: {study, series, seriesNumber, instanceNumber, modality,
 * studyDescription, seriesDescription, studyDate}; `study` is null outside a study, and then
 * `group` says which other group (OTHER, UNSORTED or UNREAD).
 */
export function placementOf(entry) {
  const result = isDone(entry) ? entry.job?.result : null;
  const known = result?.kind === "dicom" ? result.summary || {} : entry.sniffed || {};
  const study = typeof known.studyInstanceUid === "string" && known.studyInstanceUid ? known.studyInstanceUid : null;
  const place = {
    study,
    series: typeof known.seriesInstanceUid === "string" && known.seriesInstanceUid ? known.seriesInstanceUid : null,
    seriesNumber: Number.isInteger(known.seriesNumber) ? known.seriesNumber : null,
    instanceNumber: Number.isInteger(known.instanceNumber) ? known.instanceNumber : null,
    modality: known.modality || null,
    studyDescription: known.studyDescription || null,
    seriesDescription: known.seriesDescription || null,
    // The study date is patient data: known only when the API exposes PHI.
    studyDate: result?.phi?.studyDate || null,
    group: null,
  };
  if (study) return place;
  if (result || entry.nonDicom) place.group = OTHER;
  else if (isFailed(entry)) place.group = UNREAD;
  else place.group = UNSORTED;
  return place;
}

/**
 * The entries as groups: studies first (in the order their first file was added), then
 * "other images", "not sorted yet", "not analysed". Each group:
 * {key, kind: "study" | OTHER | UNSORTED | UNREAD, uid, title, hint, description, modalities,
 *  date, uploadedAt, series: [{key, uid, number, modality, description, entries}],
 *  entries, counts: {total, done, failed, busy}}.
 */
export function groupEntries(entries) {
  const groups = new Map();
  for (const entry of entries) {
    const place = placementOf(entry);
    const key = place.study ? `study:${place.study}` : place.group;
    let group = groups.get(key);
    if (!group) {
      group = newGroup(key, place);
      groups.set(key, group);
    }
    addToGroup(group, entry, place);
  }
  const ordered = [...groups.values()].sort((a, b) => rank(a) - rank(b));
  for (const group of ordered) finish(group);
  return ordered;
}

function newGroup(key, place) {
  const kind = place.study ? "study" : place.group;
  return {
    key,
    kind,
    uid: place.study,
    title: place.study ? null : NON_STUDY_TITLES[kind],
    hint: place.study ? null : NON_STUDY_HINTS[kind],
    description: null,
    modalities: [],
    date: null,
    uploadedAt: null,
    seriesByKey: new Map(),
    series: [],
    entries: [],
    counts: { total: 0, done: 0, failed: 0, busy: 0 },
  };
}

function addToGroup(group, entry, place) {
  group.entries.push({ entry, place });
  group.description ||= place.studyDescription;
  group.date ||= place.studyDate;
  const uploaded = uploadTime(entry);
  if (uploaded !== null && (group.uploadedAt === null || uploaded < group.uploadedAt)) group.uploadedAt = uploaded;
  const counts = group.counts;
  counts.total += 1;
  if (isDone(entry)) counts.done += 1;
  else if (isFailed(entry)) counts.failed += 1;
  else if (isBusy(entry)) counts.busy += 1;
  // Outside a study there is one list of files; in a study, one per series (a file whose
  // series is unknown goes in a series of its own kind).
  const seriesKey = group.kind === "study" ? place.series || "unknown" : "files";
  let series = group.seriesByKey.get(seriesKey);
  if (!series) {
    series = { key: seriesKey, uid: place.series, number: null, modality: null, description: null, entries: [] };
    group.seriesByKey.set(seriesKey, series);
  }
  series.entries.push({ entry, place });
  if (series.number === null) series.number = place.seriesNumber;
  series.modality ||= place.modality;
  series.description ||= place.seriesDescription;
}

function finish(group) {
  group.series = [...group.seriesByKey.values()].sort(bySeriesNumber);
  delete group.seriesByKey;
  for (const series of group.series) {
    series.entries.sort(byInstance);
    series.entries = series.entries.map(({ entry }) => entry);
  }
  group.entries = group.entries.map(({ entry }) => entry);
  group.modalities = [...new Set(group.series.map((s) => s.modality).filter(Boolean))];
}

const NON_STUDY_RANK = { [OTHER]: 1, [UNSORTED]: 2, [UNREAD]: 3 };

function rank(group) {
  return group.kind === "study" ? 0 : NON_STUDY_RANK[group.kind];
}

function bySeriesNumber(a, b) {
  return nullsLast(a.number, b.number) || String(a.uid ?? "~").localeCompare(String(b.uid ?? "~"));
}

function byInstance(a, b) {
  return nullsLast(a.place.instanceNumber, b.place.instanceNumber) || a.entry.createdAt - b.entry.createdAt;
}

function nullsLast(a, b) {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

/** When the entry's file was uploaded (the job's creation), in ms; null when unknown. */
function uploadTime(entry) {
  const created = Date.parse(entry.job?.createdAt ?? "");
  if (Number.isFinite(created)) return created;
  return entry.jobId || entry.file ? entry.createdAt : null;
}

/** The study's date (YYYYMMDD) as YYYY-MM-DD; other text as it is. */
export function formatStudyDate(value) {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(String(value));
  return match ? `${match[1]}-${match[2]}-${match[3]}` : String(value);
}

/**
 * The viewer's page for a study (OHIF's route `viewer?StudyInstanceUIDs=`) under the
 * configured `viewerUrl`, resolved against the page; null without a viewer or a UID.
 */
export function viewerLink(viewerUrl, studyUid) {
  if (!viewerUrl || !studyUid) return null;
  try {
    const base = new URL(viewerUrl, document.baseURI);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    const url = new URL("viewer", base);
    url.searchParams.set("StudyInstanceUIDs", studyUid);
    return url.href;
  } catch {
    return null;
  }
}
