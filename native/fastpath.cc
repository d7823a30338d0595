// The datapath's native fast path: the common case of every mode (a packet of a known connection whose TCP
// state does not change, to a resolved next hop) done in C for a run of frames per call, with the result
// bit for bit what src/datapath/datapath.ts produces for the same frame. Everything else (a miss, a SYN, a
// state change, ARP, ICMP, an unresolved neighbour, anything that would be dropped or answered) stops the
// run at that frame and is left to the JavaScript pipeline, which then calls back in for the rest. That
// keeps one implementation of every rule that is not on the fast path, and the order of the output frames.
//
// The tables are the JavaScript objects' own typed arrays (connection table, neighbours, routes,
// interfaces, destinations), bound once: C reads and writes the same memory, nothing is copied. A run
// decides everything from the received frame and the tables first and mutates nothing until the frame is
// known to be handled, so a frame left to JavaScript finds the state exactly as it was.
//
// Argument passing goes through a Float64Array control block rather than call arguments: converting a
// handful of numbers per call would cost about as much as the frames themselves.
#include "fastpath.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bytes.h"
#include "layout.h"

namespace uvs {
namespace {

// The control block, the record layout, flags, codes and the two hashes come from layout.h, shared with
// TypeScript and checked at load.
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIpip = 4;
constexpr uint32_t kEthLen = 14;
constexpr uint32_t kIpipLen = 20;
constexpr uint32_t kMinMtu = 68;
// Frames the fast path never takes: FrameFlag.truncated | FrameFlag.csumUnfixable.
constexpr uint32_t kFrameUnusable = kFrameTruncated | kFrameCsumUnfixable;

inline void WrMac(uint8_t* p, uint32_t high16, uint32_t low32) {
  Wr16(p, high16);
  Wr32(p + 2, low32);
}
inline uint32_t Fold(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  return (s & 0xffff) + (s >> 16);
}
// RFC 1624 eqn. 3, as src/wire/checksum.ts csumReplace16/csumReplace32.
inline uint32_t CsumReplace16(uint32_t check, uint32_t from, uint32_t to) {
  return ~Fold((~check & 0xffff) + (~from & 0xffff) + (to & 0xffff)) & 0xffff;
}
inline uint32_t CsumReplace32(uint32_t check, uint32_t from, uint32_t to) {
  return ~Fold((~check & 0xffff) + (~(from >> 16) & 0xffff) + (~from & 0xffff) + (to >> 16) + (to & 0xffff)) &
         0xffff;
}
// The options-free IPv4 header checksum (checksum field included) sums to 0xffff exactly when it is right.
inline bool Ipv4HeaderOk(const uint8_t* ip) {
  uint32_t sum = 0;
  for (int k = 0; k < 20; k += 2) sum += Rd16(ip + k);
  return Fold(sum) == 0xffff;
}
inline uint32_t Ipv4HeaderChecksum(const uint8_t* ip) {
  uint32_t sum = 0;
  for (int k = 0; k < 20; k += 2) {
    if (k != 10) sum += Rd16(ip + k);
  }
  return ~Fold(sum) & 0xffff;
}

template <typename T>
struct Array {
  T* data = nullptr;
  size_t length = 0;
};

struct Batch {
  Array<uint8_t> bytes;
  Array<uint32_t> offset, length, ifindex, egressIfindex;
  Array<uint8_t> flags, pktType;
  Array<uint16_t> vlanTci;
  size_t capacity = 0;
};

class FastPath : public Napi::ObjectWrap<FastPath> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FastPath",
                       {InstanceMethod("run", &FastPath::Run), InstanceMethod("addBatch", &FastPath::AddBatch),
                        InstanceMethod("clearBatches", &FastPath::ClearBatches),
                        InstanceMethod("setDests", &FastPath::SetDests),
                        InstanceMethod("setVips", &FastPath::SetVips)});
  }

  explicit FastPath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FastPath>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) {
      Napi::TypeError::New(env, "FastPath(tables): an object of typed arrays required").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object t = info[0].As<Napi::Object>();
    bool ok = Take(t, "rec", napi_uint32_array, &rec_) && Take(t, "fwd", napi_uint8_array, &fwd_) &&
              Take(t, "state", napi_uint8_array, &state_) && Take(t, "destId", napi_int32_array, &destId_) &&
              Take(t, "timeout", napi_uint32_array, &timeout_) && Take(t, "buckets", napi_int32_array, &buckets_) &&
              Take(t, "tcpTimeouts", napi_float64_array, &tcpTimeouts_) &&
              Take(t, "nextState", napi_uint8_array, &nextState_) &&
              Take(t, "ifMacHigh", napi_uint16_array, &ifMacHigh_) &&
              Take(t, "ifMacLow", napi_int32_array, &ifMacLow_) && Take(t, "ifMtu", napi_uint32_array, &ifMtu_) &&
              Take(t, "ifIndex", napi_uint32_array, &ifIndex_) && Take(t, "rtNetwork", napi_int32_array, &rtNetwork_) &&
              Take(t, "rtMask", napi_int32_array, &rtMask_) && Take(t, "rtGateway", napi_int32_array, &rtGateway_) &&
              Take(t, "rtSrc", napi_int32_array, &rtSrc_) && Take(t, "rtIf", napi_uint8_array, &rtIf_) &&
              Take(t, "neighKey", napi_int32_array, &neighKey_) &&
              Take(t, "neighSlotPlusOne", napi_int32_array, &neighSlotPlusOne_) &&
              Take(t, "neighMacHigh", napi_uint16_array, &neighMacHigh_) &&
              Take(t, "neighMacLow", napi_int32_array, &neighMacLow_) &&
              Take(t, "neighState", napi_uint8_array, &neighState_) &&
              Take(t, "neighDeadline", napi_float64_array, &neighDeadline_) &&
              Take(t, "neighQueueLen", napi_uint16_array, &neighQueueLen_) &&
              Take(t, "ctl", napi_float64_array, &ctl_);
    if (!ok) return;
    seed_ = t.Get("seed").As<Napi::Number>().Uint32Value();
    slotSize_ = t.Get("slotSize").As<Napi::Number>().Uint32Value();
    headroom_ = t.Get("headroom").As<Napi::Number>().Uint32Value();
    size_t capacity = fwd_.length;
    size_t buckets = buckets_.length;
    size_t ifCount = ifIndex_.length;
    size_t rtCount = rtIf_.length;
    size_t neighCap = neighState_.length;
    if (rec_.length != capacity * kRecWords || state_.length != capacity || destId_.length != capacity ||
        timeout_.length != capacity || buckets == 0 || (buckets & (buckets - 1)) != 0 ||
        tcpTimeouts_.length < kTcpStateCount || nextState_.length != 2 * 3 * 4 * kTcpStateCount ||
        ifMacHigh_.length != ifCount || ifMacLow_.length != ifCount || ifMtu_.length != ifCount ||
        rtNetwork_.length != rtCount || rtMask_.length != rtCount || rtGateway_.length != rtCount ||
        rtSrc_.length != rtCount || neighKey_.length != neighSlotPlusOne_.length || neighKey_.length == 0 ||
        (neighKey_.length & (neighKey_.length - 1)) != 0 || neighMacHigh_.length != neighCap ||
        neighMacLow_.length != neighCap || neighDeadline_.length != neighCap || neighQueueLen_.length != neighCap ||
        ctl_.length < kCtlSize || headroom_ < kIpipLen || slotSize_ <= headroom_) {
      Napi::RangeError::New(env, "FastPath(tables): inconsistent table sizes").ThrowAsJavaScriptException();
      return;
    }
    bucketMask_ = uint32_t(buckets - 1);
    neighMask_ = uint32_t(neighKey_.length - 1);
  }

 private:
  using Refs = std::vector<Napi::Reference<Napi::Object>>;

  // Points `out` at the typed array `v` and keeps `v` alive in `refs`.
  template <typename T>
  bool Bind(const Napi::Value& v, napi_typedarray_type type, Array<T>* out, const char* what, Refs& refs) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
      Napi::TypeError::New(Env(), std::string(what) + ": wrong or missing typed array").ThrowAsJavaScriptException();
      return false;
    }
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    // The backing store of a non-resizable ArrayBuffer never moves; the reference keeps it alive.
    refs.emplace_back(Napi::Persistent(v.As<Napi::Object>()));
    out->data = reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
    out->length = a.ElementLength();
    return true;
  }

  template <typename T>
  bool Take(const Napi::Object& t, const char* name, napi_typedarray_type type, Array<T>* out) {
    return Bind(t.Get(name), type, out, name, refs_);
  }

  // addBatch(bytes, offset, length, ifindex, egressIfindex, flags, vlanTci, pktType): id for the control block.
  Napi::Value AddBatch(const Napi::CallbackInfo& info) {
    Batch b;
    Refs refs;
    if (!Bind(info[0], napi_uint8_array, &b.bytes, "bytes", refs) ||
        !Bind(info[1], napi_uint32_array, &b.offset, "offset", refs) ||
        !Bind(info[2], napi_uint32_array, &b.length, "length", refs) ||
        !Bind(info[3], napi_uint32_array, &b.ifindex, "ifindex", refs) ||
        !Bind(info[4], napi_uint32_array, &b.egressIfindex, "egressIfindex", refs) ||
        !Bind(info[5], napi_uint8_array, &b.flags, "flags", refs) ||
        !Bind(info[6], napi_uint16_array, &b.vlanTci, "vlanTci", refs) ||
        !Bind(info[7], napi_uint8_array, &b.pktType, "pktType", refs))
      return Env().Undefined();
    b.capacity = b.offset.length;
    if (b.length.length != b.capacity || b.ifindex.length != b.capacity || b.egressIfindex.length != b.capacity ||
        b.flags.length != b.capacity || b.vlanTci.length != b.capacity || b.pktType.length != b.capacity ||
        b.bytes.length < b.capacity * slotSize_) {
      Napi::RangeError::New(Env(), "addBatch: inconsistent batch").ThrowAsJavaScriptException();
      return Env().Undefined();
    }
    batches_.push_back(b);
    batchRefs_.push_back(std::move(refs));
    return Napi::Number::New(Env(), double(batches_.size() - 1));
  }

  // clearBatches(): forgets every batch (and lets them be collected); ids start again at 0.
  Napi::Value ClearBatches(const Napi::CallbackInfo& info) {
    batches_.clear();
    batchRefs_.clear();
    return info.Env().Undefined();
  }

  // setDests(available: Uint8Array, delta: Float64Array (4 per id), touched: Int32Array): called again
  // whenever the destination registry grows.
  Napi::Value SetDests(const Napi::CallbackInfo& info) {
    Array<uint8_t> available;
    Array<double> delta;
    Array<int32_t> touched;
    Refs refs;
    if (!Bind(info[0], napi_uint8_array, &available, "available", refs) ||
        !Bind(info[1], napi_float64_array, &delta, "delta", refs) ||
        !Bind(info[2], napi_int32_array, &touched, "touched", refs))
      return Env().Undefined();
    if (delta.length != available.length * 4 || touched.length != available.length) {
      Napi::RangeError::New(Env(), "setDests: inconsistent sizes").ThrowAsJavaScriptException();
      return Env().Undefined();
    }
    destAvailable_ = available;
    destDelta_ = delta;
    destTouched_ = touched;
    destRefs_ = std::move(refs);
    return Env().Undefined();
  }

  // setVips(addr: Int32Array, used: Uint8Array): the datapath's set of service addresses, on each rules change.
  Napi::Value SetVips(const Napi::CallbackInfo& info) {
    Array<int32_t> addr;
    Array<uint8_t> used;
    Refs refs;
    if (!Bind(info[0], napi_int32_array, &addr, "addr", refs) || !Bind(info[1], napi_uint8_array, &used, "used", refs))
      return Env().Undefined();
    if (addr.length != used.length || used.length == 0 || (used.length & (used.length - 1)) != 0) {
      Napi::RangeError::New(Env(), "setVips: sizes must be one power of two").ThrowAsJavaScriptException();
      return Env().Undefined();
    }
    vipAddr_ = addr;
    vipUsed_ = used;
    vipRefs_ = std::move(refs);
    return Env().Undefined();
  }

  bool IsVip(uint32_t addr) const {
    uint32_t mask = uint32_t(vipUsed_.length - 1);
    for (uint32_t i = AddrHash(addr, mask);; i = (i + 1) & mask) {
      if (vipUsed_.data[i] == 0) return false;
      if (uint32_t(vipAddr_.data[i]) == addr) return true;
    }
  }

  uint32_t BucketOf(uint32_t proto, uint32_t caddr, uint32_t cport) const {
    return ConnHash(seed_, proto, caddr, cport) & bucketMask_;
  }

  double ExpiresOf(int32_t i) const {
    double d;
    std::memcpy(&d, rec_.data + size_t(i) * kRecWords + kRecExpires, sizeof d);
    return d;
  }

  // ConnTable.lookupIn/lookupOut without the expiry: the first match of the chain, whatever its expiry.
  int32_t FindIn(uint32_t proto, uint32_t caddr, uint32_t cport, uint32_t vaddr, uint32_t vport) const {
    uint32_t ports = (cport << 16) | vport;
    int32_t i = buckets_.data[BucketOf(proto, caddr, cport)];
    while (i >= 0 && size_t(i) < fwd_.length) {
      const uint32_t* r = rec_.data + size_t(i) * kRecWords;
      if (r[kRecCaddr] == caddr && r[kRecPorts] == ports && r[kRecVaddr] == vaddr &&
          (r[kRecDportProtoFlags] & (0xff00 | kFlagTemplate)) == (proto << 8))
        return i;
      i = int32_t(r[kRecNext]);
    }
    return -1;
  }

  int32_t FindOut(uint32_t proto, uint32_t daddr, uint32_t dport, uint32_t caddr, uint32_t cport) const {
    uint32_t word4 = (dport << 16) | (proto << 8);
    int32_t i = buckets_.data[BucketOf(proto, caddr, cport)];
    while (i >= 0 && size_t(i) < fwd_.length) {
      const uint32_t* r = rec_.data + size_t(i) * kRecWords;
      if (r[kRecCaddr] == caddr && (r[kRecPorts] >> 16) == cport && r[kRecDaddr] == daddr &&
          (r[kRecDportProtoFlags] & (0xffffff00u | kFlagTemplate)) == word4)
        return i;
      i = int32_t(r[kRecNext]);
    }
    return -1;
  }

  struct Route {
    uint32_t ifPos, hop, src;
  };

  bool RouteTo(uint32_t dst, Route* out) const {
    for (size_t k = 0; k < rtIf_.length; k++) {
      if ((dst & uint32_t(rtMask_.data[k])) == uint32_t(rtNetwork_.data[k])) {
        out->ifPos = rtIf_.data[k];
        uint32_t gw = uint32_t(rtGateway_.data[k]);
        out->hop = gw == 0 ? dst : gw;
        out->src = uint32_t(rtSrc_.data[k]);
        return out->ifPos < ifIndex_.length;
      }
    }
    return false;
  }

  // NeighbourTable.find + resolved() without the release of a stale entry (left to JavaScript): the slot
  // of a usable MAC, or -1.
  int32_t Neighbour(uint32_t ip, double now) const {
    for (uint32_t i = AddrHash(ip, neighMask_);; i = (i + 1) & neighMask_) {
      int32_t plusOne = neighSlotPlusOne_.data[i];
      if (plusOne == 0) return -1;
      if (uint32_t(neighKey_.data[i]) != ip) continue;
      size_t slot = size_t(plusOne - 1);
      if (slot >= neighState_.length) return -1;
      uint8_t s = neighState_.data[slot];
      if (s == kNeighStatic) return int32_t(slot);
      if (s != kNeighReachable) return -1;
      if (neighDeadline_.data[slot] <= now && neighQueueLen_.data[slot] == 0) return -1;
      return int32_t(slot);
    }
  }

  void Count(int32_t destId, bool in, uint32_t bytes) {
    double* d = destDelta_.data + size_t(destId) * 4;
    if (d[0] == 0 && d[2] == 0) destTouched_.data[touchedCount_++] = destId;
    d[in ? 0 : 2] += 1;
    d[in ? 1 : 3] += bytes;
  }

  // run(): frames ctl[start]..ctl[rxCount]-1 of batch ctl[rx] into batch ctl[tx] from slot ctl[txCount];
  // returns the index of the first frame left to JavaScript (rxCount when none was).
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double* ctl = ctl_.data;
    size_t rxId = size_t(ctl[kCtlRx]), txId = size_t(ctl[kCtlTx]);
    if (rxId >= batches_.size() || txId >= batches_.size() || rxId == txId) {
      Napi::RangeError::New(env, "run: bad batch ids").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const Batch& rx = batches_[rxId];
    Batch& tx = batches_[txId];
    size_t i = size_t(ctl[kCtlStart]);
    size_t n = size_t(ctl[kCtlRxCount]);
    if (n > rx.capacity) n = rx.capacity;
    size_t j = size_t(ctl[kCtlTxCount]);
    const double now = ctl[kCtlNow];
    const double tps = ctl[kCtlTicksPerSecond];
    const uint8_t* table = nextState_.data + (ctl[kCtlSecureTcp] != 0 ? 3 * 4 * kTcpStateCount : 0);
    uint32_t ipId = uint32_t(ctl[kCtlIpId]) & 0xffff;
    uint32_t handled = 0, forwardedIn = 0, forwardedOut = 0;
    touchedCount_ = 0;
    const bool destsBound = destAvailable_.data != nullptr && vipUsed_.data != nullptr;

    for (; i < n && destsBound; i++) {
      if (j >= tx.capacity) break;
      if (rx.pktType.data[i] == kPacketOutgoing || (rx.flags.data[i] & kFrameUnusable) != 0) break;
      uint32_t ifindex = rx.ifindex.data[i];
      size_t inIf = 0;
      while (inIf < ifIndex_.length && ifIndex_.data[inIf] != ifindex) inIf++;
      if (inIf == ifIndex_.length) break;
      size_t srcOff = rx.offset.data[i], frameLen = rx.length.data[i];
      if (srcOff > rx.bytes.length || frameLen > rx.bytes.length - srcOff || frameLen < kEthLen + 20) break;
      // The copy below goes to a tx slot's headroom and must end inside the slot, whatever MTU the tables
      // allow: a longer frame is JavaScript's, which drops it as frameTooBig.
      if (frameLen > slotSize_ - headroom_) break;
      const uint8_t* f = rx.bytes.data + srcOff;
      // Untagged IPv4 to this interface's MAC, options-free header, valid, not a fragment.
      if (Rd16(f + 12) != 0x0800 || Rd16(f) != ifMacHigh_.data[inIf] || Rd32(f + 2) != uint32_t(ifMacLow_.data[inIf]))
        break;
      const uint8_t* ip = f + kEthLen;
      uint32_t total = Rd16(ip + 2);
      if (ip[0] != 0x45 || total < 20 || total > frameLen - kEthLen || !Ipv4HeaderOk(ip) || (Rd16(ip + 6) & 0x3fff) != 0)
        break;
      uint32_t proto = ip[9];
      const uint8_t* l4 = ip + 20;
      uint32_t l4Len = total - 20;
      uint8_t tcpFlags = 0;
      if (proto == kProtoTcp) {
        if (l4Len < 20) break;
        uint32_t doff = (l4[12] >> 4) * 4u;
        if (doff < 20 || doff > l4Len) break;
        tcpFlags = l4[13];
        // A SYN may reopen a connection (conn_reuse_mode), and the state tables decide the rest.
        if (tcpFlags & kTcpSyn) break;
      } else if (proto == kProtoUdp) {
        if (l4Len < 8) break;
        uint32_t ulen = Rd16(l4 + 4);
        if (ulen < 8 || ulen > l4Len) break;
      } else {
        break;
      }
      uint32_t src = Rd32(ip + 12), dst = Rd32(ip + 16);
      uint32_t sport = Rd16(l4), dport = Rd16(l4 + 2);

      bool in = true;
      int32_t c = FindIn(proto, src, sport, dst, dport);
      if (c < 0) {
        // A service address goes to scheduling, and anything else but a NAT reply is a drop: JavaScript's.
        if (IsVip(dst)) break;
        c = FindOut(proto, src, sport, dst, dport);
        if (c < 0 || fwd_.data[c] != kFwdMasq) break;
        in = false;
      }
      if (!(ExpiresOf(c) > now)) break;
      uint32_t connFlags = rec_.data[size_t(c) * kRecWords + kRecDportProtoFlags] & 0xff;
      int32_t destId = destId_.data[c];
      if (in && (destId < 0 || size_t(destId) >= destAvailable_.length || destAvailable_.data[destId] == 0)) break;
      if (!in && (destId >= 0 && size_t(destId) >= destAvailable_.length)) break;
      uint8_t fwd = fwd_.data[c];
      if (in && fwd != kFwdMasq && fwd != kFwdRoute && fwd != kFwdTunnel) break;

      // The state transition must leave the state (and the flags) as they are.
      uint8_t state = state_.data[c];
      double timeoutTicks;
      if (proto == kProtoTcp) {
        int dir = in ? kDirInput : kDirOutput;
        if (connFlags & kFlagNoOutput) {
          if (!in) break;
          dir = kDirInputOnly;
        }
        int row = (tcpFlags & kTcpRst) ? 3 : (tcpFlags & kTcpFin) ? 1 : (tcpFlags & kTcpAck) ? 2 : -1;
        uint8_t next = row < 0 ? kStateClose : table[(dir * 4 + row) * kTcpStateCount + (state % kTcpStateCount)];
        if (next != state || state >= kTcpStateCount) break;
        timeoutTicks = tcpTimeouts_.data[state] * tps;
      } else {
        timeoutTicks = ctl[kCtlUdpTimeout] * tps;
      }

      // Route, TTL and MTU (routeTtlMtu), then the next hop's MAC.
      uint32_t rip = in ? rec_.data[size_t(c) * kRecWords + kRecDaddr] : 0;
      uint32_t rport = in ? rec_.data[size_t(c) * kRecWords + kRecDportProtoFlags] >> 16 : 0;
      Route rt;
      if (!RouteTo(in ? rip : dst, &rt)) break;
      if (in && fwd == kFwdRoute && rt.hop != rip) break;
      if (ip[8] <= 1) break;
      uint32_t overhead = in && fwd == kFwdTunnel ? kIpipLen : 0;
      uint32_t mtu = ifMtu_.data[rt.ifPos];
      if (mtu < overhead || (overhead != 0 && mtu - overhead < kMinMtu) || total > mtu - overhead) break;
      int32_t neigh = Neighbour(rt.hop, now);
      if (neigh < 0) break;

      // Handled: commit. Connection first (ip_vs_conn_put after the state transition), then the frame.
      if (proto == kProtoUdp) state_.data[c] = 0;
      timeout_.data[c] = timeoutTicks >= 0 && timeoutTicks < 4294967296.0 ? uint32_t(timeoutTicks) : 0;
      double expires = now + timeoutTicks;
      std::memcpy(rec_.data + size_t(c) * kRecWords + kRecExpires, &expires, sizeof expires);
      if (destId >= 0) Count(destId, in, total);

      size_t outOff = j * slotSize_ + headroom_;
      uint8_t* o = tx.bytes.data + outOff;
      uint32_t outLen = kEthLen + total;
      std::memcpy(o, f, outLen);
      uint8_t* oip = o + kEthLen;
      uint8_t* ol4 = oip + 20;
      // decrement_ttl(): the kernel's ip_decrease_ttl checksum update.
      uint32_t check = Rd16(oip + 10) + 0x0100;
      Wr16(oip + 10, (check + (check >= 0xffff ? 1 : 0)) & 0xffff);
      oip[8] = uint8_t(oip[8] - 1);

      if (!in || fwd == kFwdMasq) {
        // NAT: in, the destination becomes RIP:rport; out, the source becomes VIP:vport.
        uint32_t addrAt = in ? 16 : 12;
        uint32_t portAt = in ? 2 : 0;
        uint32_t addr = in ? rip : rec_.data[size_t(c) * kRecWords + kRecVaddr];
        uint32_t port = in ? rport : rec_.data[size_t(c) * kRecWords + kRecPorts] & 0xffff;
        uint32_t oldAddr = Rd32(oip + addrAt);
        uint32_t oldPort = Rd16(ol4 + portAt);
        uint8_t* l4Check = ol4 + (proto == kProtoTcp ? 16 : 6);
        uint32_t l4c = Rd16(l4Check);
        if (proto == kProtoTcp) {
          Wr16(l4Check, CsumReplace16(CsumReplace32(l4c, oldAddr, addr), oldPort, port));
        } else if (l4c != 0) {
          // RFC 768: a computed 0 goes out as all ones, since 0 means "no checksum" (each step, as UdpView).
          uint32_t a = CsumReplace32(l4c, oldAddr, addr);
          if (a == 0) a = 0xffff;
          uint32_t b = CsumReplace16(a, oldPort, port);
          Wr16(l4Check, b == 0 ? 0xffff : b);
        }
        Wr16(ol4 + portAt, port);
        Wr16(oip + 10, CsumReplace32(Rd16(oip + 10), oldAddr, addr));
        Wr32(oip + addrAt, addr);
        if (in) forwardedIn++;
        else forwardedOut++;
      } else if (fwd == kFwdTunnel) {
        // ip_vs_tunnel_xmit(): Ethernet header moved 20 bytes forward, outer header DIP -> RIP behind it.
        std::memmove(o - kIpipLen, o, kEthLen);
        o -= kIpipLen;
        outOff -= kIpipLen;
        outLen += kIpipLen;
        uint8_t* outer = o + kEthLen;
        uint32_t tos = oip[1];
        bool df = (Rd16(oip + 6) & 0x4000) != 0;
        uint32_t id = 0;
        if (!df) {
          ipId = (ipId + 1) & 0xffff;
          id = ipId;
        }
        outer[0] = 0x45;
        outer[1] = uint8_t((tos & 0xfc) | ((tos & 3) == 3 ? 2 : (tos & 3)));
        Wr16(outer + 2, total + kIpipLen);
        Wr16(outer + 4, id);
        Wr16(outer + 6, df ? 0x4000 : 0);
        outer[8] = oip[8];
        outer[9] = kProtoIpip;
        Wr32(outer + 12, rt.src);
        Wr32(outer + 16, rip);
        Wr16(outer + 10, Ipv4HeaderChecksum(outer));
        forwardedIn++;
      } else {
        forwardedIn++;
      }
      WrMac(o + 6, ifMacHigh_.data[rt.ifPos], uint32_t(ifMacLow_.data[rt.ifPos]));
      WrMac(o, neighMacHigh_.data[neigh], uint32_t(neighMacLow_.data[neigh]));
      tx.offset.data[j] = uint32_t(outOff);
      tx.length.data[j] = outLen;
      tx.ifindex.data[j] = ifindex;
      tx.egressIfindex.data[j] = ifIndex_.data[rt.ifPos];
      tx.flags.data[j] = 0;
      tx.vlanTci.data[j] = 0;
      tx.pktType.data[j] = 0;
      j++;
      handled++;
    }
    ctl[kCtlIpId] = ipId;
    ctl[kCtlHandled] = handled;
    ctl[kCtlForwardedIn] = forwardedIn;
    ctl[kCtlForwardedOut] = forwardedOut;
    ctl[kCtlTouched] = touchedCount_;
    ctl[kCtlTxCount] = double(j);
    return Napi::Number::New(env, double(i));
  }

  // The tables' arrays, kept alive for the object's lifetime; batches, destinations and VIPs as rebound.
  Refs refs_;
  std::vector<Batch> batches_;
  std::vector<Refs> batchRefs_;
  Refs destRefs_, vipRefs_;
  Array<uint32_t> rec_;
  Array<uint8_t> fwd_, state_;
  Array<int32_t> destId_, buckets_;
  Array<uint32_t> timeout_;
  Array<double> tcpTimeouts_;
  Array<uint8_t> nextState_;
  Array<uint16_t> ifMacHigh_;
  Array<int32_t> ifMacLow_;
  Array<uint32_t> ifMtu_, ifIndex_;
  Array<int32_t> rtNetwork_, rtMask_, rtGateway_, rtSrc_;
  Array<uint8_t> rtIf_;
  Array<int32_t> neighKey_, neighSlotPlusOne_, neighMacLow_;
  Array<uint16_t> neighMacHigh_, neighQueueLen_;
  Array<uint8_t> neighState_;
  Array<double> neighDeadline_;
  Array<uint8_t> destAvailable_;
  Array<double> destDelta_;
  Array<int32_t> destTouched_;
  Array<int32_t> vipAddr_;
  Array<uint8_t> vipUsed_;
  Array<double> ctl_;
  uint32_t seed_ = 0, bucketMask_ = 0, neighMask_ = 0, slotSize_ = 0, headroom_ = 0;
  uint32_t touchedCount_ = 0;
};

}  // namespace

void RegisterFastPath(Napi::Env env, Napi::Object exports) { exports.Set("FastPath", FastPath::Define(env)); }

}  // namespace uvs
