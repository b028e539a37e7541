"""The fleet harness itself: three hosts, each deploying with local ``shipmate deploy``.

v1 then v2 on every host while the hammer asks every host's nginx on fresh
connections: no request fails and every host ends on v2.  On SQLite the three hosts
(three databases) deploy at the same time; on PostgreSQL they share one database and
so one run lock per environment, and deploy one after the other.
"""

from __future__ import annotations

from tests.support.fleet import Fleet, FleetHost, Hammer


def _deploy_all(fleet: Fleet, version: str, *, together: bool) -> None:
    args = ("deploy", "--product", "api", "--env", "production", "--version", version)
    if together:
        procs = [(host, host.popen(*args)) for host in fleet]
        outputs = [
            (host, proc.communicate(timeout=180)[0], proc.returncode) for host, proc in procs
        ]
    else:
        outputs = []
        for host in fleet:
            done = host.cli(*args)
            outputs.append((host, done.stdout + done.stderr, done.returncode))
    for host, out, code in outputs:
        assert code == 0, (host.name, out)
        assert f"deployed api {version} in production" in out, (host.name, out)


def _settled(host: FleetHost, version: str) -> bool:
    """nginx answers ``version`` five times in a row (no old worker still answering)."""
    return all(host.served() == version for _ in range(5))


def test_three_hosts_deploy_v1_then_v2_with_zero_failed_requests(
    fleet: Fleet, backend: str
) -> None:
    assert [h.address for h in fleet] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert len({h.nginx_url for h in fleet}) == 3
    assert len({h.data_dir for h in fleet}) == 3
    together = backend == "sqlite"
    for host in fleet:
        assert host.write_config() == host.config_path
        assert host.served() is None  # nothing deployed yet: nginx answers 502
    _deploy_all(fleet, "1.0.0", together=together)
    for host in fleet:
        assert _settled(host, "1.0.0"), host.name
        assert host.running("blue") and not host.running("green")

    with Hammer(fleet) as hammer:
        _deploy_all(fleet, "2.0.0", together=together)
        for host in fleet:
            assert _settled(host, "2.0.0"), host.name

    assert hammer.failures() == {h.name: [] for h in fleet}, hammer.closed
    seen = hammer.versions_seen()
    answers = hammer.answers()
    for host in fleet:
        # While nginx reloads, its old workers still answer what they accepted, so the
        # two versions may alternate for a moment; it starts on v1 and ends on v2.
        assert set(seen[host.name]) == {"1.0.0", "2.0.0"}, (host.name, seen)
        assert seen[host.name][0] == "1.0.0" and seen[host.name][-1] == "2.0.0"
        assert answers[host.name]["1.0.0"] > 0 and answers[host.name]["2.0.0"] > 0
        assert host.running("green") and not host.running("blue")  # old slot retired
        # The state of each host is its own: its slots live under its own data dir.
        assert (host.data_dir / "deploy" / "api" / "green" / "pid.json").exists()

    # A deploy on one host touches no other: the others answer v2 throughout.
    with Hammer(fleet) as hammer:
        _deploy_all(Fleet([fleet["web-1"]]), "3.0.0", together=False)
        assert _settled(fleet["web-1"], "3.0.0")
    assert hammer.failures() == {h.name: [] for h in fleet}
    seen = hammer.versions_seen()
    assert seen["web-2"] == ["2.0.0"] and seen["web-3"] == ["2.0.0"]
    assert set(seen["web-1"]) == {"2.0.0", "3.0.0"} and seen["web-1"][-1] == "3.0.0"
    assert fleet["web-2"].running("green") and not fleet["web-2"].running("blue")


def test_the_hammer_counts_a_host_that_does_not_answer(fleet: Fleet) -> None:
    """Without the hammer seeing failures, the zero above would prove nothing."""
    down = fleet["web-2"]
    with Hammer([down]) as hammer:
        while not hammer.failures()["web-2"]:
            pass  # nginx answers 502 (nothing deployed), so the first answer is a failure
    assert hammer.failures()["web-2"][0].startswith("HTTP 502")
    assert hammer.versions_seen() == {"web-2": []}
