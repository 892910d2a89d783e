#!/usr/bin/env python3
"""Runs cskd_cuda_check's correctness checks with the CUDA kernels executed on
the CPU, for machines without a GPU.

Each native/cuda/*.cu is rewritten into plain C++ by rewrite_cuda.py (the
rewriter CMake's CSKD_CUDA_EMULATION build uses too), compiled with
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

from rewrite_cuda import rewrite_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMU = os.path.join(ROOT, "scripts", "gpu", "emu")


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
        rewrite_file(f, dst)
        sources.append(dst)
    sources += sorted(glob.glob(os.path.join(ROOT, "native", "cuda", "check", "*.cc")))
    sources.append(os.path.join(EMU, "runtime.cc"))
    flags = ["-std=c++20", "-O2", "-pthread", "-include", os.path.join(EMU, "emu.h"), "-I", EMU,
             "-I", os.path.join(ROOT, "native"), "-Wno-unknown-pragmas", "-Wno-unused-result", "-Wno-deprecated"]
    objs, procs = [], []
    for s in sources:
        o = os.path.join(bd, os.path.basename(s) + ".o")
        objs.append(o)
        if os.path.exists(o) and os.path.getmtime(o) > max(os.path.getmtime(s), os.path.getmtime(os.path.join(EMU, "emu.h")), os.path.getmtime(os.path.join(EMU, "cuda_runtime.h"))):
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
