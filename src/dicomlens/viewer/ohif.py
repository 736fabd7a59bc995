"""The OHIF viewer (``@ohif/app``, MIT) served at ``/viewer/`` on our DICOMweb.

The prebuilt ``dist/`` of one pinned npm release is fetched with ``npm pack`` (its sha512
checked against the pin, whatever the registry says), unpacked into a cache folder outside
git and prepared for ``/viewer/``: OHIF's build assumes the site root, so the few places
that name it (``window.PUBLIC_URL`` and the asset paths of ``index.html``, webpack's public
path in the bundles, ``url(/…)`` in the style sheets) are rewritten. Its ``app-config.js``
is not used: the server answers one that points at its own DICOMweb root (and the deploy
uploads one that points at the deployed API and signs in with its identity provider).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dicomlens.domain.errors import DicomlensError, ErrorCode

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
OHIF_INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="  # noqa: E501 - npm's integrity string
BASE = "/viewer/"
COMPLETE = ".complete"
_PACK_TIMEOUT_S = 600


def default_cache_dir() -> Path:
    """Where builds are kept unless configured: ``$XDG_CACHE_HOME`` (or ``~/.cache``)
    ``/dicomlens/ohif``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "dicomlens" / "ohif"


def build_dir(cache_dir: Path) -> Path:
    """The prepared ``dist/`` of the pinned version under ``cache_dir``."""
    return cache_dir / OHIF_VERSION / "dist"


def installed(cache_dir: Path) -> Path | None:
    """The prepared build if it was installed completely, else None."""
    dist = build_dir(cache_dir)
    return dist if (dist.parent / COMPLETE).is_file() and (dist / "index.html").is_file() else None


def install(cache_dir: Path, *, npm: str = "npm") -> Path:
    """Fetch, check, unpack and prepare the pinned build (nothing when it is there); its
    ``dist/``. SERVICE_UNAVAILABLE when npm is missing or fails, VALIDATION_ERROR when the
    tarball is not the pinned one."""
    found = installed(cache_dir)
    if found is not None:
        precompress(found)  # builds installed before assets were precompressed
        return found
    target = cache_dir / OHIF_VERSION
    with tempfile.TemporaryDirectory(prefix="dicomlens-ohif-") as tmp:
        tarball = _pack(Path(tmp), npm)
        check_integrity(tarball.read_bytes())
        staging = Path(tmp) / "unpacked"
        _unpack_dist(tarball, staging)
        prepare(staging / "dist")
        precompress(staging / "dist")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target))
    (target / COMPLETE).write_text(f"{OHIF_PACKAGE}@{OHIF_VERSION} {OHIF_INTEGRITY}\n")
    return target / "dist"


def check_integrity(data: bytes) -> None:
    """VALIDATION_ERROR unless ``data`` is the pinned tarball (npm's sha512 integrity)."""
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if f"sha512-{digest}" != OHIF_INTEGRITY:
        raise DicomlensError(
            ErrorCode.VALIDATION_ERROR,
            f"{OHIF_PACKAGE}@{OHIF_VERSION} does not match its pinned integrity hash",
        )


def _pack(folder: Path, npm: str) -> Path:
    """The tarball ``npm pack`` writes into the empty ``folder``."""
    try:
        done = subprocess.run(
            [npm, "pack", f"{OHIF_PACKAGE}@{OHIF_VERSION}", "--silent"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=_PACK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DicomlensError(
            ErrorCode.SERVICE_UNAVAILABLE, f"npm could not fetch {OHIF_PACKAGE}: {exc}"
        ) from exc
    if done.returncode != 0:
        raise DicomlensError(
            ErrorCode.SERVICE_UNAVAILABLE,
            f"npm pack {OHIF_PACKAGE}@{OHIF_VERSION} failed: {done.stderr.strip()[-300:]}",
        )
    written = sorted(folder.glob("*.tgz"))
    if len(written) != 1:
        raise DicomlensError(ErrorCode.SERVICE_UNAVAILABLE, "npm pack wrote no tarball")
    return written[0]


def _unpack_dist(tarball: Path, staging: Path) -> None:
    """Extract ``package/dist/**`` only, as plain files (no links, no paths outside)."""
    staging.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith("package/dist/") and (m.isfile() or m.isdir())
        ]
        for member in members:
            member.name = member.name.removeprefix("package/")
        archive.extractall(staging, members=members, filter="data")


_ROOT_ATTRIBUTE = re.compile(r'((?:href|src)=")/(?!/)')


def prepare(dist: Path, base: str = BASE) -> None:
    """Rewrite the build in ``dist`` to be served under ``base`` (``/viewer/``)."""
    index = dist / "index.html"
    html = index.read_text(encoding="utf-8")
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{base}"')
    html = _ROOT_ATTRIBUTE.sub(lambda m: m.group(1) + base, html)
    index.write_text(html, encoding="utf-8")
    for script in dist.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        if '__webpack_require__.p = "/"' in text:
            text = text.replace('__webpack_require__.p = "/"', f'__webpack_require__.p = "{base}"')
            script.write_text(text, encoding="utf-8")
    for sheet in dist.glob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        if "url(/" in text:
            sheet.write_text(re.sub(r"url\(/(?!/)", f"url({base}", text), encoding="utf-8")


COMPRESSIBLE = frozenset({".js", ".css", ".wasm", ".json", ".svg", ".map"})
GZIP_SUFFIX = ".gz"
_WORTH_IT = 0.9  # keep a gzip copy only when it is at most this fraction of the original


def precompress(dist: Path) -> int:
    """Write ``name.gz`` beside each compressible asset of ``dist`` (scripts, style sheets,
    WebAssembly, JSON, SVG; not ``index.html``, which is answered for the app's routes)
    that lacks one at least as new as itself, when gzip makes it at least 10% smaller.

    The server then answers those bytes to browsers that accept gzip, without compressing
    on each request (the OHIF build is ~40 MB of scripts and WebAssembly; gzip takes it to
    ~10 MB). Returns how many copies were written. Written atomically (a reader never sees
    half a file)."""
    written = 0
    for asset in sorted(dist.rglob("*")):
        if asset.suffix not in COMPRESSIBLE or not asset.is_file():
            continue
        packed = asset.with_name(asset.name + GZIP_SUFFIX)
        if packed.is_file() and packed.stat().st_mtime >= asset.stat().st_mtime:
            continue
        data = asset.read_bytes()
        squeezed = gzip.compress(data, compresslevel=9, mtime=0)
        if len(squeezed) > _WORTH_IT * len(data):
            continue
        partial = packed.with_name(packed.name + ".partial")
        partial.write_bytes(squeezed)
        partial.replace(packed)
        written += 1
    return written


@dataclass(frozen=True, kw_only=True)
class OidcClient:
    """The OpenID Connect client OHIF signs in with (authorization code flow with PKCE).

    ``authority``: the issuer (for Cognito ``https://cognito-idp.<region>.amazonaws.com/
    <poolId>``, whose ``/.well-known/openid-configuration`` OHIF reads); ``client_id``: the
    app client (public, without a secret); ``site_origin``: where the viewer is served
    (``https://<cloudfront>``), from which the sign-in and sign-out return addresses are made.
    """

    authority: str
    client_id: str
    site_origin: str
    scope: str = "openid"

    @property
    def redirect_uri(self) -> str:
        """Where the identity provider returns after sign-in (``<site>/viewer/callback``)."""
        return f"{self.site_origin.rstrip('/')}{BASE}callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """Where the identity provider returns after sign-out (``<site>/viewer/``)."""
        return f"{self.site_origin.rstrip('/')}{BASE}"

    def app_config(self) -> dict[str, str]:
        """The entry of OHIF's ``oidc`` list (OHIF 3.13: ``response_type: 'code'`` selects
        oidc-client-ts with PKCE; OHIF then sends ``Authorization: Bearer <access token>``
        with every DICOMweb request)."""
        return {
            "authority": self.authority,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
            "response_type": "code",
            "scope": self.scope,
        }


# Runs in every viewer page. OHIF 3.13's SR viewport registers a report's tracking identifiers
# (which DICOMSRDisplay draws) after the referenced image's first render when the image comes
# fast, and nothing renders the annotations again: the report's regions stayed undrawn until
# the user touched the view (one page load in two or three here; cornerstone held the
# annotation all along, and a forced annotation render drew it at once). So a few moments
# after annotations are added, their layer is rendered again in every viewport: only the
# SVG layer, no image render, so no event loop. tests/e2e/test_viewer_report.py checks that
# the region is drawn without a user step.
_SR_REDRAW = """
(function () {
  var ADDED = "CORNERSTONE_TOOLS_ANNOTATION_ADDED", timers = [];
  function redraw() {
    var core = window.cornerstone, tools = window.cornerstoneTools;
    if (!core || !tools) return;
    core.getRenderingEngines().forEach(function (engine) {
      var ids = engine.getViewports().map(function (viewport) { return viewport.id; });
      if (ids.length) tools.utilities.triggerAnnotationRenderForViewportIds(ids);
    });
  }
  function schedule() {
    timers.forEach(clearTimeout);
    timers = [300, 1000, 3000].map(function (ms) { return setTimeout(redraw, ms); });
  }
  (function attach() {
    var core = window.cornerstone;
    if (!core || !core.eventTarget) return setTimeout(attach, 200);
    core.eventTarget.addEventListener(ADDED, schedule);
  })();
})();
"""


# Runs in the viewer page when the server needs its API token and the browser has no viewer
# session (an HttpOnly cookie, see dicomlens.local.viewer_session): /dicomweb answers 401,
# so the page asks for the token, trades it for the cookie and opens the address it was
# opened with again (OHIF, failing behind the form meanwhile, may have moved to its "not
# found" route). The token goes only into that request's Authorization header; it is never
# stored.
_SESSION_GATE = """
(function () {
  var dicomweb = %(dicomweb)s, session = %(session)s, opened = window.location.href;
  function gate() {
    var box = document.createElement("form");
    box.setAttribute("style", "position:fixed;inset:0;z-index:2147483647;background:#000;" +
      "color:#fff;font:16px sans-serif;padding:3em;overflow:auto");
    box.innerHTML = "<h1 style='font-size:24px;margin:0 0 1em'>" +
      "This dicomlens server needs its API token</h1>" +
      "<p style='max-width:40em;margin:0 0 1em'>The viewer reads studies only after you " +
      "enter the token (DICOMLENS_API_TOKEN). It is sent once to the server, which answers " +
      "with a viewer session for this browser (8 hours); the token itself is not stored.</p>" +
      "<p><input type=password autocomplete=off aria-label='API token' style='width:30em;" +
      "font-size:16px;padding:4px;color:#000;background:#fff'> <button style='font-size:16px;" +
      "padding:4px 12px;color:#000;background:#ddd;border-radius:4px'>Open the viewer</button>" +
      "</p><p role=alert style='color:#f88;margin-top:1em'></p>";
    box.addEventListener("submit", function (event) {
      event.preventDefault();
      var token = box.querySelector("input").value.trim();
      fetch(session, {method: "POST", credentials: "same-origin",
                      headers: {Authorization: "Bearer " + token}}).then(function (answer) {
        if (answer.ok) { window.location.replace(opened); return; }
        box.querySelector("[role=alert]").textContent = "The server refused that token.";
      }, function () {
        box.querySelector("[role=alert]").textContent = "The server could not be reached.";
      });
    });
    document.body.appendChild(box);
    box.querySelector("input").focus();
  }
  fetch(dicomweb + "/studies?limit=1", {credentials: "same-origin",
                                        headers: {Accept: "application/dicom+json"}})
    .then(function (answer) {
      if (answer.status !== 401) return;
      if (document.body) gate(); else document.addEventListener("DOMContentLoaded", gate);
    }, function () {});
})();
"""


def app_config_js(
    dicomweb_root: str,
    base: str = BASE,
    *,
    oidc: OidcClient | None = None,
    session_path: str | None = None,
) -> str:
    """OHIF's ``app-config.js`` for our DICOMweb root (an absolute URL).

    ``oidc``: sign in with that OpenID Connect client and send its access token (the
    deployed viewer: API Gateway's JWT authorizer guards ``/dicomweb``). ``session_path``:
    the local server's viewer-session endpoint (a server with an API token): when
    ``/dicomweb`` answers 401 the page asks for the token there. Neither puts a secret into
    the file: it is served without authentication.
    """
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "dicomlens",
        "configuration": {
            "friendlyName": "dicomlens",
            "name": "dicomlens",
            "wadoUriRoot": dicomweb_root,
            "qidoRoot": dicomweb_root,
            "wadoRoot": dicomweb_root,
            "qidoSupportsIncludeField": True,
            "supportsFuzzyMatching": True,
            "supportsWildcard": True,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "staticWado": False,
            "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
            "omitQuotationForMultipartRequest": True,
        },
    }
    config: dict[str, object] = {
        "name": "dicomlens",
        "routerBasename": base.rstrip("/"),
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "investigationalUseDialog": {"option": "never"},
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "defaultDataSourceName": "dicomlens",
        "dataSources": [source],
    }
    if oidc is not None:
        config["oidc"] = [oidc.app_config()]
    text = f"window.config = {json.dumps(config, indent=2)};\n" + _SR_REDRAW
    if session_path is not None:
        text += _SESSION_GATE % {
            "dicomweb": json.dumps(dicomweb_root),
            "session": json.dumps(session_path),
        }
    return text


def missing_page(install_command: str) -> str:
    """The page ``/viewer/`` answers when the build is not installed."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Viewer not installed</title>"
        "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
        "<h1>The viewer is not installed</h1>"
        f"<p>dicomlens serves the OHIF viewer ({OHIF_PACKAGE}@{OHIF_VERSION}) from a local"
        " build. Install it once (it needs <code>npm</code> and the npm registry):</p>"
        f"<pre>{install_command}</pre><p>then reload this page.</p></body></html>"
    )
