// Batched AF_PACKET I/O for the datapath (see packet_io.h). Batch calls never throw: bad arguments and
// socket errors come back as a negative errno, so the per-batch loop in JS has no try/catch. Only
// packetOpen, packetClose and pollStart throw, with the errno name in the message and in `code`.
#include "packet_io.h"

#include "napi_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "checksum.h"
#include "gso.h"

namespace uvs {
namespace {

// kMaxBatch (layout.h): a batch larger than that gains nothing (the ring of one socket rarely holds more at
// a wake-up) and would make the scratch arrays below large.
constexpr size_t kCtrlLen = CMSG_SPACE(sizeof(tpacket_auxdata));
constexpr uint32_t kVlanTagLen = 4;
constexpr uint16_t kTpid8021Q = 0x8100;

// Room past a slot for the rest of a GSO super-frame received with recvmmsg: the kernel's GSO limit
// (GSO_LEGACY_MAX_SIZE) is 64 KiB, and a slot holds the first part.
constexpr size_t kSpillPerFrame = 65536;

// The mmsghdr/iovec/address/control arrays for one batch call, reused by every call on the thread so that
// a call allocates nothing.
struct Scratch {
  mmsghdr msgs[kMaxBatch];
  // Receive: [VnetHeader] slot [spill]; send: [VnetHeader] frame. The header only with
  // PACKET_VNET_HDR, the spill only where it could be mapped.
  iovec iov[kMaxBatch][3];
  VnetHeader vnet[kMaxBatch];
  sockaddr_ll addr[kMaxBatch];
  alignas(cmsghdr) uint8_t ctrl[kMaxBatch][kCtrlLen];
  // kSpillPerFrame per message, mapped on first use without reserving memory: only the pages a
  // super-frame's tail lands on are ever touched. nullptr if the mapping failed.
  uint8_t* spill = nullptr;
  bool spill_tried = false;
};

uint8_t* SpillArea(Scratch* s) {
  if (!s->spill_tried) {
    s->spill_tried = true;
    void* m = mmap(nullptr, kSpillPerFrame * kMaxBatch, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    s->spill = m == MAP_FAILED ? nullptr : static_cast<uint8_t*>(m);
  }
  return s->spill;
}

// What a socket of packetOpen carries between calls: whether it has PACKET_VNET_HDR (every frame in and
// out then starts with a VnetHeader), and the frames of a recvmmsg call that wait their turn behind a
// GSO super-frame still being cut into segments. Only the JS thread opens, uses and closes these sockets.
struct PendingFrame {
  size_t off;
  uint32_t len;
  uint32_t status;
  uint16_t tci, tpid;
  int ifindex;
  uint8_t pkt_type;
  uint8_t gso_type;
  uint16_t gso_size;
  bool truncated;
};

struct SocketState {
  bool vnet = false;
  std::vector<uint8_t> bytes;          // the waiting frames, back to back (capacity kept: no allocation later)
  std::vector<PendingFrame> frames;
  size_t head = 0;                     // next frame to hand out
  uint32_t next_segment = 0;           // of frames[head], when it is a GSO frame cut partway
};

std::unordered_map<int, SocketState>& Sockets() {
  static std::unordered_map<int, SocketState> sockets;
  return sockets;
}

SocketState* FindSocket(int fd) {
  auto it = Sockets().find(fd);
  return it == Sockets().end() ? nullptr : &it->second;
}

Scratch* GetScratch() {
  thread_local std::unique_ptr<Scratch> scratch;
  if (!scratch) scratch.reset(new Scratch());
  return scratch.get();
}

template <typename T>
bool IsTyped(const Napi::Value& v, napi_typedarray_type type, T* out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) return false;
  *out = v.As<T>();
  return true;
}

bool IsUint(const Napi::Value& v, uint32_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0)) return false;
  *out = uint32_t(d);
  return true;
}

// A TPACKET_V3 receive ring: the kernel fills variable-length frames into fixed-size blocks and hands a
// whole block over at once (when full, or after the retire timeout), so a busy socket costs no system call
// per batch at all. It measured 0.39-0.42 Mpps against 0.30 for recvmmsg on this VM (docs/design.md).
struct Ring {
  uint8_t* map = nullptr;
  size_t map_len = 0;
  uint32_t block_size = 0;
  uint32_t block_count = 0;
  uint32_t block = 0;         // block to read next
  bool in_block = false;      // frames of `block` are being handed out
  uint32_t remaining = 0;     // frames of `block` not handed out yet
  const uint8_t* next = nullptr;
  bool vnet = false;          // frames are preceded by a VnetHeader (PACKET_VNET_HDR)
  uint32_t next_segment = 0;  // of the frame at `next`, when it is a GSO frame cut partway
};

void UnmapRing(Ring* r) {
  if (r->map) munmap(r->map, r->map_len);
  r->map = nullptr;
}

// packetOpen(ifname, rcvbuf, sndbuf, qdiscBypass, ringBlockSize, ringBlockCount, ringRetireMs, gso):
//   { fd, ifindex, mac, mtu, rcvbuf, sndbuf, qdiscBypass, gso, ring? }. ringBlockSize 0: no ring (recvmmsg).
// gso: ask for PACKET_VNET_HDR, so that GSO super-frames are recognised and cut into segments on receive;
// `gso` in the result says whether the kernel agreed.
Napi::Value PacketOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "ifname: string required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  uint32_t rcvbuf = 0, sndbuf = 0;
  IsUint(info[1], &rcvbuf);
  IsUint(info[2], &sndbuf);
  bool bypass = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  uint32_t ring_block_size = 0, ring_block_count = 0, ring_retire_ms = 0;
  IsUint(info[4], &ring_block_size);
  IsUint(info[5], &ring_block_count);
  IsUint(info[6], &ring_retire_ms);
  bool want_gso = info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, "packetOpen(" + ifname + "): bad interface name");
    return env.Undefined();
  }

  // Protocol 0 until bind: a socket created with ETH_P_ALL would queue frames from every interface in the
  // namespace until it is bound to one.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "packetOpen(" + ifname + "): socket(AF_PACKET)");
    return env.Undefined();
  }
  auto fail = [&](const char* step) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "packetOpen(" + ifname + "): " + step);
    return env.Undefined();
  };

  ifreq ifr{};
  memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) return fail("SIOCGIFINDEX");
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return fail("SIOCGIFHWADDR");
  const auto* hw = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
  double mac = 0;
  for (int i = 0; i < 6; i++) mac = mac * 256 + hw[i];
  if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) return fail("SIOCGIFMTU");
  int mtu = ifr.ifr_mtu;

  int one = 1;
  // Learns per frame whether the checksum is partial and which VLAN tag the kernel stripped.
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) return fail("PACKET_AUXDATA");
  // The forwarder's own transmissions (and the kernel's) would otherwise come back as PACKET_OUTGOING.
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) return fail("PACKET_IGNORE_OUTGOING");
  // rmem_max cannot be raised on these VMs; root can size past it with the FORCE variant (docs/design.md).
  if (rcvbuf > 0) {
    int v = int(rcvbuf > 0x7fffffff ? 0x7fffffff : rcvbuf);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0)
      return fail("SO_RCVBUF");
  }
  if (sndbuf > 0) {
    int v = int(sndbuf > 0x7fffffff ? 0x7fffffff : sndbuf);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0)
      return fail("SO_SNDBUF");
  }
  // Skips the qdisc layer on transmit; not fatal where unsupported, the flag in the result says which.
  bool bypassed = bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
  // Before the ring: the kernel refuses PACKET_VNET_HDR on a socket that has one. Without it (an old
  // kernel), super-frames arrive cut off at the slot and are dropped as truncated, as before.
  bool vnet = want_gso && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0;

  std::unique_ptr<Ring> ring;
  if (ring_block_size > 0) {
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) return fail("PACKET_VERSION");
    tpacket_req3 req{};
    req.tp_block_size = ring_block_size;
    req.tp_block_nr = ring_block_count;
    // V3 frames are variable-length; the frame size only has to divide the block for the kernel's checks.
    req.tp_frame_size = 2048;
    req.tp_frame_nr = uint32_t((uint64_t(ring_block_size) * ring_block_count) / req.tp_frame_size);
    req.tp_retire_blk_tov = ring_retire_ms;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) return fail("PACKET_RX_RING");
    ring = std::make_unique<Ring>();
    ring->vnet = vnet;
    ring->block_size = ring_block_size;
    ring->block_count = ring_block_count;
    ring->map_len = size_t(ring_block_size) * ring_block_count;
    void* map = mmap(nullptr, ring->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    // MAP_LOCKED fails under a low RLIMIT_MEMLOCK; the ring works unlocked, only with possible page faults.
    if (map == MAP_FAILED) map = mmap(nullptr, ring->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return fail("mmap(PACKET_RX_RING)");
    ring->map = static_cast<uint8_t*>(map);
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  // ETH_P_ALL taps run before the netdev ingress hook, so the socket still sees frames that an nftables
  // ingress drop keeps from the kernel's stack; a socket bound to one EtherType would not (docs/design.md).
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
    int err = errno;
    if (ring) UnmapRing(ring.get());
    errno = err;
    return fail("bind");
  }

  int got_rcv = 0, got_snd = 0;
  socklen_t sl = sizeof got_rcv;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got_rcv, &sl);
  sl = sizeof got_snd;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got_snd, &sl);

  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("ifindex", Napi::Number::New(env, ifindex));
  out.Set("mac", Napi::Number::New(env, mac));
  out.Set("mtu", Napi::Number::New(env, mtu));
  out.Set("rcvbuf", Napi::Number::New(env, got_rcv));
  out.Set("sndbuf", Napi::Number::New(env, got_snd));
  out.Set("qdiscBypass", Napi::Boolean::New(env, bypassed));
  out.Set("gso", Napi::Boolean::New(env, vnet));
  SocketState state;
  state.vnet = vnet;
  Sockets()[fd] = std::move(state);
  if (ring) {
    out.Set("ring", Napi::External<Ring>::New(env, ring.release(), [](Napi::Env, Ring* r) {
      UnmapRing(r);
      delete r;
    }));
  }
  return out;
}

// packetClose(fd): undefined
Napi::Value PacketClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd;
  if (!IsUint(info[0], &fd)) {
    Napi::TypeError::New(env, "fd: number required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Sockets().erase(int(fd));
  if (close(int(fd)) < 0) ThrowErrno(env, errno, "packetClose");
  return env.Undefined();
}

// Puts a tag the kernel stripped (skb VLAN acceleration) back between the source MAC and the EtherType,
// using 4 bytes of the slot's headroom, so the datapath sees the frame as it was on the wire.
inline uint8_t* ReinsertVlan(uint8_t* frame, uint16_t tpid, uint16_t tci) {
  uint8_t* start = frame - kVlanTagLen;
  memmove(start, frame, 12);
  start[12] = uint8_t(tpid >> 8);
  start[13] = uint8_t(tpid);
  start[14] = uint8_t(tci >> 8);
  start[15] = uint8_t(tci);
  return start;
}

// The batch arrays of a receive call, checked once per call.
struct RecvBatch {
  uint8_t* base;
  uint32_t* offset;
  uint32_t* length;
  uint32_t* ifindex;
  uint8_t* flags;
  uint16_t* vlan;
  uint8_t* pkt_type;
  uint32_t slot;
  uint32_t headroom;
  uint32_t max;
};

// Reads (bytes, offset, length, ifindex, flags, vlanTci, pktType, slotSize, headroom, max) from info[at..].
bool GetRecvBatch(const Napi::CallbackInfo& info, size_t at, RecvBatch* b) {
  Napi::Uint8Array bytes, flags, pkt_type;
  Napi::Uint32Array offset, length, ifindex;
  Napi::Uint16Array vlan;
  if (info.Length() < at + 10 || !IsTyped(info[at], napi_uint8_array, &bytes) ||
      !IsTyped(info[at + 1], napi_uint32_array, &offset) || !IsTyped(info[at + 2], napi_uint32_array, &length) ||
      !IsTyped(info[at + 3], napi_uint32_array, &ifindex) || !IsTyped(info[at + 4], napi_uint8_array, &flags) ||
      !IsTyped(info[at + 5], napi_uint16_array, &vlan) || !IsTyped(info[at + 6], napi_uint8_array, &pkt_type) ||
      !IsUint(info[at + 7], &b->slot) || !IsUint(info[at + 8], &b->headroom) || !IsUint(info[at + 9], &b->max))
    return false;
  uint32_t max = b->max;
  if (max > kMaxBatch || max > offset.ElementLength() || max > length.ElementLength() ||
      max > ifindex.ElementLength() || max > flags.ElementLength() || max > vlan.ElementLength() ||
      max > pkt_type.ElementLength() || b->headroom < kVlanTagLen || b->headroom >= b->slot ||
      size_t(b->slot) * max > bytes.ByteLength())
    return false;
  b->base = bytes.Data();
  b->offset = offset.Data();
  b->length = length.Data();
  b->ifindex = ifindex.Data();
  b->flags = flags.Data();
  b->vlan = vlan.Data();
  b->pkt_type = pkt_type.Data();
  return true;
}

// Fills the metadata of frame `out`, whose bytes are already at its slot's headroom, from the kernel's
// per-packet status (PACKET_AUXDATA or the ring header: the same TP_STATUS_* bits).
void FinishFrame(RecvBatch& b, uint32_t out, uint32_t len, bool truncated, uint32_t status, uint16_t tci,
                 uint16_t tpid, int ifindex, uint8_t pkt_type) {
  uint8_t* frame = b.base + size_t(out) * b.slot + b.headroom;
  uint8_t fl = truncated ? kFrameTruncated : 0;
  if ((status & TP_STATUS_VLAN_VALID) && len >= 12) {
    frame = ReinsertVlan(frame, (status & TP_STATUS_VLAN_TPID_VALID) ? tpid : kTpid8021Q, tci);
    len += kVlanTagLen;
    fl |= kFrameVlan;
  } else {
    tci = 0;
  }
  if (status & TP_STATUS_CSUMNOTREADY) {
    fl |= kFrameCsumNotReady;
    bool done = !truncated && complete_partial_one(frame, len) == kPartialDone;
    fl |= done ? kFrameCsumCompleted : kFrameCsumUnfixable;
  }
  if (status & TP_STATUS_CSUM_VALID) fl |= kFrameCsumValid;
  b.offset[out] = uint32_t(frame - b.base);
  b.length[out] = len;
  b.ifindex[out] = uint32_t(ifindex);
  b.flags[out] = fl;
  b.vlan[out] = tci;
  b.pkt_type[out] = pkt_type;
}

// Hands one received frame (len bytes at `frame`, outside the batch) to the batch from slot *out on: one
// slot; or, for a TCP GSO super-frame, one slot per segment from segment *next on (the rest is dropped as
// truncated when uvs cannot cut it). Returns false when the batch filled before the frame was all out:
// *next then says where to resume.
bool EmitFrame(RecvBatch& b, uint32_t* out, const uint8_t* frame, uint32_t len, bool truncated, uint32_t status,
               uint16_t tci, uint16_t tpid, int ifindex, uint8_t pkt_type, uint8_t gso_type, uint16_t gso_size,
               uint32_t* next) {
  uint32_t room = b.slot - b.headroom;
  GsoPlan plan;
  if (gso_type != kGsoNone && !truncated && PlanGso(frame, len, gso_type, gso_size, room, &plan)) {
    // Every segment's checksums are computed whole: only the VLAN bits of the status still apply.
    uint32_t seg_status = status & ~uint32_t(TP_STATUS_CSUMNOTREADY);
    for (; *next < plan.count; (*next)++, (*out)++) {
      if (*out >= b.max) return false;
      uint32_t n = WriteGsoSegment(frame, plan, *next, b.base + size_t(*out) * b.slot + b.headroom);
      FinishFrame(b, *out, n, false, seg_status, tci, tpid, ifindex, pkt_type);
      b.flags[*out] |= kFrameSegmented;
    }
    *next = 0;
    return true;
  }
  if (*out >= b.max) return false;
  uint32_t n = len < room ? len : room;
  memcpy(b.base + size_t(*out) * b.slot + b.headroom, frame, n);
  FinishFrame(b, *out, n, truncated || len > room, status, tci, tpid, ifindex, pkt_type);
  (*out)++;
  return true;
}

// Hands out the frames waiting behind a super-frame (see SocketState); false when the batch filled first.
bool DrainPending(RecvBatch& b, uint32_t* out, SocketState* st) {
  while (st->head < st->frames.size()) {
    const PendingFrame& f = st->frames[st->head];
    if (!EmitFrame(b, out, st->bytes.data() + f.off, f.len, f.truncated, f.status, f.tci, f.tpid, f.ifindex,
                   f.pkt_type, f.gso_type, f.gso_size, &st->next_segment))
      return false;
    st->head++;
  }
  st->frames.clear();
  st->bytes.clear();
  st->head = 0;
  return true;
}

const tpacket_auxdata* AuxData(msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
        c->cmsg_len >= CMSG_LEN(sizeof(tpacket_auxdata)))
      return reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(c));
  }
  return nullptr;
}

// packetRecv(fd, bytes: Uint8Array, offset: Uint32Array, length: Uint32Array, ifindex: Uint32Array,
//            flags: Uint8Array, vlanTci: Uint16Array, pktType: Uint8Array, slotSize, headroom, max)
//   -> frames received (0 when none is waiting), or -errno.
// Frame i is received into slot i at `headroom`; offset[i] is its absolute offset in `bytes` (4 bytes
// earlier when a VLAN tag was put back). On a socket with PACKET_VNET_HDR, a TCP GSO super-frame (its tail
// lands in a spill area past the slot) becomes its segments, in order: it and the frames after it in the
// same recvmmsg wait in the socket's pending store, which the next calls empty before they receive more.
Napi::Value PacketRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd;
  RecvBatch b;
  if (!IsUint(info[0], &fd) || !GetRecvBatch(info, 1, &b)) return Napi::Number::New(env, -EINVAL);
  if (b.max == 0) return Napi::Number::New(env, 0);

  SocketState* st = FindSocket(int(fd));
  uint32_t out = 0;
  if (st && !DrainPending(b, &out, st)) return Napi::Number::New(env, out);
  if (out >= b.max) return Napi::Number::New(env, out);

  Scratch* s = GetScratch();
  bool vnet = st && st->vnet;
  uint8_t* spill = vnet ? SpillArea(s) : nullptr;
  uint32_t room = b.slot - b.headroom;
  uint32_t first = out, want = b.max - out;
  for (uint32_t i = 0; i < want; i++) {
    iovec* v = s->iov[i];
    int k = 0;
    if (vnet) v[k++] = {&s->vnet[i], sizeof(VnetHeader)};
    v[k++] = {b.base + size_t(first + i) * b.slot + b.headroom, room};
    if (spill) v[k++] = {spill + i * kSpillPerFrame, kSpillPerFrame};
    msghdr& h = s->msgs[i].msg_hdr;
    h.msg_name = &s->addr[i];
    h.msg_namelen = sizeof(sockaddr_ll);
    h.msg_iov = v;
    h.msg_iovlen = size_t(k);
    h.msg_control = s->ctrl[i];
    h.msg_controllen = kCtrlLen;
    h.msg_flags = 0;
    s->msgs[i].msg_len = 0;
  }
  int n = recvmmsg(int(fd), s->msgs, want, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return Napi::Number::New(env, out);
    return Napi::Number::New(env, out > 0 ? int(out) : -err);
  }

  uint32_t hdr = vnet ? sizeof(VnetHeader) : 0;
  for (int i = 0; i < n; i++) {
    // PACKET_IGNORE_OUTGOING already keeps these away; this is the fallback for a kernel without it.
    if (s->addr[i].sll_pkttype == PACKET_OUTGOING) continue;
    msghdr& h = s->msgs[i].msg_hdr;
    uint32_t len = s->msgs[i].msg_len > hdr ? s->msgs[i].msg_len - hdr : 0;
    const tpacket_auxdata* aux = AuxData(h);
    bool truncated = (h.msg_flags & MSG_TRUNC) != 0;
    uint8_t gso_type = vnet ? s->vnet[i].gso_type : uint8_t(kGsoNone);
    uint8_t* slot = static_cast<uint8_t*>(h.msg_iov[vnet ? 1 : 0].iov_base);
    // (gso_type is set only on a socket with PACKET_VNET_HDR, so st is there below.)
    if (gso_type == kGsoNone) {
      // One slot: a frame longer than the slot keeps its head and is flagged truncated.
      if (len > room) {
        len = room;
        truncated = true;
      }
      if (first + uint32_t(i) != out) memmove(b.base + size_t(out) * b.slot + b.headroom, slot, len);
      FinishFrame(b, out, len, truncated, aux ? aux->tp_status : 0, aux ? aux->tp_vlan_tci : 0,
                  aux ? aux->tp_vlan_tpid : 0, s->addr[i].sll_ifindex, s->addr[i].sll_pkttype);
      out++;
      continue;
    }
    // A super-frame: it and every frame after it go to the pending store in order (copied out first, as
    // handing out segments overwrites the slots they sit in), then out as far as the batch goes.
    for (int j = i; j < n; j++) {
      if (s->addr[j].sll_pkttype == PACKET_OUTGOING) continue;
      msghdr& hj = s->msgs[j].msg_hdr;
      uint32_t lj = s->msgs[j].msg_len > hdr ? s->msgs[j].msg_len - hdr : 0;
      uint32_t head = lj < room ? lj : room;
      uint32_t tail = lj - head;
      const tpacket_auxdata* aj = AuxData(hj);
      PendingFrame f{st->bytes.size(), lj, aj ? aj->tp_status : 0, aj ? aj->tp_vlan_tci : uint16_t(0),
                     aj ? aj->tp_vlan_tpid : uint16_t(0), s->addr[j].sll_ifindex, s->addr[j].sll_pkttype,
                     s->vnet[j].gso_type, s->vnet[j].gso_size, (hj.msg_flags & MSG_TRUNC) != 0};
      const auto* sj = static_cast<const uint8_t*>(hj.msg_iov[1].iov_base);
      st->bytes.insert(st->bytes.end(), sj, sj + head);
      // A tail exists only where the spill iovec took it (msg_len counts what was copied).
      if (tail > 0) {
        const uint8_t* spilled = spill + size_t(j) * kSpillPerFrame;
        st->bytes.insert(st->bytes.end(), spilled, spilled + tail);
      }
      st->frames.push_back(f);
    }
    st->next_segment = 0;
    DrainPending(b, &out, st);
    break;
  }
  return Napi::Number::New(env, out);
}

// packetRecvRing(ring, bytes, offset, length, ifindex, flags, vlanTci, pktType, slotSize, headroom, max)
//   -> frames copied out of the TPACKET_V3 ring (0 when no block is ready), or -errno. Same batch layout
// and metadata as packetRecv, GSO super-frames cut into segments included. A block goes back to the kernel
// once all its frames are handed out; a batch that fills up mid-block (or mid-super-frame) resumes there
// on the next call.
Napi::Value PacketRecvRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RecvBatch b;
  if (!info[0].IsExternal() || !GetRecvBatch(info, 1, &b)) return Napi::Number::New(env, -EINVAL);
  Ring* r = info[0].As<Napi::External<Ring>>().Data();
  if (r->map == nullptr) return Napi::Number::New(env, -EBADF);
  uint32_t out = 0;
  for (;;) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(r->map + size_t(r->block) * r->block_size);
    if (!r->in_block) {
      if (out >= b.max) break;
      if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      r->in_block = true;
      r->remaining = bd->hdr.bh1.num_pkts;
      r->next = reinterpret_cast<const uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
      r->next_segment = 0;
    }
    if (r->remaining > 0) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(r->next);
      const auto* sll = reinterpret_cast<const sockaddr_ll*>(r->next + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      // PACKET_IGNORE_OUTGOING already keeps these away; this is the fallback for a kernel without it.
      if (sll->sll_pkttype != PACKET_OUTGOING) {
        uint8_t gso_type = kGsoNone;
        uint16_t gso_size = 0;
        if (r->vnet && h->tp_mac >= sizeof(VnetHeader)) {
          const auto* vh = reinterpret_cast<const VnetHeader*>(r->next + h->tp_mac - sizeof(VnetHeader));
          gso_type = vh->gso_type;
          gso_size = vh->gso_size;
        }
        if (!EmitFrame(b, &out, r->next + h->tp_mac, h->tp_snaplen, h->tp_snaplen < h->tp_len, h->tp_status,
                       h->hv1.tp_vlan_tci, h->hv1.tp_vlan_tpid, sll->sll_ifindex, sll->sll_pkttype, gso_type,
                       gso_size, &r->next_segment))
          break;
      }
      r->remaining--;
      r->next += h->tp_next_offset;
    }
    if (r->remaining == 0) {
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      r->in_block = false;
      r->block = (r->block + 1) % r->block_count;
    }
  }
  return Napi::Number::New(env, out);
}

// packetRingClose(ring): unmaps the ring (before the socket is closed); safe to call twice.
Napi::Value PacketRingClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) {
    Napi::TypeError::New(env, "packetRingClose(ring) required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  UnmapRing(info[0].As<Napi::External<Ring>>().Data());
  return env.Undefined();
}

// packetSend(fd, bytes: Uint8Array, offset: Uint32Array, length: Uint32Array, egress: Uint32Array, count,
//            result: Int32Array(3 or 4)) -> frames sent, or -errno for bad arguments.
// egress[i] is the ifindex to send frame i out of, or 0 for the interface the socket is bound to.
// result = [sent, dropped, last errno, dropped for a full queue]: a frame the kernel refuses (EMSGSIZE,
// ENETDOWN, ...) or that lies outside `bytes` is dropped and the rest still go; EAGAIN/ENOBUFS (the socket's
// send buffer or the device queue is full) stops the batch, and every frame not sent by then is dropped
// too, counted in result[3] (when there) as well as in result[1]. So sent + dropped == count, always.
Napi::Value PacketSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array bytes;
  Napi::Uint32Array offset, length, egress;
  Napi::Int32Array result;
  uint32_t fd, count;
  if (info.Length() < 7 || !IsUint(info[0], &fd) || !IsTyped(info[1], napi_uint8_array, &bytes) ||
      !IsTyped(info[2], napi_uint32_array, &offset) || !IsTyped(info[3], napi_uint32_array, &length) ||
      !IsTyped(info[4], napi_uint32_array, &egress) || !IsUint(info[5], &count) ||
      !IsTyped(info[6], napi_int32_array, &result))
    return Napi::Number::New(env, -EINVAL);
  if (count > kMaxBatch || count > offset.ElementLength() || count > length.ElementLength() ||
      count > egress.ElementLength() || result.ElementLength() <= kSendErrno)
    return Napi::Number::New(env, -EINVAL);

  Scratch* s = GetScratch();
  uint8_t* base = bytes.Data();
  size_t size = bytes.ByteLength();
  // With PACKET_VNET_HDR every frame sent starts with a VnetHeader too: all zero, no offload asked.
  static VnetHeader no_offload{};
  SocketState* st = FindSocket(int(fd));
  bool vnet = st && st->vnet;
  uint32_t m = 0, dropped = 0;
  int last_err = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offset[i], len = length[i];
    if (len < 14 || off > size || len > size - off) {
      dropped++;
      last_err = EINVAL;
      continue;
    }
    iovec* v = s->iov[m];
    int k = 0;
    if (vnet) v[k++] = {&no_offload, sizeof no_offload};
    v[k++] = {base + off, len};
    msghdr& h = s->msgs[m].msg_hdr;
    h.msg_iov = v;
    h.msg_iovlen = size_t(k);
    h.msg_control = nullptr;
    h.msg_controllen = 0;
    h.msg_flags = 0;
    if (egress[i] != 0) {
      sockaddr_ll& a = s->addr[m];
      memset(&a, 0, sizeof a);
      a.sll_family = AF_PACKET;
      // 0: the kernel takes the protocol from the frame's own EtherType (packet_parse_headers).
      a.sll_protocol = 0;
      a.sll_ifindex = int(egress[i]);
      a.sll_halen = 6;
      memcpy(a.sll_addr, base + off, 6);
      h.msg_name = &a;
      h.msg_namelen = sizeof a;
    } else {
      h.msg_name = nullptr;
      h.msg_namelen = 0;
    }
    m++;
  }
  uint32_t k = 0, sent = 0, queue_full = 0;
  // Each failing call either sends something or drops one frame, so this ends within m iterations
  // (plus EINTR retries).
  while (k < m) {
    int r = sendmmsg(int(fd), s->msgs + k, m - k, MSG_DONTWAIT);
    if (r > 0) {
      sent += uint32_t(r);
      k += uint32_t(r);
      continue;
    }
    int err = r == 0 ? EAGAIN : errno;
    if (err == EINTR) continue;
    last_err = err;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      // Retrying now would spin against a queue that drains at the device's pace; the datapath does not
      // hold frames back, so the rest of the batch is lost here, as a full qdisc would drop it.
      queue_full = m - k;
      dropped += queue_full;
      break;
    }
    dropped++;
    k++;
  }
  result[kSendSent] = int32_t(sent);
  result[kSendDropped] = int32_t(dropped);
  result[kSendErrno] = last_err;
  if (result.ElementLength() > kSendQueueFull) result[kSendQueueFull] = int32_t(queue_full);
  return Napi::Number::New(env, sent);
}

// A uv_poll_t that calls a JS function whenever the socket is readable (level-triggered: it fires again on
// the next loop turn while frames remain, so the callback may drain as much or as little as it likes).
struct PollState {
  uv_poll_t handle;
  napi_env env;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
  bool stopped = false;  // uv_close requested
  bool closed = false;   // uv_close finished: the handle's memory is free to go
  bool released = false; // the JS External was finalized: nobody refers to this state any more
};

void OnPollClosed(uv_handle_t* h) {
  auto* s = static_cast<PollState*>(h->data);
  s->closed = true;
  if (s->released) delete s;
}

void StopPoll(PollState* s) {
  if (s->stopped) return;
  s->stopped = true;
  uv_poll_stop(&s->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), OnPollClosed);
}

// The JS references are dropped only here, in the External's finalizer, where calling into Node-API is
// safe; OnPollClosed runs from the bare loop and may not touch them, and the callback may be the very
// function that stopped the poll.
void ReleasePoll(PollState* s) {
  StopPoll(s);
  s->callback.Reset();
  s->context.reset();
  s->released = true;
  if (s->closed) delete s;
}

void OnPoll(uv_poll_t* h, int status, int /*events*/) {
  auto* s = static_cast<PollState*>(h->data);
  if (s->stopped) return;
  Napi::Env env(s->env);
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it runs queued microtasks and nextTicks afterwards, as any I/O callback does.
  s->callback.MakeCallback(env.Global(), {Napi::Number::New(env, status)}, *s->context);
  // Even if the callback stopped the poll, `s` lives until OnPollClosed, which runs on a later loop turn.
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

// pollStart(fd, callback: (status: number) => void): handle
Napi::Value PollStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t fd;
  if (!IsUint(info[0], &fd) || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "pollStart(fd: number, callback: function) required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "pollStart: no libuv loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* s = new PollState();
  s->env = env;
  int rc = uv_poll_init(loop, &s->handle, int(fd));
  if (rc < 0) {
    delete s;
    ThrowErrno(env, -rc, "pollStart: uv_poll_init");
    return env.Undefined();
  }
  s->handle.data = s;
  s->callback = Napi::Persistent(info[1].As<Napi::Function>());
  s->context = std::make_unique<Napi::AsyncContext>(env, "uvs:packet-poll");
  rc = uv_poll_start(&s->handle, UV_READABLE, OnPoll);
  if (rc < 0) {
    ReleasePoll(s);  // freed by OnPollClosed
    ThrowErrno(env, -rc, "pollStart: uv_poll_start");
    return env.Undefined();
  }
  return Napi::External<PollState>::New(env, s, [](Napi::Env, PollState* st) { ReleasePoll(st); });
}

// pollStop(handle): undefined. Safe to call more than once and from inside the callback.
Napi::Value PollStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) {
    Napi::TypeError::New(env, "pollStop(handle) required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  StopPoll(info[0].As<Napi::External<PollState>>().Data());
  return env.Undefined();
}

}  // namespace

void RegisterPacketIo(Napi::Env env, Napi::Object exports) {
  exports.Set("packetOpen", Napi::Function::New(env, PacketOpen));
  exports.Set("packetClose", Napi::Function::New(env, PacketClose));
  exports.Set("packetRecv", Napi::Function::New(env, PacketRecv));
  exports.Set("packetRecvRing", Napi::Function::New(env, PacketRecvRing));
  exports.Set("packetRingClose", Napi::Function::New(env, PacketRingClose));
  exports.Set("packetSend", Napi::Function::New(env, PacketSend));
  exports.Set("pollStart", Napi::Function::New(env, PollStart));
  exports.Set("pollStop", Napi::Function::New(env, PollStop));
}

}  // namespace uvs
