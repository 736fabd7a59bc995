"""The wheel's package list: the packages under src/ plus the folders mapped into them.

The web page (web/), the SAM template (infra/) and the ImageNet classifier (models/) stay
once in the repository, outside src/ (SAM packages src/ into every Lambda function, which
must not carry the 18 MB model). pyproject.toml's package-dir maps each folder into
``dicomlens.assets`` and its package-data says which files go; setuptools takes packages
either found or named, not both, hence this file, which adds the mapped ones to those found.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
PACKAGE_DIR: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-dir"]
ASSET_PACKAGES = sorted(name for name in PACKAGE_DIR if name)


class BuildPyDataOnlyAssets(build_py):
    """``build_py`` that takes only package data from the mapped folders.

    models/ also holds the script that exported the model (it needs torch): it documents
    the model's provenance in the repository and has no place in the installed package.
    """

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        if package in ASSET_PACKAGES:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=[*find_packages("src"), *ASSET_PACKAGES],
    cmdclass={"build_py": BuildPyDataOnlyAssets},
)
