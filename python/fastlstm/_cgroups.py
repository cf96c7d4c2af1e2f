"""What Linux cgroups grant this process: a container's CPU limit (Kubernetes'
``resources.limits.cpu``, ``docker run --cpus``) and the groups whose memory limits bound it.

A CPU limit leaves the CPUs the process may run on unchanged, so a default of one thread per
CPU on a 64-core node with a 2-CPU limit starts 64 threads; busy together they can spend the
container's quota in a fraction of a period, and then every thread of the container waits for
the next period (100 ms by default). Threads no more than the quota's whole CPUs cannot overrun
it by themselves, so the default thread count is capped there, as Rust's
``available_parallelism`` caps it. Measured, a 1-CPU limit on 2 CPUs, B=1, T=100, I=64, H=256
requests every 0.9 ms (73% of the limit on one thread), 10 x 0.5 s: on 2 threads 16 periods
throttled and a slowest call of 51 ms (median 311 us); on 1 thread 1 period and 1.3 ms (median
653 us).

A memory limit (``docker run --memory``, a pod's ``resources.limits.memory``) ends the process
when the group's use reaches it, however much the machine has free: the core's memory checks
(cpp/bindings/memory.hpp) read the limit and use of every group found here.

Linux only; elsewhere, or where the files cannot be read, there is no limit.
"""

from __future__ import annotations

import math
import os
import re

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """A path from /proc/self/mountinfo, where space, tab, newline and backslash are octal
    escapes (``\\040``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: str):
    """(root, mount point, controllers) of each cgroup file system in /proc/self/mountinfo's
    text; controllers is None for cgroup v2 (one hierarchy for all), else the v1 hierarchy's."""
    for line in mountinfo.splitlines():
        left, dash, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not dash or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            yield root, point, None
        elif tail[0] == "cgroup":
            yield root, point, set(tail[2].split(","))


def _paths(cgroup: str) -> dict:
    """The process's cgroup per hierarchy, from /proc/self/cgroup's text: key None for v2 (the
    ``0::`` line), else the v1 hierarchy's controllers as a frozenset."""
    paths = {}
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        paths[frozenset(controllers.split(",")) if controllers else None] = path
    return paths


def _quota(directory: str, v2: bool) -> float | None:
    """CPUs granted by the limit set on this one cgroup directory, or None: none set, or its
    files are missing or unreadable."""
    try:
        if v2:
            with open(os.path.join(directory, "cpu.max")) as f:
                quota, period = f.read().split()[:2]
            if quota == "max":
                return None
        else:
            with open(os.path.join(directory, "cpu.cfs_quota_us")) as f:
                quota = f.read().strip()
            with open(os.path.join(directory, "cpu.cfs_period_us")) as f:
                period = f.read().strip()
        quota, period = int(quota), int(period)
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def own_cgroups(mountinfo: str, cgroup: str, controller: str) -> list[tuple[str, str, bool]]:
    """(directory, mount point, is_v2) of the process's own cgroup in each hierarchy that has
    ``controller`` ("cpu", "memory"; cgroup v2 has them all), from the texts of
    /proc/self/mountinfo and /proc/self/cgroup. A hierarchy mounted where no mount holds the
    process's cgroup (seen from another cgroup namespace) gives its mount point itself; where
    one mount holds it, the hierarchy's other mounts (another group bound elsewhere, which the
    process is not in) give nothing."""
    paths = _paths(cgroup)
    mounts = []  # (hierarchy, holds the process's group, directory, mount point, is_v2)
    for root, point, controllers in _mounts(mountinfo):
        if controllers is None:
            path = paths.get(None)
        elif controller in controllers:
            path = next((p for key, p in paths.items() if key and controller in key), None)
        else:
            continue
        if path is None:
            continue
        root = root.rstrip("/")
        inside = not root or path == root or path.startswith(root + "/")
        relative = path[len(root) :].strip("/") if inside else ""
        point = point.rstrip("/") or "/"
        directory = os.path.join(point, relative) if relative else point
        hierarchy = None if controllers is None else frozenset(controllers)
        mounts.append((hierarchy, inside, directory, point, controllers is None))
    held = {hierarchy for hierarchy, inside, *_ in mounts if inside}
    return [
        (directory, point, v2)
        for hierarchy, inside, directory, point, v2 in mounts
        if inside or hierarchy not in held
    ]


def binding_cgroups(
    controller: str,
    mountinfo_file: str = "/proc/self/mountinfo",
    cgroup_file: str = "/proc/self/cgroup",
) -> list[tuple[str, bool]]:
    """(directory, is_v2) of every cgroup whose limit of ``controller`` binds this process: its
    own and those above it up to the mount point (a parent's limit binds its children), in each
    hierarchy with the controller; [] where the files cannot be read."""
    try:
        with open(mountinfo_file) as f:
            mountinfo = f.read()
        with open(cgroup_file) as f:
            cgroup = f.read()
    except OSError:
        return []
    found = []
    for directory, point, v2 in own_cgroups(mountinfo, cgroup, controller):
        while True:
            found.append((directory, v2))
            if directory == point or not directory.startswith(point + "/"):
                break
            directory = os.path.dirname(directory)
    return found


def cgroup_cpu_limit(
    mountinfo_file: str = "/proc/self/mountinfo", cgroup_file: str = "/proc/self/cgroup"
) -> float | None:
    """CPUs' worth of time per period that the process's cgroups grant it: the smallest limit
    among its binding cgroups with the cpu controller; None when none is set or can be read."""
    limits = []
    for directory, v2 in binding_cgroups("cpu", mountinfo_file, cgroup_file):
        quota = _quota(directory, v2)
        if quota is not None:
            limits.append(quota)
    return min(limits) if limits else None


def memory_cgroups(
    mountinfo_file: str = "/proc/self/mountinfo", cgroup_file: str = "/proc/self/cgroup"
) -> list[tuple[str, bool]]:
    """(directory, is_v2) of every cgroup whose memory limit binds this process (the core reads
    their limits and use: cpp/bindings/memory.hpp)."""
    return binding_cgroups("memory", mountinfo_file, cgroup_file)


def quota_threads(limit: float | None) -> int | None:
    """Threads that a limit of ``limit`` CPUs keeps busy without being throttled: its whole
    CPUs, at least one; None for no limit."""
    return None if limit is None else max(1, math.floor(limit))


def omp_threads_given(value: str | None) -> bool:
    """Whether an OMP_NUM_THREADS value gives the core its default thread count: a positive
    count, alone or first in a list (the core's own reading of it, threads.hpp)."""
    match = re.match(r"\s*([+-]?\d+)(,|\Z)", value or "")
    return match is not None and int(match.group(1)) > 0


def capped_default(threads: int) -> int:
    """The core's default thread count ``threads`` (the CPUs the process may run on), capped at
    what the cgroup's CPU limit keeps busy; unchanged where OMP_NUM_THREADS gives the count."""
    if omp_threads_given(os.environ.get("OMP_NUM_THREADS")):
        return threads
    cap = quota_threads(cgroup_cpu_limit())
    return threads if cap is None else min(threads, cap)
