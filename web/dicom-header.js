// Where a DICOM file belongs, read in the browser before it is uploaded: its Study and Series
// Instance UIDs and the few attributes that label them. The page sorts files into studies and
// series with this while they upload and wait for analysis; once the server has analysed a
// file, the server's summary (the same file's values) takes over. Only the first part of the
// file is read, and nothing here is ever sent anywhere. No patient attribute is read.

const HEAD_BYTES = 256 * 1024; // study/series attributes (groups 0008, 0020) come early
const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_BE = "1.2.840.10008.1.2.2";
const DEFLATED = new Set(["1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"]);
// tag -> [name, kind]; read at the top level of the dataset only.
const WANTED = new Map([
  [0x00080005, ["charset", "text"]],
  [0x00080060, ["modality", "text"]],
  [0x00081030, ["studyDescription", "text"]],
  [0x0008103e, ["seriesDescription", "text"]],
  [0x0020000d, ["studyInstanceUid", "uid"]],
  [0x0020000e, ["seriesInstanceUid", "uid"]],
  [0x00200011, ["seriesNumber", "int"]],
  [0x00200013, ["instanceNumber", "int"]],
]);
const LAST_WANTED = 0x00200013;
const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/**
 * The placement of a DICOM file: {studyInstanceUid, seriesInstanceUid, modality,
 * studyDescription, seriesDescription, seriesNumber, instanceNumber} (absent values left
 * out), or null when the file is not a DICOM file this reader understands (or has no
 * Study Instance UID). Never throws.
 */
export async function readPlacement(file) {
  try {
    const bytes = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
    const found = parse(bytes);
    if (!found?.studyInstanceUid) return null;
    const { charset, ...placement } = found;
    for (const key of ["modality", "studyDescription", "seriesDescription"]) {
      if (placement[key] instanceof Uint8Array) placement[key] = decodeText(placement[key], charset);
      if (!placement[key]) delete placement[key];
    }
    return placement;
  } catch {
    return null;
  }
}

function parse(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let syntax = null;
  if (bytes.length >= 132 && ascii(bytes, 128, 4) === "DICM") {
    pos = 132;
    // File meta (PS3.10 7.1): always explicit VR little endian, group 0002.
    while (pos + 8 <= bytes.length && view.getUint16(pos, true) === 0x0002) {
      const el = readElement(view, pos, { explicit: true, little: true });
      if (!el || el.length === UNDEFINED) return null;
      if (el.tag === 0x00020010) syntax = text(bytes, el.valueAt, el.length);
      pos = el.valueAt + el.length;
    }
  } else if (bytes.length >= 8 && view.getUint16(0, true) !== 0x0008 && view.getUint16(0, true) !== 0x0002) {
    return null; // no preamble and no dataset starting with group 0008: not DICOM
  }
  if (syntax && DEFLATED.has(syntax)) return null;
  const little = syntax !== EXPLICIT_BE;
  // Without a file meta, guess the VR encoding from the first element (PS3.5 7.1).
  const explicit = syntax ? syntax !== IMPLICIT_LE : /^[A-Z]{2}$/.test(ascii(bytes, pos + 4, 2));
  const found = {};
  const options = { explicit, little };
  while (pos + 8 <= bytes.length) {
    const el = readElement(view, pos, options);
    if (!el || el.tag > LAST_WANTED) break;
    if (el.length === UNDEFINED) {
      pos = skipUndefined(view, el.valueAt, contentOptions(el, options));
      if (pos < 0) break;
      continue;
    }
    const end = el.valueAt + el.length;
    if (end > bytes.length) break;
    const wanted = WANTED.get(el.tag);
    if (wanted) {
      const [name, kind] = wanted;
      const raw = bytes.subarray(el.valueAt, end);
      if (kind === "uid") {
        const uid = text(bytes, el.valueAt, el.length);
        if (UID.test(uid) && uid.length <= 64) found[name] = uid;
      } else if (kind === "int") {
        const value = text(bytes, el.valueAt, el.length);
        if (/^[+-]?\d{1,10}$/.test(value)) found[name] = Number(value);
      } else {
        found[name] = name === "charset" ? text(bytes, el.valueAt, el.length) : trim(raw);
      }
    }
    pos = end;
  }
  return found;
}

/** The element at `pos`: {tag, vr, length, valueAt}, or null past the end of `view`. */
function readElement(view, pos, { explicit, little }) {
  if (pos + 8 > view.byteLength) return null;
  const tag = ((view.getUint16(pos, little) << 16) | view.getUint16(pos + 2, little)) >>> 0;
  // Item and delimiter tags (group FFFE) have no VR, in every encoding.
  if (!explicit || tag >>> 16 === 0xfffe) {
    return { tag, vr: null, length: view.getUint32(pos + 4, little), valueAt: pos + 8 };
  }
  const vr = String.fromCharCode(view.getUint8(pos + 4), view.getUint8(pos + 5));
  if (LONG_VRS.has(vr)) {
    if (pos + 12 > view.byteLength) return null;
    return { tag, vr, length: view.getUint32(pos + 8, little), valueAt: pos + 12 };
  }
  return { tag, vr, length: view.getUint16(pos + 6, little), valueAt: pos + 8 };
}

/**
 * The position after an undefined-length value starting at `pos` (a sequence of items, or
 * encapsulated pixel data), or -1 when its end is beyond what was read.
 */
function skipUndefined(view, pos, options) {
  while (pos + 8 <= view.byteLength) {
    const el = readElement(view, pos, options);
    if (!el) return -1;
    if (el.tag === 0xfffee0dd) return el.valueAt; // sequence delimiter
    if (el.tag === 0xfffee00d) {
      pos = el.valueAt; // item delimiter (inside an item's dataset)
      continue;
    }
    if (el.length === UNDEFINED) {
      pos = el.tag === 0xfffee000 ? el.valueAt : skipUndefined(view, el.valueAt, contentOptions(el, options));
      if (pos < 0) return -1;
      continue;
    }
    pos = el.valueAt + el.length;
  }
  return -1;
}

/** An undefined-length UN element holds implicit VR little endian (PS3.5 6.2.2). */
function contentOptions(el, options) {
  return el.vr === "UN" ? { explicit: false, little: true } : options;
}

function ascii(bytes, at, length) {
  let out = "";
  for (let i = at; i < Math.min(bytes.length, at + length); i++) out += String.fromCharCode(bytes[i]);
  return out;
}

function text(bytes, at, length) {
  return ascii(bytes, at, length).replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

function trim(raw) {
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x20 || raw[end - 1] === 0)) end -= 1;
  return raw.subarray(0, end);
}

/** Text in the file's Specific Character Set: UTF-8 (ISO_IR 192), else Latin-1 (the default
 * repertoire's superset the labels need; other sets show as the server later reports). */
function decodeText(raw, charset) {
  const label = /ISO_IR 192/.test(charset || "") ? "utf-8" : "latin1";
  return new TextDecoder(label).decode(raw).trim();
}
