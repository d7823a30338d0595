// Batched AF_XDP I/O for the datapath (see xdp_io.h). As in packet_io.cc, batch calls never throw: bad
// arguments and socket errors come back as a negative errno. Only xdpOpen and xdpClose throw, with the errno
// name in the message and in `code`.
//
// One socket per interface, bound to one queue (0 unless asked otherwise), with its own UMEM split in two:
// the first half feeds the fill ring and so receives, the second half is the send pool. A received frame is
// copied into its batch slot and its UMEM frame goes straight back to the fill ring, in the same call. A
// frame to send is copied into a free UMEM frame of the socket of its egress interface (all open sockets of
// the process are found by ifindex, so a datapath that receives on one port can send out of another, as
// with AF_PACKET), and the frame returns to the pool when the kernel reports it on the completion ring.
#include "xdp_io.h"

#include "layout.h"
#include "napi_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace uvs {
namespace {

// The kernel leaves this much room before a frame it copies into the UMEM (copy mode; XDP_PACKET_HEADROOM).
constexpr uint32_t kXdpHeadroom = 256;
// Received frames carry no metadata through XDP: the flags and packet types written are layout.h's
// kFrameTruncated and kPacket* (FrameFlag, PacketType of src/io/batch.ts).
// Bounds the sendto() kicks of one send call: copy mode transmits at most 32 frames per kick.
constexpr uint32_t kMaxKicks = 64;

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

long Bpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// One of the four rings the kernel shares with us. `cached_*` are our own copies of the indexes, so that the
// shared cache lines are touched once per batch.
struct XRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* desc = nullptr;
  uint32_t size = 0;
  uint32_t mask = 0;
  uint32_t cached_prod = 0;
  uint32_t cached_cons = 0;
  void* map = nullptr;
  size_t map_len = 0;

  // Producer rings (fill, tx): how many entries may be written at cached_prod.
  uint32_t ProdFree() {
    uint32_t cons = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
    return size - (cached_prod - cons);
  }
  void ProdSubmit() { __atomic_store_n(producer, cached_prod, __ATOMIC_RELEASE); }
  // Consumer rings (rx, completion): how many entries wait at cached_cons.
  uint32_t ConsAvail() {
    uint32_t prod = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
    return prod - cached_cons;
  }
  void ConsRelease() { __atomic_store_n(consumer, cached_cons, __ATOMIC_RELEASE); }
  bool NeedsWakeup() const { return flags && (__atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP); }
  uint64_t* Addrs() { return static_cast<uint64_t*>(desc); }
  xdp_desc* Descs() { return static_cast<xdp_desc*>(desc); }
};

struct Xsk {
  int fd = -1;
  int map_fd = -1;
  int prog_fd = -1;
  int link_fd = -1;
  int ifindex = 0;
  uint64_t mac = 0;
  uint32_t queue = 0;
  uint8_t* umem = nullptr;
  size_t umem_len = 0;
  uint32_t frame_size = 0;
  uint32_t ring_size = 0;
  XRing rx, tx, fill, comp;
  std::vector<uint64_t> tx_free;  // UMEM addresses of send frames not in flight (a stack)
  bool zero_copy = false;
  bool native_mode = false;
  bool need_wakeup = false;
  bool closed = false;
};

// The open sockets of the process, found by ifindex when a batch sends out of another port's interface.
// Held across a whole send call, so that a close on another thread cannot free a socket in use.
std::mutex g_registry_mu;
std::vector<Xsk*> g_registry;

Xsk* FindByIfindex(int ifindex) {
  for (Xsk* x : g_registry)
    if (x->ifindex == ifindex && !x->closed) return x;
  return nullptr;
}

void UnmapRing(XRing* r) {
  if (r->map) munmap(r->map, r->map_len);
  r->map = nullptr;
}

// Detaches the program (closing the link does it), then frees the socket, the rings and the UMEM. Safe to
// call twice. The caller holds g_registry_mu or owns `x` alone.
void CloseXsk(Xsk* x) {
  if (x->closed) return;
  x->closed = true;
  for (auto it = g_registry.begin(); it != g_registry.end(); ++it) {
    if (*it == x) {
      g_registry.erase(it);
      break;
    }
  }
  for (int* fd : {&x->link_fd, &x->prog_fd, &x->map_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  for (XRing* r : {&x->rx, &x->tx, &x->fill, &x->comp}) UnmapRing(r);
  if (x->fd >= 0) close(x->fd);
  x->fd = -1;
  if (x->umem) munmap(x->umem, x->umem_len);
  x->umem = nullptr;
}

bool MapRing(Xsk* x, XRing* r, const xdp_ring_offset& off, uint32_t entry, off_t pgoff) {
  r->map_len = off.desc + size_t(x->ring_size) * entry;
  void* m = mmap(nullptr, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, x->fd, pgoff);
  if (m == MAP_FAILED) {
    r->map = nullptr;
    return false;
  }
  auto* base = static_cast<uint8_t*>(m);
  r->map = m;
  r->producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r->consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r->flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r->desc = base + off.desc;
  r->size = x->ring_size;
  r->mask = x->ring_size - 1;
  return true;
}

// The XDP program, assembled by hand (no compiler, no libbpf):
//   r2 = ctx->rx_queue_index
//   r1 = xskmap
//   r3 = XDP_PASS                     ; what bpf_redirect_map returns when the map has no socket for the key
//   return bpf_redirect_map(r1, r2, r3)
// Every frame of a queue that has a socket goes to it, ARP included (uvs owns its addresses in user space);
// the kernel sees frames only while no socket is in the map.
std::vector<bpf_insn> RedirectProgram(int map_fd) {
  auto insn = [](uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
  };
  return {
      insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, int16_t(offsetof(xdp_md, rx_queue_index)), 0),
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
      insn(0, 0, 0, 0, 0),  // the upper 32 bits of the 64-bit immediate
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
}

uint32_t CountRxQueues(const std::string& ifname) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < 4096; i++) {
    std::string path = "/sys/class/net/" + ifname + "/queues/rx-" + std::to_string(i);
    if (access(path.c_str(), F_OK) != 0) break;
    n++;
  }
  return n;
}

// xdpOpen(ifname, queue, ringSize, xdpMode: 'auto'|'native'|'generic', bindMode: 'auto'|'copy'|'zerocopy'):
//   { handle, fd, ifindex, mac, mtu, queue, rxQueues, xdpMode, zeroCopy, ringSize, frameSize }
Napi::Value XdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[3].IsString() || !info[4].IsString()) {
    Napi::TypeError::New(env, "xdpOpen(ifname, queue, ringSize, xdpMode, bindMode) required")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  uint32_t queue = 0, ring_size = 0;
  std::string xdp_mode = info[3].As<Napi::String>().Utf8Value();
  std::string bind_mode = info[4].As<Napi::String>().Utf8Value();
  std::string what = "xdpOpen(" + ifname + ")";
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, what + ": bad interface name");
    return env.Undefined();
  }
  if (!IsUint(info[1], &queue) || !IsUint(info[2], &ring_size) || ring_size < 64 || ring_size > 16384 ||
      (ring_size & (ring_size - 1)) != 0) {
    ThrowErrno(env, EINVAL, what + ": ringSize must be a power of two in 64..16384");
    return env.Undefined();
  }
  if ((xdp_mode != "auto" && xdp_mode != "native" && xdp_mode != "generic") ||
      (bind_mode != "auto" && bind_mode != "copy" && bind_mode != "zerocopy")) {
    ThrowErrno(env, EINVAL, what + ": xdpMode must be auto|native|generic and bindMode auto|copy|zerocopy");
    return env.Undefined();
  }

  auto x = std::make_unique<Xsk>();
  x->queue = queue;
  x->ring_size = ring_size;
  auto fail = [&](const std::string& step, int err) {
    CloseXsk(x.get());
    ThrowErrno(env, err, what + ": " + step);
    return env.Undefined();
  };

  // An AF_XDP socket answers no interface ioctl (sock_no_ioctl), so a throwaway UDP socket asks.
  int q = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (q < 0) return fail("socket(AF_INET)", errno);
  ifreq ifr{};
  memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  int mtu = 0;
  bool ok = ioctl(q, SIOCGIFINDEX, &ifr) == 0;
  if (ok) x->ifindex = ifr.ifr_ifindex;
  ok = ok && ioctl(q, SIOCGIFHWADDR, &ifr) == 0;
  if (ok) {
    const auto* hw = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
    for (int i = 0; i < 6; i++) x->mac = (x->mac << 8) | hw[i];
  }
  ok = ok && ioctl(q, SIOCGIFMTU, &ifr) == 0;
  if (ok) mtu = ifr.ifr_mtu;
  int ioctl_err = errno;
  close(q);
  if (!ok) return fail("interface lookup (SIOCGIFINDEX/SIOCGIFHWADDR/SIOCGIFMTU)", ioctl_err);
  uint32_t rx_queues = CountRxQueues(ifname);

  x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (x->fd < 0) return fail("socket(AF_XDP)", errno);

  // Aligned chunks of 2 KiB hold a 1500-byte-MTU frame after the kernel's 256 bytes of XDP headroom; a
  // larger MTU takes 4 KiB chunks (the most for aligned mode: one page).
  x->frame_size = uint32_t(mtu) + 14 + 4 + kXdpHeadroom <= 2048 ? 2048 : 4096;
  uint32_t frames = 2 * ring_size;  // ring_size for receiving, ring_size for sending
  x->umem_len = size_t(frames) * x->frame_size;
  void* umem = mmap(nullptr, x->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) return fail("mmap(UMEM)", errno);
  x->umem = static_cast<uint8_t*>(umem);

  xdp_umem_reg reg{};
  reg.addr = uint64_t(reinterpret_cast<uintptr_t>(x->umem));
  reg.len = x->umem_len;
  reg.chunk_size = x->frame_size;
  reg.headroom = 0;
  if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) < 0) return fail("XDP_UMEM_REG", errno);
  int sz = int(ring_size);
  if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &sz, sizeof sz) < 0) return fail("XDP_UMEM_FILL_RING", errno);
  if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &sz, sizeof sz) < 0)
    return fail("XDP_UMEM_COMPLETION_RING", errno);
  if (setsockopt(x->fd, SOL_XDP, XDP_RX_RING, &sz, sizeof sz) < 0) return fail("XDP_RX_RING", errno);
  if (setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &sz, sizeof sz) < 0) return fail("XDP_TX_RING", errno);

  xdp_mmap_offsets off{};
  socklen_t optlen = sizeof off;
  if (getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) return fail("XDP_MMAP_OFFSETS", errno);
  if (!MapRing(x.get(), &x->rx, off.rx, sizeof(xdp_desc), XDP_PGOFF_RX_RING)) return fail("mmap(rx ring)", errno);
  if (!MapRing(x.get(), &x->tx, off.tx, sizeof(xdp_desc), XDP_PGOFF_TX_RING)) return fail("mmap(tx ring)", errno);
  if (!MapRing(x.get(), &x->fill, off.fr, sizeof(uint64_t), off_t(XDP_UMEM_PGOFF_FILL_RING)))
    return fail("mmap(fill ring)", errno);
  if (!MapRing(x.get(), &x->comp, off.cr, sizeof(uint64_t), off_t(XDP_UMEM_PGOFF_COMPLETION_RING)))
    return fail("mmap(completion ring)", errno);
  // The rings start empty: the kernel's indexes are 0, and so are ours.

  // The first half of the UMEM goes to the kernel for receiving, the second half is the send pool.
  for (uint32_t i = 0; i < ring_size; i++) x->fill.Addrs()[i & x->fill.mask] = uint64_t(i) * x->frame_size;
  x->fill.cached_prod = ring_size;
  x->fill.ProdSubmit();
  x->tx_free.reserve(ring_size);
  for (uint32_t i = 0; i < ring_size; i++) x->tx_free.push_back(uint64_t(ring_size + i) * x->frame_size);

  // Bind: zero-copy needs driver support (veth has none); 'auto' lets the kernel fall back to copy mode.
  // XDP_USE_NEED_WAKEUP lets the kernel say when a sendto() is needed instead of after every batch.
  sockaddr_xdp sxdp{};
  sxdp.sxdp_family = AF_XDP;
  sxdp.sxdp_ifindex = uint32_t(x->ifindex);
  sxdp.sxdp_queue_id = queue;
  sxdp.sxdp_flags = XDP_USE_NEED_WAKEUP |
                    (bind_mode == "copy" ? XDP_COPY : bind_mode == "zerocopy" ? XDP_ZEROCOPY : 0);
  if (bind(x->fd, reinterpret_cast<sockaddr*>(&sxdp), sizeof sxdp) < 0) return fail("bind", errno);
  x->need_wakeup = true;
  xdp_options opts{};
  optlen = sizeof opts;
  if (getsockopt(x->fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0)
    x->zero_copy = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;

  // The XSKMAP: rx queue index -> socket. Sized for any queue index the interface has.
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = (rx_queues > queue + 1 ? rx_queues : queue + 1);
  memcpy(attr.map_name, "uvs_xsks", 9);
  x->map_fd = int(Bpf(BPF_MAP_CREATE, &attr));
  if (x->map_fd < 0) return fail("bpf(BPF_MAP_CREATE, XSKMAP)", errno);
  uint32_t key = queue;
  uint32_t value = uint32_t(x->fd);
  attr = bpf_attr{};
  attr.map_fd = uint32_t(x->map_fd);
  attr.key = uint64_t(reinterpret_cast<uintptr_t>(&key));
  attr.value = uint64_t(reinterpret_cast<uintptr_t>(&value));
  attr.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) return fail("bpf(BPF_MAP_UPDATE_ELEM)", errno);

  std::vector<bpf_insn> prog = RedirectProgram(x->map_fd);
  static const char kLicense[] = "Dual MIT/GPL";
  char log[4096];
  log[0] = 0;
  attr = bpf_attr{};
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.insn_cnt = uint32_t(prog.size());
  attr.insns = uint64_t(reinterpret_cast<uintptr_t>(prog.data()));
  attr.license = uint64_t(reinterpret_cast<uintptr_t>(kLicense));
  attr.log_level = 1;
  attr.log_size = sizeof log;
  attr.log_buf = uint64_t(reinterpret_cast<uintptr_t>(log));
  attr.expected_attach_type = BPF_XDP;
  memcpy(attr.prog_name, "uvs_xsk_redir", 14);
  x->prog_fd = int(Bpf(BPF_PROG_LOAD, &attr));
  if (x->prog_fd < 0) {
    int err = errno;
    std::string vlog(log, strnlen(log, sizeof log));
    return fail("bpf(BPF_PROG_LOAD)" + (vlog.empty() ? std::string() : " verifier: " + vlog), err);
  }

  // A bpf_link: the program stays attached exactly as long as this descriptor is open, so neither a crash
  // nor a forgotten close() leaves the interface redirecting into a socket that no longer exists.
  auto attach = [&](uint32_t flags) {
    bpf_attr a{};
    a.link_create.prog_fd = uint32_t(x->prog_fd);
    a.link_create.target_ifindex = uint32_t(x->ifindex);
    a.link_create.attach_type = BPF_XDP;
    a.link_create.flags = flags;
    return int(Bpf(BPF_LINK_CREATE, &a));
  };
  int link_err = 0;
  if (xdp_mode != "generic") {
    x->link_fd = attach(XDP_FLAGS_DRV_MODE);
    if (x->link_fd >= 0) x->native_mode = true;
    else link_err = errno;
  }
  if (x->link_fd < 0 && xdp_mode != "native" && link_err != EBUSY && link_err != EEXIST) {
    x->link_fd = attach(XDP_FLAGS_SKB_MODE);
    if (x->link_fd < 0) link_err = errno;
  }
  if (x->link_fd < 0) {
    return fail(std::string("bpf(BPF_LINK_CREATE, BPF_XDP") +
                    (xdp_mode == "native" ? ", native" : xdp_mode == "generic" ? ", generic" : "") +
                    ")" + (link_err == EBUSY || link_err == EEXIST ? ": another XDP program is attached" : ""),
                link_err);
  }

  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    g_registry.push_back(x.get());
  }
  Xsk* raw = x.release();
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<Xsk>::New(env, raw, [](Napi::Env, Xsk* p) {
    {
      std::lock_guard<std::mutex> lock(g_registry_mu);
      CloseXsk(p);
    }
    delete p;
  }));
  out.Set("fd", Napi::Number::New(env, raw->fd));
  out.Set("ifindex", Napi::Number::New(env, raw->ifindex));
  out.Set("mac", Napi::Number::New(env, double(raw->mac)));
  out.Set("mtu", Napi::Number::New(env, mtu));
  out.Set("queue", Napi::Number::New(env, queue));
  out.Set("rxQueues", Napi::Number::New(env, rx_queues));
  out.Set("xdpMode", Napi::String::New(env, raw->native_mode ? "native" : "generic"));
  out.Set("zeroCopy", Napi::Boolean::New(env, raw->zero_copy));
  out.Set("ringSize", Napi::Number::New(env, ring_size));
  out.Set("frameSize", Napi::Number::New(env, raw->frame_size));
  return out;
}

Xsk* GetXsk(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<Xsk>>().Data();
}

// xdpClose(handle): detaches the program and frees the socket; safe to call twice.
Napi::Value XdpClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Xsk* x = GetXsk(info[0]);
  if (x == nullptr) {
    Napi::TypeError::New(env, "xdpClose(handle) required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::lock_guard<std::mutex> lock(g_registry_mu);
  CloseXsk(x);
  return env.Undefined();
}

bool TxPending(Xsk* x);
int Kick(Xsk* x);

// How the kernel would have classified the frame (eth_type_trans), which XDP does not tell.
inline uint8_t PacketTypeOf(const uint8_t* frame, uint32_t len, uint64_t own_mac) {
  if (len < 6) return kPacketOtherHost;
  uint64_t dst = 0;
  for (int i = 0; i < 6; i++) dst = (dst << 8) | frame[i];
  if (frame[0] & 1) return dst == 0xffffffffffffULL ? kPacketBroadcast : kPacketMulticast;
  return dst == own_mac ? kPacketHost : kPacketOtherHost;
}

// xdpRecv(handle, bytes, offset, length, ifindex, flags, vlanTci, pktType, slotSize, headroom, max)
//   -> frames copied out of the rx ring (0 when none is waiting), or -errno. The batch layout is that of
// packetRecv (src/io/batch.ts); flags and vlanTci are always 0: XDP hands over no checksum state and no
// stripped VLAN tag (see src/io/afxdp.ts).
Napi::Value XdpRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Xsk* x = GetXsk(info[0]);
  Napi::Uint8Array bytes, flags, pkt_type;
  Napi::Uint32Array offset, length, ifindex;
  Napi::Uint16Array vlan;
  uint32_t slot, headroom, max;
  if (x == nullptr || info.Length() < 11 || !IsTyped(info[1], napi_uint8_array, &bytes) ||
      !IsTyped(info[2], napi_uint32_array, &offset) || !IsTyped(info[3], napi_uint32_array, &length) ||
      !IsTyped(info[4], napi_uint32_array, &ifindex) || !IsTyped(info[5], napi_uint8_array, &flags) ||
      !IsTyped(info[6], napi_uint16_array, &vlan) || !IsTyped(info[7], napi_uint8_array, &pkt_type) ||
      !IsUint(info[8], &slot) || !IsUint(info[9], &headroom) || !IsUint(info[10], &max))
    return Napi::Number::New(env, -EINVAL);
  if (max > kMaxBatch || max > offset.ElementLength() || max > length.ElementLength() ||
      max > ifindex.ElementLength() || max > flags.ElementLength() || max > vlan.ElementLength() ||
      max > pkt_type.ElementLength() || headroom >= slot || size_t(slot) * max > bytes.ByteLength())
    return Napi::Number::New(env, -EINVAL);
  if (x->closed) return Napi::Number::New(env, -EBADF);

  uint32_t n = x->rx.ConsAvail();
  if (n > max) n = max;
  // Zero-copy drivers may sleep with an empty fill ring until woken; copy mode never sets the flag.
  if (n == 0) {
    if (x->fill.NeedsWakeup()) recvfrom(x->fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    // An idle moment: frames a full device refused earlier still wait on some tx ring; retry them, so that
    // they do not wait for the next send (which, with every send frame stuck there, would never come).
    std::lock_guard<std::mutex> lock(g_registry_mu);
    for (Xsk* p : g_registry)
      if (TxPending(p)) Kick(p);
    return Napi::Number::New(env, 0);
  }
  uint8_t* base = bytes.Data();
  uint32_t room = slot - headroom;
  uint64_t chunk_mask = ~uint64_t(x->frame_size - 1);
  const xdp_desc* descs = x->rx.Descs();
  uint64_t* fill = x->fill.Addrs();
  uint32_t out = 0;
  for (uint32_t i = 0; i < n; i++) {
    const xdp_desc& d = descs[(x->rx.cached_cons + i) & x->rx.mask];
    uint64_t addr = d.addr;
    uint32_t len = d.len;
    // Each frame goes back to the kernel at once, whatever happens to it: the fill ring has room for all
    // receive frames, so this never overwrites one the kernel has not taken.
    fill[(x->fill.cached_prod + i) & x->fill.mask] = addr & chunk_mask;
    if (addr >= x->umem_len || len > x->umem_len - addr) continue;  // a descriptor we never gave out
    uint32_t copy = len < room ? len : room;
    uint8_t* dst = base + size_t(out) * slot + headroom;
    memcpy(dst, x->umem + addr, copy);
    offset.Data()[out] = uint32_t(dst - base);
    length.Data()[out] = copy;
    ifindex.Data()[out] = uint32_t(x->ifindex);
    flags.Data()[out] = copy < len ? kFrameTruncated : 0;
    vlan.Data()[out] = 0;
    pkt_type.Data()[out] = PacketTypeOf(dst, copy, x->mac);
    out++;
  }
  x->rx.cached_cons += n;
  x->rx.ConsRelease();
  x->fill.cached_prod += n;
  x->fill.ProdSubmit();
  return Napi::Number::New(env, out);
}

// Moves what the kernel has finished sending from the completion ring back to the send pool.
void Reclaim(Xsk* x) {
  uint32_t n = x->comp.ConsAvail();
  if (n == 0) return;
  const uint64_t* addrs = x->comp.Addrs();
  uint64_t chunk_mask = ~uint64_t(x->frame_size - 1);
  for (uint32_t i = 0; i < n; i++) x->tx_free.push_back(addrs[(x->comp.cached_cons + i) & x->comp.mask] & chunk_mask);
  x->comp.cached_cons += n;
  x->comp.ConsRelease();
}

// Whether the tx ring holds frames the kernel has not taken yet: queued by this call, or left by an earlier
// kick that the device refused (a full veth peer stops its queue; the kernel puts the frame back).
bool TxPending(Xsk* x) { return __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE) != x->tx.cached_prod; }

// Makes the kernel transmit what was queued on the tx ring. In copy mode each sendto() sends at most 32
// frames and answers EAGAIN while more remain, so this repeats while the kernel makes progress. Returns the
// last error that was not "more to do".
int Kick(Xsk* x) {
  x->tx.ProdSubmit();
  int last_err = 0;
  for (uint32_t k = 0; k < kMaxKicks; k++) {
    uint32_t before = __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
    if (before == x->tx.cached_prod) break;  // all taken
    // Copy mode needs a kick for every batch; a zero-copy driver says when it does (XDP_RING_NEED_WAKEUP).
    if (x->zero_copy && x->need_wakeup && !x->tx.NeedsWakeup()) break;
    int r = int(sendto(x->fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0));
    int err = r < 0 ? errno : 0;
    Reclaim(x);
    if (err == EINTR) continue;
    if (err != 0 && err != EAGAIN && err != EBUSY) {
      last_err = err;  // ENETDOWN, ENXIO, ENOBUFS: the kernel gives up on this batch
      break;
    }
    // EBUSY: the device dropped one frame (a full veth peer); the rest are still worth a try.
    if (err == EBUSY) last_err = EBUSY;
    if (__atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE) == before) {
      if (err == EAGAIN) last_err = EAGAIN;  // no progress: the completion ring or the device is full
      break;
    }
  }
  return last_err;
}

// xdpSend(handle, bytes, offset, length, egress: Uint32Array, count, result: Int32Array(3 to 5))
//   -> frames queued for sending, or -errno for bad arguments.
// egress[i] is the ifindex to send frame i out of (an interface with an open AF_XDP port of this process),
// or 0 for this port's interface. result = [sent, dropped, last errno, dropped for a full queue, sockets
// still holding refused frames]: a frame that is malformed, too large, has no AF_XDP port for its egress
// interface, or finds no free send frame (EAGAIN: the kernel has not completed earlier sends yet) is dropped
// and counted; the rest of the batch still goes, so sent + dropped == count. result[3], when there, counts
// the drops for want of a send frame or ring slot (also in result[1]); result[4], when there, is how many
// sockets still hold frames the device refused (see xdpFlush).
Napi::Value XdpSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Xsk* self = GetXsk(info[0]);
  Napi::Uint8Array bytes;
  Napi::Uint32Array offset, length, egress;
  Napi::Int32Array result;
  uint32_t count;
  if (self == nullptr || info.Length() < 7 || !IsTyped(info[1], napi_uint8_array, &bytes) ||
      !IsTyped(info[2], napi_uint32_array, &offset) || !IsTyped(info[3], napi_uint32_array, &length) ||
      !IsTyped(info[4], napi_uint32_array, &egress) || !IsUint(info[5], &count) ||
      !IsTyped(info[6], napi_int32_array, &result))
    return Napi::Number::New(env, -EINVAL);
  if (count > kMaxBatch || count > offset.ElementLength() || count > length.ElementLength() ||
      count > egress.ElementLength() || result.ElementLength() <= kSendErrno)
    return Napi::Number::New(env, -EINVAL);

  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (self->closed) return Napi::Number::New(env, -EBADF);
  const uint8_t* base = bytes.Data();
  size_t size = bytes.ByteLength();
  uint32_t sent = 0, dropped = 0, queue_full = 0;
  int last_err = 0;
  // The batch usually goes out of one or two interfaces: remember the last lookup.
  int cached_ifindex = -1;
  Xsk* cached = nullptr;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offset[i], len = length[i];
    int want = egress[i] == 0 ? self->ifindex : int(egress[i]);
    Xsk* t;
    if (want == self->ifindex) t = self;
    else if (want == cached_ifindex) t = cached;
    else {
      t = FindByIfindex(want);
      cached_ifindex = want;
      cached = t;
    }
    if (t == nullptr) {
      dropped++;
      last_err = ENXIO;
      continue;
    }
    if (len < 14 || off > size || len > size - off || len > t->frame_size) {
      dropped++;
      last_err = len > t->frame_size ? EMSGSIZE : EINVAL;
      continue;
    }
    if (t->tx_free.empty()) Reclaim(t);
    if (t->tx_free.empty() && TxPending(t)) {
      // The pool is short while frames wait on the ring: send them, which completes some.
      int err = Kick(t);
      if (err) last_err = err;
    }
    if (t->tx_free.empty() || t->tx.ProdFree() == 0) {
      dropped++;
      queue_full++;
      last_err = EAGAIN;
      continue;
    }
    uint64_t addr = t->tx_free.back();
    t->tx_free.pop_back();
    memcpy(t->umem + addr, base + off, len);
    xdp_desc& d = t->tx.Descs()[t->tx.cached_prod & t->tx.mask];
    d.addr = addr;
    d.len = uint32_t(len);
    d.options = 0;
    t->tx.cached_prod++;
    sent++;
  }
  // One kick per socket with frames on its ring (the registry holds a port or two per interface), also
  // those left there by an earlier kick that the device refused.
  int32_t still_pending = 0;
  for (Xsk* x : g_registry) {
    if (!TxPending(x)) continue;
    int err = Kick(x);
    if (err) last_err = err;
    if (TxPending(x)) still_pending++;
  }
  result[kSendSent] = int32_t(sent);
  result[kSendDropped] = int32_t(dropped);
  result[kSendErrno] = last_err;
  if (result.ElementLength() > kSendQueueFull) result[kSendQueueFull] = int32_t(queue_full);
  if (result.ElementLength() > kSendPending) result[kSendPending] = still_pending;
  return Napi::Number::New(env, sent);
}

// xdpFlush(): kicks every socket whose tx ring still holds frames that a full device refused; returns how
// many sockets still hold some. The JS side calls it on a timer while that number is not 0, so that those
// frames leave when the device has room again, not when the next frame happens to be sent.
Napi::Value XdpFlush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(g_registry_mu);
  int32_t still_pending = 0;
  for (Xsk* x : g_registry) {
    if (!TxPending(x)) continue;
    Kick(x);
    if (TxPending(x)) still_pending++;
  }
  return Napi::Number::New(env, still_pending);
}

// xdpStats(handle): the kernel's XDP_STATISTICS counters, plus how many send frames are free.
Napi::Value XdpStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Xsk* x = GetXsk(info[0]);
  if (x == nullptr || x->closed) {
    Napi::TypeError::New(env, "xdpStats(handle of an open port) required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0) {
    ThrowErrno(env, errno, "xdpStats: XDP_STATISTICS");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("rxDropped", Napi::Number::New(env, double(st.rx_dropped)));
  out.Set("rxInvalidDescs", Napi::Number::New(env, double(st.rx_invalid_descs)));
  out.Set("txInvalidDescs", Napi::Number::New(env, double(st.tx_invalid_descs)));
  out.Set("rxRingFull", Napi::Number::New(env, double(st.rx_ring_full)));
  out.Set("rxFillRingEmpty", Napi::Number::New(env, double(st.rx_fill_ring_empty_descs)));
  out.Set("txRingEmpty", Napi::Number::New(env, double(st.tx_ring_empty_descs)));
  out.Set("txFree", Napi::Number::New(env, double(x->tx_free.size())));
  return out;
}

}  // namespace

void RegisterXdpIo(Napi::Env env, Napi::Object exports) {
  exports.Set("xdpOpen", Napi::Function::New(env, XdpOpen));
  exports.Set("xdpClose", Napi::Function::New(env, XdpClose));
  exports.Set("xdpRecv", Napi::Function::New(env, XdpRecv));
  exports.Set("xdpSend", Napi::Function::New(env, XdpSend));
  exports.Set("xdpStats", Napi::Function::New(env, XdpStats));
  exports.Set("xdpFlush", Napi::Function::New(env, XdpFlush));
}

}  // namespace uvs
