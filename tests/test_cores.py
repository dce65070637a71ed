"""padless.cores: the cores this process may use are its affinity, capped by the cgroup v1 / v2
CPU quota (rounded down, at least 1)."""

import os

import pytest

from padless import cores


def _cgroup(tmp_path, own, v2=None, v1=None):
    """A fake /proc/self/cgroup and cgroup mount: ``v2`` = cpu.max text in the own cgroup,
    ``v1`` = (quota, period) in the cpu controller's own cgroup."""
    proc = tmp_path / "proc_cgroup"
    lines = []
    root = tmp_path / "cgroup"
    if v2 is not None:
        lines.append(f"0::{own}")
        (root / own.lstrip("/")).mkdir(parents=True)
        (root / own.lstrip("/") / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        lines.append(f"4:cpu,cpuacct:{own}")
        d = root / "cpu" / own.lstrip("/")
        d.mkdir(parents=True)
        (d / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (d / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    proc.write_text("\n".join(lines) + "\n")
    return root, proc


@pytest.mark.parametrize(
    ("v2", "v1", "limit"),
    [
        ("150000 100000", None, 1.5),
        ("max 100000", None, None),
        (None, (300000, 100000), 3.0),
        (None, (-1, 100000), None),
        ("garbage", None, None),
    ],
)
def test_cgroup_quota_in_cores(tmp_path, v2, v1, limit):
    root, proc = _cgroup(tmp_path, "/job/step", v2, v1)
    assert cores.cgroup_cpu_limit(root, proc) == limit


def test_no_cgroup_files_mean_no_limit(tmp_path):
    assert cores.cgroup_cpu_limit(tmp_path / "none", tmp_path / "missing") is None


def test_usable_cores_is_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    root, proc = _cgroup(tmp_path, "/c", "250000 100000")
    assert cores.usable_cores(root, proc) == 2  # 2.5 cores of quota: 2 threads
    root, proc = _cgroup(tmp_path / "b", "/c", "50000 100000")
    assert cores.usable_cores(root, proc) == 1  # half a core: still one thread
    root, proc = _cgroup(tmp_path / "c", "/c", "max 100000")
    assert cores.usable_cores(root, proc) == 8
