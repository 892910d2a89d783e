#!/usr/bin/python3
"""PyTorch (CPU) peer for `npm run bench`.

Reads one JSON spec from argv[1] (or stdin when argv[1] is absent or "-"):

    {"workload": "gemm", "params": {"m": 1024, "k": 1024, "n": 1024,
     "transA": false, "transB": false}, "threads": [1, 2], "min_time": 1.5,
     "seed": 0}

and prints one JSON object:

    {"torch": "1.13.0", "blas": {...}, "results": [{"threads": 1, "ms": 4.2, "mean_ms": 4.3,
     "samples": 300, "inner": 1}, ...], "max_rss_mb": 210.5}

Each workload mirrors the cskd benchmark of the same name (bench/suites/):
inputs are fixed random tensors allocated once, outside the timed function;
backward passes use torch.autograd.grad so nothing accumulates between calls.
Threads: torch.set_num_threads(n) and, where torch's BLAS is OpenBLAS, its own
pool too (openblas_set_num_threads), so "n threads" means n cores for both.
Timing: warm-up, then samples until min_time has passed (at least
min_samples); a sample times `inner` back-to-back calls (inner is chosen so a
sample lasts at least ~1 ms) and the reported ms is the median per call.

Run with Debian's python3-torch under /usr/bin/python3.
"""

import json
import resource
import statistics
import sys
import time


def _gemm(torch, p):
    m, k, n = int(p["m"]), int(p["k"]), int(p["n"])
    trans_a, trans_b = bool(p.get("transA", False)), bool(p.get("transB", False))
    a = torch.rand(k, m) * 2 - 1 if trans_a else torch.rand(m, k) * 2 - 1
    b = torch.rand(n, k) * 2 - 1 if trans_b else torch.rand(k, n) * 2 - 1
    c = torch.empty(m, n)
    op_a = a.t() if trans_a else a
    op_b = b.t() if trans_b else b

    def step():
        torch.mm(op_a, op_b, out=c)

    return step


def _attention(torch, p):
    # timm's Attention (PyTorch 1.13 has no scaled_dot_product_attention):
    # softmax(q kᵀ · scale) v, then the gradients of q, k, v for a given dout.
    b, h, n, d = int(p["B"]), int(p["H"]), int(p["N"]), int(p["D"])
    scale = d ** -0.5
    q, k, v = (torch.randn(b, h, n, d, requires_grad=True) for _ in range(3))
    dout = torch.randn(b, h, n, d)

    def step():
        attn = torch.matmul(q, k.transpose(-2, -1)) * scale
        attn = attn.softmax(dim=-1)
        out = torch.matmul(attn, v)
        torch.autograd.grad(out, (q, k, v), dout)

    return step


def _layernorm(torch, p):
    rows, cols = int(p["rows"]), int(p["cols"])
    eps = float(p.get("eps", 1e-6))
    x = torch.randn(rows, cols, requires_grad=True)
    gamma = (1 + 0.1 * torch.randn(cols)).requires_grad_()
    beta = (0.1 * torch.randn(cols)).requires_grad_()
    dy = torch.randn(rows, cols)
    f = torch.nn.functional

    def step():
        y = f.layer_norm(x, (cols,), gamma, beta, eps)
        torch.autograd.grad(y, (x, gamma, beta), dy)

    return step


def _emd(torch, p):
    # NIMA EMD (r = 2, eps inside the root) from logits: softmax → EMD → backward.
    b, k = int(p["B"]), int(p["K"])
    eps = float(p.get("eps", 1e-12))
    logits = torch.randn(b, k, requires_grad=True)
    target = torch.randn(b, k).softmax(dim=-1)
    target_cdf = target.cumsum(dim=-1)

    def step():
        prob = logits.softmax(dim=-1)
        diff = prob.cumsum(dim=-1) - target_cdf
        loss = (diff.square().mean(dim=-1) + eps).sqrt().mean()
        torch.autograd.grad(loss, (logits,))

    return step


def _align(torch, p):
    # Phase-1 feature alignment: mean(1 − cos(student, clip)), gradient w.r.t. student.
    b, d = int(p["B"]), int(p["D"])
    student = torch.randn(b, d, requires_grad=True)
    clip = torch.randn(b, d)
    f = torch.nn.functional

    def step():
        loss = (1 - f.cosine_similarity(student, clip, dim=1, eps=1e-8)).mean()
        torch.autograd.grad(loss, (student,))

    return step


def _adamw(torch, p):
    n = int(p["n"])
    param = (torch.rand(n) * 0.04 - 0.02).requires_grad_()
    param.grad = torch.rand(n) * 0.02 - 0.01
    opt = torch.optim.AdamW([param], lr=float(p.get("lr", 1e-3)),
                            weight_decay=float(p.get("weightDecay", 0.05)),
                            betas=(0.9, 0.999), eps=1e-8)

    def step():
        opt.step()

    return step


def _vit(torch, p):
    # timm's VisionTransformer (pre-norm, CLS token, erf GELU, qkv bias) written
    # out in plain PyTorch (no timm here), with a K-bin softmax head.
    nn, f = torch.nn, torch.nn.functional
    img, patch, dim = int(p["img"]), int(p["patch"]), int(p["dim"])
    depth, heads, bins = int(p["depth"]), int(p["heads"]), int(p.get("bins", 10))
    grid = img // patch

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = (q @ k.transpose(-2, -1) * (c // heads) ** -0.5).softmax(dim=-1)
            x = x + self.proj((a @ v).transpose(1, 2).reshape(b, n, c))
            return x + self.fc2(f.gelu(self.fc1(self.norm2(x))))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, dim, patch, patch)
            self.cls = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos = nn.Parameter(torch.randn(1, grid * grid + 1, dim) * 0.02)
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, bins)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x)[:, 0])

    model = ViT()
    batch = int(p["batch"])
    images = torch.randn(batch, 3, img, img)
    target_cdf = torch.randn(batch, bins).softmax(dim=-1).cumsum(dim=-1)
    if p.get("train", True):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            opt.zero_grad(set_to_none=True)
            prob = model(images).softmax(dim=-1)
            loss = ((prob.cumsum(dim=-1) - target_cdf).square().mean(dim=-1) + 1e-12).sqrt().mean()
            loss.backward()
            opt.step()

        return step

    model.eval()

    def infer():
        with torch.no_grad():
            model(images).softmax(dim=-1)

    return infer


WORKLOADS = {
    "gemm": _gemm,
    "attention": _attention,
    "layernorm": _layernorm,
    "emd": _emd,
    "align": _align,
    "adamw": _adamw,
    "vit": _vit,
}


def _blas(torch):
    """The BLAS library torch loaded (from /proc/self/maps) and, for OpenBLAS,
    a setter for its own thread count: torch.set_num_threads does not reach
    OpenBLAS's pthread pool, so without it "1 thread" GEMMs run on every core."""
    path = None
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                name = line.rsplit(" ", 1)[-1].strip()
                base = name.rsplit("/", 1)[-1]
                if base.startswith(("libopenblas", "libblas", "libmkl_rt", "libblis")):
                    path = name
                    if "openblas" in name:
                        break
    except OSError:
        pass
    info = {"library": path, "kind": "unknown" if path is None else ("openblas" if "openblas" in path else "other")}
    setter = None
    if path is not None and "openblas" in path:
        import ctypes
        lib = ctypes.CDLL(path)
        for fn in ("openblas_get_corename", "openblas_get_config"):
            if hasattr(lib, fn):
                getattr(lib, fn).restype = ctypes.c_char_p
                info[fn.replace("openblas_get_", "")] = getattr(lib, fn)().decode()
        if hasattr(lib, "openblas_set_num_threads"):
            setter = lib.openblas_set_num_threads
    if path is not None and "openblas" not in path and "/blas/" in path:
        info["kind"] = "reference (netlib) BLAS"
    return info, setter


def _measure(step, min_time, min_samples):
    # Warm-up: at least 3 calls and 0.1 s.
    t0 = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - t0 < 0.1:
        step()
        calls += 1
    per_call = (time.perf_counter() - t0) / calls
    inner = max(1, int(1e-3 / per_call)) if per_call < 1e-3 else 1
    samples = []
    start = time.perf_counter()
    while len(samples) < min_samples or time.perf_counter() - start < min_time:
        s = time.perf_counter()
        for _ in range(inner):
            step()
        samples.append((time.perf_counter() - s) / inner)
    return {
        "ms": statistics.median(samples) * 1e3,
        "mean_ms": statistics.fmean(samples) * 1e3,
        "samples": len(samples),
        "inner": inner,
    }


def main():
    raw = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else sys.stdin.read()
    spec = json.loads(raw)
    import torch  # after parsing, so a bad spec fails fast

    workload = spec["workload"]
    if workload not in WORKLOADS:
        raise SystemExit(f"peer_torch: unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    threads = spec.get("threads", [1])
    if isinstance(threads, int):
        threads = [threads]
    torch.manual_seed(int(spec.get("seed", 0)))
    step = WORKLOADS[workload](torch, spec.get("params", {}))
    blas, set_blas_threads = _blas(torch)
    results = []
    for t in threads:
        torch.set_num_threads(int(t))
        if set_blas_threads is not None:
            set_blas_threads(int(t))
        r = _measure(step, float(spec.get("min_time", 1.0)), int(spec.get("min_samples", 5)))
        r["threads"] = torch.get_num_threads()
        results.append(r)
    # Peak resident memory of this process (ru_maxrss is in KiB on Linux).
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"torch": torch.__version__, "blas": blas, "results": results, "max_rss_mb": max_rss_mb}))


if __name__ == "__main__":
    main()
