// Test helpers for golden byte arrays.

/** Parses a hex dump ("00 1b 21 ..."; blanks and newlines ignored) into bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new Error('odd hex length');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A buffer pre-filled with 0xa5, so that a field an emitter forgets to write shows up (smoltcp's trick). */
export function poisoned(len: number): Uint8Array {
  return new Uint8Array(len).fill(0xa5);
}
