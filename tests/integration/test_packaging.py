"""The built wheel runs with its runtime dependencies alone (no dev tools beside it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _uv(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        ["uv", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and the locked runtime dependencies, nothing else."""
    where = tmp_path_factory.mktemp("wheel")
    _uv("build", "--wheel", "-o", str(where / "dist"))
    [wheel] = (where / "dist").glob("ctsync-*.whl")
    requirements = where / "requirements.txt"
    requirements.write_text(
        _uv("export", "--no-dev", "--frozen", "--no-hashes", "--no-emit-project", "-q")
    )
    venv = where / "venv"
    _uv("venv", "-q", "-p", "python3", str(venv))
    python = venv / "bin" / "python"
    _uv("pip", "install", "-q", "-p", str(python), "-r", str(requirements), str(wheel))
    return venv


def _run(venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_cli_runs_from_the_wheel(bare_venv: Path, tmp_path: Path) -> None:
    out = _run(bare_venv, "ctsync", "--help", cwd=tmp_path)
    for command in ("serve", "worker", "drain", "replay", "transform", "check"):
        assert command in out


def test_the_app_and_the_vercel_entry_import_from_the_wheel(
    bare_venv: Path, tmp_path: Path
) -> None:
    script = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('pytest') is None, 'dev tools leaked into the venv'\n"
        "import ctsync, importlib, pkgutil\n"
        "for m in pkgutil.walk_packages(ctsync.__path__, 'ctsync.'):\n"
        "    if not m.name.endswith('__main__'):  # every module's imports are installed\n"
        "        importlib.import_module(m.name)\n"
        f"spec = importlib.util.spec_from_file_location('entry', {str(ROOT / 'api/index.py')!r})\n"
        "entry = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(entry)\n"
        "print(type(entry.app).__name__)\n"
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "PYTHONPATH": ""}
    out = _run(bare_venv, "python", "-c", script, cwd=tmp_path, env=env)
    assert out.strip() == "FastAPI"
