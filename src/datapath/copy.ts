// Copying a frame between two batches without allocating. Buffer.prototype.copy crosses into C++ (about
// 100 ns even for 64 bytes, measured), and `set(subarray(...))` allocates a view per frame, so frames are
// copied here in 32-bit words through Int32Array views cached per buffer, byte by byte at unaligned edges.

export class FrameCopier {
  private srcBytes: Uint8Array | null = null;
  private srcWords: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private dstBytes: Uint8Array | null = null;
  private dstWords: Int32Array<ArrayBufferLike> = new Int32Array(0);

  copy(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void {
    if (((srcOff | dstOff | src.byteOffset | dst.byteOffset) & 3) !== 0) {
      for (let k = 0; k < len; k++) dst[dstOff + k] = src[srcOff + k]!;
      return;
    }
    if (src !== this.srcBytes) {
      this.srcBytes = src;
      this.srcWords = new Int32Array(src.buffer, src.byteOffset, src.byteLength >>> 2);
    }
    if (dst !== this.dstBytes) {
      this.dstBytes = dst;
      this.dstWords = new Int32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2);
    }
    const s = this.srcWords;
    const d = this.dstWords;
    const words = len >>> 2;
    const sw = srcOff >>> 2;
    const dw = dstOff >>> 2;
    // Four words per iteration: a frame is mostly 16-byte blocks, and the loop overhead is half the cost.
    const blocksEnd = words & ~3;
    let k = 0;
    for (; k < blocksEnd; k += 4) {
      d[dw + k] = s[sw + k]!;
      d[dw + k + 1] = s[sw + k + 1]!;
      d[dw + k + 2] = s[sw + k + 2]!;
      d[dw + k + 3] = s[sw + k + 3]!;
    }
    for (; k < words; k++) d[dw + k] = s[sw + k]!;
    for (let k = words << 2; k < len; k++) dst[dstOff + k] = src[srcOff + k]!;
  }
}
