// Rendering of file cards and of one job's result. Pure functions of an entry: they build
// DOM nodes with textContent only (see dom.js) and never touch the network.

import { h, s, safeUrl } from "./dom.js";
import { isBusy, isDone, isFailed, phaseTone } from "./phases.js";

/** What the user sees for each phase of an entry (local phases + the API's statuses). */
const PHASE_TEXT = {
  waiting: "Waiting to upload",
  preparing: "Preparing",
  uploading: "Uploading",
  loading: "Checking",
  PENDING: "Queued",
  PROCESSING: "Processing",
  COMPLETED: "Done",
  FAILED: "Failed",
  EXPIRED: "Expired",
  rejected: "Upload failed",
  missing: "Not found",
};

export function phaseText(entry) {
  if (entry.phase === "uploading") return `Uploading ${Math.round(entry.progress * 100)}%`;
  return PHASE_TEXT[entry.phase] ?? entry.phase;
}

// ---------------------------------------------------------------------------------- cards

/** The card of one file in the grid. `actions` = {select, remove, retry}. */
export function renderCard(entry, { selected, actions }) {
  const tone = phaseTone(entry);
  const thumbUrl = isDone(entry) ? safeUrl(entry.job?.urls?.thumbnail) : null;
  const name = displayName(entry);
  const thumb = thumbUrl
    ? h("img", {
        class: "thumb",
        src: thumbUrl,
        alt: "",
        loading: "lazy",
        decoding: "async",
        onerror: () => actions.imageFailed(entry, "thumbnail"),
        onload: () => actions.imageLoaded(entry, "thumbnail"),
      })
    : h("span", { class: `thumb thumb-placeholder tone-${tone}`, "aria-hidden": "true" }, placeholderGlyph(entry));

  const progress =
    entry.phase === "uploading" || entry.phase === "preparing"
      ? h("progress", {
          class: "bar",
          max: "100",
          value: entry.phase === "uploading" ? String(Math.round(entry.progress * 100)) : null,
          "aria-label": `Upload progress of ${name}`,
        })
      : entry.phase === "PENDING" || entry.phase === "PROCESSING" || entry.phase === "loading"
        ? h("progress", { class: "bar", "aria-label": `${phaseText(entry)}: ${name}` })
        : null;

  const error = entry.error
    ? h("p", { class: "card-error" }, h("code", {}, entry.error.code), " ", entry.error.message)
    : null;

  const li = h(
    "li",
    {
      class: `card tone-${tone}${selected ? " is-selected" : ""}`,
      dataset: { key: entry.key, status: entry.phase, fileName: name },
    },
    h(
      "button",
      {
        type: "button",
        class: "card-main",
        "aria-pressed": selected ? "true" : "false",
        title: entry.relativePath || name,
        onclick: () => actions.select(entry),
      },
      thumb,
      h(
        "span",
        { class: "card-text" },
        h("span", { class: "card-name" }, name),
        h("span", { class: `badge tone-${tone}` }, phaseText(entry)),
      ),
    ),
    progress,
    error,
    h(
      "div",
      { class: "card-actions" },
      entry.phase === "rejected" && entry.file
        ? h("button", { type: "button", class: "btn btn-small", onclick: () => actions.retry(entry) }, "Retry")
        : null,
      h(
        "button",
        {
          type: "button",
          class: "icon-btn",
          "aria-label": `Remove ${name} from the list`,
          title: "Remove from the list",
          onclick: () => actions.remove(entry),
        },
        "×",
      ),
    ),
  );
  return li;
}

function calloutTitle(entry) {
  if (entry.phase === "missing") return "This job is not available";
  if (entry.phase === "EXPIRED") return "Expired: the upload never arrived";
  return "Why it failed";
}

function placeholderGlyph(entry) {
  if (isFailed(entry)) return "!";
  if (isDone(entry)) return "∅";
  return "…";
}

export function displayName(entry) {
  return entry.job?.fileName || entry.fileName || entry.jobId || "file";
}

// --------------------------------------------------------------------------------- detail

const SOURCE_NAMES = {
  "dicom-tags": "From DICOM tags",
  classifier: "Image classifier",
  faces: "Face detector",
  ocr: "Burned-in text (OCR)",
  rekognition: "Amazon Rekognition",
  byom: "Custom model",
};

const SUMMARY_FIELDS = [
  ["modality", "Modality"],
  ["sopClassName", "SOP class"],
  ["bodyPart", "Body part"],
  ["studyDescription", "Study description"],
  ["seriesDescription", "Series description"],
  ["laterality", "Laterality"],
  ["viewPosition", "View position"],
  ["matrix", "Matrix (columns × rows)"],
  ["frames", "Frames"],
  ["photometricInterpretation", "Photometric interpretation"],
  ["samplesPerPixel", "Samples per pixel"],
  ["bits", "Bits stored / allocated"],
  ["pixelRepresentation", "Pixel representation"],
  ["pixelSpacing", "Pixel spacing (row, column)"],
  ["sliceThickness", "Slice thickness"],
  ["transferSyntaxName", "Transfer syntax"],
  ["transferSyntaxUid", "Transfer syntax UID"],
  ["manufacturer", "Manufacturer"],
  ["model", "Model"],
  ["burnedInAnnotation", "Burned-in annotation (declared)"],
  ["sopClassUid", "SOP class UID"],
  ["seriesNumber", "Series number"],
  ["instanceNumber", "Instance number"],
  ["studyInstanceUid", "Study Instance UID"],
  ["seriesInstanceUid", "Series Instance UID"],
  ["sopInstanceUid", "SOP Instance UID"],
];
const SUMMARY_CONSUMED = new Set(["rows", "columns", "bitsStored", "bitsAllocated"]);

/**
 * The result panel of one entry. `actions` = {remove, setPreset, deidentify, imageFailed,
 * imageLoaded}; imageFailed asks the controller for fresh URLs (they expire).
 */
export function renderDetail(entry, actions) {
  const name = displayName(entry);
  const job = entry.job;
  const tone = phaseTone(entry);
  const parts = [];

  parts.push(
    h(
      "header",
      { class: "detail-head" },
      h("h3", { class: "detail-name" }, name),
      h("span", { class: `badge tone-${tone}` }, phaseText(entry)),
      h("p", { class: "detail-meta" }, timeline(entry)),
    ),
  );

  if (entry.error) {
    parts.push(
      h(
        "div",
        { class: "callout callout-bad", role: "note" },
        h("p", { class: "callout-title" }, calloutTitle(entry)),
        h("p", {}, h("code", { class: "error-code" }, entry.error.code), " ", entry.error.message),
        entry.phase === "missing"
          ? h("p", {}, "Results are kept for a limited time; the job may have expired or belong to another deployment.")
          : null,
        entry.phase === "missing"
          ? h("button", { type: "button", class: "btn btn-small", onclick: () => actions.remove(entry) }, "Remove from the list")
          : null,
      ),
    );
  }

  if (isBusy(entry)) {
    parts.push(
      h(
        "div",
        { class: "callout" },
        h("p", {}, working(entry)),
        h("progress", { class: "bar", "aria-label": phaseText(entry), value: entry.phase === "uploading" ? String(Math.round(entry.progress * 100)) : null, max: "100" }),
      ),
    );
  }

  const result = isDone(entry) ? job?.result : null;
  if (result) {
    parts.push(renderResult(entry, result, actions));
  }

  if (entry.jobId) {
    parts.push(h("p", { class: "job-id" }, "Job ", h("code", {}, entry.jobId)));
  }
  return parts;
}

function working(entry) {
  switch (entry.phase) {
    case "uploading":
      return "Uploading to storage…";
    case "PENDING":
      return "Uploaded. Waiting for a worker to pick it up…";
    case "PROCESSING":
      return "Decoding, rendering the preview and running the analyzers…";
    case "loading":
      return "Fetching this job's state from the API…";
    case "waiting":
    case "preparing":
      return "Waiting for an upload slot…";
    default:
      return "Working…";
  }
}

function timeline(entry) {
  const job = entry.job;
  if (!job) return entry.size ? formatBytes(entry.size) : "";
  const bits = [];
  if (job.createdAt) bits.push(`Uploaded ${formatTime(job.createdAt)}`);
  if (job.startedAt && job.finishedAt) {
    const ms = Date.parse(job.finishedAt) - Date.parse(job.startedAt);
    if (Number.isFinite(ms) && ms >= 0) bits.push(`processed in ${formatDuration(ms)}`);
  }
  if (entry.size) bits.push(formatBytes(entry.size));
  return bits.join(" · ");
}

function renderResult(entry, result, actions) {
  const urls = entry.job?.urls || {};
  const findings = Array.isArray(result.findings) ? result.findings : [];
  const labels = Array.isArray(result.labels) ? result.labels : [];
  const columns = [];

  if (result.hasImage) {
    columns.push(renderPreview(entry, result, urls, findings, actions));
  } else {
    columns.push(
      h("div", { class: "callout" }, h("p", {}, "This file holds no pixel data, so there is no preview. Its metadata and labels are below.")),
    );
  }

  const info = h(
    "div",
    { class: "detail-info" },
    renderDownloads(urls),
    result.kind === "dicom" ? renderDeidentify(entry, urls, actions) : null,
    renderFindings(findings),
    renderLabels(labels),
    renderMetadata(result),
    renderPhi(result.phi),
  );
  return h("div", { class: "result" }, columns, info);
}

function renderPreview(entry, result, urls, findings, actions) {
  const presets = urls.presets && typeof urls.presets === "object" ? urls.presets : {};
  const names = (Array.isArray(result.windowPresets) ? result.windowPresets : Object.keys(presets)).filter(
    (name) => safeUrl(presets[name]),
  );
  const current = entry.preset && names.includes(entry.preset) ? entry.preset : null;
  const src = safeUrl(current ? presets[current] : urls.preview);
  const boxed = findings.filter((f) => Array.isArray(f.boxes) && f.boxes.length > 0);

  const img = h("img", {
    class: "preview",
    id: "preview-image",
    src,
    alt: `Preview of ${displayName(entry)}${current ? `, ${current} window` : ""}`,
    width: result.previewSize?.[0],
    height: result.previewSize?.[1],
    decoding: "async",
    onerror: () => actions.imageFailed(entry, "preview"),
    onload: () => actions.imageLoaded(entry, "preview"),
  });

  const overlay = boxed.length ? renderOverlay(boxed) : null;
  const stage = h("div", { class: "stage" }, img, overlay);
  // The stage keeps the picture's shape so that relative boxes land on the right pixels.
  const [pw, ph] = Array.isArray(result.previewSize) ? result.previewSize : [0, 0];
  if (pw > 0 && ph > 0) stage.style.setProperty("--aspect", String(pw / ph));
  img.addEventListener("load", () => {
    if (img.naturalWidth > 0 && img.naturalHeight > 0) {
      stage.style.setProperty("--aspect", String(img.naturalWidth / img.naturalHeight));
    }
  });

  const toolbar = [];
  if (names.length) {
    toolbar.push(
      h(
        "div",
        { class: "presets", role: "group", "aria-label": "Display window" },
        presetButton("As stored", null, current, entry, actions),
        names.map((name) => presetButton(titleCase(name), name, current, entry, actions)),
      ),
    );
  }
  if (overlay) {
    const box = h("input", {
      type: "checkbox",
      id: "toggle-boxes",
      checked: true,
      onchange: (event) => overlay.classList.toggle("is-hidden", !event.target.checked),
    });
    toolbar.push(h("label", { class: "toggle", for: "toggle-boxes" }, box, ` Show finding boxes (${countBoxes(boxed)})`));
  }

  return h(
    "figure",
    { class: "preview-figure" },
    toolbar.length ? h("div", { class: "toolbar" }, toolbar) : null,
    stage,
    h("figcaption", {}, previewCaption(result, current)),
  );
}

function presetButton(label, name, current, entry, actions) {
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-small btn-toggle",
      "aria-pressed": current === name ? "true" : "false",
      dataset: { focusKey: `preset:${name ?? ""}` },
      onclick: () => actions.setPreset(entry, name),
    },
    label,
  );
}

function countBoxes(findings) {
  return findings.reduce((n, f) => n + f.boxes.length, 0);
}

function renderOverlay(findings) {
  const svg = s("svg", {
    class: "overlay",
    viewBox: "0 0 1000 1000",
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `${countBoxes(findings)} finding box(es) drawn over the preview`,
  });
  findings.forEach((finding, index) => {
    for (const box of finding.boxes) {
      const [x, y, w, hgt] = [box.left, box.top, box.width, box.height].map(clamp01);
      if (!(w > 0 && hgt > 0)) continue;
      svg.appendChild(
        s(
          "rect",
          {
            x: (x * 1000).toFixed(1),
            y: (y * 1000).toFixed(1),
            width: (w * 1000).toFixed(1),
            height: (hgt * 1000).toFixed(1),
            class: `box hue-${findingHue(finding)}`,
            "vector-effect": "non-scaling-stroke",
            dataset: { finding: String(index) },
          },
          s("title", {}, `${finding.kind}: ${finding.message}`),
        ),
      );
    }
  });
  return svg;
}

function previewCaption(result, preset) {
  const bits = [];
  const w = result.window;
  if (preset) {
    bits.push(`Window preset: ${preset}`);
  } else if (w && w.source !== "none") {
    const cw = Number.isFinite(w.center) && Number.isFinite(w.width) ? ` C ${round(w.center)} / W ${round(w.width)}` : "";
    bits.push(`Window:${cw} (${w.preset || w.source}${w.function && w.function !== "LINEAR" ? `, ${w.function}` : ""})`);
  }
  const frames = result.summary?.frames;
  if (frames > 1 && Number.isInteger(result.representativeFrame)) {
    bits.push(`frame ${result.representativeFrame + 1} of ${frames}`);
  }
  if (Array.isArray(result.previewSize)) bits.push(`preview ${result.previewSize[0]} × ${result.previewSize[1]} px`);
  return bits.join(" · ");
}

function renderDownloads(urls) {
  const links = [
    ["Original file", urls.original],
    ["Preview (PNG)", urls.preview],
    ["Thumbnail (PNG)", urls.thumbnail],
  ]
    .map(([label, url]) => [label, safeUrl(url)])
    .filter(([, url]) => url);
  if (!links.length) return null;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "downloads-title" },
    h("h4", { id: "downloads-title" }, "Downloads"),
    h(
      "ul",
      { class: "downloads" },
      links.map(([label, url]) =>
        h("li", {}, h("a", { href: url, download: "", target: "_blank", rel: "noopener noreferrer" }, label)),
      ),
    ),
    h("p", { class: "hint" }, "Links are short-lived; they are renewed while this page is open."),
  );
}

const DEID_LABEL = "Download de-identified DICOM";

/**
 * Where the de-identified copy stands: "busy" and "failed" come from this page's request;
 * otherwise a link (the POST's answer or, when the job was read since, its fresher one from
 * GET /jobs/{jobId}, so a copy made earlier shows its link directly), or nothing yet.
 */
function deidState(entry, urls) {
  const deid = entry.deid;
  if (deid?.phase === "busy" || deid?.phase === "failed") return deid;
  const fromJob = safeUrl(urls.deidentified);
  const fromPost = deid?.phase === "done" ? safeUrl(deid.url) : null;
  const url = fromPost && !(fromJob && entry.fetchedAt > deid.at) ? fromPost : fromJob;
  if (!url) return { phase: "idle" };
  return { phase: "done", url, pixelsRedacted: fromPost ? deid.pixelsRedacted : null };
}

function renderDeidentify(entry, urls, actions) {
  const deid = deidState(entry, urls);
  const busy = deid.phase === "busy";
  const request = (label) =>
    h(
      "button",
      {
        type: "button",
        class: "btn btn-primary",
        // aria-disabled rather than disabled: the button keeps the keyboard focus while busy.
        "aria-disabled": busy ? "true" : null,
        "aria-describedby": "deid-about",
        dataset: { focusKey: "deid" },
        onclick: () => {
          if (!busy) actions.deidentify(entry);
        },
      },
      label,
    );

  let body;
  if (deid.phase === "done") {
    body = [
      h(
        "a",
        {
          class: "btn btn-primary",
          href: deid.url,
          download: "",
          target: "_blank",
          rel: "noopener noreferrer",
          "aria-describedby": "deid-about",
          dataset: { focusKey: "deid" },
        },
        DEID_LABEL,
      ),
      deid.pixelsRedacted === true
        ? h("p", { class: "hint" }, "Burned-in text found in the pixels was blacked out.")
        : deid.pixelsRedacted === false
          ? h("p", { class: "hint" }, "No burned-in text was found in the pixels.")
          : null,
    ];
  } else if (busy) {
    body = [
      request("De-identifying…"),
      h("progress", { class: "bar", "aria-label": "De-identifying" }),
      h("p", { class: "hint" }, "Removing patient data and reading the pixels for burned-in text. This can take several seconds."),
    ];
  } else if (deid.phase === "failed") {
    body = [
      h(
        "div",
        { class: "callout callout-bad deid-error" },
        h("p", { class: "callout-title" }, "De-identification failed"),
        h("p", {}, h("code", { class: "error-code" }, deid.error.code), " ", deid.error.message),
      ),
      request("Try again"),
    ];
  } else {
    body = [request(DEID_LABEL)];
  }

  return h(
    "section",
    { class: "panel deid", "aria-labelledby": "deid-title", "aria-busy": busy ? "true" : "false", dataset: { state: deid.phase } },
    h("h4", { id: "deid-title" }, "De-identified copy"),
    h(
      "p",
      { class: "hint deid-about", id: "deid-about" },
      "The same DICOM without patient identity (PS3.15 Basic Profile); burned-in text is blacked out. The original stays as it is.",
    ),
    h("div", { class: "deid-body" }, body),
  );
}

function renderFindings(findings) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": "findings-title" },
    h("h4", { id: "findings-title" }, "Findings ", h("span", { class: "count" }, String(findings.length))),
    findings.length
      ? h(
          "ul",
          { class: "findings" },
          findings.map((finding, index) =>
            h(
              "li",
              {
                class: "finding",
                dataset: { kind: finding.kind, finding: String(index) },
                tabindex: finding.boxes?.length ? "0" : null,
                onmouseenter: () => highlight(index, true),
                onmouseleave: () => highlight(index, false),
                onfocus: () => highlight(index, true),
                onblur: () => highlight(index, false),
              },
              h("span", { class: `swatch hue-${findingHue(finding)}`, "aria-hidden": "true" }),
              h(
                "span",
                { class: "finding-text" },
                h("strong", {}, humanize(finding.kind)),
                " — ",
                finding.message,
                h(
                  "span",
                  { class: "finding-meta" },
                  [
                    Number.isFinite(finding.confidence) ? `${Math.round(finding.confidence * 100)}% confidence` : null,
                    finding.source ? `source: ${finding.source}` : null,
                    finding.boxes?.length ? `${finding.boxes.length} box(es)` : null,
                  ]
                    .filter(Boolean)
                    .join(" · "),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "empty-inline" }, "Nothing to report."),
  );
}

function highlight(index, on) {
  for (const rect of document.querySelectorAll(`.overlay rect[data-finding="${index}"]`)) {
    rect.classList.toggle("is-active", on);
  }
}

function renderLabels(labels) {
  const groups = new Map();
  for (const label of labels) {
    const source = label.source || "other";
    if (!groups.has(source)) groups.set(source, []);
    groups.get(source).push(label);
  }
  return h(
    "section",
    { class: "panel", "aria-labelledby": "labels-title" },
    h("h4", { id: "labels-title" }, "Labels ", h("span", { class: "count" }, String(labels.length))),
    labels.length
      ? [...groups.entries()].map(([source, items]) =>
          h(
            "div",
            { class: "label-group", dataset: { source } },
            h("h5", {}, SOURCE_NAMES[source] || humanize(source)),
            h(
              "ul",
              { class: "labels" },
              [...items]
                .sort((a, b) => (b.confidence ?? 0) - (a.confidence ?? 0))
                .map((label) => {
                  const pct = Math.round(clamp01(label.confidence ?? 0) * 100);
                  return h(
                    "li",
                    { class: "label" },
                    h("span", { class: "label-name" }, label.name),
                    label.category ? h("span", { class: "chip" }, label.category) : null,
                    h(
                      "span",
                      { class: "confidence", title: `${pct}% confidence` },
                      h("meter", { min: "0", max: "100", value: String(pct), "aria-label": `${label.name} confidence` }),
                      h("span", { class: "pct" }, `${pct}%`),
                    ),
                  );
                }),
            ),
          ),
        )
      : h("p", { class: "empty-inline" }, "No labels."),
  );
}

function renderMetadata(result) {
  const summary = result.summary || {};
  const rows = [["File type", kindName(result.kind)]];
  for (const [key, label] of SUMMARY_FIELDS) {
    const value = summaryValue(summary, key);
    if (value !== null) rows.push([label, value]);
  }
  const known = new Set([...SUMMARY_FIELDS.map(([k]) => k), ...SUMMARY_CONSUMED]);
  for (const [key, value] of Object.entries(summary)) {
    if (known.has(key)) continue;
    const text = formatValue(value);
    if (text !== null) rows.push([humanize(key), text]);
  }
  return h(
    "section",
    { class: "panel", "aria-labelledby": "metadata-title" },
    h("h4", { id: "metadata-title" }, "Metadata"),
    h(
      "table",
      { class: "metadata" },
      h("caption", { class: "visually-hidden" }, "Image metadata (no patient data)"),
      h(
        "tbody",
        {},
        rows.map(([label, value]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value))),
      ),
    ),
  );
}

function summaryValue(summary, key) {
  switch (key) {
    case "matrix":
      return summary.columns && summary.rows ? `${summary.columns} × ${summary.rows}` : null;
    case "bits":
      return summary.bitsStored || summary.bitsAllocated
        ? `${summary.bitsStored ?? "?"} / ${summary.bitsAllocated ?? "?"}`
        : null;
    case "pixelRepresentation":
      return summary.pixelRepresentation === 1 ? "signed" : summary.pixelRepresentation === 0 ? "unsigned" : null;
    case "pixelSpacing":
      return Array.isArray(summary.pixelSpacing) && summary.pixelSpacing.length === 2
        ? `${round(summary.pixelSpacing[0], 4)} × ${round(summary.pixelSpacing[1], 4)} mm`
        : null;
    case "sliceThickness":
      return Number.isFinite(summary.sliceThickness) ? `${round(summary.sliceThickness, 3)} mm` : null;
    default:
      return formatValue(summary[key]);
  }
}

function renderPhi(phi) {
  if (!phi || typeof phi !== "object") return null;
  const rows = Object.entries(phi)
    .map(([key, value]) => [humanize(key), isTextLines(value) ? renderTextLines(value) : formatValue(value)])
    .filter(([, value]) => value !== null);
  if (!rows.length) return null;
  return h(
    "section",
    { class: "panel phi", "aria-labelledby": "phi-title" },
    h("h4", { id: "phi-title" }, "Patient-identifying information (PHI)"),
    h(
      "p",
      { class: "phi-warning" },
      "This deployment returns patient data. Treat it as confidential: do not share screenshots or links.",
    ),
    h(
      "table",
      { class: "metadata" },
      h("tbody", {}, rows.map(([label, value]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value)))),
    ),
  );
}

/** OCR output: [{text, confidence, box}], one entry per line read from the pixels. */
function isTextLines(value) {
  return Array.isArray(value) && value.length > 0 && value.every((v) => v && typeof v.text === "string");
}

function renderTextLines(lines) {
  return h(
    "ol",
    { class: "text-lines" },
    lines.map((line) =>
      h(
        "li",
        {},
        h("span", { class: "ocr-text" }, line.text),
        Number.isFinite(line.confidence) ? h("span", { class: "pct" }, `${Math.round(line.confidence * 100)}%`) : null,
      ),
    ),
  );
}

// ------------------------------------------------------------------------------- formatting

function formatValue(value) {
  if (value === null || value === undefined || value === "") return null;
  if (Array.isArray(value)) {
    const parts = value.map(formatValue).filter((v) => v !== null);
    return parts.length ? parts.join(", ") : null;
  }
  if (typeof value === "object") {
    const text = value.text ?? value.name ?? null;
    return typeof text === "string" ? text : JSON.stringify(value);
  }
  if (typeof value === "number") return String(round(value, 4));
  return String(value);
}

function kindName(kind) {
  return { dicom: "DICOM", png: "PNG", jpeg: "JPEG" }[kind] || (kind ? String(kind) : "unknown");
}

const ACRONYMS = new Set(["phi", "ocr", "id", "uid", "ct", "mr", "dicom", "png", "jpeg", "sop", "voi", "lut"]);

export function humanize(key) {
  const words = String(key)
    .replace(/[-_]+/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(" ")
    .filter(Boolean)
    .map((word) => (ACRONYMS.has(word) ? word.toUpperCase() : word));
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function titleCase(name) {
  return String(name)
    .split(/[-_ ]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(" ");
}

function findingHue(finding) {
  const kind = String(finding.kind || "");
  if (/phi/i.test(kind)) return 0;
  if (/text|ocr/i.test(kind)) return 1;
  if (/face|person/i.test(kind)) return 2;
  let hash = 0;
  for (const ch of kind) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return 3 + (hash % 3);
}

function clamp01(v) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}

function round(value, digits = 1) {
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

/** A moment (an ISO text or ms since the epoch) as the time of day when it is today, else
 * as date and time, in the user's locale. */
export function formatTime(when) {
  const t = typeof when === "number" ? when : Date.parse(when);
  if (!Number.isFinite(t)) return String(when);
  const d = new Date(t);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}
