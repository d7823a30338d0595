// The part every header view shares: the (buffer, offset, length) it is bound to. Views are rebound per
// packet with reset(), so one view object serves every packet and nothing is allocated.

const EMPTY = new Uint8Array(0);

export abstract class WireView {
  buf: Uint8Array = EMPTY;
  off = 0;
  /** Bytes available from `off`: what the frame holds, which may be more than the header claims. */
  len = 0;

  reset(buf: Uint8Array, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }
}
