"""A cgroup's memory limit bounds what the memory checks let through: the groups found from fake
mountinfo and cgroup files (v1 and v2, nested, namespaced), their limit and room read from fake
files (page cache left out of the use), and a real cgroup where this machine lets the test make
one, in which a request beyond its limit is refused by name where the machine's free memory
would have let it through (and the out-of-memory killer ended the process)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import child_timeout
from fastlstm import _cgroups, _core
from test_cpu_quota import V1_CPU, V1_MEMORY, V2, writable_cgroup, write

GIB = 2**30


def groups(tmp_path: Path, mounts: list[str], cgroup: str) -> list[tuple[str, bool]]:
    """memory_cgroups over mountinfo lines ({root} is tmp_path) and /proc/self/cgroup text."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("".join(line.format(root=tmp_path) + "\n" for line in mounts))
    write(tmp_path / "cgroup", cgroup)
    return _cgroups.memory_cgroups(str(mountinfo), str(tmp_path / "cgroup"))


def test_v2_groups_up_to_the_mount_and_the_tightest_room(tmp_path):
    found = groups(tmp_path, [V2], "0::/pods/web\n")
    v2 = tmp_path / "v2"
    assert found == [(str(v2 / "pods/web"), True), (str(v2 / "pods"), True), (str(v2), True)]
    assert _core._group_memory(found) == (math.inf, math.inf)  # no files: no limit
    write(v2 / "pods/memory.max", f"{4 * GIB}\n")
    write(v2 / "pods/memory.current", f"{3 * GIB}\n")
    # 2 GiB of the use is page cache the kernel drops before it kills, active or not (shared
    # memory is no such cache): room 4 - (3 - 2) GiB
    write(
        v2 / "pods/memory.stat",
        f"anon {GIB}\nfile {2 * GIB}\nshmem {GIB}\nactive_file {GIB}\ninactive_file {GIB}\n",
    )
    write(v2 / "pods/web/memory.max", "max\n")
    write(v2 / "pods/web/memory.current", f"{GIB}\n")
    assert _core._group_memory(found) == (4 * GIB, 3 * GIB)
    write(v2 / "pods/web/memory.max", f"{2 * GIB}\n")  # a tighter limit below it
    assert _core._group_memory(found) == (2 * GIB, GIB)
    write(v2 / "pods/web/memory.current", f"{3 * GIB}\n")  # over its limit: no room, not less
    assert _core._group_memory(found) == (2 * GIB, 0)


def test_v1_memory_hierarchy_and_its_unlimited_value(tmp_path):
    memory = tmp_path / "memory"
    cgroup = "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    found = groups(tmp_path, [V1_MEMORY, V1_CPU], cgroup)
    docker = memory / "docker"
    assert found == [(str(docker / "abc"), False), (str(docker), False), (str(memory), False)]
    write(memory / "memory.limit_in_bytes", "9223372036854771712\n")  # v1's "no limit"
    write(memory / "memory.usage_in_bytes", f"{20 * GIB}\n")
    write(memory / "docker/abc/memory.limit_in_bytes", f"{GIB}\n")
    write(memory / "docker/abc/memory.usage_in_bytes", f"{GIB // 2}\n")
    write(
        memory / "docker/abc/memory.stat",
        f"active_file 0\ninactive_file 0\ntotal_active_file {GIB // 8}\n"
        f"total_inactive_file {GIB // 8}\ntotal_shmem {GIB // 8}\n",
    )  # the hierarchy's totals count: 1 GiB less (0.5 - 0.25) GiB of use
    assert _core._group_memory(found) == (GIB, GIB - GIB // 4)


def test_a_group_seen_from_another_namespace_is_the_mount_point(tmp_path):
    # A container's own cgroup namespace: /proc/self/cgroup names a path outside the mount's root.
    mount = "30 23 0:26 /kubepods/pod1 {root}/v2 rw - cgroup2 cgroup2 rw"
    assert groups(tmp_path, [mount], "0::/elsewhere\n") == [(str(tmp_path / "v2"), True)]
    assert groups(tmp_path, [], "0::/\n") == []  # no cgroup file system mounted
    assert _cgroups.memory_cgroups(str(tmp_path / "none"), str(tmp_path / "none")) == []


def test_a_mount_of_a_group_the_process_is_not_in_is_not_its_own(tmp_path):
    # A second mount of the hierarchy, of another group (bound elsewhere by an agent, say): its
    # limit had been taken as the process's, which every allocation then met.
    other = "34 31 0:30 /other {root}/mnt rw,relatime - cgroup cgroup rw,memory"
    found = groups(tmp_path, [V1_MEMORY, other], "5:memory:/docker/abc\n")
    memory, docker = tmp_path / "memory", tmp_path / "memory/docker"
    assert found == [(str(docker / "abc"), False), (str(docker), False), (str(memory), False)]
    # Where no mount holds the process's group, each gives its mount point, as before.
    assert groups(tmp_path, [other], "5:memory:/docker/abc\n") == [(str(tmp_path / "mnt"), False)]


def test_sizes_let_through_unasked_are_at_most_32_mib():
    assert _core._unchecked_bytes() == min(_core._memory_limit() / 16, 32 * 2**20)


def test_the_packages_groups_are_the_cores():
    # The import gave the core this process's groups: its limit is theirs or the machine's.
    limit, _room = _core._group_memory(_cgroups.memory_cgroups())  # the room moves with use
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert _core._memory_limit() == min(physical, limit)


def run_in_memory_cgroup(limit: int, code: str) -> subprocess.CompletedProcess:
    """``code`` in a child process that joins a new cgroup limited to ``limit`` bytes before it
    imports fastlstm."""
    directory, v2 = writable_cgroup("memory")
    child = Path(directory, f"fastlstm-test-{uuid.uuid4().hex[:12]}")
    child.mkdir()
    try:
        (child / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(limit))
        join = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        return subprocess.run(
            [sys.executable, "-c", join + code, str(child / "cgroup.procs")],
            capture_output=True,
            text=True,
            timeout=child_timeout(120),
            check=False,
        )
    finally:
        child.rmdir()  # empty again: the child process has ended


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or writable_cgroup("memory") is None,
    reason="needs root and a writable cgroup with the memory controller",
)
def test_a_real_cgroup_limit_bounds_the_checks():
    limit = GIB
    if _core._memory_limit() < 4 * limit:
        pytest.skip("this process's own limit is too small to make a child group under it")
    code = """
import numpy as np
import fastlstm
from fastlstm import _arrays, _core
print(_core._memory_limit())
x = np.broadcast_to(np.float32(0), (1, 300_000_000, 1))  # a copy of 1.1 GiB, y 4.5 GiB more
K, R, b = np.zeros((1, 16), np.float32), np.zeros((4, 16), np.float32), np.zeros(16, np.float32)
for call in (lambda: fastlstm.lstm(x, K, R, b), lambda: _arrays.allocate("x", (300_000_000,), np.float32)):
    try:
        call()
        print("allowed")
    except MemoryError as exc:
        print(exc)
"""
    done = run_in_memory_cgroup(limit, code)
    # Before, the machine's free memory let both through: the first call was killed filling y.
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert float(lines[0]) == limit
    assert lines[1].startswith("x: cannot allocate an array of shape (1, 300000000, 1) (1.1 GiB)")
    assert lines[2].startswith("x: cannot allocate an array of shape (300000000,) of float32")
    for line in lines[1:]:  # the group's room, not the machine's free memory
        free = re.search(r"more than the memory free now \(([0-9.]+) GiB\)", line)
        assert free is not None, line
        assert float(free.group(1)) <= 1.0, line
