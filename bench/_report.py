"""The results as markdown: machine, tables, and each target with PASS or MISS."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench._accept import AcceptResults
from bench._backfill import BackfillResults, backfill_table, backfill_targets
from bench._deliver import DeliveryResults
from bench._imports import ImportResult
from bench._procs import ROOT

SEED_FACTOR = 50.0
CEILING_SHARE = 0.5
P99_MS = 25.0
RAW_SHARE = 0.5
IMPORT_RATIO = 1.3
TARGET_CONNS = 8


@dataclass(frozen=True, slots=True)
class Target:
    what: str
    measured: str
    ok: bool | None  # None: not measured in this run


@dataclass
class Report:
    started: float
    accept: AcceptResults | None = None
    delivery: DeliveryResults | None = None
    backfill: BackfillResults | None = None
    imports: list[ImportResult] = field(default_factory=list)
    imports_source: list[ImportResult] = field(default_factory=list)
    import_extra: list[tuple[str, float]] = field(default_factory=list)
    imports_vercel: list[ImportResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one part of the run (shown at the end)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = time.monotonic() - started


def machine() -> str:
    """Date, commit, CPU, cores, RAM, Python and load: what the numbers depend on."""
    cpu = _cpuinfo_value("model name") or platform.processor() or "unknown CPU"
    ram_gib = _meminfo_kib("MemTotal") / 1024 / 1024
    commit = _git("rev-parse", "--short", "HEAD")
    changed = [
        ln.split(maxsplit=1)[-1] for ln in _git("status", "--porcelain", "--", "src").splitlines()
    ]
    dirty = f" (with uncommitted changes to {', '.join(changed)})" if changed else ""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} · commit {commit}{dirty} · "
        f"{os.cpu_count()} cores (`nproc` {_nproc()}), {cpu}, {ram_gib:.1f} GiB RAM · "
        f"Python {platform.python_version()} · load average at start {load}"
    )


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _cpuinfo_value(key: str) -> str | None:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - a short read
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _meminfo_kib(key: str) -> float:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):  # noqa: SIM115
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        return 0.0
    return 0.0


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False)
    return done.stdout.strip() if done.returncode == 0 else "?"


# -- targets ---------------------------------------------------------------------


def targets(report: Report) -> list[Target]:
    found: list[Target] = []
    if report.accept is not None:
        found += _accept_targets(report.accept)
    if report.delivery is not None:
        found += _delivery_targets(report.delivery)
    if report.imports:
        found += _import_targets(report.imports)
    if report.imports_vercel:
        found += _import_targets(report.imports_vercel, where="the built Vercel function: ")
    if report.backfill is not None:
        found += [Target(*t) for t in backfill_targets(report.backfill)]
    return found


def _accept_targets(acc: AcceptResults) -> list[Target]:
    c = TARGET_CONNS
    seed, ceiling = acc.cell("seed", c), acc.cell("ceiling", c)
    found = []
    for key in ("sqlite", "postgres"):
        cell = acc.cell(key, c)
        if cell is None:
            continue
        name = acc.labels[key]
        if seed is not None:
            ratio = cell.rps / seed.rps if seed.rps else float("inf")
            found.append(
                Target(
                    f"{name}: accept ≥ {SEED_FACTOR:g}x the seed design (c={c})",
                    f"{ratio:.0f}x ({cell.rps:.0f} vs {seed.rps:.1f} req/s)",
                    ratio >= SEED_FACTOR,
                )
            )
        if ceiling is not None:
            share = cell.rps / ceiling.rps if ceiling.rps else 0.0
            found.append(
                Target(
                    f"{name}: accept ≥ {CEILING_SHARE:g}x validation-only (c={c})",
                    f"{share:.2f}x ({cell.rps:.0f} vs {ceiling.rps:.0f} req/s)",
                    share >= CEILING_SHARE,
                )
            )
        found.append(
            Target(
                f"{name}: p99 < {P99_MS:g} ms (c={c})",
                f"{cell.p99_ms:.1f} ms",
                cell.p99_ms < P99_MS and cell.failures == 0,
            )
        )
    return found


def _delivery_targets(dlv: DeliveryResults) -> list[Target]:
    raw, lib = dlv.row("raw"), dlv.row("analytics")
    found = []
    for key in ("ctsync-sqlite", "ctsync-postgres"):
        row = dlv.row(key)
        if row is None:
            continue
        complete = row.received == dlv.messages and row.duplicates == 0
        if lib is not None:
            found.append(
                Target(
                    f"{row.label}: faster than analytics-python's in-memory batching",
                    f"{row.rate:.0f} vs {lib.rate:.0f} msg/s",
                    complete and row.rate > lib.rate,
                )
            )
        if raw is not None:
            share = row.rate / raw.rate if raw.rate else 0.0
            found.append(
                Target(
                    f"{row.label}: ≥ {RAW_SHARE:.0%} of the raw ceiling",
                    f"{share:.0%} ({row.rate:.0f} vs {raw.rate:.0f} msg/s)",
                    complete and share >= RAW_SHARE,
                )
            )
    return found


def _import_targets(imports: list[ImportResult], *, where: str = "") -> list[Target]:
    base, app = imports[0], imports[-1]
    ratio = app.best_cpu_ms / base.best_cpu_ms if base.best_cpu_ms else float("inf")
    return [
        Target(
            f"{where}`{app.label}` ≤ {IMPORT_RATIO:g}x `{base.label}` (best CPU time)",
            f"{ratio:.2f}x ({app.best_cpu_ms:.0f} vs {base.best_cpu_ms:.0f} ms; median CPU "
            f"{app.cpu_ms / base.cpu_ms:.2f}x, median wall {app.median_ms / base.median_ms:.2f}x)",
            ratio <= IMPORT_RATIO,
        )
    ]


# -- rendering -------------------------------------------------------------------


def render(report: Report, machine_line: str) -> str:
    parts = ["# ctsync benchmarks", "", machine_line, ""]
    if report.accept is not None:
        parts += _accept_table(report.accept)
    if report.delivery is not None:
        parts += _delivery_table(report.delivery)
    if report.backfill is not None:
        parts += backfill_table(report.backfill)
    if report.imports or report.imports_vercel:
        parts += _import_table(report)
    parts += ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
    for t in targets(report):
        verdict = "n/a" if t.ok is None else ("PASS" if t.ok else "**MISS**")
        parts.append(f"| {t.what} | {t.measured} | {verdict} |")
    parts.append("")
    if report.notes:
        parts += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in report.phases.items())
    parts.append(
        f"Whole run: {report.elapsed_s:.0f} s ({phases}). Command: `./dev bench` "
        f"(`uv run python -m bench {' '.join(sys.argv[1:])}`)."
    )
    return "\n".join(parts) + "\n"


def _accept_table(acc: AcceptResults) -> list[str]:
    per = acc.seconds / acc.rounds
    lines = [
        "## Accepting deliveries: `POST /api/webhook`",
        "",
        f"wrk from a second process, realistic CustomerCreated deliveries (each unique), "
        f"{acc.rounds} x {per:g} s per cell in alternating order; median of the rounds. "
        "Server CPU: what the server process used (all threads, its background delivery of "
        "those messages included) per 2xx answer; it depends less on other load than req/s.",
        "",
        "| server | conns | 2xx req/s | p50 ms | p99 ms | failures | server CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in acc.labels.items():
        for c in acc.connections:
            cell = acc.cell(key, c)
            if cell is not None:
                lines.append(
                    f"| {label} | {c} | {cell.rps:,.0f} | {cell.p50_ms:.1f} | "
                    f"{cell.p99_ms:.1f} | {cell.failures} | {cell.cpu_ms_per_request:.2f} |"
                )
    for key, by_status in acc.stored.items():
        total = sum(by_status.values())
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(by_status.items()))
        lines.append("")
        lines.append(
            f"{acc.labels[key]}: {acc.answered_2xx.get(key, 0):,} answered 2xx, "
            f"{total:,} events stored ({statuses})."
        )
    return [*lines, ""]


def _delivery_table(dlv: DeliveryResults) -> list[str]:
    rounds = max((len(runs) for runs in dlv.runs.values()), default=1)
    lines = [
        f"## Delivering to a fake Segment: {dlv.messages:,} Identify messages",
        "",
        "Each contender in a fresh process against the same fake Segment process "
        "(`tests/fakes/segment.py`); only messages that arrived count. "
        f"{rounds} rounds in rotated order; the faster run is shown (other load only ever "
        "slows a run), every run in the last column. CPU: the contender process's own "
        "(all threads), not the fake's.",
        "",
        "| contender | seconds | msg/s | arrived | dropped | duplicates | CPU µs/msg "
        "| runs msg/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in dlv.rows:
        each = " / ".join(f"{x.rate:,.0f}" for x in dlv.runs[r.key])
        lines.append(
            f"| {r.label} | {r.seconds:.2f} | {r.rate:,.0f} | {r.received:,} | {r.dropped:,} | "
            f"{r.duplicates} | {r.cpu_us_per_message:.0f} | {each} |"
        )
    if dlv.preload_s:
        loaded = ", ".join(f"{k} {v:.1f} s" for k, v in dlv.preload_s.items())
        lines += [
            "",
            f"Not timed above: mapping the deliveries once, then queuing the messages in each "
            f"store's outbox, every round ({loaded}).",
        ]
    return [*lines, ""]


def _import_table(report: Report) -> list[str]:
    lines = [
        "## Import cost (serverless cold start)",
        "",
        "Fresh interpreter per sample, the import timed inside it, contenders alternating. "
        "The best CPU time is the robust measure on a shared machine (a warm import is CPU "
        "work, and other load only adds to it); medians for comparison, wall time also "
        "counts waiting for a core.",
        "",
        _IMPORT_HEAD,
        _IMPORT_ALIGN,
    ]
    lines += _import_rows(report.imports) if report.imports else ["| (not run) |"]
    if report.imports_source:
        lines += ["", "Without bytecode (every module compiled from source at import):", ""]
        lines += [_IMPORT_HEAD, _IMPORT_ALIGN]
        lines += _import_rows(report.imports_source)
    if report.imports_vercel:
        lines += [
            "",
            "In the built Vercel function (`vercel build --standalone`: its Python 3.12 and "
            "`_vendor`, no bytecode, as a deployment runs it; the baseline from the same "
            "`_vendor`):",
            "",
            _IMPORT_HEAD,
            _IMPORT_ALIGN,
        ]
        lines += _import_rows(report.imports_vercel)
    if report.import_extra:
        extra = ", ".join(f"{name} {ms:.0f} ms" for name, ms in report.import_extra)
        lines += [
            "",
            "Imported beyond the baseline, own time per package (one `-X importtime` run, "
            f"which inflates it): {extra}.",
        ]
    return [*lines, ""]


_IMPORT_HEAD = "| import | best CPU ms | ratio | median CPU ms | ratio | median wall ms | ratio |"
_IMPORT_ALIGN = "|---|---:|---:|---:|---:|---:|---:|"


def _import_rows(results: list[ImportResult]) -> list[str]:
    b = results[0]
    return [
        f"| `{r.label}` | {r.best_cpu_ms:.0f} | {r.best_cpu_ms / b.best_cpu_ms:.2f}x | "
        f"{r.cpu_ms:.0f} | {r.cpu_ms / b.cpu_ms:.2f}x | "
        f"{r.median_ms:.0f} | {r.median_ms / b.median_ms:.2f}x |"
        for r in results
    ]
