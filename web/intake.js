// Getting files onto the page: the drop zone (files and whole folders), the file and folder
// pickers. Hands plain File lists to `onFiles`; it does not upload anything itself.

import { byId } from "./dom.js";

// Files a folder commonly holds that are never images worth a job.
const SKIPPED_NAMES = /^(\..*|thumbs\.db|desktop\.ini|dicomdir)$/i;

/** Whether a file (or folder) name is a system file that never becomes a job. */
export function isSkippedName(name) {
  return SKIPPED_NAMES.test(name);
}

/** Wire the drop zone and the pickers; `onFiles(files)` receives what the user gave. */
export function wireIntake(onFiles) {
  const zone = byId("dropzone");
  const fileInput = byId("file-input");
  const folderInput = byId("folder-input");

  byId("pick-files").addEventListener("click", (event) => {
    event.stopPropagation();
    fileInput.click();
  });
  byId("pick-folder").addEventListener("click", (event) => {
    event.stopPropagation();
    folderInput.click();
  });
  zone.addEventListener("click", (event) => {
    if (event.target === zone || event.target.closest(".dropzone-title, .dropzone-icon")) fileInput.click();
  });
  for (const input of [fileInput, folderInput]) {
    input.addEventListener("change", () => {
      onFiles([...input.files]);
      input.value = "";
    });
  }

  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.dataset.state = "over";
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.dataset.state = "idle";
  });
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    depth = 0;
    zone.dataset.state = "idle";
    const files = await filesFromDrop(event.dataTransfer);
    onFiles(files);
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => hasFiles(event) && event.preventDefault());
  window.addEventListener("drop", (event) => hasFiles(event) && event.preventDefault());
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

/** Files (recursively through folders) of a drop. Entries must be taken synchronously. */
async function filesFromDrop(dataTransfer) {
  const items = [...(dataTransfer.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((e) => !e)) return [...dataTransfer.files];
  const files = [];
  for (const entry of entries) await walkEntry(entry, files);
  return files;
}

async function walkEntry(entry, out) {
  if (entry.isFile) {
    try {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      file.relativePath = entry.fullPath.replace(/^\//, "");
      out.push(file);
    } catch {
      // unreadable (permissions, vanished): leave it out
    }
    return;
  }
  if (!entry.isDirectory || isSkippedName(entry.name)) return;
  const reader = entry.createReader();
  // readEntries returns the listing in chunks (about 100 at a time) until an empty one.
  for (;;) {
    const chunk = await new Promise((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (!chunk.length) break;
    for (const child of chunk) await walkEntry(child, out);
  }
}
