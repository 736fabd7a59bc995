"""The prepared OHIF build as objects of a static website: which files, their Content-Type
and their Cache-Control.

Types come from a fixed table, not from the platform's ``mimetypes`` (which reads
``/etc/mime.types`` and differs between machines: ``.wasm`` must be ``application/wasm`` or
browsers refuse to compile it as a stream). Files whose name carries a content hash
(``app.bundle.0f6159c501addfe9.js``, ``0ddf166f7a343eda.wasm``) never change under that
name and are cached for a year; the entry points (``index.html``, ``app-config.js``, the
service worker) are revalidated on every load, so a new deploy is seen at once; anything
else for five minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dicomlens.viewer import ohif

APP_CONFIG = "app-config.js"
# Shipped by OHIF for other hosts (Netlify's _headers/_redirects, `serve`'s serve.json) and
# its demo app-config.js (replaced by ours): not part of the site.
NOT_PUBLISHED = frozenset({"_headers", "_redirects", "serve.json", APP_CONFIG})
# Revalidated on every load: the pages and what names the current build's files.
ENTRY_POINTS = frozenset(
    {"index.html", APP_CONFIG, "sw.js", "init-service-worker.js", "manifest.json"}
)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHORT = "public, max-age=300"

_UTF8 = "; charset=utf-8"
CONTENT_TYPES = {
    ".html": "text/html" + _UTF8,
    ".js": "text/javascript" + _UTF8,
    ".mjs": "text/javascript" + _UTF8,
    ".cjs": "text/javascript" + _UTF8,
    ".css": "text/css" + _UTF8,
    ".json": "application/json" + _UTF8,
    ".jsonc": "application/json" + _UTF8,
    ".map": "application/json" + _UTF8,
    ".webapp": "application/x-web-app-manifest+json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".txt": "text/plain" + _UTF8,
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".onnx": "application/octet-stream",
}
DEFAULT_TYPE = "application/octet-stream"

_CONTENT_HASH = re.compile(r"(?:^|\.)[0-9a-f]{16,}\.[a-z0-9]+$")


@dataclass(frozen=True, kw_only=True)
class SiteFile:
    """One file of the build as a website object: ``key`` relative to the viewer's prefix."""

    key: str
    path: Path
    content_type: str
    cache_control: str


def content_type(name: str) -> str:
    """The Content-Type of a file called ``name`` (``application/octet-stream`` if unknown)."""
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), DEFAULT_TYPE)


def has_content_hash(name: str) -> bool:
    """Whether the file name carries a content hash (webpack's ``[contenthash]``): such a
    file never changes under its name, so it may be cached for good."""
    return _CONTENT_HASH.search(name) is not None


def cache_control(key: str) -> str:
    """The Cache-Control of the object ``key`` (a path relative to the build)."""
    if key in ENTRY_POINTS:
        return REVALIDATE
    if has_content_hash(PurePosixPath(key).name):
        return IMMUTABLE
    return SHORT


def site_files(dist: Path) -> Iterator[SiteFile]:
    """Every file of the prepared build ``dist`` that the site serves, in key order."""
    for path in sorted(dist.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(dist).as_posix()
        # the local server's gzip copies (ohif.precompress): CloudFront compresses by itself
        if key in NOT_PUBLISHED or key.endswith((ohif.GZIP_SUFFIX, ".partial")):
            continue
        yield SiteFile(
            key=key, path=path, content_type=content_type(key), cache_control=cache_control(key)
        )
