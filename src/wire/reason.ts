// Why a header failed validation. `checkLen()`-style functions return one of these codes and never throw;
// the datapath uses the code as an index into its drop counters, so the values are dense and stable.

export const Reason = {
  ok: 0,
  ethTruncated: 1,
  vlanTruncated: 2,
  arpTruncated: 3,
  arpUnsupported: 4, // not Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4)
  ipv4Truncated: 5,
  ipv4BadVersion: 6,
  ipv4BadIhl: 7, // IHL < 5, or header longer than the frame
  ipv4BadTotalLen: 8, // total length < IHL, or longer than the frame
  ipv4BadChecksum: 9,
  icmpTruncated: 10,
  icmpBadChecksum: 11,
  icmpInnerTruncated: 12, // an ICMP error whose embedded header is too short to identify a flow
  tcpTruncated: 13,
  tcpBadDataOffset: 14,
  udpTruncated: 15,
  udpBadLength: 16,
  ipipTruncated: 17,
  l4BadChecksum: 18,
  ipipBadProtocol: 19, // handed to the IPIP decapsulator, but the outer protocol is not 4
  ipipFragment: 20, // an outer IPIP fragment: the user-space decapsulator does not reassemble
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** Counter and log names, indexed by code. */
export const reasonNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of Object.entries(Reason)) names[code] = name;
  return names;
})();

export const REASON_COUNT = reasonNames.length;
