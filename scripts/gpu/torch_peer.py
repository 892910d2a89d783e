#!/usr/bin/env python3
"""PyTorch peer for cskd's CUDA kernels: the same work, timed the same way.

Times each operation with CUDA events around every call (median of 25 after 3
warm-ups, as cskd_cuda_check does), reports GB/s as a % of the measured
device-to-device copy bandwidth for memory-bound work and TFLOP/s for matrix
work. With --cskd-log, reads cskd_cuda_check's "time" lines and prints the
ratio torch_ms / cskd_ms per pair (> 1: cskd is faster).
"""
import argparse
import json
import math
import re

import torch
import torch.nn.functional as F


def median_ms(fn, warmup=3, reps=25):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for a, b in evs:
        a.record()
        fn()
        b.record()
    torch.cuda.synchronize()
    ms = sorted(a.elapsed_time(b) for a, b in evs)
    return ms[reps // 2]


def nograd(fn):
    def run():
        with torch.no_grad():
            return fn()
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cskd-log")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    rows = []

    def rec(name, shape, ms, nbytes=0.0, flops=0.0):
        r = {"name": name, "shape": shape, "ms": ms}
        if nbytes:
            r["gbps"] = nbytes / (ms * 1e-3) / 1e9
        if flops:
            r["tflops"] = flops / (ms * 1e-3) / 1e12
        rows.append(r)
        extra = (f"  {r['gbps']:8.1f} GB/s" if nbytes else "") + (f"  {r['tflops']:7.2f} TFLOP/s" if flops else "")
        print(f"torch  {name:28s} {shape:34s} {ms:9.4f} ms{extra}", flush=True)

    # Copy bandwidth (bytes read + written), the memory ceiling.
    n = 1 << 28
    a = torch.randn(n, device=dev)
    b = torch.empty_like(a)
    copy_ms = median_ms(lambda: b.copy_(a))
    copy_gbps = 8.0 * n / (copy_ms * 1e-3) / 1e9
    rec("memcpy.d2d", "1GiB", copy_ms, 8.0 * n)
    del a, b

    # LayerNorm 65536 x 768, fp32.
    R, C = 65536, 768
    x = torch.randn(R, C, device=dev, requires_grad=True)
    ln = torch.nn.LayerNorm(C).to(dev)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    rec("layerNorm.fwd", f"{R}x{C}", median_ms(nograd(lambda: ln(x))), 4.0 * (2 * R * C + 2 * R))
    y = ln(x)
    dy = torch.randn_like(y)
    rec("layerNorm.bwd", f"{R}x{C}",
        median_ms(lambda: torch.autograd.grad(y, (x, ln.weight, ln.bias), dy, retain_graph=True)),
        4.0 * (3 * R * C + 2 * R))
    del y, dy

    # GELU (erf) fwd/bwd on the same element count.
    xg = torch.randn(R * C, device=dev, requires_grad=True)
    rec("gelu.erf.fwd", str(R * C), median_ms(nograd(lambda: F.gelu(xg))), 8.0 * R * C)
    yg = F.gelu(xg)
    dyg = torch.randn_like(yg)
    rec("gelu.erf.bwd", str(R * C), median_ms(lambda: torch.autograd.grad(yg, xg, dyg, retain_graph=True)),
        12.0 * R * C)
    del xg, yg, dyg

    # Elementwise add.
    p, q = torch.randn(R, C, device=dev), torch.randn(R, C, device=dev)
    o = torch.empty_like(p)
    rec("add", f"{R}x{C}", median_ms(lambda: torch.add(p, q, out=o)), 12.0 * R * C)
    del p, q, o

    # Losses at 65536 x 768 (alignment, cosine) and 65536 x 10 (EMD, KL), value + gradient.
    s = torch.randn(R, C, device=dev, requires_grad=True)
    t = torch.randn(R, C, device=dev)

    def cos_loss():
        loss = (1 - F.cosine_similarity(s, t, dim=1, eps=1e-8)).mean()
        return torch.autograd.grad(loss, s)

    rec("alignLoss.cosine", f"{R}x{C}", median_ms(cos_loss), 12.0 * R * C)
    del s, t
    K = 10
    pr = torch.softmax(torch.randn(R, K, device=dev), 1).requires_grad_()
    tg = torch.softmax(torch.randn(R, K, device=dev), 1)

    def emd():
        d = torch.cumsum(pr, 1) - torch.cumsum(tg, 1)
        loss = torch.sqrt((d * d).mean(1) + 1e-12).mean()
        return torch.autograd.grad(loss, pr)

    rec("emdLoss.r2", f"{R}x{K}", median_ms(emd), 12.0 * R * K)
    sl = torch.randn(R, K, device=dev, requires_grad=True)
    tl = torch.randn(R, K, device=dev)

    def kl():
        T = 2.0
        loss = F.kl_div(F.log_softmax(sl / T, 1), F.log_softmax(tl / T, 1), log_target=True,
                        reduction="batchmean") * T * T
        return torch.autograd.grad(loss, sl)

    rec("distillLoss.kl", f"{R}x{K}", median_ms(kl), 12.0 * R * K)

    # AdamW over ~86M parameters (fused, one flat tensor).
    npar = 150 * 570000 + 150 * 570000 // 4  # about what cskd's check uses
    w = torch.nn.Parameter(torch.randn(npar, device=dev))
    w.grad = torch.randn_like(w)
    opt = torch.optim.AdamW([w], lr=1e-3, weight_decay=0.05, fused=True)
    opt.step()
    rec("adamw", f"{npar}", median_ms(opt.step), 28.0 * npar)
    del w, opt

    # Attention B32 H6 N197 D64: SDPA in bf16 (flash) and fp32.
    B, H, N, D = 32, 6, 197, 64
    flops_f = 4.0 * B * H * N * N * D
    for dt, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
        qkv = [torch.randn(B, H, N, D, device=dev, dtype=dt, requires_grad=True) for _ in range(3)]
        rec(f"attention.fwd.{tag}", f"{B}x{H}x{N}x{D}",
            median_ms(nograd(lambda: F.scaled_dot_product_attention(*qkv))), 0, flops_f)
        out = F.scaled_dot_product_attention(*qkv)
        dout = torch.randn_like(out)
        rec(f"attention.bwd.{tag}", f"{B}x{H}x{N}x{D}",
            median_ms(lambda: torch.autograd.grad(out, qkv, dout, retain_graph=True)), 0, 2.5 * flops_f)
        del qkv, out, dout

    # GEMM: the ViT-S qkv projection (B32) and 4096^3, fp32 (no TF32) and bf16.
    for (M, Nn, Kk) in ((6304, 2304, 768), (4096, 4096, 4096)):
        for dt, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            A = torch.randn(M, Kk, device=dev, dtype=dt)
            Bm = torch.randn(Nn, Kk, device=dev, dtype=dt)
            rec(f"gemm.{tag}", f"{M}x{Nn}x{Kk} tB", median_ms(lambda: A @ Bm.t(), 3, 15), 0, 2.0 * M * Nn * Kk)

    print(f"\ncopy bandwidth (torch): {copy_gbps:.0f} GB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"copy_gbps": copy_gbps, "rows": rows}, f, indent=1)
    if not args.cskd_log:
        return
    # Join with cskd's timings: (torch name, torch shape) -> (cskd name, cskd shape prefix).
    ours = {}
    for line in open(args.cskd_log):
        m = re.match(r"time\s+(\S+)\s+(.+?)\s+([0-9.]+) ms", line)
        if m:
            ours[(m.group(1), m.group(2).strip())] = float(m.group(3))
    pairs = [
        ("layerNorm.fwd", "65536x768", "layerNorm.fwd", "65536x768"),
        ("layerNorm.bwd", "65536x768", "layerNorm.bwd", "65536x768"),
        ("gelu.erf.fwd", str(R * C), "gelu.erf.fwd", str(R * C)),
        ("gelu.erf.bwd", str(R * C), "gelu.erf.bwd", str(R * C)),
        ("add", "65536x768", "add", "65536x768"),
        ("alignLoss.cosine", "65536x768", "alignLoss.cosine", "65536x768"),
        ("emdLoss.r2", "65536x10", "emdLoss.r2", "65536x10"),
        ("distillLoss.kl", "65536x10", "distillLoss.kl", "65536x10"),
        ("attention.fwd.bf16", "32x6x197x64", "attention.fwd.bf16", "32x6x197x64 packed"),
        ("attention.bwd.bf16", "32x6x197x64", "attention.bwd.bf16", "32x6x197x64 packed"),
        ("attention.fwd.fp32", "32x6x197x64", "attention.fwd.fp32", "32x6x197x64 packed"),
        ("attention.bwd.fp32", "32x6x197x64", "attention.bwd.fp32", "32x6x197x64 packed"),
        ("gemm.fp32", "6304x2304x768 tB", "gemm.own.fp32", "6304x2304x768 tB bias"),
        ("gemm.fp32", "6304x2304x768 tB", "gemm.lt.fp32", "6304x2304x768 tB bias"),
        ("gemm.bf16", "6304x2304x768 tB", "gemm.own.bf16", "6304x2304x768 tB bias"),
        ("gemm.bf16", "6304x2304x768 tB", "gemm.lt.bf16", "6304x2304x768 tB bias"),
        ("gemm.fp32", "4096x4096x4096 tB", "gemm.own.fp32", "4096x4096x4096 tB"),
        ("gemm.fp32", "4096x4096x4096 tB", "gemm.lt.fp32", "4096x4096x4096 tB"),
        ("gemm.bf16", "4096x4096x4096 tB", "gemm.own.bf16", "4096x4096x4096 tB"),
        ("gemm.bf16", "4096x4096x4096 tB", "gemm.lt.bf16", "4096x4096x4096 tB"),
    ]
    theirs = {(r["name"], r["shape"]): r for r in rows}
    print(f"\n{'cskd kernel':24s} {'shape':26s} {'cskd ms':>9s} {'torch':20s} {'torch ms':>9s} {'ratio':>6s} {'cskd %copy':>10s}")
    for tn, ts, cn, cs in pairs:
        if (tn, ts) not in theirs or (cn, cs) not in ours:
            continue
        t_ms, c_ms = theirs[(tn, ts)]["ms"], ours[(cn, cs)]
        gb = theirs[(tn, ts)].get("gbps")
        pct = f"{100.0 * gb * t_ms / c_ms / copy_gbps:9.0f}%" if gb else ""
        print(f"{cn:24s} {cs:26s} {c_ms:9.4f} {tn:20s} {t_ms:9.4f} {t_ms / c_ms:6.2f} {pct:>10s}")


if __name__ == "__main__":
    main()
