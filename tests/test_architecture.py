"""The architecture is a contract a machine checks: import-linter's contracts hold, and breaking one fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from core.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MODULE_MAX_LINES = 250


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, text=True, capture_output=True, timeout=300,
                          env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root)})


def test_every_import_contract_is_kept() -> None:
    result = _lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    for package in ("core", "pages"):
        shutil.copytree(PROJECT_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_provider_reaching_up_into_the_key_store_breaks_the_build(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    with (root / "core/providers/base.py").open("a") as fh:
        fh.write("\nfrom core.keys import resolve  # noqa\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "Providers are the bottom domain layer" in result.stdout and "BROKEN" in result.stdout


def test_a_cycle_inside_a_package_breaks_the_build(tmp_path: Path) -> None:
    root = _copy(tmp_path)  # the cycle the architecture issue found: the turn reading its manager
    with (root / "core/chat/turn.py").open("a") as fh:
        fh.write("\nfrom core.chat.manager import ConversationManager  # noqa\n")
    result = _lint_imports(root)
    assert result.returncode != 0 and "No import cycles anywhere in core" in result.stdout


def test_a_new_module_in_core_must_be_placed_in_a_layer(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "core/stray.py").write_text('"""Nobody said where this goes."""\n')
    result = _lint_imports(root)
    assert result.returncode != 0 and "core.stray" in result.stdout


def test_no_module_in_core_is_over_about_250_lines() -> None:
    sizes = {str(path.relative_to(PROJECT_ROOT)): len(path.read_text().splitlines())
             for path in PROJECT_ROOT.glob("core/**/*.py")}
    assert {path: n for path, n in sizes.items() if n > MODULE_MAX_LINES} == {}
