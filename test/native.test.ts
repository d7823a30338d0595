// Where the addon is loaded from: the normal build, or the one UVS_NATIVE_PATH names (the sanitizer build of
// scripts/sanitize.sh, which must never replace the one other processes load).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeAddonPath } from '../src/native.js';

describe('nativeAddonPath', () => {
  it('is build/Release/uvs_native.node of the package unless UVS_NATIVE_PATH names another file', () => {
    const normal = join(import.meta.dirname, '..', 'build', 'Release', 'uvs_native.node');
    expect(nativeAddonPath({})).toBe(normal);
    expect(nativeAddonPath({ UVS_NATIVE_PATH: '' })).toBe(normal);
    expect(nativeAddonPath({ UVS_NATIVE_PATH: '/opt/uvs/sanitized.node' })).toBe('/opt/uvs/sanitized.node');
  });
});
