// The only importer of the Node-API addon (native/). Everything else imports from here, so the shape of the
// addon is declared once.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Per-frame result codes written by `completePartial` (native/checksum.h `PartialResult`). */
export const PartialResult = {
  done: 0,
  skipped: 1,
  truncated: 2,
  unsupported: 3,
} as const;

export interface NativeAddon {
  /** Inverted Internet checksum of `buf[off, off+len)`. One crossing per call: tests and benchmarks only. */
  checksum(buf: Uint8Array, off: number, len: number): number;
  /** Checksums of `count` regions in one crossing; returns how many were computed. */
  checksumBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, out: Uint16Array, count: number): number;
  /**
   * Completes CHECKSUM_PARTIAL TCP/UDP checksums in place for every frame whose `status` is 1 on entry;
   * leaves a `PartialResult` code per frame in `status`. Returns the number completed.
   */
  completePartial(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, status: Uint8Array, count: number): number;
}

// dist/native.js and src/native.ts both sit one level below the package root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let cached: NativeAddon | undefined;

/** Loads the addon built by `npm install`, with a fix in the message if it was not built. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require(join(root, 'build', 'Release', 'uvs_native.node')) as NativeAddon;
  } catch (err) {
    throw new Error(
      `uvs: the native addon is not built (${(err as Error).message.split('\n')[0]}); run \`npm install\` or \`npm run build:native\``,
    );
  }
  return cached;
}
