"""Orthanc's DICOMweb plugin and ours, field by field, on the same corpus.

Run under ``unshare -n`` (``python tests/integration/dicomweb_compare.py`` re-executes
itself there): stores the DICOMweb corpus in Orthanc and in ``dicomlens serve`` (both
started inside the namespace), runs the conformance suite and the same QIDO queries and
instance /metadata requests against both, and prints one JSON report as its last line:

``{"orthanc": {"findings": {check: detail}}, "ours": {"available": bool, "findings": ...},
"differences": [{"where", "field", "orthanc", "ours", "allowed"}]}``

``allowed`` is the citation from ``dicomweb_deviations.ALLOWED_DIFFERENCES`` or null.
Our server counts as unavailable while ``/dicomweb/studies`` answers 404.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "integration")]

from dicomweb_conformance import (  # noqa: E402
    Target,
    answers,
    check_store,
    guarded,
    run_suite,
    search,
)
from dicomweb_deviations import ALLOWED_DIFFERENCES, QUERY_ALLOWED_DIFFERENCES  # noqa: E402
from dicomweb_json import normalise_dataset, value_at  # noqa: E402
from dicomweb_peer import (  # noqa: E402
    last_json_line,
    orthanc_dicomweb,
    our_dicomweb,
    run_unshared,
)
from dicomweb_queries import UID_TAG, queries  # noqa: E402

from corpus.dicomweb import DicomwebCorpus, write_dicomweb_corpus  # noqa: E402


def server_answers(target: Target, corpus: DicomwebCorpus) -> dict[str, dict[str, Any]]:
    """Where -> normalised answer: every query's results by UID, every instance's metadata.

    Call after ``run_suite`` (which stores the corpus)."""
    out: dict[str, dict[str, Any]] = {}
    for query in queries(corpus):
        results = search(target, query)
        for result in results:
            uid = str(value_at(result, UID_TAG[query.level])[0])
            out[f"qido {query.name} {uid}"] = normalise_dataset(result)
    for ds in corpus.datasets:
        item = target.client.retrieve_instance_metadata(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        )
        out[f"metadata {ds.SOPInstanceUID}"] = normalise_dataset(item)
    return out


def differences(
    orthanc: dict[str, dict[str, Any]], ours: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every field whose normalised value differs (absent counts as a value), each with
    its allow-list citation or None. A query's own allowance (QUERY_ALLOWED_DIFFERENCES)
    covers a result only one server gives, or an attribute only Orthanc returns."""
    found = []
    for where in sorted(set(orthanc) | set(ours)):
        left, right = orthanc.get(where), ours.get(where)
        kind, _, rest = where.partition(" ")
        for_query = QUERY_ALLOWED_DIFFERENCES.get(f"{kind}.{rest.split(' ')[0]}")
        if left is None or right is None:
            found.append(
                {"where": where, "field": "*", "orthanc": left is not None,
                 "ours": right is not None, "allowed": for_query}
            )  # fmt: skip
            continue
        for tag in sorted(set(left) | set(right)):
            if left.get(tag) != right.get(tag):
                allowed = ALLOWED_DIFFERENCES.get(f"field:{tag}")
                if allowed is None and tag not in right:
                    allowed = for_query
                found.append(
                    {"where": where, "field": tag, "orthanc": left.get(tag),
                     "ours": right.get(tag), "allowed": allowed}
                )  # fmt: skip
    return found


def _findings(results: dict[str, Any]) -> dict[str, str]:
    return {f.check: f.detail for found in results.values() for f in found}


def inner(corpus_dir: Path | None) -> dict[str, Any]:
    """Inside the namespace: both servers, the suite on each, the differences."""
    with tempfile.TemporaryDirectory(prefix="dicomweb-compare-") as tmp:
        corpus = write_dicomweb_corpus(corpus_dir or Path(tmp) / "corpus")
        report: dict[str, Any] = {"instances": len(corpus.datasets)}
        with orthanc_dicomweb() as orthanc_root, our_dicomweb(Path(tmp) / "data") as our_root:
            orthanc = Target.at(orthanc_root)
            stored = {"stow": guarded("stow", check_store)(orthanc, corpus)}
            orthanc_answers = server_answers(orthanc, corpus)  # before the suite can crash it
            found = stored | run_suite(orthanc, corpus, store=False)
            report["orthanc"] = {"findings": _findings(found), "answers": len(orthanc_answers)}
            available = answers(our_root)
            report["ours"] = {"available": available}
            report["differences"] = []
            if available:
                ours = Target.at(our_root)
                stored = {"stow": guarded("stow", check_store)(ours, corpus)}
                our_answers = server_answers(ours, corpus)
                found = stored | run_suite(ours, corpus, store=False)
                report["ours"]["findings"] = _findings(found)
                report["differences"] = differences(orthanc_answers, our_answers)
        return report


def compare_in_own_network(timeout: float = 1200) -> dict[str, Any]:
    """Run the comparison under ``unshare -n``; its report. Raises RuntimeError with the
    script's stderr when the run fails."""
    done = run_unshared(__file__, ["--inner"], timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"dicomweb_compare failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report: dict[str, Any] = last_json_line(done.stdout)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inner", action="store_true", help="already inside unshare -n")
    parser.add_argument("--corpus-dir", type=Path, default=None)
    args = parser.parse_args()
    report = inner(args.corpus_dir) if args.inner else compare_in_own_network()
    print(json.dumps(report, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
