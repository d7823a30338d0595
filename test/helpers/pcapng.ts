// An independent pcapng block builder for tests, written plainly from draft-ietf-opsawg-pcapng rather than
// with the reader's code: files the reader (src/io/pcapng.ts) and `uvs replay` are tested against.

export type Order = 'le' | 'be';

/** A 16-bit field in the section's byte order. */
export function u16(v: number, o: Order): number[] {
  return o === 'le' ? [v & 0xff, v >>> 8] : [v >>> 8, v & 0xff];
}
/** A 32-bit field in the section's byte order. */
export function u32(v: number, o: Order): number[] {
  const b = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return o === 'le' ? b.reverse() : b;
}
export function padded(bytes: number[]): number[] {
  return [...bytes, ...new Array((4 - (bytes.length % 4)) % 4).fill(0)];
}
/** A block: type, total length, body, total length again. */
export function block(type: number, body: number[], o: Order): number[] {
  const len = 12 + body.length;
  return [...u32(type, o), ...u32(len, o), ...body, ...u32(len, o)];
}
/** An option, its value padded to 4 bytes. */
export function option(code: number, value: number[], o: Order): number[] {
  return [...u16(code, o), ...u16(value.length, o), ...padded(value)];
}
/** A Section Header Block of version major.minor, section length -1, no options. */
export function shb(o: Order, major = 1, minor = 0): number[] {
  return block(
    0x0a0d0d0a,
    [...u32(0x1a2b3c4d, o), ...u16(major, o), ...u16(minor, o), ...u32(0xffffffff, o), ...u32(0xffffffff, o)],
    o,
  );
}
/** An Interface Description Block; Ethernet with no snaplen unless told. */
export function idb(
  o: Order,
  opts: { linkType?: number; snaplen?: number; name?: string; tsresol?: number; tsoffset?: bigint } = {},
): number[] {
  const options: number[] = [];
  if (opts.name !== undefined) options.push(...option(2, [...new TextEncoder().encode(opts.name)], o));
  if (opts.tsresol !== undefined) options.push(...option(9, [opts.tsresol], o));
  if (opts.tsoffset !== undefined) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, opts.tsoffset, o === 'le');
    options.push(...option(14, [...b], o));
  }
  if (options.length > 0) options.push(...u16(0, o), ...u16(0, o));
  return block(1, [...u16(opts.linkType ?? 1, o), 0, 0, ...u32(opts.snaplen ?? 0, o), ...options], o);
}
/** An Enhanced Packet Block of `ts` units on interface `ifId`. */
export function epb(o: Order, ifId: number, ts: bigint, data: number[], origLen = data.length): number[] {
  const hi = Number(ts >> 32n);
  const lo = Number(ts & 0xffffffffn);
  return block(
    6,
    [...u32(ifId, o), ...u32(hi, o), ...u32(lo, o), ...u32(data.length, o), ...u32(origLen, o), ...padded(data)],
    o,
  );
}
/** The blocks, one after the other, as a file. */
export const file = (...blocks: number[][]) => Uint8Array.from(blocks.flat());
