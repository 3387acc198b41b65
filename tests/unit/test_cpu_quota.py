"""Worker sizing respects the cgroup CPU quota, not the host's CPU count."""

from pathlib import Path

import pytest

from service.cpu_quota import available_cpus, parse_cpu_max, quota_cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000\n", None),
        ("150000 100000\n", 1.5),
        ("50000 100000", 0.5),
        ("200000 100000", 2.0),
    ],
)
def test_cgroup_v2_cpu_max_is_parsed(text: str, cpus: float | None) -> None:
    """cpu.max "quota period" gives quota/period CPUs; "max" means no quota."""
    assert parse_cpu_max(text) == cpus


def test_cgroup_v1_quota_is_used_when_v2_is_absent(tmp_path: Path) -> None:
    """Without cpu.max, cfs_quota_us / cfs_period_us is the quota; -1 means none."""
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("300000\n")
    period.write_text("100000\n")
    assert quota_cpus(tmp_path / "absent", quota, period) == 3.0
    quota.write_text("-1\n")
    assert quota_cpus(tmp_path / "absent", quota, period) is None


def test_quota_caps_available_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fractional quota rounds up and never exceeds the affinity mask."""
    monkeypatch.setattr("service.cpu_quota.quota_cpus", lambda: 0.5)
    assert available_cpus() == 1
    monkeypatch.setattr("service.cpu_quota.quota_cpus", lambda: 10_000.0)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    assert available_cpus() == 2
