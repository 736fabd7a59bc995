"""What the command line writes: de-identified file names and indexes without the input's
name, and ``dicomlens analyze`` without PHI unless asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dicomlens.cli import main

INPUT_NAME = "ZEBRA_QUINCE_ZQ-55321"
CT = Path(str(get_testdata_file("CT_small.dcm")))


def _instance(index: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.5555.{index}"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.5555"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.5555.0"
    ds.Modality = "CT"
    ds.PatientName = "ZEBRA^QUINCE"
    ds.PatientID = "ZQ-55321"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = np.zeros((8, 8), np.uint8).tobytes()
    return ds


@pytest.fixture
def named_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DICOMLENS_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "in"
    folder.mkdir()
    for index in (1, 2):
        _instance(index).save_as(folder / f"{INPUT_NAME}-{index}.dcm", enforce_file_format=True)
    return folder


def _run(inputs: Path, out: Path, *extra: str) -> list[dict[str, object]]:
    args = ["deidentify", str(inputs), "--out", str(out), "--pixel-text", "off"]
    assert main([*args, "--workers", "1", *extra]) == 0
    rows: list[dict[str, object]] = json.loads((out / "deidentified.json").read_text())
    return rows


def test_outputs_are_named_by_their_new_uid_and_the_index_hides_input_names(
    named_inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rows = _run(named_inputs, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(str(r["output"]) for r in rows), "deidentified.json"])
    for row in rows:
        written = dcmread(out / str(row["output"]))
        assert row["output"] == f"{written.SOPInstanceUID}.dcm"
        assert str(written.SOPInstanceUID).startswith("2.25.")
        assert len(str(row["file"])) == 32  # a keyed hash of the input path
    everything = (out / "deidentified.json").read_text() + capsys.readouterr().err
    everything += " ".join(names)
    for fragment in ("ZEBRA", "QUINCE", "55321"):
        assert fragment not in everything


def test_keep_names_puts_the_input_paths_in_the_index(named_inputs: Path, tmp_path: Path) -> None:
    rows = _run(named_inputs, tmp_path / "out", "--keep-names")
    assert sorted(Path(str(r["file"])).name for r in rows) == [
        f"{INPUT_NAME}-1.dcm",
        f"{INPUT_NAME}-2.dcm",
    ]
    assert not [p for p in (tmp_path / "out").iterdir() if INPUT_NAME in p.name]


def test_the_same_instance_twice_gets_two_names(named_inputs: Path, tmp_path: Path) -> None:
    shutil.copy(named_inputs / f"{INPUT_NAME}-1.dcm", named_inputs / "copy.dcm")
    rows = _run(named_inputs, tmp_path / "out")
    assert len({r["output"] for r in rows}) == 3


def test_analyze_leaves_phi_out_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOMLENS_ANALYZERS", "")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CT, folder / "ct.dcm")
    name = str(dcmread(CT).PatientName)
    assert main(["analyze", str(folder), "--out", str(tmp_path / "plain")]) == 0
    plain = (tmp_path / "plain" / "ct.dcm.json").read_text()
    assert "phi" not in json.loads(plain)["result"] and name not in plain
    assert main(["analyze", str(folder), "--out", str(tmp_path / "phi"), "--include-phi"]) == 0
    document = json.loads((tmp_path / "phi" / "ct.dcm.json").read_text())
    assert document["result"]["phi"]["patientName"] == name
