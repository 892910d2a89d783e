#!/usr/bin/env python3
"""timm/PyTorch GPU peer of bench/gpu_train.ts (gpu_vit_s_train, gpu_vit_b_train).

Reads one JSON spec from argv[1]:

    {"model": "vit-s16" | null, "config": {...cskd VitConfig...}, "bins": 10,
     "batch": 256, "steps": 20, "warmup": 3, "modes": ["device", "upload"],
     "device": "cuda" | "cpu"}

"device": "cpu" is the dry run's (cskd on the emulated device): the same code
on the CPU, bf16 autocast there, no pinning; its timings mean nothing.

and prints one JSON line: {"ok": true, "torch": ..., "timm": ..., "device": ...,
"results": [{"mode": "device", "ms": ..., "imagesPerSecond": ...}, ...]},
or {"ok": false, "reason": "..."} when it cannot run (no timm, no GPU).

The model is timm's VisionTransformer of the same shape as cskd's (class
token, erf GELU, LayerNorm eps 1e-6, qkv bias, a linear head to `bins`
logits): timm.create_model('vit_small_patch16_224') for vit-s16 and so on,
or VisionTransformer(...) from the config for anything else. Eager mode, no
torch.compile; attention through F.scaled_dot_product_attention (timm's
fused_attn, which it uses whenever torch has it). The step as cskd's: bf16
autocast for the forward, EMD (r = 2) of softmax(float32 logits) to the label
distributions, backward, clip_grad_norm_(1.0), AdamW (fused, weight decay
0.05). Unlike cskd's loop, nothing is read back per step: this is the peer at
its best. Timing: wall clock over `steps` steps after `warmup`, with
torch.cuda.synchronize() at both ends.
"""

import json
import sys
import time

TIMM_NAMES = {
    "vit-ti16": "vit_tiny_patch16_224",
    "vit-s16": "vit_small_patch16_224",
    "vit-b16": "vit_base_patch16_224",
    "vit-ti32": None,
    "vit-s32": "vit_small_patch32_224",
    "vit-b32": "vit_base_patch32_224",
}


def fail(reason):
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(0)


def main():
    spec = json.loads(sys.argv[1])
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        fail(f"torch not importable: {e}")
    try:
        import timm
        from timm.models.vision_transformer import VisionTransformer
    except Exception as e:  # noqa: BLE001
        fail(f"timm not importable: {e}")
    on_cpu = spec.get("device") == "cpu"
    if not on_cpu and not torch.cuda.is_available():
        fail("torch sees no CUDA device")

    c = spec["config"]
    bins = int(spec["bins"])
    B = int(spec["batch"])
    steps = int(spec["steps"])
    warmup = int(spec["warmup"])
    dev = torch.device("cpu" if on_cpu else "cuda:0")

    def sync():
        if not on_cpu:
            torch.cuda.synchronize()

    timm_name = TIMM_NAMES.get(spec.get("model") or "")
    if timm_name:
        model = timm.create_model(timm_name, pretrained=False, num_classes=bins)
    else:
        model = VisionTransformer(
            img_size=c["imgSize"], patch_size=c["patchSize"], in_chans=c["inChans"], num_classes=bins,
            embed_dim=c["embedDim"], depth=c["depth"], num_heads=c["numHeads"], mlp_ratio=c["mlpRatio"],
            qkv_bias=c["qkvBias"],
        )
    model = model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=True)

    def emd(logits, target):
        p = torch.softmax(logits.float(), dim=-1)
        d = torch.cumsum(p, -1) - torch.cumsum(target, -1)
        return torch.sqrt((d * d).mean(-1) + 1e-12).mean()

    S = c["imgSize"]
    gen = torch.Generator().manual_seed(1)

    def host_batch():
        x = torch.rand(B, 3, S, S, generator=gen) * 4 - 2
        y = torch.rand(B, bins, generator=gen) + 0.05
        return x, y / y.sum(-1, keepdim=True)

    host = [host_batch(), host_batch()]
    resident = [(x.to(dev), y.to(dev)) for x, y in host]

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            logits = model(x)
        loss = emd(logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    results = []
    for mode in spec["modes"]:
        def run(i):
            if mode == "device" or on_cpu:
                x, y = resident[i % 2]
            else:
                hx, hy = host[i % 2]
                x = hx.pin_memory().to(dev, non_blocking=True)
                y = hy.pin_memory().to(dev, non_blocking=True)
            return step(x, y)

        for i in range(warmup):
            run(i)
        sync()
        t0 = time.perf_counter()
        for i in range(steps):
            loss = run(i)
        sync()
        ms = (time.perf_counter() - t0) * 1000 / steps
        if not torch.isfinite(loss).item():
            fail(f"non-finite loss in mode {mode}")
        results.append({"mode": mode, "ms": ms, "imagesPerSecond": B * 1000 / ms})

    print(json.dumps({
        "ok": True, "torch": torch.__version__, "timm": timm.__version__,
        "device": "cpu" if on_cpu else torch.cuda.get_device_name(0), "results": results,
    }))


if __name__ == "__main__":
    main()
