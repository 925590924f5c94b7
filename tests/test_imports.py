"""Every module imports alone, and the layer contracts in pyproject.toml hold."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import gemgate
from tests.module_probes import loaded_after

ROOT = Path(__file__).resolve().parents[1]
# `__main__` runs the command line when imported, by design; everything else must import quietly.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(gemgate.__path__, prefix="gemgate.")
    if not info.name.endswith(".__main__")
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_layer_contracts_hold() -> None:
    executable = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(executable)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_imports_inside_functions() -> None:
    offenders = []
    for path in (ROOT / "src" / "gemgate").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            stripped = line.lstrip()
            indented = len(line) - len(stripped) > 0
            if indented and stripped.startswith(("import ", "from ")) and not _is_optional_import(path, number):  # fmt: skip
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def _is_optional_import(path: Path, number: int) -> bool:
    """Imports inside `try:` blocks at module level are optional dependencies; those under
    `if TYPE_CHECKING:` exist for the type checker only; an import marked `# deferred:` (with
    its reason) loads something heavy only for the process that uses it."""
    lines = path.read_text().splitlines()
    if "# deferred: " in lines[number - 1]:
        return True
    previous = lines[number - 2].strip() if number >= 2 else ""
    return previous.startswith(("try:", "if TYPE_CHECKING:")) or previous.startswith("from ") or previous.startswith("import ")  # fmt: skip


def test_importing_the_package_loads_no_http_stack() -> None:
    assert loaded_after("gemgate", {"aiohttp", "httpx", "google.auth"}) == []


def test_the_gateway_loads_no_library_its_config_does_not_use() -> None:
    # A gateway with no Redis, no emulator and no service account pays for none of them (~18 MB).
    libraries = {"redis", "uvicorn", "google.auth", "cryptography"}
    assert loaded_after("gemgate.cli, gemgate.proxy.app", libraries) == []


@pytest.mark.parametrize("name", ["completion", "acompletion", "embedding", "google_genai"])
def test_public_names_load_on_first_use(name: str) -> None:
    assert getattr(gemgate, name) is getattr(gemgate, name)
    assert name in dir(gemgate)


def test_an_unknown_public_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'completions'"):
        gemgate.completions  # noqa: B018
