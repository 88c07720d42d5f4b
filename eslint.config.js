// One linter config for the whole package: typescript-eslint's recommended rules on top of ESLint's.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // validators.generated.ts is Ajv's generated code (scripts/build-validators.mjs), checked by test/unit/api-validators.test.ts.
  { ignores: ['dist/', 'node_modules/', 'downloads/', 'bench/results/', 'src/api/validators.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' }
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error'
    }
  },
  {
    files: ['src/cli/**', 'bench/**', 'test/**', 'bin/**'],
    rules: { 'no-console': 'off' }
  }
)
