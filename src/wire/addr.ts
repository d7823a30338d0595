// Addresses as numbers: IPv4 as an unsigned 32-bit host-order number, MAC as a 48-bit number (exact in a
// double). The datapath compares and hashes numbers; strings exist only for the control plane and tests.

import { read16, read32, write16, write32 } from './bytes.js';

/** Reads a big-endian IPv4 address as an unsigned number. */
export const readIpv4 = read32;
export const writeIpv4 = write32;

export function readMac(buf: Uint8Array, off: number): number {
  return read16(buf, off) * 0x100000000 + read32(buf, off + 2);
}

export function writeMac(buf: Uint8Array, off: number, mac: number): void {
  write16(buf, off, Math.floor(mac / 0x100000000));
  write32(buf, off + 2, mac % 0x100000000);
}

/**
 * A MAC as two small integers, for the hot path (a 48-bit number is a heap number to V8, allocated whenever
 * it crosses a call that was not inlined): its first two bytes, and its last four as a signed 32-bit number.
 */
export function macHigh16(mac: number): number {
  return Math.floor(mac / 0x100000000);
}

export function macLow32(mac: number): number {
  return (mac % 0x100000000) | 0;
}

export function writeMacWords(buf: Uint8Array, off: number, high16: number, low32: number): void {
  write16(buf, off, high16);
  write32(buf, off + 2, low32);
}

export const BROADCAST_MAC = 0xffffffffffff;

export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses dotted-quad IPv4; returns undefined for anything else (no shorthand forms, no leading zeros). */
export function parseIpv4Address(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let addr = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    addr = addr * 256 + octet;
  }
  return addr;
}

export function macToString(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return hex.match(/../g)?.join(':') ?? hex;
}

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`); returns undefined for anything else. */
export function parseMac(text: string): number | undefined {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) return undefined;
  return Number.parseInt(m.slice(1).join(''), 16);
}
