"""Blob storage as files under a directory: the local :class:`~dicomlens.ports.BlobStore`.

Keys map to paths below ``root``; a key that would leave it (``..``, absolute, NUL) is
refused. Objects are private to the server's user: directories 0700, files 0600 (temporary
files are created 0600 and renamed or linked into place). Writes are atomic (a temporary
file in the same directory, then ``rename``), so a reader never sees half an object. Upload
forms and download URLs point at the local runtime (``/_upload`` and ``/_blobs/...``) and
are signed with :class:`Signer`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from dicomlens.adapters.local.signing import Signer, UploadPolicy
from dicomlens.adapters.local.storage_full import full_storage_is_transient
from dicomlens.domain.errors import DicomlensError, ErrorCode
from dicomlens.ports import Clock, PresignedPost
from dicomlens.private_files import PRIVATE_DIR_MODE

UPLOAD_PATH = "/_upload"
BLOBS_PATH = "/_blobs/"


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (``Path.mkdir`` gives
    the parents the umask's default mode)."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)


class LocalBlobStore:
    """Objects as files under ``root``; URLs served by the local runtime at ``base_url``."""

    def __init__(self, root: Path, *, signer: Signer, base_url: str, clock: Clock) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
        self.signer = signer
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    def path_of(self, key: str) -> Path:
        """The file that holds ``key``. Raises ``VALIDATION_ERROR`` for keys outside the root."""
        parts = key.split("/")
        if (
            not key
            or "\x00" in key
            or "\\" in key
            or any(part in ("", ".", "..") for part in parts)
            or parts[0].startswith(".")
        ):
            raise DicomlensError(ErrorCode.VALIDATION_ERROR, "invalid object key")
        return self.root.joinpath(*parts)

    def presign_post(
        self, *, key: str, content_type: str, max_bytes: int, expires_in_s: int
    ) -> PresignedPost:
        """A form upload to exactly ``key`` (see :mod:`dicomlens.adapters.local.signing`)."""
        self.path_of(key)
        expires_at = (self._clock.now() + timedelta(seconds=expires_in_s)).replace(microsecond=0)
        policy, signature = self.signer.sign_policy(
            UploadPolicy(
                key=key,
                content_type=content_type,
                min_bytes=0,
                max_bytes=max_bytes,
                expires_at=expires_at,
            )
        )
        return PresignedPost(
            url=self._base_url + UPLOAD_PATH,
            fields={
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                "x-dicomlens-signature": signature,
            },
            expires_at=expires_at,
        )

    def presign_get(self, key: str, *, expires_in_s: int, download_name: str | None = None) -> str:
        """A signed URL of the local runtime that reads ``key`` until it expires."""
        self.path_of(key)
        expires = int(self._clock.now().timestamp()) + expires_in_s
        name = download_name or ""
        query = {
            "expires": str(expires),
            "sig": self.signer.sign_download(key, expires=expires, name=name),
        }
        if name:
            query["name"] = name
        return f"{self._base_url}{BLOBS_PATH}{quote(key)}?{urlencode(query)}"

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``key`` atomically (content type is implied by the name locally).

        Derived files are not fsync-ed: they survive a process crash (the page cache does)
        and can be re-created from the original; an fsync each cost ~4 ms here, six per job.
        """
        del content_type
        target = self.path_of(key)
        with self.open_atomic(target, durable=False) as handle:
            handle.write(data)

    @contextlib.contextmanager
    def open_atomic(self, target: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
        """A binary file that appears at ``target`` only when the block completes.

        On an exception the partial file is removed and ``target`` is untouched. ``durable``
        flushes the bytes to disk before the rename. A full disk raises TransientError.
        """
        with full_storage_is_transient():  # a full disk: TransientError (storage_full)
            make_private_dirs(target.parent)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="part-")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as handle:
                    yield handle
                    if durable:
                        handle.flush()
                        os.fsync(handle.fileno())
                tmp.replace(target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def remove_partial_files(self) -> int:
        """Delete what writes interrupted by a crash left in the temporary directory.

        Only safe while nothing writes (at start-up, under the data directory's lock).
        Returns how many files were removed.
        """
        removed = 0
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                leftover.unlink()
                removed += 1
        return removed

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        try:
            return self.path_of(key).is_file()
        except DicomlensError:
            return False

    def read_range(
        self, key: str, start: int, length: int, *, version_id: str | None = None
    ) -> bytes:
        """The object's bytes ``start`` .. ``start + length`` (one version per key)."""
        del version_id
        path = self.path_of(key)
        try:
            with path.open("rb") as file:
                file.seek(start)
                return file.read(max(0, length))
        except FileNotFoundError as exc:
            raise DicomlensError(ErrorCode.NOT_FOUND, "no such object") from exc

    @contextlib.contextmanager
    def local_copy(self, key: str, *, version_id: str | None = None) -> Iterator[Path]:
        """The object's own file (no copy is needed locally); callers must not modify it.
        The local store keeps one version per key (the upload endpoint refuses a second post),
        so ``version_id`` plays no part."""
        path = self.path_of(key)
        if not path.is_file():
            raise DicomlensError(ErrorCode.NOT_FOUND, "no such object")
        yield path
