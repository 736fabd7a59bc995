"""The DICOMweb conformance suite: a real client (``dicomweb-client``) against any server.

Every check is a plain function ``check_*(target, corpus) -> list[Finding]``: an empty
list means the server answered as PS3.18 says, judged against the corpus files (never
against another answer of the same server). ``run_suite`` stores the corpus, then runs
every check; pytest asserts on the findings, the Orthanc comparison prints them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from dicomweb_client import DICOMwebClient
from dicomweb_json import BULK, PIXEL_DATA, file_json, normalise_dataset, value_at
from dicomweb_queries import UID_TAG, QidoQuery, queries
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian

from corpus.dicomweb import STUDY_A, STUDY_C, DicomwebCorpus, study_uid

# Attributes a server computes rather than copies from the files (PS3.18 10.6.3.3).
COMPUTED = frozenset(
    {"00081190", "00080056", "00201206", "00201208", "00201209", "00080061", "00080062"}
)
# Required return attributes present in every result (PS3.18 Tables 10.6.3-3 to -5).
REQUIRED = {
    "studies": ("00080020", "00080030", "00080050", "00080061", "00100010", "00100020",
                "0020000D", "00201206", "00201208"),
    "series": ("00080060", "0020000E", "00200011", "00201209"),
    "instances": ("00080016", "00080018", "00200013"),
}  # fmt: skip
UNKNOWN_UID = "1.2.826.0.1.3680043.8.498.77.999.999"
STOW_BATCH_BYTES = 4_000_000


@dataclass(frozen=True)
class Finding:
    """One way the server departed from PS3.18 or from the files: ``check`` names the
    check (stable, used by allow-lists), ``detail`` says what was seen."""

    check: str
    detail: str


@dataclass(frozen=True)
class Target:
    """A server under test: the client, plus its DICOMweb root for raw negotiation requests."""

    client: DICOMwebClient
    root: str

    @classmethod
    def at(cls, root: str, *, timeout: float = 60) -> Target:
        """A client for the DICOMweb root ``root`` (e.g. ``http://host:port/dicomweb``)."""
        return cls(DICOMwebClient(root.rstrip("/"), timeout=timeout), root.rstrip("/"))

    def instance_url(self, ds: Dataset) -> str:
        """The WADO-RS URL of the instance ``ds``."""
        return (
            f"{self.root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}"
        )


Check = Callable[[Target, DicomwebCorpus], list[Finding]]


def guarded(name: str, check: Check) -> Check:
    """Turn an HTTP or parsing failure inside ``check`` into a finding of that check."""

    def run(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
        try:
            return check(target, corpus)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            return [Finding(name, f"HTTP {status}: {error}")]
        except (requests.RequestException, ValueError, KeyError) as error:
            return [Finding(name, f"{type(error).__name__}: {error}")]

    return run


# --------------------------------------------------------------------------- STOW-RS


def _batches(corpus: DicomwebCorpus) -> Iterator[list[Dataset]]:
    batch: list[Dataset] = []
    size = 0
    for path, ds in zip(corpus.paths, corpus.datasets, strict=True):
        if batch and size + path.stat().st_size > STOW_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(ds)
        size += path.stat().st_size
    if batch:
        yield batch


def check_store(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """STOW every file (batches of a few MB); each must be referenced, none failed, with
    its SOP Class (PS3.18 10.5.3, Table 10.5.3-1)."""
    findings = []
    for batch in _batches(corpus):
        response = target.client.store_instances(batch)
        referenced = {
            str(item.ReferencedSOPInstanceUID): str(item.ReferencedSOPClassUID)
            for item in response.get("ReferencedSOPSequence", [])
        }
        failed = [str(i.ReferencedSOPInstanceUID) for i in response.get("FailedSOPSequence", [])]
        for ds in batch:
            got = referenced.get(str(ds.SOPInstanceUID))
            if got is None:
                findings.append(Finding("stow.referenced", f"{ds.SOPInstanceUID} not referenced"))
            elif got != ds.SOPClassUID:
                findings.append(Finding("stow.sop-class", f"{ds.SOPInstanceUID}: class {got}"))
        if failed:
            findings.append(Finding("stow.failed", f"failed: {failed}"))
    return findings


def check_store_wrong_study(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """POST /studies/{A} with an instance of study C: it must fail, not be stored in A
    (PS3.18 10.5.1: instances of another study are not stored)."""
    other = corpus.studies()[study_uid(STUDY_C)][0]
    try:
        response = target.client.store_instances([other], study_instance_uid=study_uid(STUDY_A))
    except requests.HTTPError as error:
        if error.response is None or error.response.status_code != 409:
            raise
        response = Dataset.from_json(error.response.json()) if error.response.content else None
    referenced = {
        str(i.ReferencedSOPInstanceUID)
        for i in (response.get("ReferencedSOPSequence", []) if response else [])
    }
    if str(other.SOPInstanceUID) in referenced:
        return [Finding("stow.wrong-study", "an instance of another study was accepted")]
    return []


# --------------------------------------------------------------------------- QIDO-RS


def search(target: Target, query: QidoQuery) -> list[dict[str, Any]]:
    """Run ``query`` with the client; the raw DICOM JSON results."""
    client = target.client
    options: dict[str, Any] = {
        "fuzzymatching": query.fuzzy,
        "limit": query.limit,
        "offset": query.offset,
        "fields": list(query.fields) or None,
        "search_filters": dict(query.filters) or None,
    }
    if query.level == "studies":
        return client.search_for_studies(**options)
    if query.level == "series":
        return client.search_for_series(study_instance_uid=query.study, **options)
    return client.search_for_instances(
        study_instance_uid=query.study, series_instance_uid=query.series, **options
    )


def _returned_values(
    query: QidoQuery, result: dict[str, Any], group: list[Dataset]
) -> list[Finding]:
    """Values a result copies from the files must equal the files' (and be present when
    required); counts must equal the corpus's."""
    findings = []
    uid = value_at(result, UID_TAG[query.level])
    truth = file_json(group[0])
    got = normalise_dataset(result)
    for tag in REQUIRED[query.level]:
        if tag not in result and (tag in truth or tag in COMPUTED):
            findings.append(Finding(f"qido.required.{tag}", f"{query.name}: missing in {uid}"))
    for tag, value in got.items():
        if tag in COMPUTED or tag == "00080005":
            continue
        expected = truth.get(tag, [])
        if value != expected and not (tag not in truth and value == []):
            findings.append(
                Finding(f"qido.value.{tag}", f"{query.name} {uid}: {value!r} != file {expected!r}")
            )
    counts = {
        "00201206": len({ds.SeriesInstanceUID for ds in group}),
        "00201208": len(group),
        "00201209": len(group),
    }
    if query.level != "studies":
        counts.pop("00201206")
        counts.pop("00201208")
    if query.level != "series":
        counts.pop("00201209")
    for tag, count in counts.items():
        if tag in result and [int(v) for v in value_at(result, tag)] != [count]:
            findings.append(
                Finding(f"qido.count.{tag}", f"{uid}: {value_at(result, tag)} != {count}")
            )
    if query.level == "studies" and "00080061" in result:
        modalities = {str(ds.Modality) for ds in group}
        if set(value_at(result, "00080061")) != modalities:
            findings.append(
                Finding("qido.modalities-in-study", f"{uid}: {value_at(result, '00080061')}")
            )
    return findings


def check_query(target: Target, corpus: DicomwebCorpus, query: QidoQuery) -> list[Finding]:
    """One query: the right entities (limit/offset: a subset of at most ``limit``), each
    with the files' values; includefield adds the named attributes (PS3.18 10.6.1.2)."""
    results = search(target, query)
    entities = query.entities(corpus)
    expected = query.expected(corpus)
    got = [str(value_at(r, UID_TAG[query.level])[0]) for r in results]
    check = f"qido.{query.name}"
    findings = []
    if query.limit is not None:
        if len(got) > query.limit or not set(got) <= expected:
            findings.append(Finding(check, f"{len(got)} results, limit {query.limit}"))
    elif query.superset_ok:
        if not expected <= set(got):
            findings.append(Finding(check, f"missing {sorted(expected - set(got))}"))
    elif sorted(got) != sorted(expected):
        findings.append(
            Finding(
                check, f"missing {sorted(expected - set(got))}, extra {sorted(set(got) - expected)}"
            )
        )
    for result, uid in zip(results, got, strict=True):
        if uid in entities:
            findings += _returned_values(query, result, entities[uid])
            wants_description = "00081030" in query.fields or "all" in query.fields
            if wants_description and "00081030" not in result:
                findings.append(Finding(f"{check}.field", f"{uid}: no StudyDescription"))
    return findings


def check_paging(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """limit/offset pages of /studies cover every study exactly once (PS3.18 8.3.4.4)."""
    total = len(corpus.studies())
    seen: list[str] = []
    for offset in range(0, total + 4, 4):
        page = target.client.search_for_studies(limit=4, offset=offset)
        seen += [str(value_at(r, "0020000D")[0]) for r in page]
    if sorted(seen) != sorted(corpus.studies()):
        return [Finding("qido.paging", f"{len(seen)} results over pages for {total} studies")]
    return []


# --------------------------------------------------------------------------- WADO-RS


def _same_dataset(got: Dataset, stored: Dataset) -> str | None:
    """None when ``got`` holds the stored attributes and pixels (decoded when the
    transfer syntax differs), else what differs."""
    want, have = file_json(stored), file_json(got)
    if got.file_meta.TransferSyntaxUID != stored.file_meta.TransferSyntaxUID:
        # Decoding a colour-transformed JPEG 2000 / JPEG gives RGB (PS3.5 8.2.4, 8.2.1).
        want.pop("00280004", None)
        have.pop("00280004", None)
    differing = sorted(t for t in want if t != PIXEL_DATA and have.get(t) != want[t])
    if differing:
        first = differing[0]
        return (
            f"attributes differ: {differing[:8]}; {first}: {have.get(first)!r} != {want[first]!r}"
        )
    if "PixelData" not in stored:
        return None
    if "PixelData" not in got:
        return "no Pixel Data"
    if got.file_meta.TransferSyntaxUID == stored.file_meta.TransferSyntaxUID:
        return None if got.PixelData == stored.PixelData else "Pixel Data bytes differ"
    if not np.array_equal(got.pixel_array, stored.pixel_array):
        return "decoded pixels differ"
    return None


def check_retrieve(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """Study, series and instance retrieval give the stored data sets; with
    ``transfer-syntax=*`` the stored encoding byte for byte (PS3.18 10.4, 8.7.3.5)."""
    findings = []
    stored = corpus.by_sop()
    client = target.client
    keep = (("application/dicom", "*"),)
    for uid in sorted(corpus.studies()):
        for ds in client.retrieve_study(uid, media_types=keep):
            problem = _same_dataset(ds, stored[str(ds.SOPInstanceUID)])
            if problem:
                findings.append(Finding("wado.study", f"{ds.SOPInstanceUID}: {problem}"))
        if len(client.retrieve_study(uid)) != len(corpus.studies()[uid]):
            findings.append(Finding("wado.study.count", uid))
    for uid, group in sorted(corpus.series().items()):
        got = client.retrieve_series(group[0].StudyInstanceUID, uid)
        if sorted(str(ds.SOPInstanceUID) for ds in got) != sorted(
            str(ds.SOPInstanceUID) for ds in group
        ):
            findings.append(Finding("wado.series", uid))
        for ds in got:
            problem = _same_dataset(ds, stored[str(ds.SOPInstanceUID)])
            if problem:
                findings.append(
                    Finding("wado.series.default-syntax", f"{ds.SOPInstanceUID}: {problem}")
                )
    for ds in corpus.datasets:
        one = client.retrieve_instance(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, media_types=keep
        )
        problem = _same_dataset(one, ds)
        if problem:
            findings.append(Finding("wado.instance", f"{ds.SOPInstanceUID}: {problem}"))
    return findings


def _metadata_findings(
    level: str, items: list[dict[str, Any]], corpus: DicomwebCorpus
) -> list[Finding]:
    stored = corpus.by_sop()
    findings = []
    for item in items:
        sop = str(value_at(item, "00080018")[0])
        truth = file_json(stored[sop])
        got = normalise_dataset(item)
        for tag, want in truth.items():
            if tag == PIXEL_DATA:
                continue
            if tag not in got:
                findings.append(Finding(f"metadata.missing.{tag}", f"{level} {sop}"))
            elif got[tag] != want and not (want == BULK or got[tag] == BULK):
                findings.append(
                    Finding(f"metadata.value.{tag}", f"{level} {sop}: {got[tag]!r} != {want!r}")
                )
        if "PixelData" in stored[sop] and "BulkDataURI" not in (item.get(PIXEL_DATA) or {}):
            findings.append(Finding("metadata.pixel-bulkdata", f"{level} {sop}"))
    return findings


def check_metadata(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """/metadata of each study, series and instance: the files' values, Pixel Data as a
    BulkDataURI (PS3.18 10.4.1.1.2 and F.2.7)."""
    client = target.client
    findings = []
    for uid, group in sorted(corpus.studies().items()):
        items = client.retrieve_study_metadata(uid)
        if len(items) != len(group):
            findings.append(Finding("metadata.study.count", f"{uid}: {len(items)} != {len(group)}"))
        findings += _metadata_findings("study", items, corpus)
    for uid, group in sorted(corpus.series().items()):
        items = client.retrieve_series_metadata(group[0].StudyInstanceUID, uid)
        if len(items) != len(group):
            findings.append(
                Finding("metadata.series.count", f"{uid}: {len(items)} != {len(group)}")
            )
        findings += _metadata_findings("series", items, corpus)
    for ds in corpus.datasets:
        item = client.retrieve_instance_metadata(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        )
        findings += _metadata_findings("instance", [item], corpus)
    return _collapse(findings)


def _collapse(findings: list[Finding]) -> list[Finding]:
    """One finding per check, counting the instances (metadata repeats per level)."""
    by_check: dict[str, list[str]] = {}
    for finding in findings:
        by_check.setdefault(finding.check, []).append(finding.detail)
    return [
        Finding(check, f"{len(details)}x, e.g. {details[0]}") for check, details in by_check.items()
    ]


def stored_frames(ds: Dataset) -> list[bytes]:
    """The frames of ``ds`` as stored: encapsulated fragments joined per frame, or the
    native frame slices."""
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(ds.PixelData, number_of_frames=count))
    size = len(ds.PixelData) // count if count else 0
    frame = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
    size = frame if frame * count <= len(ds.PixelData) else size
    return [bytes(ds.PixelData[i * size : (i + 1) * size]) for i in range(count)]


def decoded_frames(ds: Dataset) -> list[list[bytes]]:
    """Each frame decoded to Explicit VR Little Endian, in every acceptable sample layout
    (colour: interleaved or planar, PS3.5 C.7.6.3.1.3)."""
    count = int(ds.get("NumberOfFrames", 1) or 1)
    array = ds.pixel_array.reshape((count, *ds.pixel_array.shape[-3 + (ds.SamplesPerPixel == 1) :]))
    out = []
    for frame in array:
        little = frame.astype(frame.dtype.newbyteorder("<"))
        layouts = [little.tobytes()]
        if little.ndim == 3:
            layouts.append(np.ascontiguousarray(little.transpose(2, 0, 1)).tobytes())
        out.append(layouts)
    return out


def check_frames(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """/frames/{first,last} of every image: with ``transfer-syntax=*`` the stored frames
    byte for byte, as Explicit VR Little Endian the decoded pixels (PS3.18 10.4.1.1.3,
    8.7.3.5.2)."""
    findings = []
    for ds in corpus.datasets:
        if "PixelData" not in ds:
            continue
        count = int(ds.get("NumberOfFrames", 1) or 1)
        numbers = sorted({1, count})
        ids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        kept = target.client.retrieve_instance_frames(
            *ids, frame_numbers=numbers, media_types=(("application/octet-stream", "*"),)
        )
        stored = stored_frames(ds)
        if [bytes(f) for f in kept] != [stored[n - 1] for n in numbers]:
            findings.append(Finding("frames.stored", f"{ds.SOPInstanceUID} frames {numbers}"))
        explicit = target.client.retrieve_instance_frames(
            *ids,
            frame_numbers=numbers,
            media_types=(("application/octet-stream", ExplicitVRLittleEndian),),
        )
        decoded = decoded_frames(ds)
        native = not ds.file_meta.TransferSyntaxUID.is_encapsulated
        for number, got in zip(numbers, explicit, strict=True):
            want = [stored[number - 1]] if native else decoded[number - 1]
            if bytes(got) not in want:
                findings.append(
                    Finding("frames.explicit-le", f"{ds.SOPInstanceUID} frame {number}")
                )
    return findings


# --------------------------------------------------------------------------- rendered


def dcmtk_rendering(path: Path) -> np.ndarray | None:
    """DCMTK's 8-bit rendering with the file's first window (``dcmj2pnm +Wi 1``), or None
    when dcmj2pnm is missing or cannot render the file."""
    tool = shutil.which("dcmj2pnm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        done = subprocess.run(
            [tool, "+Wi", "1", "+on", str(path), str(out)], capture_output=True, check=False
        )
        if done.returncode != 0 or not out.exists():
            return None
        return np.asarray(Image.open(out).convert("L"), dtype=np.float64)


def _image_problem(
    data: bytes, reference: np.ndarray | None, size: tuple[int, int] | None
) -> str | None:
    """None when ``data`` is an image of ``size`` (width, height; None: any), not blank,
    and close to the reference rendering (mean |difference| <= 8 grey levels and
    correlation >= 0.98, after resizing the reference to the answer's size)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except OSError as error:
        return f"not an image: {error}"
    if size is not None and image.size != size:
        return f"size {image.size} != {size}"
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    if grey.std() < 5:
        return f"blank (std {grey.std():.1f})"
    if reference is None:
        return None
    scaled = Image.fromarray(reference.astype(np.uint8)).resize(
        image.size, Image.Resampling.BILINEAR
    )
    ref = np.asarray(scaled, dtype=np.float64)
    correlation = float(np.corrcoef(grey.ravel(), ref.ravel())[0, 1])
    difference = float(np.abs(grey - ref).mean())
    if correlation < 0.98 or difference > 8:
        return f"unlike DCMTK +Wi 1: correlation {correlation:.3f}, mean |diff| {difference:.1f}"
    return None


def _rendered_cases(corpus: DicomwebCorpus) -> list[tuple[Path, Dataset]]:
    """Windowed MONOCHROME2 CTs: the generated slice and pydicom's CT example."""
    chosen = []
    for path, ds in zip(corpus.paths, corpus.datasets, strict=True):
        native = not ds.file_meta.TransferSyntaxUID.is_encapsulated
        single = ds.get("NumberOfFrames") is None
        if ds.get("Modality") == "CT" and "WindowCenter" in ds and single and native:
            chosen.append((path, ds))
    return chosen[:1] + [c for c in chosen if c[0].name == "example_ct.dcm"]


def check_rendered(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """/rendered as JPEG and PNG: full size, windowed with the file's first window like
    DCMTK (not blank, not inverted) (PS3.18 10.4.1.1.4, 8.3.5.1.1)."""
    findings = []
    for path, ds in _rendered_cases(corpus):
        reference = dcmtk_rendering(path)
        for media in ("image/jpeg", "image/png"):
            data = target.client.retrieve_instance_rendered(
                ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, media_types=(media,)
            )
            problem = _image_problem(data, reference, (ds.Columns, ds.Rows))
            if problem:
                findings.append(Finding(f"rendered.{media}", f"{path.name}: {problem}"))
    return findings


def check_thumbnail(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """/thumbnail of an instance: a JPEG like the rendering, any size (PS3.18 10.4.1.1.5,
    8.3.5.1.2)."""
    findings = []
    with requests.Session() as session:
        for path, ds in _rendered_cases(corpus):
            response = session.get(
                f"{target.instance_url(ds)}/thumbnail", headers={"Accept": "image/jpeg"}, timeout=60
            )
            if response.status_code != 200:
                findings.append(Finding("thumbnail", f"{path.name}: HTTP {response.status_code}"))
                continue
            problem = _image_problem(response.content, dcmtk_rendering(path), None)
            if problem:
                findings.append(Finding("thumbnail", f"{path.name}: {problem}"))
    return findings


# --------------------------------------------------------------------------- negotiation


def check_negotiation(target: Target, corpus: DicomwebCorpus) -> list[Finding]:
    """Unsupported Accept -> 406 (PS3.18 8.7.3, 8.7.5); unknown UIDs -> 404 (PS3.18 10.4.3
    and 8.6 "Not Found")."""
    ds = corpus.datasets[0]
    instance = target.instance_url(ds)
    study = f"{target.root}/studies/{ds.StudyInstanceUID}"
    unknown = f"{target.root}/studies/{UNKNOWN_UID}"
    cases = [
        ("accept.metadata", f"{instance}/metadata", "image/x-nonexistent", 406),
        ("accept.qido", f"{target.root}/studies", "image/x-nonexistent", 406),
        ("accept.study", study, 'multipart/related; type="application/x-nonexistent"', 406),
        (
            "accept.frames-syntax",
            f"{instance}/frames/1",
            'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.3.4.5.6',
            406,
        ),
        ("unknown.study", unknown, 'multipart/related; type="application/dicom"', 404),
        ("unknown.metadata", f"{unknown}/metadata", "application/dicom+json", 404),
        (
            "unknown.frames",
            f"{study}/series/{ds.SeriesInstanceUID}/instances/{UNKNOWN_UID}/frames/1",
            'multipart/related; type="application/octet-stream"; transfer-syntax=*',
            404,
        ),
    ]
    findings = []
    with requests.Session() as session:
        for name, url, accept, status in cases:
            got = session.get(url, headers={"Accept": accept}, timeout=60).status_code
            if got != status:
                findings.append(Finding(f"negotiation.{name}", f"HTTP {got}, expected {status}"))
            try:  # a bad request must not take the server down
                session.get(f"{target.root}/studies", params={"limit": "1"}, timeout=10)
            except requests.ConnectionError:
                findings.append(Finding(f"negotiation.{name}.crashed", "server gone after it"))
                break
    return findings


# --------------------------------------------------------------------------- the suite


def query_checks(corpus: DicomwebCorpus) -> list[tuple[str, Check]]:
    """One named check per QIDO query of ``dicomweb_queries``."""

    def bound(query: QidoQuery) -> Check:
        return lambda target, corpus: check_query(target, corpus, query)

    return [(f"qido.{query.name}", bound(query)) for query in queries(corpus)]


def checks(corpus: DicomwebCorpus) -> list[tuple[str, Check]]:
    """Every check after STOW, in order, each named."""
    return [
        ("stow.wrong-study", check_store_wrong_study),
        *query_checks(corpus),
        ("qido.paging", check_paging),
        ("wado.retrieve", check_retrieve),
        ("wado.metadata", check_metadata),
        ("wado.frames", check_frames),
        ("wado.rendered", check_rendered),
        ("wado.thumbnail", check_thumbnail),
        ("negotiation", check_negotiation),
    ]


def run_suite(
    target: Target, corpus: DicomwebCorpus, *, store: bool = True
) -> dict[str, list[Finding]]:
    """Store the corpus (unless ``store`` is False: done already), then run every check;
    check name -> its findings. The negotiation checks run last: a server may not
    survive them."""
    results = {"stow": guarded("stow", check_store)(target, corpus)} if store else {}
    for name, check in checks(corpus):
        results[name] = guarded(name, check)(target, corpus)
    return results


def answers(root: str) -> bool:
    """Whether a DICOMweb service answers at ``root`` (QIDO /studies is not 404)."""
    try:
        response = requests.get(
            f"{root.rstrip('/')}/studies", headers={"Accept": "application/dicom+json"}, timeout=10
        )
    except requests.RequestException:
        return False
    return response.status_code != 404


def read_corpus(paths: list[Path]) -> DicomwebCorpus:
    """A corpus from files already written (the comparison script receives paths)."""
    return DicomwebCorpus(paths=tuple(paths), datasets=tuple(dcmread(p) for p in paths))
