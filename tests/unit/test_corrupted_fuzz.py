"""Corrupted files never leak, never pass as something else, never end INTERNAL.

Given a few generated files with a planted patient name and ID, each element's length
field is set to 0, one more, 0xFFFF, 0xFFFFFFFF or past the end of the file; the files
are cut at many offsets; and malformed values are written into them. Each mutant goes
through the processing the worker runs (upload, ``process_upload``), and:

- the job ends COMPLETED, or FAILED with a stable code other than INTERNAL;
- the planted name and ID appear only as themselves, in their own PHI fields: never in the
  summary, a finding, a label, an error message, or another field of the stored job.

De-identification of the same mutants is refused, or writes a file without them.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from corpus.generate import CT_IMAGE, attach_grey, new_dataset, ramp, to_bytes
from dicomlens.config import Settings
from dicomlens.deid.pipeline import deidentify_file
from dicomlens.deid.profile import ProfileOptions
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.domain.jobs import JobStatus
from fake_world import FakeWorld

NAME = "PLANTEDSURNAME^GIVEN"
PATIENT_ID = "PLANTED-ID-4711"
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_SEQUENCE_END, _PIXEL_DATA, _UNDEFINED = 0xFFFEE0DD, 0x7FE00010, 0xFFFFFFFF
_DELIMITERS = {0xFFFEE000, 0xFFFEE00D, _SEQUENCE_END}


@contextmanager
def _unvalidated() -> Iterator[None]:
    """Let pydicom hold and write values that break their VR (the point of these files)."""
    before = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = before


def _dataset(n: int, *, size: int = 16) -> Dataset:
    """A ``size`` x ``size`` CT with the planted patient, a window, a rescale, a spacing
    and sequences (one of them repeats the planted ID inside an item)."""
    ds = new_dataset(CT_IMAGE, 900 + n, "CT")
    ds.PatientName, ds.PatientID = NAME, PATIENT_ID
    ds.StudyDescription = "mutation base"
    ds.BodyPartExamined = "CHEST"
    other = Dataset()
    other.PatientID = PATIENT_ID
    other.IssuerOfPatientID = "PLANTED ISSUER"
    ds.OtherPatientIDsSequence = Sequence([other])
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-D3000", "SRT", "Chest"
    ds.AnatomicRegionSequence = Sequence([code])
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1.25
    ds.WindowCenter, ds.WindowWidth = 1000, 2000
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    attach_grey(ds, ramp(size, size, 0, 4095).astype(np.uint16), bits_stored=12)
    return ds


def _explicit() -> bytes:
    return to_bytes(_dataset(1))


def _implicit() -> bytes:
    return to_bytes(_dataset(2), syntax=ImplicitVRLittleEndian)


def _explicit_large() -> bytes:
    """Pixel data longer than 0xFFFF bytes: a 16-bit length that grows lands inside it."""
    return to_bytes(_dataset(4, size=192))


def _rle() -> bytes:
    ds = _dataset(3)
    ds.compress(RLELossless)
    return to_bytes(ds, syntax=RLELossless)


BASES: dict[str, Callable[[], bytes]] = {
    "explicit": _explicit,
    "explicit-large": _explicit_large,
    "implicit": _implicit,
    "rle": _rle,
}


@dataclasses.dataclass(frozen=True)
class LengthField:
    """Where an element's (or item's) length field is, and how many bytes it has."""

    tag: int
    start: int
    """Where the element (or item) starts."""
    offset: int
    size: int


def _length_fields(data: bytes, *, implicit: bool) -> list[LengthField]:
    """Every length field of the file meta group and the dataset, items and nested
    elements included, found by walking the (sound) file: into sequences and items, over
    other values and over the fragments of encapsulated pixel data."""
    fields: list[LengthField] = []
    pos, in_fragments = 132, False
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        tag = group << 16 | element
        vr = data[pos + 4 : pos + 6]
        if tag in _DELIMITERS or (implicit and group != 0x0002):
            offset, header = pos + 4, 8
        elif vr in _LONG_VRS:
            offset, header = pos + 8, 12
        else:
            offset, header = pos + 6, 8
        size = 2 if header == 8 and offset == pos + 6 else 4
        fields.append(LengthField(tag, pos, offset, size))
        length = int.from_bytes(data[offset : offset + size], "little")
        if tag == _SEQUENCE_END:
            in_fragments = False
        if tag == _PIXEL_DATA and length == _UNDEFINED:
            in_fragments = True
        is_sequence = vr == b"SQ" or (implicit and _dictionary_vr(tag) == "SQ")
        steps_in = (tag in _DELIMITERS and not in_fragments) or is_sequence
        steps_in = steps_in or (tag == _PIXEL_DATA and length == _UNDEFINED)
        pos += header if steps_in else header + length
    return fields


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _with_length(data: bytes, field: LengthField, value: int) -> bytes:
    mutated = bytearray(data)
    mutated[field.offset : field.offset + field.size] = value.to_bytes(field.size, "little")
    return bytes(mutated)


def _length_mutants(data: bytes, *, implicit: bool) -> Iterator[tuple[str, bytes]]:
    """Each length field set to 0, one more, 0xFFFF, 0xFFFFFFFF, past the end of the file,
    and to lengths that swallow the next one, two or five elements whole (the structure
    stays sound: only the values can tell)."""
    fields = _length_fields(data, implicit=implicit)
    for index, field in enumerate(fields):
        current = int.from_bytes(data[field.offset : field.offset + field.size], "little")
        value_start = field.offset + field.size
        past_end = len(data) - field.offset + 2
        values = {0, current + 1, 0xFFFF, past_end}
        later = [f.start for f in fields[index + 1 :] if f.start > value_start + current]
        values |= {start - value_start for start in later[1:6:2]}
        if field.size == 4:
            values.add(0xFFFFFFFF)
        for value in sorted(v for v in values if v < 1 << (8 * field.size) and v != current):
            yield (
                f"({field.tag >> 16:04X},{field.tag & 0xFFFF:04X}) length {value:#x}",
                _with_length(data, field, value),
            )


def _process(world: FakeWorld, data: bytes) -> dict[str, Any]:
    """Upload ``data`` and process it as the worker does; the stored job as JSON data."""
    grant = world.services.uploads.create_upload(
        file_name="mutant.dcm", content_type="application/dicom", size=len(data)
    )
    key = grant.post.fields["key"]
    world.blobs.receive_upload(key, data)
    world.services.processor.process_upload(key)
    job = world.jobs.get(grant.job_id)
    assert job is not None
    stored: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(job), default=str))
    return stored


def _problems(stored: dict[str, Any]) -> list[str]:
    """What is wrong with a processed mutant's stored job (nothing, for a sound outcome)."""
    problems = []
    status, error = stored["status"], stored["error"]
    if status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        problems.append(f"status {status}")
    if error is not None and error["code"] == ErrorCode.INTERNAL:
        problems.append(f"INTERNAL: {error['message']}")
    result = stored.get("result") or {}
    phi = result.pop("phi", None) or {}
    if phi.get("patientName") not in (None, NAME) or phi.get("patientId") not in (None, PATIENT_ID):
        problems.append("the PHI fields hold something else than the patient's name and ID")
    phi.pop("patientName", None)
    phi.pop("patientId", None)
    rest = json.dumps([stored, phi])
    if any(planted in rest for planted in ("PLANTEDSURNAME", PATIENT_ID)):
        problems.append("the planted name or ID shows outside its PHI field")
    return problems


def _finding_kinds(stored: dict[str, Any]) -> set[str]:
    return {finding["kind"] for finding in (stored.get("result") or {}).get("findings", ())}


def _run(world: FakeWorld, mutants: Iterator[tuple[str, bytes]]) -> dict[str, list[str]]:
    failures = {}
    for name, data in mutants:
        found = _problems(_process(world, data))
        if found:
            failures[name] = found
    return failures


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_corrupted_length_fails_cleanly_or_reads_without_leaking(
    base: str, world: FakeWorld
) -> None:
    # Given a sound file with a planted patient, and each of its length fields mutated
    data = BASES[base]()
    sound = _process(world, data)
    assert sound["status"] == JobStatus.COMPLETED and not _problems(sound)
    # When each mutant is processed, then none leaks and none ends INTERNAL
    failures = _run(world, _length_mutants(data, implicit=base == "implicit"))
    assert not failures, failures


@pytest.mark.parametrize("base", sorted(BASES))
def test_a_file_cut_anywhere_fails_with_a_stable_code(base: str, world: FakeWorld) -> None:
    # Given a sound file cut at many offsets, from the preamble to the last byte
    data = BASES[base]()
    step = max(9, len(data) // 120)
    cuts = sorted({*range(128, 140), *range(140, len(data), step), len(data) - 1})
    # When each is processed
    outcomes = {cut: _process(world, data[:cut]) for cut in cuts}
    # Then none leaks, none ends INTERNAL, and none passes as an image: a cut header or
    # pixel data is a failure (a cut right after the meta group holds no dataset at all)
    failures = {cut: _problems(stored) for cut, stored in outcomes.items() if _problems(stored)}
    assert not failures, failures
    # (only the encapsulated pixel data's closing delimiter may be cut, as GDCM tolerates:
    # every fragment is whole, and a finding says so)
    completed = [
        cut
        for cut, stored in outcomes.items()
        if stored["status"] == JobStatus.COMPLETED
        and "sequence-delimiter-missing" not in _finding_kinds(stored)
    ]
    assert not completed, f"cut files completed: {completed}"


def test_a_preamble_alone_or_with_a_few_bytes_is_invalid_dicom(world: FakeWorld) -> None:
    for tail in (b"", b"\x00", b"\x02\x00", b"\x02\x00\x01\x00OB", b"\x00" * 7):
        stored = _process(world, b"\x00" * 128 + b"DICM" + tail)
        assert stored["status"] == JobStatus.FAILED
        assert stored["error"]["code"] == ErrorCode.INVALID_DICOM, (tail, stored["error"])


def _set(**values: Any) -> Callable[[Dataset], None]:
    """A change that writes ``values`` (keyword -> value, or (VR, raw value)) as they are."""

    def change(ds: Dataset) -> None:
        for keyword, value in values.items():
            if isinstance(value, tuple):
                vr, raw = value
                ds[keyword] = DataElement(keyword, vr, b"")  # then its bytes, as they are
                text = raw.encode("latin-1")
                raw_element = RawDataElement(
                    ds[keyword].tag,
                    vr,
                    len(text),
                    text,
                    0,
                    False,
                    True,
                )
                ds._dict[ds[keyword].tag] = raw_element
            else:
                setattr(ds, keyword, value)

    return change


def _voi_lut(descriptor: list[int], data: list[int]) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        item = Dataset()
        item.LUTDescriptor = descriptor
        item.add_new(0x00283006, "US", data)  # LUT Data
        ds.VOILUTSequence = Sequence([item])
        del ds.WindowCenter, ds.WindowWidth

    return change


def _modality_lut(descriptor: list[int], data: list[int]) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        item = Dataset()
        item.LUTDescriptor = descriptor
        item.ModalityLUTType = "HU"
        item.add_new(0x00283006, "US", data)
        ds.ModalityLUTSequence = Sequence([item])
        del ds.RescaleSlope, ds.RescaleIntercept

    return change


def _palette(descriptor: list[int], entries: int) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        ds.PhotometricInterpretation = "PALETTE COLOR"
        for colour in ("Red", "Green", "Blue"):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", descriptor)
            setattr(ds, f"{colour}PaletteColorLookupTableData", bytes(2 * entries))

    return change


MALFORMED: dict[str, Callable[[Dataset], None]] = {
    "spacing 1e-300": _set(PixelSpacing=("DS", "1e-300\\1e-300")),
    "spacing 1e300": _set(PixelSpacing=("DS", "1e300\\1e300")),
    "spacing 1e-300 by 1e300": _set(PixelSpacing=("DS", "1e-300\\1e300")),
    "spacing NaN": _set(PixelSpacing=("DS", "NaN\\NaN")),
    "spacing inf": _set(PixelSpacing=("DS", "inf\\-inf")),
    "spacing negative": _set(PixelSpacing=("DS", "-0.5\\-0.5")),
    "spacing zero": _set(PixelSpacing=("DS", "0\\0")),
    "spacing one value": _set(PixelSpacing=("DS", "0.5")),
    "spacing text": _set(PixelSpacing=("DS", "a\\b")),
    "aspect ratio extreme": _set(PixelAspectRatio=("IS", "1\\999999999")),
    "aspect ratio zero": _set(PixelAspectRatio=("IS", "0\\0")),
    "thickness 1e309": _set(SliceThickness=("DS", "1e309")),
    "voi lut one entry": _voi_lut([1, 0, 16], [100]),
    "voi lut no entries": _voi_lut([0, 0, 16], []),
    "voi lut 40 bits": _voi_lut([4, 0, 40], [1, 2, 3, 4]),
    "voi lut short data": _voi_lut([4096, 0, 16], [1, 2, 3]),
    "modality lut one entry": _modality_lut([1, 0, 16], [7]),
    "modality lut short data": _modality_lut([4096, 0, 12], [1, 2]),
    "modality lut 0 bits": _modality_lut([2, 0, 0], [1, 2]),
    "window width 0": _set(WindowWidth=("DS", "0")),
    "window width negative": _set(WindowWidth=("DS", "-100")),
    "window width 1e308": _set(WindowWidth=("DS", "1e308")),
    "window width NaN": _set(WindowWidth=("DS", "NaN")),
    "window centre 1e308": _set(WindowCenter=("DS", "1e308")),
    "window centre inf": _set(WindowCenter=("DS", "inf")),
    "window counts differ": _set(WindowCenter=("DS", "1\\2\\3"), WindowWidth=("DS", "10")),
    "voi function unknown": _set(VOILUTFunction="WOBBLY"),
    "rescale slope 0": _set(RescaleSlope=("DS", "0")),
    "rescale slope inf": _set(RescaleSlope=("DS", "inf")),
    "rescale slope NaN": _set(RescaleSlope=("DS", "NaN")),
    "rescale slope 1e308": _set(RescaleSlope=("DS", "1e308")),
    "rescale intercept huge": _set(RescaleIntercept=("DS", "-1e308")),
    "bits stored above allocated": _set(BitsStored=20, HighBit=19),
    "bits stored 0": _set(BitsStored=0),
    "high bit wrong": _set(HighBit=3),
    "high bit huge": _set(HighBit=40),
    "bits allocated 7": _set(BitsAllocated=7),
    "frames 0": _set(NumberOfFrames=("IS", "0")),
    "frames negative": _set(NumberOfFrames=("IS", "-3")),
    "frames huge": _set(NumberOfFrames=("IS", "2147483647")),
    "frames beyond IS": _set(NumberOfFrames=("IS", "99999999999999999999")),
    "frames text": _set(NumberOfFrames=("IS", "many")),
    "samples 0": _set(SamplesPerPixel=0),
    "samples 3 for grey data": _set(SamplesPerPixel=3),
    "planar configuration 7": _set(PlanarConfiguration=7),
    "photometric unknown": _set(PhotometricInterpretation="UPSIDEDOWN"),
    "photometric empty": _set(PhotometricInterpretation=""),
    "palette without tables": _set(PhotometricInterpretation="PALETTE COLOR"),
    "palette descriptor 0 entries": _palette([0, 0, 16], 4),
    "palette descriptor 8 bits over 16-bit data": _palette([16, 0, 8], 16),
    "palette descriptor bigger than data": _palette([4096, 0, 16], 4),
    "pixel representation 7": _set(PixelRepresentation=7),
    "rows 0": _set(Rows=0),
    "modality 200 characters": _set(Modality=("CS", "CT" + "X" * 198)),
    "modality lower case with name": _set(Modality=("CS", NAME)),
    "description 300 characters": _set(StudyDescription=("LO", "D" * 300)),
    "manufacturer with control bytes": _set(Manufacturer=("LO", "ACME\x01\x02")),
    "sop class letters": _set(SOPClassUID=("UI", "1.2.abc")),
    "body part multi-valued": _set(BodyPartExamined=("CS", "CHEST\\HEAD")),
}


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_malformed_values_never_end_internal_nor_show_raw(syntax: str, world: FakeWorld) -> None:
    # Given the base file with one malformed value each
    mutants = []
    with _unvalidated():
        for name, change in MALFORMED.items():
            ds = _dataset(10)
            change(ds)
            mutants.append((name, to_bytes(ds, syntax=syntax)))
        # When each is processed, then none ends INTERNAL and none leaks
        failures = _run(world, iter(mutants))
    assert not failures, failures


def test_summary_values_breaking_their_vr_are_left_out_with_a_finding(world: FakeWorld) -> None:
    with _unvalidated():
        ds = _dataset(20)
        ds["Modality"] = DataElement(0x00080060, "CS", NAME)
        ds["StudyDescription"] = DataElement(0x00081030, "LO", "D" * 300)
        ds["PixelSpacing"] = DataElement(0x00280030, "DS", "1e-300\\1e300")
        stored = _process(world, to_bytes(ds))
    assert stored["status"] == JobStatus.COMPLETED
    summary = stored["result"]["summary"]
    assert summary["modality"] is None
    assert summary["studyDescription"] is None
    assert summary["pixelSpacing"] is None
    found = [f for f in stored["result"]["findings"] if f["kind"] == "value-invalid-for-vr"]
    assert {f["message"].split(" ")[1] for f in found} == {
        "Modality",
        "StudyDescription",
        "PixelSpacing",
    }
    assert not _problems(stored)


@pytest.mark.parametrize("base", ["explicit", "implicit"])
def test_de_identification_refuses_every_corrupted_length(base: str, tmp_path: Path) -> None:
    # Given the length mutants of a file with a planted patient
    data = BASES[base]()
    options = ProfileOptions(secret=b"fuzz-secret", pixel_text="off")
    limits = Settings().imaging_limits()
    source, target = tmp_path / "in.dcm", tmp_path / "out.dcm"
    failures = {}
    for name, mutant in _length_mutants(data, implicit=base == "implicit"):
        source.write_bytes(mutant)
        target.unlink(missing_ok=True)
        # When each is de-identified
        try:
            deidentify_file(source, target, options, limits=limits)
        except DicomlensError as exc:
            # Then it is refused with a stable code that shows no patient data
            if exc.code == ErrorCode.INTERNAL or "PLANTED" in exc.message:
                failures[name] = f"{exc.code}: {exc.message}"
            continue
        # or its output holds neither the planted name nor the planted ID
        written = target.read_bytes()
        if b"PLANTED" in written:
            failures[name] = "the output keeps the planted name or ID"
    assert not failures, failures
