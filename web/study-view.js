// Rendering of the groups of the file list: a study's heading (modalities, description,
// series and file counts, date, progress, "Open in viewer") and a series' heading. Pure
// functions of a group from studies.js; they build DOM nodes with textContent only.

import { h } from "./dom.js";
import { formatStudyDate, viewerLink } from "./studies.js";
import { formatTime } from "./view.js";

/** What a group's heading shows, as a string: the heading is rebuilt only when it changes. */
export function groupStamp(group, viewerUrl) {
  return JSON.stringify([
    group.kind,
    group.description,
    group.modalities,
    group.date,
    group.uploadedAt,
    group.series.length,
    group.counts,
    viewerUrl && group.counts.done > 0,
  ]);
}

/** The heading of a group: a study's labels (no patient data), or an other group's title. */
export function renderGroupHead(group, { viewerUrl, headingId }) {
  const { counts } = group;
  const isStudy = group.kind === "study";
  const title = isStudy ? studyTitle(group) : group.title;
  const facts = isStudy
    ? [
        group.modalities.length ? group.modalities.join(", ") : null,
        plural(group.series.length, "series", "series"),
        plural(counts.total, "file", "files"),
        group.date ? `Study date ${formatStudyDate(group.date)}` : uploadedText(group.uploadedAt),
      ]
    : [plural(counts.total, "file", "files"), group.hint];
  // The viewer reads the study through DICOMweb: it has something to show once a file of it
  // was analysed (and so indexed).
  const link = isStudy && counts.done > 0 ? viewerLink(viewerUrl, group.uid) : null;
  const finished = counts.done + counts.failed;
  return h(
    "header",
    { class: "group-head" },
    h(
      "div",
      { class: "group-title" },
      h("h3", { id: headingId }, title),
      h("p", { class: "group-facts" }, facts.filter(Boolean).join(" · ")),
    ),
    link
      ? h(
          "a",
          {
            class: "btn btn-small open-viewer",
            href: link,
            target: "_blank",
            rel: "noopener",
            "aria-label": `Open ${title} in the viewer`,
          },
          "Open in viewer",
        )
      : null,
    h(
      "div",
      { class: "group-progress" },
      h("progress", {
        class: "bar",
        max: String(counts.total),
        value: String(finished),
        "aria-label": `Files of ${title} finished`,
      }),
      h("p", { class: "group-counts", dataset: { done: counts.done, failed: counts.failed, busy: counts.busy } }, countsText(counts)),
    ),
  );
}

/** A series' heading: number, modality, description, file count and, until every file is
 * done, how many are. */
export function renderSeriesHead(series, { headingId, done }) {
  const total = series.entries.length;
  const progress = done < total ? ` · ${done} done` : "";
  return h(
    "h4",
    { class: "series-title", id: headingId },
    seriesTitle(series),
    h("span", { class: "count" }, ` ${plural(total, "file", "files")}${progress}`),
  );
}

export function seriesTitle(series) {
  if (!series.uid) return "Series not known yet";
  const bits = [series.number !== null ? `Series ${series.number}` : "Series", series.modality, series.description];
  return bits.filter(Boolean).join(" · ");
}

function studyTitle(group) {
  return group.description || (group.modalities.length ? `${group.modalities.join("/")} study` : "Study");
}

function countsText(counts) {
  const bits = [`${counts.done} of ${counts.total} done`];
  if (counts.failed) bits.push(`${counts.failed} failed`);
  if (counts.busy) bits.push(`${counts.busy} in progress`);
  return bits.join(", ");
}

function uploadedText(at) {
  return at === null ? null : `Uploaded ${formatTime(at)}`;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
