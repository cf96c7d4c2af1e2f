// How much memory new arrays may take: the machine's, a container's (cgroup) limit, and what is
// free now. Linux lets a process allocate far more than it has, then its out-of-memory killer
// ends the process while the pages are filled; the bindings refuse such sizes with an error
// instead (checks.hpp).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace fastlstm::bindings {

// The machine's memory in bytes (0: unknown).
inline double physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  static const double bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
  }();
  return bytes;
#else
  return 0.0;
#endif
}

// What cgroups (a container, a systemd slice) allow this process: the smallest limit among the
// groups given, and the least room left under one, each +inf where none sets a limit. A group's
// use is counted less its page cache, which the kernel reclaims before it kills (as the
// machine's MemAvailable counts it free).
struct GroupMemory {
  double limit = std::numeric_limits<double>::infinity();
  double room = std::numeric_limits<double>::infinity();
};

// A cgroup's directory, and whether it is of cgroup v2 (memory.max, memory.current, and
// memory.stat's active_file and inactive_file) or of v1's memory controller
// (memory.limit_in_bytes, memory.usage_in_bytes, total_active_file, total_inactive_file).
struct MemoryGroup {
  std::string dir;
  bool v2;
};

namespace memory_detail {

// The first number in the file at `path`, or false ("max", or no such file: no limit).
inline bool read_number(const std::string& path, double& value) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  unsigned long long n = 0;
  const bool read = std::fscanf(f, "%llu", &n) == 1;
  std::fclose(f);
  value = double(n);
  return read;
}

// The page cache in a memory.stat file ("key value" lines): its active and inactive file
// pages (keys `active` and `inactive`), which the kernel drops or writes back before it kills
// (tmpfs and shared memory are not among them); 0 where the file cannot be read.
inline double file_cache(const std::string& path, const char* active, const char* inactive) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return 0;
  char line[256];
  double total = 0;
  while (std::fgets(line, sizeof line, f)) {
    for (const char* key : {active, inactive}) {
      const std::size_t n = std::strlen(key);
      unsigned long long v = 0;
      if (std::strncmp(line, key, n) == 0 && line[n] == ' ' &&
          std::sscanf(line + n + 1, "%llu", &v) == 1) {
        total += double(v);
      }
    }
  }
  std::fclose(f);
  return total;
}

// v1's "unlimited" is about 2^63 bytes (page-rounded): limits from here up are none.
constexpr double kUnlimited = 4611686018427387904.0;  // 2^62

inline std::vector<MemoryGroup>& own_groups() {
  static std::vector<MemoryGroup> groups;
  return groups;
}

}  // namespace memory_detail

// The limits and room of `groups`, read from their files now.
inline GroupMemory group_memory(const std::vector<MemoryGroup>& groups) {
  using namespace memory_detail;
  GroupMemory out;
  for (const MemoryGroup& g : groups) {
    const std::string dir = g.dir + "/";
    double limit = 0, used = 0;
    if (read_number(dir + (g.v2 ? "memory.max" : "memory.limit_in_bytes"), limit) &&
        limit < kUnlimited &&
        read_number(dir + (g.v2 ? "memory.current" : "memory.usage_in_bytes"), used)) {
      const double cache =
          g.v2 ? file_cache(dir + "memory.stat", "active_file", "inactive_file")
               : file_cache(dir + "memory.stat", "total_active_file", "total_inactive_file");
      out.limit = std::min(out.limit, limit);
      out.room = std::min(out.room, std::max(limit - std::max(used - cache, 0.0), 0.0));
    }
  }
  return out;
}

// The most memory this process may use: the machine's, or less where one of its cgroups allows
// less (0: unknown).
inline double& memory_limit_value() {
  static double bytes = physical_memory();
  return bytes;
}
inline double memory_limit() { return memory_limit_value(); }

// This process's cgroups with a memory controller, from its own up to each hierarchy's root
// (the Python package finds them at import, from /proc/self/mountinfo and /proc/self/cgroup);
// their limit caps memory_limit. Set before any call that allocates.
inline void set_memory_groups(std::vector<MemoryGroup> groups) {
  memory_detail::own_groups() = std::move(groups);
  const double machine = physical_memory();
  memory_limit_value() =
      machine > 0 ? std::min(machine, group_memory(memory_detail::own_groups()).limit) : 0.0;
}

// Bytes that new arrays can take now before the out-of-memory killer ends the process: the
// system's MemAvailable plus SwapFree, or less where a cgroup leaves less room; the machine's
// memory where the system says nothing (0: unknown). Read from /proc and /sys at each call, tens
// of us: room_for asks only for large sizes.
inline double available_memory() {
  double room = physical_memory();
#if defined(__linux__)
  if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
    double avail = -1, swap = 0;
    char line[256];
    unsigned long long kib = 0;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) avail = double(kib) * 1024;
      if (std::sscanf(line, "SwapFree: %llu kB", &kib) == 1) swap = double(kib) * 1024;
    }
    std::fclose(f);
    if (avail >= 0) room = avail + swap;
  }
#endif
  room = std::min(room, group_memory(memory_detail::own_groups()).room);
  return room;
}

// Sizes up to this are let through without asking: a sixteenth of what this process may use
// (the machine's memory, or its cgroups' limit), at most 32 MiB. Asking costs tens of us a call
// (available_memory), a few percent of the time to fill that much; above a fixed share, a
// nearly full container's last tens of MiB went unchecked (its 57 MiB request under a 1 GiB
// limit with 44 MiB left was granted, and the process killed).
inline double unchecked_bytes() { return std::min(memory_limit() / 16, 32.0 * (1 << 20)); }

// Whether `bytes` more fit in memory now.
inline bool room_for(double bytes) {
  return memory_limit() == 0 || bytes <= unchecked_bytes() || bytes <= available_memory();
}

}  // namespace fastlstm::bindings
