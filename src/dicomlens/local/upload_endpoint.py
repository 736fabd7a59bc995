"""The S3 presigned-POST emulation: ``POST /_upload`` with multipart/form-data.

The form carries the fields ``POST /uploads`` returned, then the file in a part named
``file``. When the file part starts, the policy must be signed by us, unexpired, and name
exactly the ``key`` and ``Content-Type`` fields sent; the file then streams to a temporary
file while its length is checked against ``content-length-range``. Only a complete, valid
upload is published at its key (a hard link: an existing object is never replaced), after
which an ObjectCreated event is committed to the queue. A rejected upload stores nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from dicomlens.adapters.local.files import LocalBlobStore, make_private_dirs
from dicomlens.adapters.local.signing import UploadPolicy
from dicomlens.adapters.local.storage_full import full_storage_is_transient
from dicomlens.domain.errors import DicomlensError, ErrorCode, error_body
from dicomlens.ports import Clock

FORM_OVERHEAD_BYTES = 256 * 1024  # multipart framing and fields around the file


@dataclass(frozen=True, kw_only=True)
class FormLimits:
    """How much of a form may come before its file part."""

    fields: int = 50
    field_bytes: int = 64 * 1024  # names, part headers and values together


class UploadRefusedError(Exception):
    """An upload that is not stored: an HTTP status, a code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        """The API's error shape."""
        return json.dumps(error_body(self.code, self.message)).encode()


@dataclass(frozen=True, kw_only=True)
class StoredUpload:
    """A published upload."""

    key: str
    size: int
    etag: str


@dataclass(kw_only=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    value: bytearray = field(default_factory=bytearray)


class FormUpload:
    """One upload request, fed chunk by chunk (``feed``) and then ``finish``-ed."""

    def __init__(
        self,
        *,
        content_type: str,
        blobs: LocalBlobStore,
        clock: Clock,
        limits: FormLimits | None = None,
    ) -> None:
        media_type, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise UploadRefusedError(
                400, str(ErrorCode.UPLOAD_REJECTED), "expected multipart/form-data"
            )
        self._blobs = blobs
        self._clock = clock
        self._limits = limits or FormLimits()
        self._parts = 0
        self._form_bytes = 0  # what the fields before the file have used of field_bytes
        self._fields: dict[str, str] = {}
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._policy: UploadPolicy | None = None
        self._file: Any = None
        self._tmp: Path | None = None
        self._size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._file_done = False
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    # Parser callbacks.

    def _on_part_begin(self) -> None:
        if self._file_done:
            # S3 ignores fields after the file; nothing after it may change the upload.
            self._part = _Part(name="\x00ignored")
            return
        self._parts += 1
        if self._parts > self._limits.fields:
            raise UploadRefusedError(
                400,
                str(ErrorCode.UPLOAD_REJECTED),
                f"the form has more than {self._limits.fields} fields before the file",
            )
        self._part = _Part()

    def _count(self, size: int) -> None:
        """Count ``size`` bytes kept of the fields before the file; refuse beyond the limit."""
        self._form_bytes += size
        if self._form_bytes > self._limits.field_bytes:
            raise UploadRefusedError(
                413,
                str(ErrorCode.TOO_LARGE),
                f"the form fields before the file exceed {self._limits.field_bytes} bytes",
            )

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        if self._part.name == "\x00ignored":
            return
        self._count(end - start)
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        if self._part.name == "\x00ignored":
            return
        self._count(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._part.name == "\x00ignored":
            return
        self._part.headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        if self._part.name == "\x00ignored":
            return
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise UploadRefusedError(400, str(ErrorCode.UPLOAD_REJECTED), "a form part has no name")
        self._part.name = name.decode("utf-8", "replace")
        if self._part.name == "file":
            self._start_file()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.name == "\x00ignored":
            return
        chunk = data[start:end]
        if self._part.name == "file":
            self._size += len(chunk)
            assert self._policy is not None  # noqa: S101 - set by _start_file
            if self._size > self._policy.max_bytes:
                raise UploadRefusedError(
                    413,
                    str(ErrorCode.TOO_LARGE),
                    f"the file is larger than the {self._policy.max_bytes} bytes allowed",
                )
            self._md5.update(chunk)
            self._file.write(chunk)
            return
        self._count(len(chunk))
        self._part.value += chunk

    def _on_part_end(self) -> None:
        name = self._part.name
        if name == "file":
            self._file_done = True
        elif name is not None and name != "\x00ignored":
            self._fields[name.lower()] = self._part.value.decode("utf-8", "replace")

    # The policy check, when the file part starts.

    def _start_file(self) -> None:
        if self._file is not None or self._file_done:
            raise UploadRefusedError(400, str(ErrorCode.UPLOAD_REJECTED), "more than one file part")
        fields = self._fields
        try:
            policy = self._blobs.signer.verify_policy(
                fields.get("policy", ""),
                fields.get("x-dicomlens-signature", ""),
                now=self._clock.now(),
            )
        except DicomlensError as exc:
            raise UploadRefusedError(403, str(exc.code), exc.message) from exc
        if fields.get("key") != policy.key:
            raise UploadRefusedError(
                403, str(ErrorCode.UPLOAD_REJECTED), "the key is not the one the policy allows"
            )
        if fields.get("content-type") != policy.content_type:
            raise UploadRefusedError(
                403,
                str(ErrorCode.UPLOAD_REJECTED),
                "the Content-Type is not the one the policy allows",
            )
        target = self._blobs.path_of(policy.key)
        if target.exists():
            raise UploadRefusedError(
                409, str(ErrorCode.CONFLICT), "this upload was already received"
            )
        self._policy = policy
        fd, name = tempfile.mkstemp(dir=self._blobs.root / ".tmp", prefix="upload-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")

    # Feeding and finishing.

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the request body (:class:`UploadRefusedError` when the
        form breaks a rule or is not multipart the parser can read; TransientError when the
        disk is full)."""
        try:
            with full_storage_is_transient():
                self._parser.write(chunk)
        except FormParserError as exc:
            raise UploadRefusedError(
                400, str(ErrorCode.UPLOAD_REJECTED), "the body is not a readable multipart form"
            ) from exc

    def finish(self) -> StoredUpload:
        """Publish the file at its key; raises :class:`UploadRefusedError` if it is incomplete,
        TransientError when the disk is full."""
        with full_storage_is_transient():
            return self._publish()

    def _publish(self) -> StoredUpload:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise UploadRefusedError(
                400, str(ErrorCode.UPLOAD_REJECTED), "the multipart form is incomplete"
            ) from exc
        if self._file is None or self._policy is None or not self._file_done:
            raise UploadRefusedError(
                400, str(ErrorCode.UPLOAD_REJECTED), "the form has no file part"
            )
        policy = self._policy
        if self._size < policy.min_bytes:
            raise UploadRefusedError(400, str(ErrorCode.UPLOAD_REJECTED), "the file is too small")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        assert self._tmp is not None  # noqa: S101 - set with _file
        target = self._blobs.path_of(policy.key)
        make_private_dirs(target.parent)
        try:
            os.link(self._tmp, target)
        except FileExistsError as exc:
            raise UploadRefusedError(
                409, str(ErrorCode.CONFLICT), "this upload was already received"
            ) from exc
        finally:
            self._tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # make the new directory entry durable
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return StoredUpload(key=policy.key, size=self._size, etag=self._md5.hexdigest())

    def discard(self) -> None:
        """Drop whatever was received (a refused or broken upload)."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
