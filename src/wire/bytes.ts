// Big-endian field access over a byte buffer. Network byte order everywhere; callers check bounds first.

export function read16(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

export function write16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Reads an unsigned 32-bit big-endian value. */
export function read32(buf: Uint8Array, off: number): number {
  return (
    (((buf[off] as number) << 24) |
      ((buf[off + 1] as number) << 16) |
      ((buf[off + 2] as number) << 8) |
      (buf[off + 3] as number)) >>>
    0
  );
}

/**
 * Reads a 32-bit big-endian value as a signed 32-bit number. For the hot path: V8 on 64-bit Node (no pointer
 * compression) keeps every int32 a small integer, while an unsigned value of 2^31 or more is a heap number,
 * allocated afresh whenever it is returned from, or passed to, a function that was not inlined.
 */
export function read32i(buf: Uint8Array, off: number): number {
  return (
    ((buf[off] as number) << 24) |
    ((buf[off + 1] as number) << 16) |
    ((buf[off + 2] as number) << 8) |
    (buf[off + 3] as number)
  );
}

export function write32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Buffer's copy, usable on any Uint8Array: `copyBytes.call(source, target, targetStart, sourceStart,
 * sourceEnd)`. It takes a source range, so no subarray view is made per copy.
 */
export const copyBytes = Buffer.prototype.copy as (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  sourceStart: number,
  sourceEnd: number,
) => number;
