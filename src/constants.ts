// Protocol numbers and limits shared by the datapath, the control plane and the tools. One module, so the
// two sides cannot drift apart.

export const EtherType = {
  ipv4: 0x0800,
  arp: 0x0806,
  vlan: 0x8100,
  qinq: 0x88a8,
  ipv6: 0x86dd,
} as const;

export const IpProto = {
  icmp: 1,
  ipip: 4,
  tcp: 6,
  udp: 17,
  gre: 47,
  sctp: 132,
} as const;

/** Largest frame a slot holds: a 1500-byte MTU plus Ethernet, two VLAN tags and an IPIP header of headroom. */
export const MAX_FRAME = 1500 + 14 + 8 + 20;
