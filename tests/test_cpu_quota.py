"""A cgroup's CPU limit caps the default thread count: the limit read from fake cgroup trees
(v1 and v2, nested, namespaced, unreadable), and from a real cgroup where this machine lets
the test make one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import child_timeout
from fastlstm import _cgroups


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def limit(tmp_path: Path, mounts: list[str], cgroup: str) -> float | None:
    """cgroup_cpu_limit over mountinfo lines ({root} is tmp_path) and /proc/self/cgroup text."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("".join(line.format(root=tmp_path) + "\n" for line in mounts))
    write(tmp_path / "cgroup", cgroup)
    return _cgroups.cgroup_cpu_limit(str(mountinfo), str(tmp_path / "cgroup"))


V2 = "30 23 0:26 / {root}/v2 rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"
V1_CPU = "32 31 0:29 / {root}/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct"
V1_MEMORY = "33 31 0:30 / {root}/memory rw,relatime - cgroup cgroup rw,memory"


def test_v2_the_smallest_limit_on_the_path_counts(tmp_path):
    write(tmp_path / "v2/cpu.max", "400000 100000\n")  # the mount point: its own limit counts
    write(tmp_path / "v2/pods/cpu.max", "150000 100000\n")
    write(tmp_path / "v2/pods/web/cpu.max", "max 100000\n")
    assert limit(tmp_path, [V2], "0::/pods/web\n") == 1.5
    write(tmp_path / "v2/pods/web/cpu.max", "50000 100000\n")
    assert limit(tmp_path, [V2], "0::/pods/web\n") == 0.5


def test_v2_without_a_limit(tmp_path):
    write(tmp_path / "v2/web/cpu.max", "max 100000\n")
    assert limit(tmp_path, [V2], "0::/web\n") is None
    assert limit(tmp_path, [V2], "0::/elsewhere\n") is None  # no cpu.max anywhere on the path


def test_v1_cpu_hierarchy(tmp_path):
    cpu = tmp_path / "cpu,cpuacct"
    write(cpu / "docker/cpu.cfs_quota_us", "-1\n")  # no limit here
    write(cpu / "docker/cpu.cfs_period_us", "100000\n")
    write(cpu / "docker/abc/cpu.cfs_quota_us", "250000\n")
    write(cpu / "docker/abc/cpu.cfs_period_us", "100000\n")
    cgroup = "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    assert limit(tmp_path, [V1_MEMORY, V1_CPU], cgroup) == 2.5
    # A memory hierarchy's files are not read as CPU limits.
    write(tmp_path / "memory/docker/abc/cpu.cfs_quota_us", "10000\n")
    write(tmp_path / "memory/docker/abc/cpu.cfs_period_us", "100000\n")
    assert limit(tmp_path, [V1_MEMORY, V1_CPU], cgroup) == 2.5


def test_both_hierarchies_the_smaller_counts(tmp_path):
    write(tmp_path / "v2/a/cpu.max", "300000 100000\n")
    write(tmp_path / "cpu,cpuacct/a/cpu.cfs_quota_us", "200000\n")
    write(tmp_path / "cpu,cpuacct/a/cpu.cfs_period_us", "100000\n")
    assert limit(tmp_path, [V2, V1_CPU], "4:cpu,cpuacct:/a\n0::/a\n") == 2.0


def test_a_mount_of_a_cgroup_subtree(tmp_path):
    """A container sees its own cgroup mounted as the root: the mount's root is its path on the
    host; a path outside that root (another namespace's view) reads the mount point itself."""
    mount = "40 35 0:26 /kubepods/pod1 {root}/v2 rw - cgroup2 cgroup2 rw"
    write(tmp_path / "v2/cpu.max", "200000 100000\n")
    write(tmp_path / "v2/ctr/cpu.max", "120000 100000\n")
    assert limit(tmp_path, [mount], "0::/kubepods/pod1/ctr\n") == 1.2
    assert limit(tmp_path, [mount], "0::/kubepods/pod1\n") == 2.0
    assert limit(tmp_path, [mount], "0::/../..\n") == 2.0


def test_escaped_mount_point(tmp_path):
    write(tmp_path / "cg roups/cpu.max", "100000 100000\n")
    mount = "30 23 0:26 / {root}/cg\\040roups rw - cgroup2 cgroup2 rw"
    assert limit(tmp_path, [mount], "0::/\n") == 1.0


@pytest.mark.parametrize(
    "text", ["", "max", "garbage 100000", "100000 0", "-5 100000", "100000 x", "0 100000"]
)
def test_unusable_limits_are_no_limit(tmp_path, text):
    write(tmp_path / "v2/cpu.max", text)
    assert limit(tmp_path, [V2], "0::/\n") is None


def test_unreadable_files_are_no_limit(tmp_path):
    assert _cgroups.cgroup_cpu_limit(str(tmp_path / "none"), str(tmp_path / "none")) is None
    write(tmp_path / "v1/cpu.cfs_quota_us", "50000\n")  # a period file is missing
    mount = "32 31 0:29 / {root}/v1 rw - cgroup cgroup rw,cpu"
    assert limit(tmp_path, [mount], "4:cpu:/\n") is None
    # No cgroup line for the hierarchy, or no cgroup mount at all.
    write(tmp_path / "v1/cpu.cfs_period_us", "100000\n")
    assert limit(tmp_path, [mount], "0::/\n") is None
    assert limit(tmp_path, ["20 1 8:1 / / rw - ext4 /dev/sda1 rw"], "4:cpu:/\n") is None


def test_threads_for_a_limit():
    assert _cgroups.quota_threads(None) is None
    assert [_cgroups.quota_threads(x) for x in (0.2, 1.0, 1.5, 2.0, 15.99)] == [1, 1, 1, 2, 15]


@pytest.mark.parametrize(
    ("value", "given"),
    [("3", True), ("5,2", True), (" 4", True), ("+2", True), (None, False), ("", False),
     ("0", False), ("-2", False), ("two", False), ("3x", False), ("3\n", False)],
)  # fmt: skip
def test_omp_num_threads_given(value, given):
    assert _cgroups.omp_threads_given(value) is given


def writable_cgroup(controller: str = "cpu") -> tuple[str, bool] | None:
    """This process's cgroup with ``controller``, where a child cgroup with a limit of it can
    be made in it (root, a cgroup file system mounted read-write), else None."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        return None
    for directory, _point, v2 in _cgroups.own_cgroups(mountinfo, cgroup, controller):
        if v2:  # the controller must reach the children, and a v2 cgroup with processes
            # cannot have children with controllers ("no internal processes")
            try:
                if controller not in Path(directory, "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        if os.access(directory, os.W_OK):
            return directory, v2
    return None


def threads_in_cgroup(quota: float) -> int:
    """fastlstm's default thread count in a child process that joins a new cgroup limited to
    ``quota`` CPUs before it imports fastlstm."""
    directory, v2 = writable_cgroup("cpu")
    child = Path(directory, f"fastlstm-test-{uuid.uuid4().hex[:12]}")
    child.mkdir()
    try:
        period = 100000
        if v2:
            (child / "cpu.max").write_text(f"{int(quota * period)} {period}")
        else:
            (child / "cpu.cfs_period_us").write_text(str(period))
            (child / "cpu.cfs_quota_us").write_text(str(int(quota * period)))
        code = (
            "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid()))\n"
            "import fastlstm; print(fastlstm.get_num_threads())"
        )
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        out = subprocess.run(
            [sys.executable, "-c", code, str(child / "cgroup.procs")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=child_timeout(120),
        )
        return int(out.stdout)
    finally:
        child.rmdir()  # empty again: the child process has ended


@pytest.mark.skipif(
    writable_cgroup("cpu") is None,
    reason="needs root and a writable cgroup with the cpu controller",
)
def test_a_real_cgroup_limit_caps_the_default():
    cpus = len(os.sched_getaffinity(0))
    # A child cgroup's limit may not exceed one set above it (cgroup v1 refuses the write).
    above = _cgroups.cgroup_cpu_limit()
    assert threads_in_cgroup(0.5) == 1
    if above is None or above >= 2:
        assert threads_in_cgroup(1.9) == 1
        assert threads_in_cgroup(2.0) == min(cpus, 2)
    if above is None:
        assert threads_in_cgroup(cpus + 8) == cpus
