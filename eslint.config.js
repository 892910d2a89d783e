import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of src/, lowest first: a folder imports only folders before it
// (docs/design.md). native.ts sits below tensor; index.ts sits on top.
const LAYERS = ['util', 'tensor', 'ops', 'nn', 'model', 'optim', 'dist', 'data', 'onnx', 'clip', 'run', 'eval', 'score', 'train', 'cli'];

function layerRules(layer, i) {
  const above = LAYERS.slice(i + 1);
  const patterns = [{ group: ['../index.js'], message: 'src/index.ts is the public surface, not for internal imports.' }];
  if (above.length > 0) patterns.push({ group: above.map((l) => `../${l}/*`), message: `src/${layer} may import only the layers below it (${LAYERS.slice(0, i).join(', ') || 'none'}); see docs/design.md.` });
  // util is below native.ts too.
  if (layer === 'util') patterns.push({ group: ['../native.js'], message: 'src/util sits below native.ts.' });
  return { files: [`src/${layer}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-emu/', 'node_modules/', 'runs/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...LAYERS.map(layerRules),
  {
    files: ['src/native.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: LAYERS.filter((l) => l !== 'util').map((l) => `./${l}/*`), message: 'src/native.ts sits below tensor: it may import only src/util.' }] }] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
