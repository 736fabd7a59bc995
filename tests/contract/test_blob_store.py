"""The BlobStore contract: every adapter behaves the same to the services."""

from __future__ import annotations

import pytest
from contract_harness import BlobHarness

from dicomlens.domain.errors import DicomlensError, ErrorCode

KEY = "uploads/0123456789abcdef0123456789abcdef/scan.dcm"


def test_put_then_read_back(blobs: BlobHarness) -> None:
    blobs.store.put_bytes("derived/j/preview.png", b"\x89PNG data", content_type="image/png")
    assert blobs.store.exists("derived/j/preview.png")
    with blobs.store.local_copy("derived/j/preview.png") as path:
        assert path.read_bytes() == b"\x89PNG data"


def test_a_range_reads_those_bytes_only(blobs: BlobHarness) -> None:
    data = bytes(range(256)) * 40
    blobs.store.put_bytes("derived/j/frames.bin", data, content_type="application/octet-stream")
    assert blobs.store.read_range("derived/j/frames.bin", 1000, 300) == data[1000:1300]
    assert blobs.store.read_range("derived/j/frames.bin", 0, 1) == data[:1]
    assert blobs.store.read_range("derived/j/frames.bin", len(data) - 5, 100) == data[-5:]
    with pytest.raises(DicomlensError) as caught:
        blobs.store.read_range("derived/none/frames.bin", 0, 10)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_missing_object_is_not_found(blobs: BlobHarness) -> None:
    assert not blobs.store.exists("derived/none/preview.png")
    with pytest.raises(DicomlensError) as caught, blobs.store.local_copy("derived/none/x.png"):
        pass
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_presigned_post_stores_exactly_at_its_key(blobs: BlobHarness) -> None:
    post = blobs.store.presign_post(
        key=KEY, content_type="application/dicom", max_bytes=100, expires_in_s=60
    )
    assert post.fields["key"] == KEY
    assert post.expires_at > blobs.clock.now()
    assert 200 <= blobs.upload(post, b"x" * 100) < 300
    with blobs.store.local_copy(KEY) as path:
        assert path.read_bytes() == b"x" * 100


def test_presigned_post_refuses_more_than_max_bytes(blobs: BlobHarness) -> None:
    post = blobs.store.presign_post(
        key=KEY, content_type="application/dicom", max_bytes=10, expires_in_s=60
    )
    assert 400 <= blobs.upload(post, b"x" * 11) < 500
    assert not blobs.store.exists(KEY)


def test_presigned_post_expires(blobs: BlobHarness) -> None:
    post = blobs.store.presign_post(
        key=KEY, content_type="application/dicom", max_bytes=10, expires_in_s=60
    )
    blobs.clock.advance(61)
    assert 400 <= blobs.upload(post, b"x") < 500
    assert not blobs.store.exists(KEY)


def test_presigned_get_reads_until_it_expires(blobs: BlobHarness) -> None:
    blobs.store.put_bytes("derived/j/preview.png", b"picture", content_type="image/png")
    url = blobs.store.presign_get("derived/j/preview.png", expires_in_s=30)
    assert blobs.fetch(url) == b"picture"
    blobs.clock.advance(31)
    assert blobs.fetch(url) is None
