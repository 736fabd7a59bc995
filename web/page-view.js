// Paints the file list (studies, then series, then files: see studies.js) and the selected
// result into the page, at most once a frame, from the JobList. The cards and the detail are
// built by view.js, the study and series headings by study-view.js.

import { byId, h, replaceChildren } from "./dom.js";
import { isBusy, isDone, isFailed } from "./phases.js";
import { groupEntries } from "./studies.js";
import { groupStamp, renderGroupHead, renderSeriesHead, seriesTitle } from "./study-view.js";
import { phaseText, renderCard, renderDetail } from "./view.js";

// A study's series with more files than this start folded (one line each).
const SERIES_OPEN_MAX = 12;

/**
 * @param {import("./state.js").JobList} jobs
 * @param {{cardActions: object, detailActions: object, viewer: () => string | null}} options
 *   actions handed to renderCard / renderDetail; viewer() is config.json's viewerUrl (or null)
 * @returns {{schedule: () => void}} schedule() asks for a repaint on the next frame
 */
export function createPageView(jobs, { cardActions, detailActions, viewer }) {
  const cards = new WeakMap(); // entry -> {el, stamp}: the card and what it was built from
  const groupViews = new Map(); // group key -> its section, heading and series
  let nextId = 1;
  let renderedDetail = null; // "key:version" of the detail on screen
  let queued = false;

  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  }

  function render() {
    const entries = jobs.all();
    const container = byId("job-list");
    const groups = groupEntries(entries);
    const viewerUrl = viewer();
    const seen = new Set();
    groups.forEach((group, index) => {
      const view = groupView(group);
      seen.add(group.key);
      const stamp = groupStamp(group, viewerUrl);
      if (view.stamp !== stamp) {
        const refocus = view.head.contains(document.activeElement) ? ".open-viewer" : null;
        replaceChildren(view.head, renderGroupHead(group, { viewerUrl, headingId: view.headingId }));
        view.stamp = stamp;
        if (refocus) view.head.querySelector(refocus)?.focus({ preventScroll: true });
      }
      renderSeries(view, group);
      if (container.children[index] !== view.el) container.insertBefore(view.el, container.children[index] || null);
    });
    for (const [key, view] of groupViews) {
      if (!seen.has(key)) {
        view.el.remove();
        groupViews.delete(key);
      }
    }
    byId("jobs-empty").hidden = entries.length > 0;
    byId("clear-jobs").disabled = entries.length === 0;
    const busy = entries.filter(isBusy).length;
    const failed = entries.filter(isFailed).length;
    byId("job-count").textContent = entries.length
      ? `(${entries.length}${busy ? `, ${busy} in progress` : ""}${failed ? `, ${failed} failed` : ""})`
      : "";
    renderSelected();
  }

  /** The section of a group, made once per group key and kept while the group exists. */
  function groupView(group) {
    let view = groupViews.get(group.key);
    if (view) return view;
    const headingId = `group-${nextId++}`;
    const head = h("div", { class: "group-head-box" });
    const body = h("div", { class: "group-series" });
    const el = h(
      "section",
      {
        class: `group group-${group.kind}`,
        "aria-labelledby": headingId,
        dataset: { kind: group.kind, studyUid: group.uid ?? "" },
      },
      head,
      body,
    );
    view = { el, head, body, headingId, stamp: null, series: new Map() };
    groupViews.set(group.key, view);
    return view;
  }

  /** The series of a group (one plain list outside a study), each with its cards in order. */
  function renderSeries(view, group) {
    const seen = new Set();
    group.series.forEach((series, index) => {
      let sv = view.series.get(series.key);
      if (!sv) {
        const headingId = `series-${nextId++}`;
        const inStudy = group.kind === "study";
        const head = inStudy ? h("div", { class: "series-head" }) : null;
        const list = h("ul", {
          class: "job-grid",
          "aria-labelledby": inStudy ? headingId : view.headingId,
        });
        // In a study, a series' files sit in a disclosure: a 300-slice series is one line
        // until its user opens it (small series start open).
        const fold = inStudy ? h("details", { class: "series-files", open: true }, h("summary", { class: "series-summary" }, head), list) : null;
        const el = h(
          "section",
          { class: "series", "aria-labelledby": inStudy ? headingId : view.headingId, dataset: { seriesUid: series.uid ?? "" } },
          fold || list,
        );
        sv = { el, head, list, fold, headingId, stamp: null, touched: false };
        if (fold) fold.firstChild.addEventListener("click", () => (sv.touched = true));
        view.series.set(series.key, sv);
      }
      seen.add(series.key);
      if (sv.fold && !sv.touched) sv.fold.open = series.entries.length <= SERIES_OPEN_MAX;
      if (sv.head) {
        const done = series.entries.filter(isDone).length;
        const stamp = `${seriesTitle(series)}:${series.entries.length}:${done}`;
        if (sv.stamp !== stamp) {
          replaceChildren(sv.head, renderSeriesHead(series, { headingId: sv.headingId, done }));
          sv.stamp = stamp;
        }
      }
      placeCards(sv.list, series.entries);
      if (view.body.children[index] !== sv.el) view.body.insertBefore(sv.el, view.body.children[index] || null);
    });
    for (const [key, sv] of view.series) {
      if (!seen.has(key)) {
        sv.el.remove();
        view.series.delete(key);
      }
    }
  }

  /** The cards of `entries` in `list`, in order. Cards are rebuilt only when their entry
   * changed, so thumbnails are not reloaded and focus stays where the user left it. */
  function placeCards(list, entries) {
    entries.forEach((entry, index) => {
      const selected = entry.key === jobs.selectedKey;
      const stamp = `${entry.version}:${selected}`;
      let card = cards.get(entry);
      if (card?.stamp !== stamp) {
        const el = renderCard(entry, { selected, actions: cardActions });
        const old = card?.el;
        const focused = old?.contains(document.activeElement) ? document.activeElement : null;
        if (old?.parentNode) old.parentNode.replaceChild(el, old);
        card = { el, stamp };
        cards.set(entry, card);
        if (focused) {
          const same = [...focused.classList].map((c) => `.${c}`).join("");
          (el.querySelector(same || "button") || el.querySelector("button"))?.focus({ preventScroll: true });
        }
      }
      if (list.children[index] !== card.el) list.insertBefore(card.el, list.children[index] || null);
    });
    while (list.children.length > entries.length) list.lastElementChild.remove();
  }

  function renderSelected() {
    const entry = jobs.selected;
    const body = byId("detail-body");
    byId("detail-empty").hidden = Boolean(entry);
    byId("detail-empty").firstElementChild.textContent = jobs.entries.size
      ? "Select a file to see its preview, labels, metadata and findings."
      : "Add a file, or try a sample: its preview, labels, metadata and findings appear here.";
    body.hidden = !entry;
    if (!entry) {
      renderedDetail = null;
      body.replaceChildren();
      return;
    }
    const stamp = `${entry.key}:${entry.version}`;
    if (renderedDetail === stamp) return;
    // Progress ticks only change the bar; keep the rest (and any loaded image) in place.
    const bar = body.querySelector("progress");
    if (renderedDetail?.startsWith(`${entry.key}:`) && entry.phase === "uploading" && bar && body.dataset.phase === "uploading") {
      bar.value = Math.round(entry.progress * 100);
      body.querySelector(".detail-head .badge").textContent = phaseText(entry);
      renderedDetail = stamp;
      return;
    }
    renderedDetail = stamp;
    // The detail is rebuilt on every change: a control that is rebuilt under the same
    // data-focus-key (a preset, the de-identify button that becomes its link) keeps the focus.
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined;
    const sameEntry = body.dataset.key === entry.key;
    body.dataset.phase = entry.phase;
    body.dataset.key = entry.key;
    replaceChildren(body, renderDetail(entry, detailActions));
    if (focused && sameEntry) body.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  return { schedule };
}
