# ruff: noqa: S101 - a benchmark script: asserts check answers
"""Time to first image in OHIF: dicomlens beside Orthanc + its DICOMweb plugin (issue 15).

Runnable on its own: ``python bench/bench_viewer.py [--slices 300] [--repeats 3] [--mbps 0]``
(``--mbps 100``: the browser reaches both servers over an emulated 100 Mbit/s link).

A generated thin-slice CT series (512x512, one position per slice, rescale, two windows)
is loaded into both servers:

- dicomlens (``dicomlens serve``) through its web page: Playwright gives every file to the
  page's file input (``set_input_files``), the page uploads them as a user's browser does
  (POST /uploads, then the presigned POST), and the run waits until every card on the
  page says COMPLETED (the analyses have run: they are not timed);
- Orthanc 1.10 with its DICOMweb plugin: ``POST /instances`` of every file.

Both serve the same OHIF build (``dicomlens viewer install``) with the same app-config
(only the DICOMweb root differs) from the same origin as their DICOMweb: dicomlens at
``/viewer/`` (from a copy of the installed build that ``ohif.install`` finishes as it finishes
any installed build), Orthanc through its ServeFolders plugin at ``/viewer/`` (a copy of the
build with an ``app-config.js`` naming ``/dicom-web``), so OHIF talks to Orthanc directly,
with no proxy in between. ServeFolders cannot answer OHIF's client-side route
(``/viewer/viewer?...`` is no file), so on Orthanc's side Playwright answers that one
document request with the build's ``index.html`` (the file ServeFolders serves at
``/viewer/index.html``); every other request goes to the server.

Everything, Orthanc, dicomlens and Chromium, runs inside one ``unshare -n`` namespace
(Orthanc listens on every interface). Each measurement uses a fresh browser context (no
cache): from ``page.goto(viewer URL)`` until the viewport canvas shows an image (its
pixels are not one flat colour, polled every 50 ms in the page). Runs alternate between the
servers (which one goes first alternates too); each time, the medians and the ratio
dicomlens/Orthanc are printed (goal <= 0.5), then what OHIF asked of each server before
its first image: requests, bytes and time to first byte by kind of request.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from playwright.sync_api import Browser, Page, Request, Route, sync_playwright
from served_app import serve

from corpus.dicomweb import ct_volume
from dicomlens.viewer import ohif
from orthanc_namespace import (
    DICOMWEB_PLUGIN,
    PLUGIN_DIR,
    missing_namespace_tools,
    orthanc_in_this_namespace,
    run_in_own_network,
)

SERVE_FOLDERS = PLUGIN_DIR / "libServeFolders.so"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
VIEWPORT = {"width": 1280, "height": 900}
FIRST_IMAGE_TIMEOUT_MS = 180_000
# The viewport canvas, drawn into a small 2-D canvas: an image once its grey values spread
# (the e2e viewer test's criterion: standard deviation > 10 of 255).
SHOWS_IMAGE = """() => {
    const canvas = document.querySelector('canvas.cornerstone-canvas');
    if (!canvas || !canvas.width || !canvas.height) return false;
    const probe = document.createElement('canvas');
    probe.width = 64; probe.height = 64;
    const context = probe.getContext('2d');
    context.drawImage(canvas, 0, 0, 64, 64);
    const data = context.getImageData(0, 0, 64, 64).data;
    let sum = 0, squares = 0;
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
        const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
        sum += grey; squares += grey * grey;
    }
    const mean = sum / n;
    return Math.sqrt(Math.max(0, squares / n - mean * mean)) > 10;
}"""
DICOMWEB_SETTINGS = {"DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}}


@dataclass(frozen=True)
class Side:
    """One server as OHIF sees it: its origin and its DICOMweb path."""

    name: str
    origin: str
    dicomweb_path: str
    index_html: bytes | None = None


def kind_of(url: str, dicomweb_path: str) -> str:
    """The kind of an OHIF request, by its path."""
    path = urlsplit(url).path
    if not path.startswith(dicomweb_path):
        return "app-config" if path.endswith("app-config.js") else "static"
    if "/frames/" in path:
        return "frames"
    if path.endswith("/metadata"):
        return "metadata"
    if path.endswith("/rendered") or path.endswith("/thumbnail"):
        return "rendered"
    if path.endswith("/series"):
        return "qido-series"
    if path.endswith("/studies"):
        return "qido-studies"
    if path.endswith("/instances"):
        return "qido-instances"
    return "dicomweb-other"


def first_image(
    browser: Browser, side: Side, study: str, index_html: bytes | None, *, mbps: float = 0
) -> dict[str, Any]:
    """Seconds from ``goto`` to a non-blank viewport in a fresh context, and what OHIF
    requested of the server until then. ``index_html``: the app page to answer for the
    server (None: the server answers it); ``mbps`` > 0: Chromium emulates a link of that
    many megabits per second each way with 2 ms latency (0: loopback as it is)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    if mbps > 0:
        link = context.new_cdp_session(page)
        link.send("Network.enable")
        bytes_per_s = mbps * 1_000_000 / 8
        link.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 2,
                "downloadThroughput": bytes_per_s,
                "uploadThroughput": bytes_per_s,
            },
        )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    finished: list[Request] = []
    started: list[Request] = []
    recording = [True]

    def on_request(request: Request) -> None:
        if recording[0]:
            started.append(request)

    def on_finished(request: Request) -> None:
        if recording[0]:
            finished.append(request)

    page.on("request", on_request)
    page.on("requestfinished", on_finished)

    def document(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=index_html)

    url = f"{side.origin}/viewer/viewer?StudyInstanceUIDs={study}"
    if index_html is not None:
        page.route(url, document, times=1)
    try:
        start_epoch_ms = time.time() * 1000
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_function(SHOWS_IMAGE, polling=50, timeout=FIRST_IMAGE_TIMEOUT_MS)
        seconds = time.perf_counter() - start
        recording[0] = False
        summary = requests_summary(finished, started, side.dicomweb_path, start_epoch_ms)
    finally:
        context.close()
    return {"seconds": seconds, "requests": summary, "errors": errors[:3]}


def requests_summary(
    finished: list[Request], started: list[Request], dicomweb_path: str, start_epoch_ms: float
) -> dict[str, dict[str, float]]:
    """By kind: requests finished before the first image, their response bytes (body and
    headers), summed and median time to first byte (ms), and when the last one ended (ms
    after ``goto``); ``unfinished`` counts the requests still in flight."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "bytes": 0, "ttfb": [], "end_ms": 0.0}
    )
    for request in finished:
        row = rows[kind_of(request.url, dicomweb_path)]
        timing = request.timing
        sizes = request.sizes()
        row["count"] += 1
        row["bytes"] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        if timing["responseStart"] >= 0 and timing["requestStart"] >= 0:
            row["ttfb"].append(timing["responseStart"] - timing["requestStart"])
        end = timing["startTime"] + max(timing["responseEnd"], 0) - start_epoch_ms
        row["end_ms"] = max(row["end_ms"], end)
    out = {}
    for kind, row in sorted(rows.items()):
        ttfb = row.pop("ttfb")
        out[kind] = {
            **row,
            "ttfb_sum_ms": sum(ttfb),
            "ttfb_median_ms": statistics.median(ttfb) if ttfb else 0.0,
        }
    out["unfinished"] = {"count": len(started) - len(finished)}
    return out


def upload_through_page(browser: Browser, origin: str, files: list[Path]) -> float:
    """Give ``files`` to the page's file input and wait until every card is COMPLETED;
    the seconds it took."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(f"{origin}/")
        page.wait_for_selector("#api-state[data-state='ready']")
        page.set_input_files("#file-input", [str(path) for path in files])
        wait_for_cards(page, len(files))
        return time.perf_counter() - start
    finally:
        context.close()


def wait_for_cards(page: Page, count: int, timeout_s: float = 3600) -> None:
    """Until ``count`` cards are COMPLETED (a FAILED one fails the benchmark)."""
    deadline = time.monotonic() + timeout_s
    while True:
        failed = page.locator("#job-list li[data-status='FAILED']").count()
        assert failed == 0, f"{failed} uploads failed"
        if page.locator("#job-list li[data-status='COMPLETED']").count() == count:
            return
        assert time.monotonic() < deadline, "the uploads did not complete"
        time.sleep(1)


def load_orthanc(base: str, files: list[Path]) -> float:
    """``POST /instances`` of every file; the seconds it took."""
    start = time.perf_counter()
    with requests.Session() as session:
        for path in files:
            stored = session.post(f"{base}/instances", data=path.read_bytes(), timeout=120)
            assert stored.status_code == 200, stored.text[:300]
    return time.perf_counter() - start


@contextmanager
def orthanc_with_viewer(build: Path, work: Path) -> Iterator[str]:
    """Orthanc with DICOMweb at ``/dicom-web`` and a copy of the OHIF build at ``/viewer``
    (ServeFolders) whose app-config names that DICOMweb root; yields Orthanc's origin."""
    served = work / "ohif-for-orthanc"
    shutil.copytree(build, served)
    origin = "http://127.0.0.1:8042"
    (served / "app-config.js").write_text(ohif.app_config_js(f"{origin}/dicom-web"))
    settings = {
        **DICOMWEB_SETTINGS,
        "ServeFolders": {
            "/viewer": str(served),
            "Extensions": {".wasm": "application/wasm", ".map": "application/json"},
        },
    }
    with orthanc_in_this_namespace(plugins=(DICOMWEB_PLUGIN, SERVE_FOLDERS), settings=settings):
        yield origin


def our_viewer(build: Path, work: Path) -> Path:
    """A viewer cache for dicomlens holding a copy of the installed build, finished by
    ``ohif.install`` as ``dicomlens viewer install`` finishes an installed build."""
    cache = work / "viewer-cache"
    target = ohif.build_dir(cache)
    shutil.copytree(build, target)
    shutil.copy(build.parent / ohif.COMPLETE, target.parent / ohif.COMPLETE)
    ohif.install(cache)
    return cache


def inner(files_dir: Path, repeats: int, mbps: float) -> dict[str, Any]:
    """Inside ``unshare -n``: load both servers, then time the viewer on each in turn."""
    build = ohif.installed(ohif.default_cache_dir())
    assert build is not None, "the OHIF build is not installed (make viewer)"
    index_html = (build / "index.html").read_bytes()
    files = sorted(files_dir.glob("*.dcm"))
    study = ct_volume(1)[0].StudyInstanceUID
    figures: dict[str, Any] = {"slices": len(files), "mbps": mbps, "runs": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp,
        orthanc_with_viewer(build, Path(tmp)) as orthanc,
        serve(Path(tmp), {"DICOMLENS_VIEWER_DIR": str(our_viewer(build, Path(tmp)))}) as ours,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        figures["load_orthanc_s"] = load_orthanc(orthanc, files)
        figures["load_dicomlens_s"] = upload_through_page(browser, ours.url, files)
        sides = [
            Side("dicomlens", ours.url, "/dicomweb"),
            Side("orthanc", orthanc, "/dicom-web", index_html),
        ]
        for repeat in range(repeats):
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                run = first_image(browser, side, study, side.index_html, mbps=mbps)
                figures["runs"].append({"side": side.name, **run})
                print(f"{side.name:10} {run['seconds']:6.2f} s", file=sys.stderr, flush=True)
        browser.close()
    return figures


def phases(run: dict[str, Any]) -> str:
    """A run's steps: OHIF loaded until its first QIDO answer; then the series metadata;
    then the first frame; then drawing it."""
    requests_by_kind = run["requests"]

    def end_s(kind: str) -> float:
        return float(requests_by_kind.get(kind, {}).get("end_ms", 0.0)) / 1000

    boot = end_s("qido-studies")
    metadata = max(end_s("metadata"), boot)
    frame = max(end_s("frames"), metadata)
    return (
        f"{boot:10.2f} {metadata - boot:+9.2f} {frame - metadata:+9.2f} "
        f"{run['seconds'] - frame:+7.2f}"
    )


def report(figures: dict[str, Any]) -> str:
    """Each time, the medians and the ratio; then the requests of each side's median run."""
    link = f"a {figures['mbps']:g} Mbit/s link (emulated)" if figures["mbps"] else "loopback"
    lines = [
        f"{figures['slices']} slices, browser over {link}; loaded into Orthanc (POST "
        f"/instances) in {figures['load_orthanc_s']:.1f} s, into dicomlens through the page "
        f"(uploads and analyses) in {figures['load_dicomlens_s']:.1f} s"
    ]
    medians = {}
    for name in ("dicomlens", "orthanc"):
        runs = [run for run in figures["runs"] if run["side"] == name]
        times = [run["seconds"] for run in runs]
        medians[name] = statistics.median(times)
        lines.append(
            f"{name:10} time to first image, s: "
            + " ".join(f"{t:.2f}" for t in times)
            + f"   median {medians[name]:.2f}"
        )
    ratio = medians["dicomlens"] / medians["orthanc"]
    verdict = "ok" if ratio <= 0.5 else "above the 0.5 goal"
    lines.append(f"ratio dicomlens/Orthanc (medians): {ratio:.2f} ({verdict})")
    lines.append("\nwhere each run's time went, s (each step ends when its last answer arrived):")
    lines.append(f"  {'':10} {'app loaded':>10} {'metadata':>9} {'1st frame':>9} {'drawn':>7}")
    lines.extend(f"  {run['side']:10} {phases(run)}" for run in figures["runs"])
    for name in ("dicomlens", "orthanc"):
        runs = sorted(
            (run for run in figures["runs"] if run["side"] == name), key=lambda r: r["seconds"]
        )
        median_run = runs[len(runs) // 2]
        lines.append(f"\n{name}: requests until the first image (its median run)")
        lines.append(
            f"  {'kind':16} {'count':>5} {'KiB':>9} {'TTFB sum ms':>12} "
            f"{'TTFB med ms':>12} {'last end ms':>12}"
        )
        for kind, row in median_run["requests"].items():
            if kind == "unfinished":
                lines.append(f"  {'in flight':16} {row['count']:5}")
                continue
            lines.append(
                f"  {kind:16} {row['count']:5} {row['bytes'] / 1024:9.0f} "
                f"{row['ttfb_sum_ms']:12.0f} {row['ttfb_median_ms']:12.1f} {row['end_ms']:12.0f}"
            )
        if median_run["errors"]:
            lines.append(f"  page errors: {median_run['errors']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mbps", type=float, default=0, help="emulate a link of this speed (0: loopback)"
    )
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args.inner, args.repeats, args.mbps)))
        return 0
    if ohif.installed(ohif.default_cache_dir()) is None:
        print("the OHIF build is not installed (make viewer): skipped")
        return 0
    if missing_namespace_tools(plugins=(DICOMWEB_PLUGIN, SERVE_FOLDERS)):
        print("Orthanc, its DICOMweb or ServeFolders plugin, or unshare is missing: skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        files_dir = Path(tmp) / "series"
        files_dir.mkdir()
        for index, ds in enumerate(ct_volume(args.slices)):
            ds.save_as(files_dir / f"ct_{index:04d}.dcm", enforce_file_format=True)
        figures = run_in_own_network(
            __file__,
            ["--inner", str(files_dir), "--repeats", str(args.repeats), "--mbps", str(args.mbps)],
        )
    if figures is None:
        print("the run failed")
        return 1
    print(report(figures))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
