// The results API and the upload to storage. The same code talks to API Gateway + S3 on
// AWS and to `dicomlens serve` locally: the only difference is config.json's apiBaseUrl.
//
// A local server reachable from other machines needs its API token (DICOMLENS_API_TOKEN):
// config.json then says apiTokenRequired (never the token itself). The page asks its user
// for the token once, keeps it in sessionStorage (this tab only, gone when it closes), and
// sends it as "Authorization: Bearer ..." to the API and to uploads on the same server. A
// refused token (401) is forgotten, so the next request asks again. Once the token has
// worked, the page trades it for a viewer session (an HttpOnly cookie that only DICOMweb
// reads accept), so that the viewer at /viewer/ opens without asking again.

const TOKEN_KEY = "dicomlens.apiToken";
let tokenRequired = false;

/** The API token for this tab, asking the user once; null when none is needed or given. */
function apiToken() {
  if (!tokenRequired) return null;
  let token = null;
  try {
    token = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    token = null;
  }
  if (!token) {
    token = (window.prompt("This dicomlens server needs its API token (DICOMLENS_API_TOKEN):") || "").trim();
    if (token) {
      try {
        sessionStorage.setItem(TOKEN_KEY, token);
      } catch {
        // storage unavailable: the token is used for this request only
      }
    }
  }
  return token || null;
}

function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

/** init with an Authorization header added when a token is needed. */
function withToken(init = {}) {
  const token = apiToken();
  if (!token) return init;
  return { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` } };
}

let viewerSessionOpened = false;

/** POST /viewer-session once per page with a token that worked (same-origin server only). */
function openViewerSession(baseUrl, authorization) {
  if (viewerSessionOpened || !authorization || !sameOrigin(baseUrl || window.location.origin)) return;
  viewerSessionOpened = true;
  fetch(`${baseUrl}/viewer-session`, { method: "POST", headers: { Authorization: authorization } }).catch(() => {
    viewerSessionOpened = false;
  });
}

/** An error with a stable code (the API's, or NETWORK / HTTP_<status> / BAD_RESPONSE). */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(`${code}: ${message}`);
    this.code = code;
    this.userMessage = message;
    this.status = status;
  }

  get isNetwork() {
    return this.code === "NETWORK";
  }
}

/** Any thrown value as an ApiError (CLIENT_ERROR for a bug or an unexpected exception). */
export function asApiError(error) {
  return error instanceof ApiError ? error : new ApiError("CLIENT_ERROR", String(error?.message || error));
}

/** Read config.json next to the page. A missing file means "same origin", no viewer. */
export async function loadConfig() {
  let response;
  try {
    response = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
  } catch {
    throw new ApiError("NETWORK", "The site's config.json could not be loaded.");
  }
  if (response.status === 404) return { apiBaseUrl: "", apiTokenRequired: false, viewerUrl: null };
  if (!response.ok) {
    throw new ApiError(`HTTP_${response.status}`, "The site's config.json could not be loaded.", response.status);
  }
  let config;
  try {
    config = await response.json();
  } catch {
    throw new ApiError("BAD_RESPONSE", "The site's config.json is not valid JSON.");
  }
  const base = typeof config?.apiBaseUrl === "string" ? config.apiBaseUrl.trim() : "";
  // viewerUrl: where the DICOM viewer is served (same site), when the server offers one.
  const viewer = typeof config?.viewerUrl === "string" ? config.viewerUrl.trim() : "";
  return {
    apiBaseUrl: base.replace(/\/+$/, ""),
    apiTokenRequired: config?.apiTokenRequired === true,
    viewerUrl: viewer || null,
  };
}

export class Api {
  /**
   * @param {string} baseUrl "" (same origin) or an absolute origin/prefix without a trailing slash
   * @param {{tokenRequired?: boolean}} options tokenRequired: config.json's apiTokenRequired
   */
  constructor(baseUrl, { tokenRequired: required = false } = {}) {
    this.baseUrl = baseUrl;
    tokenRequired = required;
  }

  /** Where requests go, for display. */
  get describe() {
    return this.baseUrl === "" ? window.location.origin : this.baseUrl;
  }

  /** POST /uploads -> {jobId, upload: {url, fields}, expiresAt, maxBytes}. */
  createUpload({ fileName, contentType, size }) {
    const body = { fileName, size };
    if (contentType) body.contentType = contentType;
    return this.#json("/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  /** GET /jobs/{jobId}. */
  getJob(jobId) {
    return this.#json(`/jobs/${encodeURIComponent(jobId)}`, { cache: "no-store" });
  }

  /**
   * POST /jobs/{jobId}/deidentify -> {jobId, url, expiresAt, pixelsRedacted}. No body; it can
   * take several seconds (the pixels are read for burned-in text).
   */
  deidentify(jobId) {
    return this.#json(`/jobs/${encodeURIComponent(jobId)}/deidentify`, { method: "POST", cache: "no-store" });
  }

  async #json(path, init) {
    let response;
    const sent = withToken(init);
    try {
      response = await fetch(this.baseUrl + path, sent);
    } catch {
      throw new ApiError("NETWORK", `The API at ${this.describe} could not be reached.`);
    }
    const text = await response.text().catch(() => "");
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (response.status === 401) forgetToken();
    if (response.ok) openViewerSession(this.baseUrl, sent.headers?.Authorization);
    if (!response.ok) {
      const error = body && typeof body === "object" ? body.error : null;
      throw new ApiError(
        typeof error?.code === "string" ? error.code : `HTTP_${response.status}`,
        typeof error?.message === "string" ? error.message : defaultMessage(response.status),
        response.status,
      );
    }
    if (body === null || typeof body !== "object") {
      throw new ApiError("BAD_RESPONSE", "The API answered with something that is not JSON.", response.status);
    }
    return body;
  }
}

function defaultMessage(status) {
  if (status === 404) return "Not found.";
  if (status === 413) return "The file is too large.";
  if (status === 429) return "Too many requests; try again shortly.";
  if (status >= 500) return `The server failed (HTTP ${status}).`;
  return `The request was refused (HTTP ${status}).`;
}

/**
 * Post `file` to a presigned POST target: every field first, then the file in a part
 * named "file" (as S3 requires). XMLHttpRequest, because fetch has no upload progress.
 * Returns {promise, abort}.
 */
export function uploadToStorage(upload, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields || {})) form.append(name, value);
    form.append("file", file, file.name);
    xhr.open("POST", upload.url);
    // The token goes only to this server's own upload endpoint, never to S3.
    const token = sameOrigin(upload.url) ? apiToken() : null;
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        if (xhr.status === 401 && token) forgetToken();
        reject(storageError(xhr));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError("NETWORK", "The upload could not reach the storage service.")),
    );
    xhr.addEventListener("abort", () => reject(new ApiError("ABORTED", "The upload was cancelled.")));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

function sameOrigin(url) {
  try {
    return new URL(url, document.baseURI).origin === window.location.origin;
  } catch {
    return false;
  }
}

/** S3 answers errors in XML (<Error><Code/><Message/></Error>); the local runtime in JSON. */
function storageError(xhr) {
  const text = xhr.responseText || "";
  let code = null;
  let message = null;
  if (text.trimStart().startsWith("<")) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    code = doc.querySelector("Error > Code")?.textContent?.trim() || null;
    message = doc.querySelector("Error > Message")?.textContent?.trim() || null;
  } else if (text) {
    try {
      const error = JSON.parse(text)?.error;
      if (typeof error?.code === "string") code = error.code;
      if (typeof error?.message === "string") message = error.message;
    } catch {
      // not JSON: fall back to the status line below
    }
  }
  if (code === "EntityTooLarge") code = "TOO_LARGE";
  return new ApiError(
    code || "UPLOAD_REJECTED",
    message || `Storage refused the upload (HTTP ${xhr.status}).`,
    xhr.status,
  );
}

/**
 * The bundled example files from samples/index.json: a list of names, or {samples: [{name,
 * description?, url?}]}. Returns [{name, description, url}].
 */
export async function listSamples() {
  const response = await fetch(new URL("samples/index.json", document.baseURI), { cache: "no-store" });
  if (!response.ok) throw new ApiError(`HTTP_${response.status}`, "No example files are available.");
  const body = await response.json();
  const items = Array.isArray(body) ? body : Array.isArray(body?.samples) ? body.samples : [];
  return items
    .map((item) => (typeof item === "string" ? { name: item } : item))
    .filter((item) => typeof item?.name === "string" && item.name !== "")
    .map((item) => ({
      name: item.name,
      description: typeof item.description === "string" ? item.description : "",
      url: typeof item.url === "string" && item.url ? item.url : `samples/${encodeURIComponent(item.name)}`,
    }));
}

/** One example file as a File, ready for the same upload flow as a dropped file. */
export async function fetchSample(sample) {
  const url = new URL(sample.url, document.baseURI);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ApiError("BAD_RESPONSE", "The example's address is not a web address.");
  }
  let response;
  try {
    response = await fetch(url);
  } catch {
    throw new ApiError("NETWORK", "The example file could not be downloaded.");
  }
  if (!response.ok) {
    throw new ApiError(`HTTP_${response.status}`, "The example file could not be downloaded.", response.status);
  }
  const blob = await response.blob();
  return new File([blob], sample.name.split("/").pop(), { type: blob.type || "" });
}
