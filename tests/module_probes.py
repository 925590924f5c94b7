"""What a fresh interpreter has loaded after some imports: for tests that keep libraries out of a
process (memory, start-up time) until it needs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable


def loaded_after(imports: str, modules: Iterable[str]) -> list[str]:
    """Which of ``modules`` (dotted names) a new interpreter has loaded after ``import imports``."""
    probe = f"import sys, {imports}; print(*sorted(set({sorted(modules)!r}) & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()
