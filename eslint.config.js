import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** `npm run lint`: these rules, Prettier's formatting, and the layering rules of .dependency-cruiser.cjs. */
export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/profiles/', 'bench/results.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // An import used only for types says so: it is then no run-time dependency, and may cross feature lines.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Refusing control characters in input is what these patterns are for.
      'no-control-regex': 'off',
      // French typography puts no-break spaces before « : ; ! ? » and inside guillemets, in strings and templates.
      'no-irregular-whitespace': ['error', { skipStrings: true, skipTemplates: true, skipRegExps: true }],
    },
  },
  {
    // Tests and the bench read answers as loosely shaped JSON.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  prettier,
);
