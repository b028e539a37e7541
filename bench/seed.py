"""A realistic deployment history of any size, bulk-loaded into a shipmate database.

``python -m bench.seed --url URL --deployments 1000000 [--products 200
--environments 12 --years 3 --seed 42]`` fills an *empty* shipmate database (it
is migrated first) with what years of CI traffic would have recorded, without
going through the services: rows are generated in memory and written with one
``executemany`` per table on SQLite and ``COPY`` on PostgreSQL, in one
transaction, with the secondary indexes (and, on PostgreSQL, the foreign keys)
of ``deployments`` and ``events`` dropped during the load and rebuilt from the
SQLAlchemy metadata at the end (sorting once is much faster than a million
B-tree inserts).  Then ``ANALYZE`` (``VACUUM ANALYZE`` on PostgreSQL).

What is generated (the same seed gives the same rows, shifted to end at ``end``):

* products whose sizes follow a Zipf-like law (exponent 0.7): with the defaults
  the largest has about 7% of all deployments, the smallest about 0.2%;
* environments ordered for promotion (``dev`` ... ``staging`` ... ``production``,
  ``prod-eu``), their kinds inferred from the names as the services do;
* per product one release pipeline: SemVer versions (patch, minor and major
  bumps; 5% of products use calendar versions, which are opaque), 80% of products
  allocating numbered builds (``version next``: ``builds``, ``build_counters``,
  ``build.allocated`` events; every build goes to the first environment, the last
  one is promoted), 20% reporting bare versions (the version's commit pinned);
* each deployment attempt completes (92%), fails (5.5%) or is aborted (2.5%); a
  failure is retried or ends the promotion; 4% of completions in production (1%
  elsewhere) are rolled back by a ``rollback`` deployment of the previous version
  naming it in ``reverts_id``, and the reverted one is marked ``rolled_back``;
  some deployments are ``rollforward``s; a few are left ``started`` (abandoned)
  and the newest ones may still be running;
* how CI reports: 70% ``started`` then a final status (5% of those ``pending``
  first), the rest a lone final status; CI platform, run id and URL, branch,
  repository, actor, source system, commit and commit time, small metadata;
* gates: 2% of production deployments were first refused by a freeze window or a
  missing approval (a ``gate.blocked`` event, as ``record_blocked`` writes it);
* one event per status change (and per rollback mark and build), in time order;
* ``current_state`` per (product, environment): the latest completed deployment
  that was not rolled back, exactly what ``refresh_current_state`` would compute.

Ids follow time across all products (as a live system assigns them), so
a product's rows are spread over the table as they would be.  Times are stored
exactly as :class:`shipmate.store.types.UTCDateTime` stores them (naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite, ``timestamptz`` on PostgreSQL) and JSON
as ``json.dumps`` writes it, so the services cannot tell these rows from
recorded ones (``tests/test_explain.py`` checks that).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shipmate.domain.environments import infer_kind

__all__ = [
    "Dataset",
    "SeedParams",
    "SeedReport",
    "environment_names",
    "generate",
    "main",
    "product_names",
    "seed_database",
]

#: Bumped whenever the generated rows change, so cached seeded databases are rebuilt.
GENERATOR_VERSION = 2

_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_STATUS_OUTCOMES = (("completed", 0.92), ("failed", 0.055), ("aborted", 0.025))
_RETRY = 0.6
_CONTINUE = 0.9
_ROLLBACK_PRODUCTION = 0.04
_ROLLBACK_OTHER = 0.01
_ROLLFORWARD = 0.005
_BLOCKED = 0.02
_ABANDONED = 0.002
_PAIR = 0.7
_PENDING_FIRST = 0.05

_WORDS = [
    "billing",
    "checkout",
    "catalog",
    "search",
    "payments",
    "auth",
    "inventory",
    "shipping",
    "orders",
    "profile",
    "notify",
    "ledger",
    "pricing",
    "reports",
    "gateway",
    "media",
    "reviews",
    "cart",
    "loyalty",
    "fraud",
    "identity",
    "tax",
    "invoices",
    "quotes",
    "returns",
    "warehouse",
    "routing",
    "tracking",
    "chat",
    "analytics",
]
_SUFFIXES = ("api", "web", "worker", "service", "jobs", "admin", "sync", "events")
#: The default promotion pipeline; fewer environments keep the first names of
#: ``_INCLUSION``, more add development sandboxes and production regions.
_PIPELINE = (
    "dev",
    "sandbox",
    "qa",
    "test-perf",
    "integration",
    "staging",
    "staging-eu",
    "uat",
    "preprod",
    "production",
    "prod-eu",
    "prod-ap",
)
_INCLUSION = (
    "dev",
    "staging",
    "production",
    "qa",
    "prod-eu",
    "integration",
    "uat",
    "sandbox",
    "prod-ap",
    "staging-eu",
    "test-perf",
    "preprod",
)
_PEOPLE = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xena",
    "yusuf",
    "zoe",
    "amir",
    "bea",
    "chen",
    "dmitri",
    "elif",
    "femi",
    "gita",
    "hana",
    "ines",
    "jonas",
    "kofi",
    "lena",
    "mateo",
    "nora",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tariq",
    "uma",
]
_PLATFORMS = (("github", 0.6), ("gitlab", 0.25), ("jenkins", 0.1), (None, 0.05))
_SOURCES = (("shipmate-cli", 0.45), ("shipmate-api", 0.35), ("versioner", 0.2))


@dataclass(frozen=True)
class SeedParams:
    """What to generate.  ``end`` defaults to now (to the second) at generation."""

    deployments: int = 1_000_000
    products: int = 200
    environments: int = 12
    years: float = 3.0
    seed: int = 42
    end: datetime | None = None

    def validate(self) -> None:
        """Raise ValueError naming the option for a bad value."""
        for name in ("deployments", "products", "environments", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"--{name} must be a whole number, not {value!r}")
        if self.deployments < 1:
            raise ValueError("--deployments must be at least 1")
        if not 1 <= self.products <= self.deployments:
            raise ValueError(
                f"--products must be between 1 and --deployments ({self.deployments}): "
                "every product gets at least one deployment"
            )
        if not 1 <= self.environments <= 100:
            raise ValueError("--environments must be between 1 and 100")
        if not isinstance(self.years, int | float) or not 0.01 <= float(self.years) <= 50:
            raise ValueError("--years must be a number between 0.01 and 50")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("end must be an aware datetime (UTC)")

    def cache_key(self) -> str:
        """Names a seeded database of these parameters (``end`` aside)."""
        years = f"{float(self.years):g}".replace(".", "p")
        return (
            f"d{self.deployments}-p{self.products}-e{self.environments}-y{years}"
            f"-s{self.seed}-g{GENERATOR_VERSION}"
        )


# --- names ----------------------------------------------------------------------------


def product_names(count: int) -> list[str]:
    """``billing-api``, ``checkout-web``, ...; numbered once the words run out."""
    names: list[str] = []
    for n in itertools.count():
        for suffix in _SUFFIXES:
            for word in _WORDS:
                names.append(f"{word}-{suffix}" if n == 0 else f"{word}-{suffix}-{n + 1}")
                if len(names) == count:
                    return names
    raise AssertionError("unreachable")


def environment_names(count: int) -> list[tuple[str, str]]:
    """``count`` (name, kind) pairs in promotion order (kind rank, then pipeline order)."""
    chosen = list(_INCLUSION[:count])
    extra = count - len(chosen)
    for n in range(extra):
        chosen.append(f"dev-{n // 2 + 2}" if n % 2 == 0 else f"prod-r{n // 2 + 2}")
    order = {name: i for i, name in enumerate(_PIPELINE)}

    def position(name: str) -> tuple[int, int, str]:
        kind = infer_kind(name)
        return (kind.rank, order.get(name, len(order)), name)

    return [(name, infer_kind(name).value) for name in sorted(chosen, key=position)]


def _zipf_quotas(total: int, parts: int, exponent: float, rng: random.Random) -> list[int]:
    """``parts`` positive integers summing to ``total``, sized 1/rank^exponent, shuffled."""
    weights = [1 / (rank**exponent) for rank in range(1, parts + 1)]
    scale = (total - parts) / sum(weights)
    raw = [w * scale for w in weights]
    quotas = [1 + int(r) for r in raw]
    short = total - sum(quotas)
    by_remainder = sorted(range(parts), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in by_remainder[:short]:
        quotas[i] += 1
    rng.shuffle(quotas)
    return quotas


# --- generation -----------------------------------------------------------------------


@dataclass
class Dataset:
    """Every row to write, ids assigned; times are integer microseconds since 1970.

    ``deployments`` rows follow :data:`DEPLOYMENT_COLUMNS`; ``event_keys`` encode
    the events in time order (see :meth:`events`).
    """

    params: SeedParams
    end_us: int
    products: list[tuple[Any, ...]] = field(default_factory=list)
    environments: list[tuple[Any, ...]] = field(default_factory=list)
    versions: list[tuple[Any, ...]] = field(default_factory=list)
    builds: list[tuple[Any, ...]] = field(default_factory=list)
    build_counters: list[tuple[Any, ...]] = field(default_factory=list)
    deployments: list[tuple[Any, ...]] = field(default_factory=list)
    current_state: list[tuple[Any, ...]] = field(default_factory=list)
    event_keys: list[int] = field(default_factory=list)
    event_shift: int = 0
    rolled_back: int = 0
    #: Refused attempts (``gate.blocked`` events): (at, product id, environment id,
    #: product, environment, version, deployer, gate).
    blocked: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.end_us)

    def events(self) -> Iterator[tuple[Any, ...]]:
        """Event rows (see :data:`EVENT_COLUMNS`) in id order, built from the keys."""
        deps = self.deployments
        builds = self.builds
        shift = self.event_shift
        mask = (1 << (shift - 3)) - 1
        for event_id, key in enumerate(self.event_keys, start=1):
            at = key >> shift
            ref = (key >> 3) & mask
            code = key & 7
            if code == 5:
                at, pid, eid, product, env, version, deployer, gate = self.blocked[ref - 1]
                yield (
                    *(event_id, "gate.blocked", at, deployer, None, pid, eid, None, None, None),
                    _blocked_data(product, env, version, deployer, gate),
                )
                continue
            if code == 4:
                b = builds[ref - 1]
                yield (
                    *(event_id, "build.allocated", at, b[9], None, b[1], None, None, None, None),
                    f'{{"full_version": "{b[4]}", "build_id": "{b[0]}", "commit": "{b[6]}"}}',
                )
                continue
            d = deps[ref - 1]
            key_name = _key_name(d[18])
            if code == 3:  # the rollback ``d`` marks the deployment it reverts
                r = deps[d[9] - 1]
                yield (
                    *(event_id, "deployment.rolled_back", at, d[14], key_name, r[1], r[2], r[0]),
                    "completed",
                    "rolled_back",
                    f'{{"full_version": "{r[6]}", "rolled_back_by": "{d[0]}"}}',
                )
                continue
            full, kind = d[6], d[8]
            with_kind = f'{{"full_version": "{full}", "kind": "{kind}"}}'
            if code == 0:
                yield (
                    *(event_id, "deployment.pending", at, d[14], key_name, d[1], d[2], d[0]),
                    *(None, "pending", with_kind),
                )
            elif code == 1:
                pending = d[21] < d[23]  # created before it started: it was pending first
                yield (
                    *(event_id, "deployment.started", at, d[14], key_name, d[1], d[2], d[0]),
                    "pending" if pending else None,
                    "started",
                    f'{{"full_version": "{full}"}}' if pending else with_kind,
                )
            else:
                final = "completed" if d[7] == "rolled_back" else d[7]
                started = d[23] is not None
                yield (
                    *(event_id, f"deployment.{final}", at, d[14], key_name, d[1], d[2], d[0]),
                    "started" if started else None,
                    final,
                    f'{{"full_version": "{full}"}}' if started else with_kind,
                )

    def counts(self) -> dict[str, int]:
        return {
            "products": len(self.products),
            "environments": len(self.environments),
            "versions": len(self.versions),
            "builds": len(self.builds),
            "deployments": len(self.deployments),
            "events": len(self.event_keys),
            "current_state": len(self.current_state),
            "rolled_back": self.rolled_back,
            "gate_blocked": len(self.blocked),
        }


#: The gates that refuse attempts in production: (rule, kind, code, HTTP status, message).
_GATES = (
    ("production-freeze", "freeze", "NO_DEPLOY_WINDOW", 423, "deployments are frozen"),
    ("production-approval", "approval", "APPROVAL_REQUIRED", 428, "an approval is required"),
)


def _blocked_data(product: str, env: str, version: str, deployer: str, gate: int) -> str:
    """The data of a ``gate.blocked`` event, as ``record_blocked`` writes it."""
    rule, kind, code, status, message = _GATES[gate]
    return json.dumps(
        {
            "product": product,
            "environment": env,
            "version": version,
            "requested_status": "started",
            "deployer": deployer,
            "rule_name": rule,
            "rule_kind": kind,
            "code": code,
            "http_status": status,
            "message": f"{product} {version} to {env}: {message} ({rule})",
            "retry_after": None,
            "rule_details": {},
            "rules_evaluated": [rule],
        }
    )


def _key_name(source: str | None) -> str | None:
    return "ci" if source in ("shipmate-api", "versioner") else None


DEPLOYMENT_COLUMNS = (
    "id",
    "product_id",
    "environment_id",
    "version_id",
    "version",
    "build_number",
    "full_version",
    "status",
    "kind",
    "reverts_id",
    "commit_sha",
    "commit_time",
    "branch",
    "repository",
    "deployed_by",
    "ci_platform",
    "ci_run_id",
    "ci_run_url",
    "source_system",
    "extra",
    "deployed_at",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "duration_ms",
)
_DEPLOYMENT_TIMES = (11, 20, 21, 22, 23, 24)
EVENT_COLUMNS = (
    "id",
    "type",
    "at",
    "actor",
    "key_name",
    "product_id",
    "environment_id",
    "deployment_id",
    "from_status",
    "to_status",
    "data",
)
BUILD_COLUMNS = (
    "id",
    "product_id",
    "version_id",
    "build_number",
    "full_version",
    "status",
    "commit_sha",
    "branch",
    "repository",
    "built_by",
    "ci_platform",
    "ci_run_id",
    "ci_run_url",
    "source_system",
    "extra",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
)


def _pick(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    x = rng.random()
    for value, weight in table:
        x -= weight
        if x < 0:
            return value
    return table[-1][0]


class _Product:
    """One product's release pipeline over the period, in local indexes."""

    def __init__(
        self,
        index: int,
        name: str,
        quota: int,
        env_kinds: list[str],
        start_us: int,
        end_us: int,
        rng: random.Random,
    ) -> None:
        self.index = index
        self.name = name
        self.quota = quota
        self.env_kinds = env_kinds
        self.rng = rng
        style = rng.random()
        self.uses_builds = style < 0.8
        self.calendar = style >= 0.95
        self.commit_times = rng.random() < 0.75
        self.platform = _pick(rng, _PLATFORMS)
        self.source = _pick(rng, _SOURCES)
        self.team = rng.sample(_PEOPLE, rng.randint(3, 8))
        self.repository = f"acme/{name}"
        # Slot times: exponential gaps, scaled to fill the period.
        gaps = [rng.expovariate(1.0) for _ in range(quota + 1)]
        span = (end_us - start_us) * (0.97 + 0.03 * rng.random())
        scale = span / sum(gaps)
        t = end_us - span
        times = []
        for g in gaps[:-1]:
            t += g * scale
            times.append(int(t))
        times.append(end_us)
        self.times = times
        self.versions: list[tuple[str, bool, str | None, int]] = []
        self.builds: list[tuple[int, int, str, int, str, str, str, int | None]] = []
        # A local deployment: [created, env, vlocal, build, status, kind, reverts_local,
        #  started, finished, deployed, updated, actor, run_id, commit, commit_time, branch,
        #  extra, source]
        self.deps: list[list[Any]] = []
        self.blocked: list[tuple[int, int, int, str, int]] = []
        self.current: dict[int, int] = {}
        self.previous: dict[int, int] = {}
        self.slot = 0
        self.semver = [rng.choice((0, 1, 1, 2)), rng.randint(0, 9), 0]
        self.run_id = rng.randint(1_000_000, 9_000_000)

    # -- versions and builds --

    def _next_version(self, at: int) -> int:
        rng = self.rng
        if self.calendar:
            day = (_EPOCH + timedelta(microseconds=at)).strftime("%Y.%m.%d")
            same = sum(1 for v in self.versions[-5:] if v[0].startswith(day))
            text, is_semver = f"{day}-{same + 1}", False
        else:
            if self.versions:
                x = rng.random()
                major, minor, patch = self.semver
                if x < 0.03:
                    self.semver = [major + 1, 0, 0]
                elif x < 0.25:
                    self.semver = [major, minor + 1, 0]
                else:
                    self.semver = [major, minor, patch + 1]
            text, is_semver = "{}.{}.{}".format(*self.semver), True
        commit = None if self.uses_builds else f"{rng.getrandbits(160):040x}"
        self.versions.append((text, is_semver, commit, at - rng.randint(60, 1800) * _US))
        return len(self.versions) - 1

    def _branch(self) -> str:
        x = self.rng.random()
        if x < 0.85:
            return "main"
        if x < 0.95:
            major, minor, _ = self.semver
            return f"release/{major}.{minor}"
        return f"feature/{self.rng.choice(_WORDS)}-{self.rng.randint(1, 999)}"

    def _new_build(self, vlocal: int, number: int, at: int) -> tuple[Any, ...]:
        rng = self.rng
        created = at - rng.randint(120, 900) * _US
        commit_time = created - rng.randint(300, 2 * 86_400) * _US if self.commit_times else None
        build = (
            vlocal,
            number,
            f"{rng.getrandbits(160):040x}",
            created,
            self._branch(),
            rng.choice(self.team),
            str(self._next_run()),
            commit_time,
        )
        self.builds.append(build)
        return build

    def _next_run(self) -> int:
        self.run_id += self.rng.randint(1, 40)
        return self.run_id

    # -- deployments --

    def _extra(self, build: int | None) -> str:
        x = self.rng.random()
        if self.source == "versioner":
            data: dict[str, Any] = {"deployed_by_email": f"{self.rng.choice(self.team)}@acme.dev"}
            if build is not None:
                data["client_build_number"] = str(build)
            return json.dumps(data)
        if x < 0.5:
            return "{}"
        if x < 0.9:
            return '{"pipeline": "deploy", "trigger": "push"}'
        return json.dumps(
            {
                "pipeline": "deploy",
                "trigger": "manual",
                "ticket": f"OPS-{self.rng.randint(1, 9999)}",
            }
        )

    def _deploy(
        self,
        env: int,
        vlocal: int,
        build: tuple[Any, ...] | None,
        *,
        kind: str = "deploy",
        reverts: int | None = None,
        status: str | None = None,
    ) -> int:
        """One deployment in the next slot; returns its local index."""
        rng = self.rng
        k = self.slot
        self.slot += 1
        at = self.times[k]
        gap = self.times[k + 1] - at
        duration = min(int(rng.lognormvariate(math.log(240), 0.8) * _US), int(gap * 0.8))
        duration = max(duration, 1000)
        if status is None:
            if rng.random() < _ABANDONED:
                status = "started"
            elif k == self.quota - 1 and rng.random() < 0.3:
                status = "started" if rng.random() < 0.8 else "pending"
            else:
                status = _pick(rng, _STATUS_OUTCOMES)
        paired = status in ("started", "pending") or rng.random() < _PAIR
        pending_first = status == "pending" or (paired and rng.random() < _PENDING_FIRST)
        created = at
        started = finished = None
        if status == "pending":
            deployed = updated = at
        elif paired:
            started = at + (min(duration // 10, 30 * _US) if pending_first else 0)
            deployed = started
            if status == "started":
                updated = started
            else:
                finished = at + duration
                updated = finished
        else:
            finished = deployed = created = updated = at + duration
        if build is not None:
            commit, commit_time, branch, number = build[2], build[7], build[4], build[1]
        else:
            commit, commit_time, branch, number = self.versions[vlocal][2], None, "main", None
            if self.commit_times:
                commit_time = self.versions[vlocal][3] - 3600 * _US
        if kind == "deploy" and self.env_kinds[env] == "production":
            if rng.random() < _ROLLFORWARD:
                kind = "rollforward"
            if rng.random() < _BLOCKED:  # a gate refused an earlier attempt
                since = self.times[k - 1] if k else at - 3600 * _US
                refused = max(since + 1, at - rng.randint(60, 3600) * _US)
                self.blocked.append(
                    (refused, env, vlocal, rng.choice(self.team), rng.randint(0, 1))
                )
        self.deps.append(
            [
                *(created, env, vlocal, number, status, kind, reverts, started, finished),
                *(deployed, updated, rng.choice(self.team), str(self._next_run()), commit),
                *(commit_time, branch, self._extra(number), self.source),
            ]
        )
        return len(self.deps) - 1

    def _completed(self, env: int, local: int) -> None:
        previous = self.current.get(env)
        if previous is not None:
            self.previous[env] = previous
        self.current[env] = local

    def _maybe_roll_back(self, env: int, local: int) -> bool:
        """After a completion: maybe a rollback to the previous version; True if so."""
        chance = _ROLLBACK_PRODUCTION if self.env_kinds[env] == "production" else _ROLLBACK_OTHER
        previous = self.previous.get(env)
        if previous is None or self.slot >= self.quota or self.rng.random() >= chance:
            return False
        before = self.deps[previous]
        build = None
        if before[3] is not None:
            build = next(
                b for b in reversed(self.builds) if b[0] == before[2] and b[1] == before[3]
            )
        rollback = self._deploy(
            env, before[2], build, kind="rollback", reverts=local, status="completed"
        )
        reverted = self.deps[local]
        reverted[4] = "rolled_back"
        reverted[10] = self.deps[rollback][8]  # updated when the rollback completed
        self.current[env] = rollback
        return True

    def _attempts(self, env: int, vlocal: int, build: tuple[Any, ...] | None) -> bool:
        """Deploy until it completes or is given up; True when it completed (and stayed)."""
        while self.slot < self.quota:
            local = self._deploy(env, vlocal, build)
            status = self.deps[local][4]
            if status == "completed":
                self._completed(env, local)
                return not self._maybe_roll_back(env, local)
            if status in ("started", "pending") or self.rng.random() >= _RETRY:
                return False
        return False

    def run(self) -> None:
        rng = self.rng
        envs = len(self.env_kinds)
        while self.slot < self.quota:
            vlocal = self._next_version(self.times[self.slot])
            last: tuple[Any, ...] | None = None
            if self.uses_builds:
                number = 0
                for _ in range(1 + min(int(rng.expovariate(1.0)), 4)):
                    if self.slot >= self.quota:
                        break
                    number += 1
                    if rng.random() < 0.05:  # a build that never got deployed
                        self._new_build(vlocal, number, self.times[self.slot])
                        number += 1
                    last = self._new_build(vlocal, number, self.times[self.slot])
                    ok = self._attempts(0, vlocal, last)
                if last is None:
                    break
            else:
                ok = self._attempts(0, vlocal, None)
            for env in range(1, envs):
                if not ok or self.slot >= self.quota or rng.random() >= _CONTINUE:
                    break
                ok = self._attempts(env, vlocal, last)


def generate(params: SeedParams, *, log: Callable[[str], None] | None = None) -> Dataset:
    """Every row of the dataset, in memory (about 0.5 KB per deployment)."""
    params.validate()
    say = log or (lambda _m: None)
    rng = random.Random(params.seed)
    end = (params.end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end_us = (end - _EPOCH) // timedelta(microseconds=1)
    start_us = end_us - int(float(params.years) * 365.25 * _DAY_US)
    ds = Dataset(params=params, end_us=end_us)
    envs = environment_names(params.environments)
    env_kinds = [kind for _, kind in envs]
    ds.environments = [
        (i + 1, name, kind, True, start_us - _DAY_US) for i, (name, kind) in enumerate(envs)
    ]
    names = product_names(params.products)
    quotas = _zipf_quotas(params.deployments, params.products, 0.7, rng)
    products = []
    for i, (name, quota) in enumerate(zip(names, quotas, strict=True)):
        product = _Product(i, name, quota, env_kinds, start_us, end_us, random.Random(rng.random()))
        product.run()
        products.append(product)
        ds.products.append((i + 1, name, product.times[0] - 3 * _DAY_US))
    say(f"simulated {params.products} product pipelines")
    _assign_ids(ds, products)
    say("assigned ids in time order")
    return ds


def _assign_ids(ds: Dataset, products: list[_Product]) -> None:
    # Versions and builds: ids in creation order across products.
    version_ids: list[list[int]] = []
    order = sorted(
        ((v[3], p.index, j) for p in products for j, v in enumerate(p.versions)),
    )
    for p in products:
        version_ids.append([0] * len(p.versions))
    for vid, (_, pi, j) in enumerate(order, start=1):
        version_ids[pi][j] = vid
        text, is_semver, commit, created = products[pi].versions[j]
        ds.versions.append((vid, pi + 1, text, is_semver, commit, created))
    build_order = sorted((b[3], p.index, j) for p in products for j, b in enumerate(p.builds))
    last_build: dict[int, tuple[int, int]] = {}
    for bid, (_, pi, j) in enumerate(build_order, start=1):
        p = products[pi]
        vlocal, number, commit, created, branch, actor, run_id, _ct = p.builds[j]
        vid = version_ids[pi][vlocal]
        full = f"{p.versions[vlocal][0]}+build.{number}"
        ds.builds.append(
            (
                *(bid, pi + 1, vid, number, full, "pending", commit, branch, p.repository, actor),
                *(p.platform, run_id, _run_url(p, run_id), "shipmate-cli", "{}", created),
                None,
                None,
            )
        )
        previous = last_build.get(vid)
        if previous is None or previous[0] < number:
            last_build[vid] = (number, created)
    ds.build_counters = [(vid, n, at) for vid, (n, at) in sorted(last_build.items())]

    # Deployments: ids in creation order across products.
    dep_order = sorted((d[0], p.index, j) for p in products for j, d in enumerate(p.deps))
    dep_ids = [[0] * len(p.deps) for p in products]
    for gid, (_, pi, j) in enumerate(dep_order, start=1):
        dep_ids[pi][j] = gid
    n_builds = len(ds.builds)
    n_blocked = sum(len(p.blocked) for p in products)
    shift = 3 + max(len(dep_order), n_builds, n_blocked, 1).bit_length()
    keys: list[int] = []
    append = keys.append
    rolled_back = 0
    for gid, (_, pi, j) in enumerate(dep_order, start=1):
        p = products[pi]
        d = p.deps[j]
        (created, env, vlocal, number, status, kind, reverts, started, finished) = d[:9]
        (deployed, updated, actor, run_id, commit, commit_time, branch, extra, source) = d[9:]
        version = p.versions[vlocal][0]
        full = version if number is None else f"{version}+build.{number}"
        reverts_id = None if reverts is None else dep_ids[pi][reverts]
        duration = None
        if started is not None and finished is not None:
            duration = (finished - started) // 1000
        ds.deployments.append(
            (
                *(gid, pi + 1, env + 1, version_ids[pi][vlocal], version, number, full, status),
                *(kind, reverts_id, commit, commit_time, branch, p.repository, actor),
                *(p.platform, run_id, _run_url(p, run_id), source, extra),
                *(deployed, created, updated, started, finished, duration),
            )
        )
        base = gid << 3
        if status == "pending" or (started is not None and created < started):
            append((created << shift) | base)  # it was pending first
        if started is not None:
            append((started << shift) | base | 1)
        if finished is not None:
            append((finished << shift) | base | 2)
        if reverts_id is not None:
            append((finished << shift) | base | 3)
        if status == "rolled_back":
            rolled_back += 1
    for b in ds.builds:
        append((b[15] << shift) | (b[0] << 3) | 4)
    env_names = [e[1] for e in ds.environments]
    blocked = sorted((b[0], p.index, b) for p in products for b in p.blocked)
    for i, (at, pi, (_, env, vlocal, deployer, gate)) in enumerate(blocked, start=1):
        p = products[pi]
        ds.blocked.append(
            (at, pi + 1, env + 1, p.name, env_names[env], p.versions[vlocal][0], deployer, gate)
        )
        append((at << shift) | (i << 3) | 5)
    keys.sort()
    ds.event_keys = keys
    ds.event_shift = shift
    ds.rolled_back = rolled_back
    for p in products:
        for env, local in sorted(p.current.items()):
            gid = dep_ids[p.index][local]
            ds.current_state.append((p.index + 1, env + 1, gid, ds.deployments[gid - 1][24]))


def _run_url(p: _Product, run_id: str) -> str | None:
    if p.platform == "github":
        return f"https://github.com/{p.repository}/actions/runs/{run_id}"
    if p.platform == "gitlab":
        return f"https://gitlab.com/{p.repository}/-/pipelines/{run_id}"
    if p.platform == "jenkins":
        return f"https://ci.acme.dev/job/{p.name}/{run_id}/"
    return None


# --- writing --------------------------------------------------------------------------


class _TimeText:
    """Integer microseconds → the text a column stores, with a per-day cache."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.days: dict[int, str] = {}

    def __call__(self, us: int | None) -> str | None:
        if us is None:
            return None
        day, rest = divmod(us, _DAY_US)
        text = self.days.get(day)
        if text is None:
            text = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
            self.days[day] = text
        seconds, micro = divmod(rest, _US)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{text} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}{self.suffix}"


def _rows(ds: Dataset, fmt: _TimeText, sqlite: bool) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Per table: (columns, iterable of rows) with times and booleans as stored."""

    def deployments() -> Iterator[tuple[Any, ...]]:
        for d in ds.deployments:
            row = list(d)
            for i in _DEPLOYMENT_TIMES:
                row[i] = fmt(row[i])
            yield tuple(row)

    def events() -> Iterator[tuple[Any, ...]]:
        for e in ds.events():
            yield (e[0], e[1], fmt(e[2]), *e[3:])

    def boolean(value: bool) -> Any:
        return int(value) if sqlite else value

    return {
        "products": (("id", "name", "created_at"), ((p[0], p[1], fmt(p[2])) for p in ds.products)),
        "environments": (
            ("id", "name", "kind", "kind_inferred", "created_at"),
            ((e[0], e[1], e[2], boolean(e[3]), fmt(e[4])) for e in ds.environments),
        ),
        "versions": (
            ("id", "product_id", "version", "is_semver", "commit_sha", "created_at"),
            ((v[0], v[1], v[2], boolean(v[3]), v[4], fmt(v[5])) for v in ds.versions),
        ),
        "build_counters": (
            ("version_id", "last_build_number", "updated_at"),
            ((c[0], c[1], fmt(c[2])) for c in ds.build_counters),
        ),
        "builds": (
            BUILD_COLUMNS,
            ((*b[:15], fmt(b[15]), None, None, fmt(b[15])) for b in ds.builds),
        ),
        "deployments": (DEPLOYMENT_COLUMNS, deployments()),
        "current_state": (
            ("product_id", "environment_id", "deployment_id", "since"),
            ((c[0], c[1], c[2], fmt(c[3])) for c in ds.current_state),
        ),
        "events": (EVENT_COLUMNS, events()),
    }


#: Tables filled, in foreign-key order; every one must be empty before seeding.
TABLES = (
    "products",
    "environments",
    "versions",
    "build_counters",
    "builds",
    "deployments",
    "current_state",
    "events",
)
#: Tables whose secondary indexes are dropped during the load and rebuilt after.
_REINDEXED = ("deployments", "events")


def _secondary_indexes() -> list[Any]:
    from shipmate.store.schema import metadata

    return [ix for name in _REINDEXED for ix in sorted(metadata.tables[name].indexes, key=str)]


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_database` wrote and how long each phase took (seconds)."""

    params: SeedParams
    end: datetime
    counts: dict[str, int]
    phases: dict[str, float]

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def describe(self) -> str:
        c = self.counts
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items())
        return (
            f"{c['deployments']:,} deployments ({c['rolled_back']:,} rolled back), "
            f"{c['events']:,} events ({c['gate_blocked']:,} gate refusals), {c['versions']:,} versions, {c['builds']:,} builds, "
            f"{c['products']} products × {c['environments']} environments "
            f"({c['current_state']} current), ending {self.end.isoformat()}; "
            f"{self.seconds:.1f} s ({phases})"
        )


def seed_database(
    url: str,
    params: SeedParams,
    *,
    analyze: bool = True,
    log: Callable[[str], None] | None = None,
) -> SeedReport:
    """Migrate ``url``, check it holds no history, and bulk-load a generated one."""
    from shipmate.store.engine import make_engine, normalize_url
    from shipmate.store.migrate import ensure_schema

    params.validate()
    say = log or (lambda _m: None)
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    phases["migrate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = generate(params, log=say)
    phases["generate"] = time.perf_counter() - t0
    say(f"generated in {phases['generate']:.1f} s: {ds.counts()}")
    normalized = normalize_url(url)
    if normalized.startswith("sqlite"):
        _write_sqlite(normalized, ds, analyze, phases, say)
    else:
        _write_postgres(normalized, ds, analyze, phases, say)
    return SeedReport(params=params, end=ds.end, counts=ds.counts(), phases=phases)


def _ddl(statement: Any, dialect: str) -> str:
    from sqlalchemy.dialects.postgresql.base import PGDialect
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    target = PGDialect() if dialect == "postgresql" else SQLiteDialect()  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=target)
    return str(compiled)


def _refuse_non_empty(counts: dict[str, int]) -> None:
    filled = {t: n for t, n in counts.items() if n}
    if filled:
        listed = ", ".join(f"{t} ({n} rows)" for t, n in filled.items())
        raise ValueError(
            f"--url: the database already holds data in {listed}; seed an empty database"
        )


def _write_sqlite(
    url: str,
    ds: Dataset,
    analyze: bool,
    phases: dict[str, float],
    say: Callable[[str], None],
) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.schema import CreateIndex, DropIndex

    path = make_url(url).database
    if not path or path == ":memory:":
        raise ValueError("--url: seed a SQLite database file, not an in-memory one")
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        # A rollback journal (not WAL) for the one big transaction: new pages are not
        # written twice.  The database goes back to WAL below.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA foreign_keys = OFF")  # consistent by construction; tests check
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
            _refuse_non_empty(counts)
            indexes = _secondary_indexes()
            for ix in indexes:
                conn.execute(_ddl(DropIndex(ix), "sqlite"))
            fmt = _TimeText("")
            for table, (columns, rows) in _rows(ds, fmt, sqlite=True).items():
                t1 = time.perf_counter()
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
                say(f"  {table}: {time.perf_counter() - t1:.1f} s")
            phases["insert"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for ix in indexes:
                conn.execute(_ddl(CreateIndex(ix), "sqlite"))
            phases["index"] = time.perf_counter() - t0
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        t0 = time.perf_counter()
        if analyze:
            conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = WAL")
        phases["analyze"] = time.perf_counter() - t0
    finally:
        conn.close()


def _write_postgres(
    url: str,
    ds: Dataset,
    analyze: bool,
    phases: dict[str, float],
    say: Callable[[str], None],
) -> None:
    import psycopg
    from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

    from shipmate.store.schema import metadata

    t0 = time.perf_counter()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, connect_timeout=10, application_name="shipmate-seed") as conn:
        with conn.transaction():
            counts = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in TABLES
            }
            _refuse_non_empty(counts)
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            conn.execute("SET LOCAL synchronous_commit = off")
            indexes = _secondary_indexes()
            foreign_keys = [
                fk for name in _REINDEXED for fk in metadata.tables[name].foreign_key_constraints
            ]
            for fk in foreign_keys:
                conn.execute(_ddl(DropConstraint(fk), "postgresql"))
            for ix in indexes:
                conn.execute(_ddl(DropIndex(ix), "postgresql"))
            fmt = _TimeText("+00")
            with conn.cursor() as cur:
                for table, (columns, rows) in _rows(ds, fmt, sqlite=False).items():
                    t1 = time.perf_counter()
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    say(f"  {table}: {time.perf_counter() - t1:.1f} s")
            phases["insert"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for ix in indexes:
                conn.execute(_ddl(CreateIndex(ix), "postgresql"))
            for fk in foreign_keys:
                conn.execute(_ddl(AddConstraint(fk), "postgresql"))
            for table in (
                "products",
                "environments",
                "versions",
                "builds",
                "deployments",
                "events",
            ):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            phases["index"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if analyze:
            conn.autocommit = True
            for table in TABLES:
                conn.execute(f"VACUUM ANALYZE {table}")
        phases["analyze"] = time.perf_counter() - t0


# --- command line ---------------------------------------------------------------------


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seed",
        description="Bulk-load a generated deployment history into an empty shipmate database.",
    )
    parser.add_argument(
        "--url", required=True, help="database URL (sqlite:///file.db, postgresql://...)"
    )
    parser.add_argument("--deployments", type=_whole, default=1_000_000)
    parser.add_argument("--products", type=_whole, default=200)
    parser.add_argument("--environments", type=_whole, default=12)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--seed", type=_whole, default=42)
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE at the end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    params = SeedParams(
        deployments=args.deployments,
        products=args.products,
        environments=args.environments,
        years=args.years,
        seed=args.seed,
    )
    try:
        params.validate()
    except ValueError as exc:
        parser.error(str(exc))
    try:
        report = seed_database(
            args.url, params, analyze=not args.no_analyze, log=lambda m: print(m, flush=True)
        )
    except ValueError as exc:
        print(f"seed: error: {exc}", file=sys.stderr)
        return 2
    print(report.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
