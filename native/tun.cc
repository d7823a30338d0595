// TUN device I/O (see tun.h). tunWriteBatch never throws: the per-batch loop in JS has no try/catch, and
// failures come back as counts and an errno. tunOpen, tunClose and ipipSinkOpen throw, with the errno name in
// the message and in `code`.
#include "tun.h"

#include "napi_errors.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace uvs {
namespace {

// The element type must match exactly: As<T>() does not check it (see addon.cc).
template <typename T>
bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// tunOpen(name: string): { fd, name } — the kernel may pick the name when it ends in "%d". The device is
// not persistent: closing the descriptor removes it, so a crashed decapsulator leaves no device behind.
Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "name: string required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, "tunOpen(" + name + "): bad interface name");
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, "tunOpen(" + name + "): open(/dev/net/tun)");
    return env.Undefined();
  }
  ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  // IFF_NO_PI: each read/write is a bare IP packet, with no 4-byte packet-information prefix.
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "tunOpen(" + name + "): ioctl(TUNSETIFF)");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ))));
  return out;
}

void TunClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd = info[0].As<Napi::Number>().Int64Value();
  if (close(int(fd)) < 0) ThrowErrno(env, errno, "tunClose");
}

// tunWriteBatch(fd, bytes: Uint8Array, offset: Uint32Array, length: Uint32Array, count, result: Int32Array):
// number written, or a negative errno for unusable arguments. A TUN descriptor takes exactly one packet per
// write() and has no batched write, so the batch is a loop of write() inside this one call: the JS/native
// crossing (about 150 ns, docs/design.md) is paid once per batch. result = [written, dropped, last errno]. A full
// device queue (EAGAIN) drops the packet and carries on: the decapsulator stands in for a NIC, and a NIC drops.
Napi::Value TunWriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsNumber() || !IsTyped<Napi::Uint8Array>(info[1], napi_uint8_array) ||
      !IsTyped<Napi::Uint32Array>(info[2], napi_uint32_array) ||
      !IsTyped<Napi::Uint32Array>(info[3], napi_uint32_array) || !info[4].IsNumber() ||
      !IsTyped<Napi::Int32Array>(info[5], napi_int32_array)) {
    return Napi::Number::New(env, -EINVAL);
  }
  int fd = int(info[0].As<Napi::Number>().Int64Value());
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array offset = info[2].As<Napi::Uint32Array>();
  Napi::Uint32Array length = info[3].As<Napi::Uint32Array>();
  uint32_t count = info[4].As<Napi::Number>().Uint32Value();
  Napi::Int32Array result = info[5].As<Napi::Int32Array>();
  if (result.ElementLength() < 3 || count > offset.ElementLength() || count > length.ElementLength()) {
    return Napi::Number::New(env, -EINVAL);
  }
  const uint8_t* base = bytes.Data();
  size_t size = bytes.ByteLength();
  int32_t written = 0, dropped = 0, lastErrno = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offset[i], len = length[i];
    if (off > size || len > size - off || len == 0) {
      dropped++;
      lastErrno = EINVAL;
      continue;
    }
    ssize_t n;
    do {
      n = write(fd, base + off, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      dropped++;
      lastErrno = errno;
    } else {
      written++;
    }
  }
  result[0] = written;
  result[1] = dropped;
  result[2] = lastErrno;
  return Napi::Number::New(env, written);
}

// ipipSinkOpen(): fd of a raw IPv4 socket for protocol 4 (IPIP) that never queues anything. Without it, a
// kernel with no ipip module answers every IPIP packet the decapsulator takes from AF_PACKET with an ICMP
// "protocol unreachable" to the director: ip_local_deliver_finish sends that only when no raw socket of the
// protocol exists (net/ipv4/ip_input.c). A socket filter that accepts nothing keeps the socket's queue empty.
Napi::Value IpipSinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_IPIP);
  if (fd < 0) {
    ThrowErrno(env, errno, "ipipSinkOpen: socket(AF_INET, SOCK_RAW, IPPROTO_IPIP)");
    return env.Undefined();
  }
  sock_filter rejectAll[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  sock_fprog prog = {1, rejectAll};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "ipipSinkOpen: setsockopt(SO_ATTACH_FILTER)");
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

void RegisterTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen));
  exports.Set("tunWriteBatch", Napi::Function::New(env, TunWriteBatch));
  exports.Set("tunClose", Napi::Function::New(env, TunClose));
  exports.Set("ipipSinkOpen", Napi::Function::New(env, IpipSinkOpen));
}

}  // namespace uvs
