"""Where ``dicomlens deploy`` finds the source checkout it builds (``--project-dir``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomlens.cli import build_parser
from dicomlens.cli import deploy as deploy_command


def _checkout(root: Path) -> Path:
    (root / "infra").mkdir(parents=True)
    (root / "infra" / "template.yaml").write_text("Resources: {}\n")
    return root


def test_the_checkout_is_found_from_any_folder_inside_it(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "dicomlens")
    inside = root / "docs" / "deep"
    inside.mkdir(parents=True)
    assert deploy_command.find_project_dir(None, cwd=inside) == root.resolve()


def test_an_explicit_project_dir_wins_and_must_hold_the_template(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")
    assert deploy_command.find_project_dir(root, cwd=tmp_path) == root.resolve()
    with pytest.raises(FileNotFoundError, match="--project-dir"):
        deploy_command.find_project_dir(tmp_path / "elsewhere", cwd=root)


def test_deploy_outside_a_checkout_says_what_to_pass_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a folder that is not a source checkout (as after pip install of the wheel)
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["deploy", "--sam", "sam"])
    commands: list[object] = []
    # When deploy runs there
    code = deploy_command.run_deploy(args, runner=lambda command: commands.append(command) or 0)
    # Then nothing ran, and the error names the option
    assert code == 2
    assert commands == []
    assert "--project-dir" in capsys.readouterr().err


def test_the_build_reads_the_template_of_the_given_checkout(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")
    build, _ = deploy_command.sam_commands(
        sam="sam",
        stage="dev",
        region=None,
        guided=False,
        parameters=[],
        template=root / deploy_command.TEMPLATE,
    )
    assert build[build.index("--template-file") + 1] == str(root / "infra" / "template.yaml")
