#!/usr/bin/env python3
"""Runs cskd_cuda_check's correctness checks with the CUDA kernels executed on
the CPU, for machines without a GPU.

Each native/cuda/*.cu is rewritten into plain C++ (kernel launches
`k<<<grid, block, shmem, stream>>>(args)` become `emu::launch(...)` calls,
`extern __shared__` arrays become the block's dynamic buffer), compiled with
scripts/gpu/emu/emu.h force-included (one OS thread per CUDA thread, barriers
for __syncthreads and warp shuffles, an emulated ldmatrix/mma following the PTX
fragment layouts), linked with the real cskd_cpu library and the real check
program, and run with --quick --small. It checks indexing, synchronisation
structure and arithmetic; it says nothing about speed, memory-model races the
emulation happens to order, or the real mma/ldmatrix instructions.

    python3 scripts/gpu/emulate_checks.py [--build-dir /tmp/cskd-emu] [-j 2]
"""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMU = os.path.join(ROOT, "scripts", "gpu", "emu")


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def rewrite(src):
    src = re.sub(r"extern\s+__shared__\s+(\w+)\s+(\w+)\[\];",
                 r"\1* \2 = ::emu::dynamicShared<\1>();", src)
    out, i = "", 0
    while True:
        j = src.find("<<<", i)
        if j < 0:
            return out + src[i:]
        m = re.search(r"([\w:]+(?:<[^<>;]*>)?)\s*$", src[i:j])
        name_start = i + m.start(1)
        k = src.index(">>>", j)
        cfg = split_top(src[j + 3:k])
        p = src.index("(", k)
        depth, q = 0, p
        while True:
            if src[q] == "(":
                depth += 1
            elif src[q] == ")":
                depth -= 1
                if depth == 0:
                    break
            q += 1
        args = src[p + 1:q]
        shmem = cfg[2] if len(cfg) > 2 else "0"
        out += src[i:name_start]
        out += f"::emu::launch(dim3({cfg[0]}), dim3({cfg[1]}), size_t({shmem}), [&] {{ {m.group(1)}({args}); }})"
        i = q + 1


def run(cmd, **kw):
    print("+", " ".join(cmd) if isinstance(cmd, list) else cmd, flush=True)
    subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="/tmp/cskd-emu")
    ap.add_argument("-j", default="2")
    ap.add_argument("check_args", nargs="*", default=["--quick", "--small"])
    a = ap.parse_args()
    bd = a.build_dir
    os.makedirs(os.path.join(bd, "src"), exist_ok=True)
    run(["cmake", "-S", ROOT, "-B", os.path.join(bd, "cpu"), "-DCSKD_WITH_CUDA=OFF"],
        stdout=subprocess.DEVNULL)
    run(["cmake", "--build", os.path.join(bd, "cpu"), "--target", "cskd_cpu", "-j", a.j])
    sources = []
    for f in sorted(glob.glob(os.path.join(ROOT, "native", "cuda", "*.cu"))):
        dst = os.path.join(bd, "src", os.path.basename(f)[:-3] + ".cc")
        text = rewrite(open(f).read())
        if not os.path.exists(dst) or open(dst).read() != text:
            open(dst, "w").write(text)
        sources.append(dst)
    sources += sorted(glob.glob(os.path.join(ROOT, "native", "cuda", "check", "*.cc")))
    flags = ["-std=c++20", "-O2", "-pthread", "-include", os.path.join(EMU, "emu.h"), "-I", EMU,
             "-I", os.path.join(ROOT, "native"), "-Wno-unknown-pragmas", "-Wno-unused-result"]
    objs, procs = [], []
    for s in sources:
        o = os.path.join(bd, os.path.basename(s) + ".o")
        objs.append(o)
        if os.path.exists(o) and os.path.getmtime(o) > max(os.path.getmtime(s), os.path.getmtime(os.path.join(EMU, "emu.h"))):
            continue
        procs.append(subprocess.Popen(["g++", *flags, "-c", s, "-o", o]))
        if len(procs) >= int(a.j):
            if procs.pop(0).wait() != 0:
                sys.exit("compile failed")
    for p in procs:
        if p.wait() != 0:
            sys.exit("compile failed")
    exe = os.path.join(bd, "cskd_cuda_check_emu")
    run(["g++", "-pthread", *objs, os.path.join(bd, "cpu", "libcskd_cpu.a"), "-ldl", "-o", exe])
    sys.exit(subprocess.run([exe, *a.check_args]).returncode)


if __name__ == "__main__":
    main()
