// The "Try a sample" picker: lists the bundled example files and hands the chosen one, as a
// File, to `onFile` (the same path a dropped file takes).

import { asApiError, fetchSample, listSamples } from "./api.js";
import { byId } from "./dom.js";
import { announce, showBanner } from "./notices.js";

export async function wireSamples(onFile) {
  const select = byId("sample-select");
  const button = byId("sample-button");
  let samples = [];
  try {
    samples = await listSamples();
  } catch {
    samples = [];
  }
  select.replaceChildren();
  if (!samples.length) {
    select.append(new Option("No examples available", ""));
    select.disabled = true;
    button.disabled = true;
    return;
  }
  for (const sample of samples) {
    const option = new Option(sample.description ? `${sample.name} — ${sample.description}` : sample.name, sample.name);
    select.append(option);
  }
  select.disabled = false;
  button.disabled = false;
  button.addEventListener("click", async () => {
    const sample = samples.find((s) => s.name === select.value) || samples[0];
    button.disabled = true;
    button.textContent = "Fetching…";
    try {
      onFile(await fetchSample(sample));
    } catch (error) {
      const err = asApiError(error);
      announce(`The example could not be loaded: ${err.userMessage}`);
      showBanner(`The example “${sample.name}” could not be loaded: ${err.userMessage}`, null);
    } finally {
      button.disabled = false;
      button.textContent = "Try a sample";
    }
  });
}
