"""Import cost (the serverless cold start), each sample in a fresh interpreter.

Every sample runs ``python -c`` in a new process and times the import inside it
(the interpreter's own start-up is the same for both and left out): wall time,
and the CPU time the import took, which other load on a shared machine hardly
changes (with a warm page cache an import is CPU work). The contenders
alternate, so drift hits both; the best and the median are reported.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._procs import PYCACHE, child_env

BASELINE = "import fastapi, pydantic, httpx"
CONTENDERS = {
    "import fastapi, pydantic, httpx": BASELINE,
    "import ctsync.web": "import ctsync.web",
    "import ctsync.web; create_app()": "from ctsync.web import create_app; create_app()",
}
_TIMER = (
    "import time; _t, _c = time.perf_counter(), time.process_time(); {stmt}; "
    "print(time.perf_counter() - _t, time.process_time() - _c)"
)


@dataclass(frozen=True, slots=True)
class ImportResult:
    label: str
    median_ms: float  # wall
    cpu_ms: float  # median
    best_cpu_ms: float
    samples: int


def _env(*, bytecode: bool = True) -> dict[str, str]:
    """No ctsync settings; bytecode cached under PYCACHE, or never read nor written."""
    if bytecode:
        return child_env()
    return child_env(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": str(PYCACHE.with_name("pycache-never-written")),
        }
    )


def _sample(
    stmt: str, cwd: str, env: dict[str, str], python: list[str] | None = None
) -> tuple[float, float]:
    done = subprocess.run(
        [*(python or [sys.executable]), "-c", _TIMER.format(stmt=stmt)],
        check=True,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure(repeat: int = 9, *, bytecode: bool = True) -> list[ImportResult]:
    """Median import time of each contender over ``repeat`` alternating samples.

    ``bytecode``: with cached ``.pyc`` (an installed app), or compiling every
    module from source (a read-only deployment without compiled bytecode).
    """
    with tempfile.TemporaryDirectory(prefix="ctsync-bench-import-") as cwd:
        return _measure(CONTENDERS, repeat, [sys.executable], cwd, _env(bytecode=bytecode))


def measure_built(func_dir: Path, python: str, repeat: int = 9) -> list[ImportResult]:
    """The same, inside a built Vercel function: its Python, its ``_vendor``, no bytecode.

    The Build Output ships no ``.pyc`` and runs with PYTHONDONTWRITEBYTECODE on a
    read-only filesystem, so every cold start compiles what it imports; the
    baseline is compiled from the same ``_vendor`` the same way.
    """
    config = json.loads((func_dir / ".vc-config.json").read_text())
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **config["environment"]}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    module = handler_module(func_dir)
    contenders = {BASELINE: BASELINE, f"import {module} (the built function)": f"import {module}"}
    return _measure(contenders, repeat, [python], str(func_dir), env)


def handler_module(func_dir: Path) -> str:
    """The module the function's handler imports (``api.index``)."""
    handler = (func_dir / "vc__handler__python.py").read_text()
    found = re.search(r'"__VC_HANDLER_MODULE_NAME": "([\w.]+)"', handler)
    if found is None:
        raise RuntimeError(f"no handler module named in {func_dir}/vc__handler__python.py")
    return found.group(1)


def _measure(
    contenders: dict[str, str], repeat: int, python: list[str], cwd: str, env: dict[str, str]
) -> list[ImportResult]:
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in contenders}
    for stmt in contenders.values():  # warm the page and bytecode caches; not counted
        _sample(stmt, cwd, env, python)
    for _ in range(max(1, repeat)):
        for label, stmt in contenders.items():
            samples[label].append(_sample(stmt, cwd, env, python))
    return [
        ImportResult(
            label,
            statistics.median(v[0] for v in values) * 1000,
            statistics.median(v[1] for v in values) * 1000,
            min(v[1] for v in values) * 1000,
            len(values),
        )
        for label, values in samples.items()
    ]


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def heaviest_extra(
    stmt: str = CONTENDERS["import ctsync.web; create_app()"], top: int = 8
) -> list[tuple[str, float]]:
    """What the app imports beyond the baseline: own import ms summed per top-level package.

    From one ``python -X importtime`` run each (so rough): the modules the
    baseline does not import, their own (not cumulative) time, grouped.
    """
    base = _imported(BASELINE)
    grouped: dict[str, float] = {}
    for module, own_ms in _imported(stmt).items():
        if module not in base:
            package = module.split(".", 1)[0]
            grouped[package] = grouped.get(package, 0.0) + own_ms
    return sorted(grouped.items(), key=lambda kv: kv[1], reverse=True)[:top]


def _imported(code: str) -> dict[str, float]:
    """Module -> its own import ms, from ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    return {m.group(3): int(m.group(1)) / 1000 for m in _LINE.finditer(done.stderr)}
