#!/usr/bin/env python3
"""Rewrites a CUDA source (native/cuda/*.cu) into plain C++ for the CPU
emulation in scripts/gpu/emu: `k<<<grid, block, shmem, stream>>>(args)` becomes
`::emu::launch(grid, block, shmem, stream, <call k>, args)` (the arguments are
copied at the launch and the grid runs later, in stream order), and
`extern __shared__` arrays become the block's dynamic buffer. Everything else
compiles as C++ under emu.h's macros.

Used by scripts/gpu/emulate_checks.py and, per file, by CMake's
CSKD_CUDA_EMULATION build:
    python3 scripts/gpu/rewrite_cuda.py IN.cu OUT.cc
"""
import os
import re
import sys


def split_top(s):
    """Splits s at the commas outside brackets."""
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
        args = src[p + 1:q].strip()
        shmem = cfg[2] if len(cfg) > 2 else "0"
        stream = cfg[3] if len(cfg) > 3 else "nullptr"
        # A generic lambda calls the kernel, so template kernels deduce their
        # parameters from the copied arguments as the launch would.
        call = f"[](auto... a_) {{ {m.group(1)}(a_...); }}"
        out += src[i:name_start]
        out += (f"::emu::launch(dim3({cfg[0]}), dim3({cfg[1]}), size_t({shmem}), {stream}, {call}"
                + (f", {args}" if args else "") + ")")
        i = q + 1


def rewrite_file(src_path, dst_path):
    """Writes the rewritten source, leaving dst untouched when unchanged (so
    builds stay incremental)."""
    text = rewrite(open(src_path).read())
    if not os.path.exists(dst_path) or open(dst_path).read() != text:
        os.makedirs(os.path.dirname(os.path.abspath(dst_path)), exist_ok=True)
        with open(dst_path, "w") as f:
            f.write(f'#line 1 "{os.path.abspath(src_path)}"\n' + text)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: rewrite_cuda.py IN.cu OUT.cc")
    rewrite_file(sys.argv[1], sys.argv[2])
