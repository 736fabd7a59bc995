// Paints the job list and the selected result into the page, at most once a frame, from the
// JobList. The cards and the detail themselves are built by view.js.

import { byId, replaceChildren } from "./dom.js";
import { isBusy, isFailed } from "./phases.js";
import { phaseText, renderCard, renderDetail } from "./view.js";

/**
 * @param {import("./state.js").JobList} jobs
 * @param {{cardActions: object, detailActions: object}} actions handed to renderCard / renderDetail
 * @returns {{schedule: () => void}} schedule() asks for a repaint on the next frame
 */
export function createPageView(jobs, { cardActions, detailActions }) {
  const cards = new WeakMap(); // entry -> {el, stamp}: the card and what it was built from
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
    const list = byId("job-list");
    // Cards are rebuilt only when their entry changed, so thumbnails are not reloaded and
    // focus stays where the user left it.
    entries.forEach((entry, index) => {
      const selected = entry.key === jobs.selectedKey;
      const stamp = `${entry.version}:${selected}`;
      let card = cards.get(entry);
      if (card?.stamp !== stamp) {
        const el = renderCard(entry, { selected, actions: cardActions });
        const old = card?.el;
        const focused = old?.contains(document.activeElement) ? document.activeElement : null;
        if (old?.parentNode === list) list.replaceChild(el, old);
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
    byId("jobs-empty").hidden = entries.length > 0;
    byId("clear-jobs").disabled = entries.length === 0;
    const busy = entries.filter(isBusy).length;
    const failed = entries.filter(isFailed).length;
    byId("job-count").textContent = entries.length
      ? `(${entries.length}${busy ? `, ${busy} in progress` : ""}${failed ? `, ${failed} failed` : ""})`
      : "";
    renderSelected();
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
