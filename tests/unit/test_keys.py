"""Object keys: the server builds every key; a client's file name cannot escape its folder."""

from __future__ import annotations

import pytest

from dicomlens.domain.keys import (
    decode_event_key,
    derived_key,
    job_id_from_upload_key,
    safe_file_name,
    upload_key,
)

JOB = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\x.dcm", "x.dcm"),
        ("/absolute/path/scan.dcm", "scan.dcm"),
        ("..", "upload"),
        ("", "upload"),
        (".hidden", "hidden"),
        ("a\x00b.dcm", "a_b.dcm"),
        ("Röntgen Thorax.dcm", "Rontgen_Thorax.dcm"),
        ("CT slice (1).dcm", "CT_slice_1_.dcm"),
    ],
)
def test_file_names_cannot_traverse_paths(name: str, safe: str) -> None:
    # Given a hostile or unusual file name; When it becomes a key
    key = upload_key(JOB, name)
    # Then it is one safe component inside the job's upload folder
    assert safe_file_name(name) == safe
    assert key == f"uploads/{JOB}/{safe}"
    assert job_id_from_upload_key(key) == JOB


def test_long_names_are_cut_but_keep_their_extension() -> None:
    name = safe_file_name("x" * 300 + ".dcm")
    assert len(name) <= 120
    assert name.endswith(".dcm")


def test_derived_files_live_outside_the_upload_trigger_prefix() -> None:
    assert derived_key(JOB, "preview.png") == f"derived/{JOB}/preview.png"
    assert job_id_from_upload_key(derived_key(JOB, "preview.png")) is None


@pytest.mark.parametrize(
    "key",
    [
        f"uploads/{JOB}/a/b.dcm",
        f"uploads/{JOB}/",
        "uploads/../x.dcm",
        "uploads/NOTAJOBID/x.dcm",
        f"other/{JOB}/x.dcm",
    ],
)
def test_keys_outside_the_scheme_belong_to_no_job(key: str) -> None:
    assert job_id_from_upload_key(key) is None


def test_event_keys_are_url_decoded() -> None:
    # S3 event keys are URL-encoded, with + for space
    assert decode_event_key(f"uploads/{JOB}/my+scan%281%29.dcm") == f"uploads/{JOB}/my scan(1).dcm"
