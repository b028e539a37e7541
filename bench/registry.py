"""The benchmark registry: what a benchmark is, what it returns, and how it is found.

A benchmark is a function registered with :func:`benchmark` in a module named
``bench/bench_*.py``; :func:`discover` imports every such module, so a new
benchmark (HTTP API, rollback timing, query latencies at 1M rows) is one new
module and nothing else.

The function receives a :class:`BenchRun` (quick mode, the backend it runs on,
fresh databases, a logger, a place to note its parameters) and returns a list of
:class:`Result` rows.  A result is one figure *and* the baseline it was measured
against in the same run; the ratio and whether each target was met are derived
from the two, never typed in.  Correctness checks made along the way (build
numbers gapless, ...) ride on the result as :class:`Check` rows: a failed check is
reported and makes the run exit non-zero, a missed target is only reported.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bench.databases import Databases

__all__ = [
    "BACKENDS",
    "BenchRun",
    "Benchmark",
    "Check",
    "Result",
    "Target",
    "benchmark",
    "discover",
    "registered",
]

#: The database backends a benchmark may be run on, in report order.
BACKENDS: tuple[str, ...] = ("sqlite", "postgres")

TargetKind = Literal["ratio_min", "ratio_max", "value_min", "value_max"]


@dataclass(frozen=True)
class Target:
    """One bound on a result: on its ratio to the baseline, or on its value."""

    kind: TargetKind
    bound: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        """True/False, or None when the figure it bounds was not measured."""
        subject = value if self.kind.startswith("value") else ratio
        if subject is None:
            return None
        return subject >= self.bound if self.kind.endswith("_min") else subject <= self.bound

    def describe(self, unit: str) -> str:
        sign = "≥" if self.kind.endswith("_min") else "≤"
        if self.kind.startswith("ratio"):
            return f"ratio {sign} {self.bound:g}"
        return f"{sign} {self.bound:g} {unit}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "bound": self.bound}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Target:
        return Target(kind=data["kind"], bound=float(data["bound"]))


@dataclass(frozen=True)
class Check:
    """A correctness fact verified during the benchmark (not a timing)."""

    label: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "passed": self.passed}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Check:
        return Check(label=str(data["label"]), passed=bool(data["passed"]))


@dataclass(frozen=True)
class Result:
    """One figure beside its same-run baseline.

    ``higher_is_better`` only affects wording; targets say what is required.
    ``samples`` holds the per-round values the headline ``value`` summarizes, and
    ``baseline_samples`` the baseline's, so the JSON keeps the spread.
    """

    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    backend: str = ""
    targets: tuple[Target, ...] = ()
    higher_is_better: bool = True
    samples: tuple[float, ...] = ()
    baseline_samples: tuple[float, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """All targets met (True), any missed (False), or no target (None)."""
        if not self.targets:
            return None
        verdicts = [t.met(self.value, self.ratio) for t in self.targets]
        if any(v is None for v in verdicts):
            return None
        return all(verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "backend": self.backend,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "targets": [t.to_json() for t in self.targets],
            "met": self.met,
            "higher_is_better": self.higher_is_better,
            "samples": list(self.samples),
            "baseline_samples": list(self.baseline_samples),
            "extra": dict(self.extra),
            "checks": [c.to_json() for c in self.checks],
            "note": self.note,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Result:
        baseline = data.get("baseline")
        return Result(
            figure=str(data["figure"]),
            value=float(data["value"]),
            unit=str(data["unit"]),
            baseline=None if baseline is None else float(baseline),
            baseline_name=str(data.get("baseline_name", "")),
            backend=str(data.get("backend", "")),
            targets=tuple(Target.from_json(t) for t in data.get("targets", [])),
            higher_is_better=bool(data.get("higher_is_better", True)),
            samples=tuple(float(s) for s in data.get("samples", [])),
            baseline_samples=tuple(float(s) for s in data.get("baseline_samples", [])),
            extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
            checks=tuple(Check.from_json(c) for c in data.get("checks", [])),
            note=str(data.get("note", "")),
        )


@dataclass
class BenchRun:
    """What a benchmark function gets: its settings and its tools for one call."""

    quick: bool
    backend: str
    databases: Databases
    log: Callable[[str], None]
    params: dict[str, str] = field(default_factory=dict)

    def param(self, name: str, value: object) -> None:
        """Note a parameter of the run (counts, rounds) for the report."""
        self.params[name] = str(value)

    def pick(self, full: int, quick: int) -> int:
        """``full`` normally, ``quick`` under ``--quick``."""
        return quick if self.quick else full


BenchFunction = Callable[[BenchRun], list[Result]]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark.

    ``per_backend`` benchmarks are called once per selected backend with
    ``run.backend`` set; the others once, with ``run.backend == ""``.
    ``method`` is the paragraph the report prints under the table.
    """

    name: str
    title: str
    method: str
    function: BenchFunction
    per_backend: bool
    order: int


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str, *, title: str, method: str, per_backend: bool = False, order: int = 100
) -> Callable[[BenchFunction], BenchFunction]:
    """Register the decorated function as the benchmark ``name``."""

    def register(fn: BenchFunction) -> BenchFunction:
        if name in _REGISTRY and _REGISTRY[name].function is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(
            name=name,
            title=title,
            method=" ".join(method.split()),
            function=fn,
            per_backend=per_backend,
            order=order,
        )
        return fn

    return register


def discover() -> None:
    """Import every ``bench/bench_*.py`` module so its benchmarks register."""
    import bench

    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("bench_"):
            importlib.import_module(f"bench.{info.name}")


def registered() -> list[Benchmark]:
    """Every registered benchmark, in report order."""
    return sorted(_REGISTRY.values(), key=lambda b: (b.order, b.name))
