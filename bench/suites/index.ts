// The registry: one entry per suite file. Names are stable (they key the JSON
// results and select suites on the command line); append new suites here.
import type { Suite } from '../lib/types.js';
import { adamw } from './adamw.js';
import { align } from './align.js';
import { attention } from './attention.js';
import { emd } from './emd.js';
import { galleryThumbs } from './gallery_thumbs.js';
import { gemm } from './gemm.js';
import { layernorm } from './layernorm.js';
import { loader } from './loader.js';
import { vitSmallTrain, vitTinyInfer, vitTinyTrain } from './vit.js';

export const suites: readonly Suite[] = [gemm, attention, layernorm, emd, align, adamw, vitTinyTrain, vitSmallTrain, vitTinyInfer, loader, galleryThumbs];
