"""The OHIF viewer on the deployed site: ``dicomlens deploy``'s last step.

The stack serves DICOMweb only with ``EnableDicomWeb=true`` and ``EnableJwtAuth=true``; it
then has the outputs ``DicomWebRoot``, ``OidcAuthority`` (JwtIssuer) and ``OidcClientId``
(JwtAudience). With them the
pinned build (:mod:`dicomlens.viewer.ohif`) goes under ``viewer/`` in the website bucket,
with an ``app-config.js`` pointing at ``DicomWebRoot`` that signs in with the user pool
(OpenID Connect, code flow with PKCE) and sends the access token. Without them nothing is
published and any ``viewer/`` objects of an earlier deploy are removed: a viewer that can
only answer 404 or 401 is not left behind.

Unchanged files (same MD5 as the object's ETag, which S3 gives for a single-part upload with
SSE-S3) are not uploaded again: the build is about 200 MB, most of it the same each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomlens.viewer.ohif import OidcClient, app_config_js
from dicomlens.viewer.site_files import APP_CONFIG, REVALIDATE, SiteFile, content_type, site_files

VIEWER_PREFIX = "viewer/"
UPLOAD_THREADS = 8
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True, kw_only=True)
class ViewerTarget:
    """Where the deployed viewer reads studies, and how it signs in."""

    dicomweb_root: str
    oidc: OidcClient


@dataclass(frozen=True, kw_only=True)
class ViewerSync:
    """What a publication did: keys uploaded, left as they were, and deleted."""

    uploaded: tuple[str, ...]
    unchanged: tuple[str, ...]
    deleted: tuple[str, ...]


def viewer_target(outputs: Mapping[str, str]) -> ViewerTarget | str:
    """The viewer's target from the stack's ``outputs``, or why there is none (a sentence)."""
    root = outputs.get("DicomWebRoot", "").strip()
    if not root:
        return (
            "the stack does not serve DICOMweb (deploy with --parameter EnableDicomWeb=true"
            " and EnableJwtAuth=true, JwtIssuer, JwtAudience)"
        )
    issuer = outputs.get("OidcAuthority", "").strip()
    audience = outputs.get("OidcClientId", "").strip()
    if not issuer or not audience:
        return "the stack has no JwtIssuer/JwtAudience for the viewer to sign in with"
    site = outputs.get("SiteUrl", "").strip() or outputs["WebsiteUrl"]
    return ViewerTarget(
        dicomweb_root=root.rstrip("/"),
        oidc=OidcClient(authority=issuer, client_id=audience, site_origin=site),
    )


def deployed_app_config(target: ViewerTarget) -> str:
    """The deployed ``app-config.js``: the same generator as the local server's."""
    return app_config_js(target.dicomweb_root, oidc=target.oidc)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _existing(s3: Any, bucket: str) -> dict[str, str]:
    """``{key: etag}`` of every object under ``viewer/``."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=VIEWER_PREFIX):
        for item in page.get("Contents", []):
            found[item["Key"]] = item.get("ETag", "").strip('"')
    return found


def _delete(s3: Any, bucket: str, keys: Iterable[str]) -> tuple[str, ...]:
    doomed = sorted(keys)
    for start in range(0, len(doomed), _DELETE_BATCH):
        batch = [{"Key": key} for key in doomed[start : start + _DELETE_BATCH]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return tuple(doomed)


def publish_viewer(s3: Any, *, bucket: str, dist: Path, app_config: str) -> ViewerSync:
    """Upload the prepared build ``dist`` and ``app_config`` under ``viewer/`` in ``bucket``
    with each file's Content-Type and Cache-Control; delete ``viewer/`` objects the build
    no longer has (an older build's bundles)."""
    existing = _existing(s3, bucket)
    files = list(site_files(dist))
    changed: list[SiteFile] = []
    unchanged: list[str] = []
    for file in files:
        key = VIEWER_PREFIX + file.key
        if existing.get(key) == _md5(file.path):
            unchanged.append(key)
        else:
            changed.append(file)

    def put(file: SiteFile) -> str:
        key = VIEWER_PREFIX + file.key
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=file.path.read_bytes(),
            ContentType=file.content_type,
            CacheControl=file.cache_control,
        )
        return key

    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        uploaded = list(pool.map(put, changed))
    config_key = VIEWER_PREFIX + APP_CONFIG
    s3.put_object(
        Bucket=bucket,
        Key=config_key,
        Body=app_config.encode(),
        ContentType=content_type(APP_CONFIG),
        CacheControl=REVALIDATE,
    )
    uploaded.append(config_key)
    keep = {*uploaded, *unchanged}
    deleted = _delete(s3, bucket, (key for key in existing if key not in keep))
    return ViewerSync(uploaded=tuple(uploaded), unchanged=tuple(unchanged), deleted=deleted)


def remove_viewer(s3: Any, *, bucket: str) -> tuple[str, ...]:
    """Delete every object under ``viewer/`` in ``bucket``; the keys deleted."""
    return _delete(s3, bucket, _existing(s3, bucket))
