// What the page tells the user outside the list: the screen-reader announcer, the banner
// (with its optional Retry) and the API indicator in the header.

import { byId } from "./dom.js";
import { isDone, isFailed } from "./phases.js";
import { displayName, phaseText } from "./view.js";

let announceTimer = null;

/** Say `text` through the polite live region. */
export function announce(text) {
  const el = byId("announcer");
  clearTimeout(announceTimer);
  el.textContent = "";
  // A fresh text node after a tick makes screen readers read repeated messages.
  announceTimer = setTimeout(() => {
    el.textContent = text;
  }, 50);
}

/** Announce the phases worth hearing about: done, failed, and safely uploaded. */
export function announcePhase(entry) {
  const name = displayName(entry);
  if (isDone(entry)) announce(`${name}: done.`);
  else if (isFailed(entry))
    announce(`${name}: ${phaseText(entry).toLowerCase()} — ${entry.error?.code ?? ""} ${entry.error?.message ?? ""}`);
  else if (entry.phase === "PENDING") announce(`${name}: uploaded, queued for processing.`);
}

/** Show the banner; a Retry button appears when `onRetry` is given. */
export function showBanner(text, onRetry) {
  byId("banner-text").textContent = text;
  byId("banner-retry").hidden = !onRetry;
  byId("banner-retry").onclick = onRetry || null;
  byId("banner").hidden = false;
}

export function hideBanner() {
  byId("banner").hidden = true;
}

/** The header's API indicator: `state` is "ready", "ok" or "down". */
export function showApiState(state, text) {
  const el = byId("api-state");
  el.dataset.state = state;
  el.textContent = text;
}
