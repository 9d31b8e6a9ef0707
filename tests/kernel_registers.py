#!/usr/bin/python3
"""Checks that the conv micro-kernels' hot loops keep their operands' addresses in registers.

Usage: kernel_registers.py BINARY

A micro-kernel's steps should reach their weights, activations and prefetch addresses as a
register plus a displacement. GCC, left alone, rebuilt them as one base plus per-step offsets and
kept those on the stack: AVX2's in-place 6-row fp32 kernel loaded 76 of them per outer step (its
1x1 convs took 1.05-1.09x the packed time), AVX-512's 12-row packed one 26 (docs/perf.md,
2026-12-07 15:30 UTC). This reads the release binary's code (objdump) and counts, in each
full-tile kernel, the loads from the stack between its first and last FMA.
"""
import re
import subprocess
import sys

# (what the kernel's demangled name contains, the most stack loads its loop may hold)
KERNELS = [
    ("f32_conv_ukernel<yolo4::kernels::VecAvx2, 6, 2, float, 6, false, "
     "yolo4::kernels::(anonymous namespace)::PackedRows<6>, float>", 4),
    ("f32_conv_ukernel<yolo4::kernels::VecAvx2, 6, 2, float, 6, false, "
     "yolo4::kernels::(anonymous namespace)::PixelRows, float>", 4),
    # A bf16 input in place, each pair broadcast and widened: GCC kept both steps' broadcasts
    # and spilled the accumulators (1x1 convs 1.6-1.9x slower) until each step loaded its own.
    ("f32_conv_ukernel<yolo4::kernels::VecAvx2, 6, 2, float, 6, true, "
     "yolo4::kernels::(anonymous namespace)::PixelRows, unsigned short>", 4),
    ("f32_conv_ukernel<yolo4::kernels::VecAvx512, 12, 2, float, 12, false, "
     "yolo4::kernels::(anonymous namespace)::PackedRows<12>, float>", 4),
    ("f32_conv_ukernel<yolo4::kernels::VecAvx512, 12, 2, float, 13, false, "
     "yolo4::kernels::(anonymous namespace)::PackedRows<12>, float>", 4),
    ("bf16_conv_ukernel<12, 2, float, 12, "
     "yolo4::kernels::(anonymous namespace)::PackedRows<12> >", 4),
    # The RGB stem's, whose overlapping windows read each value for several rows (60 stack
    # loads a step in AVX-512's fp32 kernel, 38 in the bf16 one, 34 in AVX2's).
    ("f32_conv_ukernel<yolo4::kernels::VecAvx512, 12, 2, float, 12, false, "
     "yolo4::kernels::(anonymous namespace)::WindowRows<3, 9>, float>", 4),
    ("bf16_conv_ukernel<12, 2, float, 12, "
     "yolo4::kernels::(anonymous namespace)::WindowRows<3, 10> >", 4),
    ("f32_conv_ukernel<yolo4::kernels::VecAvx2, 6, 2, float, 6, false, "
     "yolo4::kernels::(anonymous namespace)::WindowRows<3, 9>, float>", 8),
]
FMA = re.compile(r"\b(vfmadd\w*|vdpbf16ps)\b")
STACK_LOAD = re.compile(r"\(%rsp\),%")


def symbols(binary):
    out = subprocess.run(["nm", "-C", "--defined-only", "-S", binary], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tT":
            yield int(parts[0], 16), int(parts[1], 16), parts[3]


def loop_stack_loads(binary, start, size):
    code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start}",
                           f"--stop-address={start + size}", binary], check=True,
                          capture_output=True, text=True).stdout.splitlines()
    fmas = [i for i, line in enumerate(code) if FMA.search(line)]
    if not fmas:
        raise SystemExit(f"no FMA found in the kernel at {start:#x}")
    return sum(1 for line in code[fmas[0]:fmas[-1] + 1] if STACK_LOAD.search(line))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    found = {}
    for start, size, name in symbols(binary):
        for pattern, _ in KERNELS:
            if pattern in name:
                found.setdefault(pattern, []).append((start, size))
    failures = 0
    for pattern, most in KERNELS:
        if pattern not in found:
            print(f"FAIL: no kernel named like {pattern} in {binary}")
            failures += 1
            continue
        for start, size in found[pattern]:
            loads = loop_stack_loads(binary, start, size)
            verdict = "ok" if loads <= most else "FAIL"
            failures += verdict == "FAIL"
            print(f"{verdict}: {loads} stack loads in the loop (at most {most}) of {pattern}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
