import { matmul } from '../src/ops/index.js';
import { Tensor } from '../src/tensor/tensor.js';
import { native } from '../src/native.js';
const shapes = [[1024,1024,1024,0,0],[3152,384,1152,0,1],[3152,1536,384,0,1],[1152,3152,384,1,0]];
const threads = (process.argv[2] ?? '1,2').split(',').map(Number);
for (const t of threads) {
  native.setNumThreads(t);
  const row: string[] = [];
  for (const [m,k,n,ta,tb] of shapes) {
    const a = Tensor.zeros(ta ? [k,m] : [m,k]); const b = Tensor.zeros(tb ? [n,k] : [k,n]); const c = Tensor.zeros([m,n]);
    for (let i=0;i<a.data.length;i++) a.data[i]=Math.sin(i); for (let i=0;i<b.data.length;i++) b.data[i]=Math.cos(i);
    const ts: number[] = [];
    for (let r=0;r<30;r++){ const t0=performance.now(); matmul(a,b,c,{transA:!!ta,transB:!!tb}); ts.push(performance.now()-t0); }
    ts.sort((x,y)=>x-y);
    const g = (ms: number) => (2*m*n*k/ms/1e6).toFixed(0);
    row.push(`${g(ts[0]!)}/${g(ts[15]!)}`);
  }
  console.log(`t=${t} GFLOP/s best/median:`, row.join('  '));
}
