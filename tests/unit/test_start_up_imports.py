"""What a ``dicomlens`` command and ``import pydicom`` load at start: nothing they do not use.

Start-up is most of a short command (``dicomlens analyze`` of a few files) and part of every
Lambda cold start. Each check runs in a fresh interpreter: in this one, other tests have
loaded everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

from dicomlens.cli.main import COMMAND_MODULES, build_parser


def _fresh(code: str) -> dict[str, object]:
    """What ``code`` (run in a fresh interpreter, ending with a ``print(json.dumps(...))``)
    printed last."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_pydicom_s_downloader_loads_without_requests_and_tqdm_which_stay_importable() -> None:
    answer = _fresh(
        "import json, sys, dicomlens, pydicom, pydicom.data.download as d\n"
        "loaded = sorted(n for n in ('requests', 'tqdm') if n in sys.modules)\n"
        "hooks = [type(f).__name__ for f in sys.meta_path if 'Downloader' in type(f).__name__]\n"
        "import requests, tqdm\n"
        "print(json.dumps({'loaded': loaded, 'have_requests': d.HAVE_REQUESTS,\n"
        "    'hooks': hooks, 'requests': requests.__name__, 'tqdm': tqdm.__name__}))"
    )
    assert answer["loaded"] == []  # not imported by pydicom's downloader
    assert answer["have_requests"] is False  # pydicom falls back to urllib
    assert answer["hooks"] == []  # the hook removed itself after its one use
    assert (answer["requests"], answer["tqdm"]) == ("requests", "tqdm")  # still importable


def test_the_hook_changes_nothing_when_requests_was_imported_first() -> None:
    answer = _fresh(
        "import json, requests, dicomlens, pydicom.data.download as d\n"
        "print(json.dumps({'have_requests': d.HAVE_REQUESTS}))"
    )
    assert answer["have_requests"] is True


def test_every_command_is_registered_by_the_module_named_for_it() -> None:
    full = build_parser()
    commands = next(
        action.choices for action in full._actions if action.dest == "command"
    )  # the subparsers
    assert set(commands) == set(COMMAND_MODULES)
    for command in COMMAND_MODULES:
        alone = build_parser(command)
        registered = next(a.choices for a in alone._actions if a.dest == "command")
        assert command in registered, command


def test_a_command_loads_only_its_own_module_and_no_terminal_library_on_a_pipe() -> None:
    answer = _fresh(
        "import json, sys\n"
        "from dicomlens.cli.main import main\n"
        "code = main(['analyze', '/nonexistent-dicomlens-input'])\n"
        "print()\n"
        "print(json.dumps({'code': code, 'modules': sorted(m for m in sys.modules\n"
        "    if m.startswith(('dicomlens.cli.', 'dicomlens.deid', 'dicomlens.viewer', 'rich')))}))"
    )
    modules = answer["modules"]
    assert isinstance(modules, list)
    assert "dicomlens.cli.analyze" in modules
    for other in ("dicomlens.cli.deploy", "dicomlens.cli.deploy_viewer", "dicomlens.cli.serve"):
        assert other not in modules
    assert not any(m.startswith(("dicomlens.viewer", "rich")) for m in modules), modules
