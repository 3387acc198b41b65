"""How many CPUs this process may really use: cgroup quota and affinity, not the host's count.

``os.cpu_count()`` reports the host's CPUs even when a container runs with
``--cpus 1``; sizing gunicorn from it starts too many workers that then fight
over the quota.
"""

import math
import os
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` line ("quota period" or "max period")."""
    quota, _, period = text.strip().partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def quota_cpus(
    v2: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA, v1_period: Path = CGROUP_V1_PERIOD
) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2, else v1), or None when unlimited or unknown."""
    try:
        return parse_cpu_max(v2.read_text())
    except (OSError, ValueError):
        pass
    try:
        quota = int(v1_quota.read_text())
        period = int(v1_period.read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus() -> int:
    """Whole CPUs this process can use: the smaller of its affinity mask and its quota."""
    cpus = len(os.sched_getaffinity(0))
    quota = quota_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus
