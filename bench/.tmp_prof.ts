import { native } from '../src/native.js';
import { vitConfig } from '../src/nn/registry.js';
import { AdamW } from '../src/optim/adamw.js';
import { Arena } from '../src/tensor/arena.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Model } from '../src/train/model.js';
import { supervisedStep } from '../src/train/steps.js';
import { Rng } from '../src/util/rng.js';
const name = process.argv[2] ?? 'vit-s16';
native.setNumThreads(Number(process.argv[3] ?? 2));
const stats = new Map<string, { ms: number; n: number }>();
const nat = native as unknown as Record<string, unknown>;
for (const k of Object.keys(nat)) {
  const f = nat[k];
  if (typeof f !== 'function') continue;
  nat[k] = (...args: unknown[]) => {
    const t0 = performance.now();
    const r = (f as (...a: unknown[]) => unknown)(...args);
    let key = k;
    if (k === 'gemm') key = `gemm M${args[4]} N${args[5]} K${args[6]} tA${+!!args[7]} tB${+!!args[8]} b${args[14]}`;
    const s = stats.get(key) ?? { ms: 0, n: 0 }; s.ms += performance.now() - t0; s.n++; stats.set(key, s);
    return r;
  };
}
const c = vitConfig(name);
const model = new Model({ encoder: c, head: { kind: 'score', bins: 10 } }).init(new Rng(1));
const opt = new AdamW(model.params, { lr: 1e-4 });
const images = Tensor.zeros([16, 3, c.imgSize, c.imgSize]);
for (let i = 0; i < images.data.length; i++) images.data[i] = Math.sin(i);
const labels = Tensor.zeros([16, 10]).fill(0.1);
const arena = new Arena('bench');
const step = () => { model.params.zeroGrad(); supervisedStep(model, images, labels, arena); opt.update(1e-4); };
step(); step(); stats.clear();
const t0 = performance.now(); const R = 3;
for (let r = 0; r < R; r++) step();
const total = (performance.now() - t0) / R;
let acc = 0;
const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
for (const [k, s] of rows.slice(0, 30)) { acc += s.ms / R; console.log((s.ms / R).toFixed(1).padStart(8), String(s.n / R).padStart(5), k); }
console.log('step', total.toFixed(1), 'ms; in listed native calls', acc.toFixed(1));
