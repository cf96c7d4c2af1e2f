// What the running CPU supports, for choosing a module at import. Every module has this; the
// loader asks the baseline one, which runs on any x86-64-v2 CPU.
//
// The levels are the x86-64 psABI's, checked feature by feature with CPUID and, for the wider
// registers, XGETBV (the OS must save them on a context switch). __builtin_cpu_supports takes
// the level names themselves only from GCC 12 and Clang 18, and older compilers (GCC 11 on
// Ubuntu 22.04 and RHEL 9, Clang 16) stopped the build.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

namespace py = pybind11;

namespace fastlstm::bindings {

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

struct CpuId {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// CPUID leaf `leaf`, subleaf `sub`; zeros where the CPU has no such leaf.
CpuId cpuid(unsigned leaf, unsigned sub = 0) {
  CpuId r;
  if (!__get_cpuid_count(leaf, sub, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuId{};
  return r;
}

// The register state the OS saves (XCR0); 0 where it has not enabled XSAVE.
std::uint64_t saved_state() {
  if (!(cpuid(1).ecx & (1u << 27))) return 0;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t(hi) << 32) | lo;
}

bool bits(unsigned reg, std::initializer_list<int> which) {
  for (int b : which) {
    if (!(reg & (1u << b))) return false;
  }
  return true;
}

bool x86_64_v2() {
  const CpuId one = cpuid(1), ext = cpuid(0x80000001);
  // SSE3, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT; LAHF/SAHF in 64-bit mode.
  return bits(one.ecx, {0, 9, 13, 19, 20, 23}) && bits(ext.ecx, {0});
}

bool x86_64_v3() {
  const CpuId one = cpuid(1), seven = cpuid(7), ext = cpuid(0x80000001);
  // FMA, MOVBE, AVX, F16C; BMI1, AVX2, BMI2; LZCNT; the OS saving XMM and YMM.
  return x86_64_v2() && bits(one.ecx, {12, 22, 28, 29}) && bits(seven.ebx, {3, 5, 8}) &&
         bits(ext.ecx, {5}) && (saved_state() & 0x6) == 0x6;
}

bool x86_64_v4() {
  const CpuId seven = cpuid(7);
  // AVX512F, AVX512DQ, AVX512CD, AVX512BW, AVX512VL; the OS saving opmasks and all of ZMM.
  return x86_64_v3() && bits(seven.ebx, {16, 17, 28, 30, 31}) && (saved_state() & 0xe6) == 0xe6;
}

#endif

// True when the CPU (and the OS, which must save the wider registers) supports `level`.
bool cpu_supports(const std::string& level) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (level == "baseline") return x86_64_v2();
  if (level == "v3") return x86_64_v3();
  if (level == "v4") return x86_64_v4();
  return false;
#else
  return level == "baseline";
#endif
}

}  // namespace

void register_cpu(py::module_& m) {
  m.def("cpu_supports", &cpu_supports, py::arg("level"),
        "Whether this CPU can run the module built for `level` (baseline, v3 or v4).");
}

}  // namespace fastlstm::bindings
