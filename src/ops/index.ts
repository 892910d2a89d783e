export * from './gemm.js';
export * from './attention.js';
export * from './layernorm.js';
export * from './softmax.js';
export * from './elementwise.js';
export * from './embedding.js';
export * from './losses.js';
export * from './optim.js';
