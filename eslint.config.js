// Lint rules for our TypeScript (extension, mode, unit tests) and JavaScript (server, e2e,
// bench, build config): the recommended sets of ESLint, typescript-eslint and React hooks.
// Formatting is prettier's job (.prettierrc.json); `npm run lint` checks both.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.venv/**',
      '.cache/**',
      'test-results/**',
      'models/**',
      'data/**',
      'bench/relaxed-simd-probe/**',
    ],
  },
  {
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['**/*.{ts,tsx}'],
    extends: [...tseslint.configs.recommended],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // `const { map, ...rest } = x` is how a typed copy without `map` is spelled.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Unit tests build partial fakes of the OHIF/Cornerstone host and raw dcmjs datasets,
    // whose published types are either absent (dcmjs) or far larger than what a fake needs.
    files: ['tests/unit/**/*.{ts,tsx}'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
