import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Namespace tests share the host's network stack; keep files from racing on it.
    fileParallelism: true,
    testTimeout: 20_000,
  },
});
