// The legacy per-feature ethtool commands (ETHTOOL_GTXCSUM ... ETHTOOL_SGRO, and ETHTOOL_GFLAGS/SFLAGS for
// LRO) rather than ETHTOOL_SFEATURES: each names one feature with a fixed number, so no string set has to be
// fetched and searched, and the kernel applies the same dependencies as `ethtool -K` (TSO goes with tx
// checksumming). They are what ethtool itself falls back to.
//
// A namespace is entered for the socket() call only: setns() moves the calling thread, the socket stays in
// the namespace it was created in, and the thread moves straight back. Nothing else runs on the JavaScript
// thread meanwhile, and libuv's pool threads are other threads, so no other work sees the switch.
#include "offloads.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "napi_errors.h"

namespace uvs {
namespace {

struct Feature {
  const char* name;
  uint32_t get;
  uint32_t set;
};

// `ethtool -K` names. LRO is a flag of ETHTOOL_GFLAGS, handled apart.
constexpr Feature kFeatures[] = {
    {"rx", ETHTOOL_GRXCSUM, ETHTOOL_SRXCSUM}, {"tx", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM},
    {"sg", ETHTOOL_GSG, ETHTOOL_SSG},         {"tso", ETHTOOL_GTSO, ETHTOOL_STSO},
    {"gso", ETHTOOL_GGSO, ETHTOOL_SGSO},      {"gro", ETHTOOL_GGRO, ETHTOOL_SGRO},
};

// A datagram socket in the namespace at `path` ("" for this thread's own). Returns -errno on failure.
int SocketIn(const std::string& path, std::string* failed) {
  if (path.empty()) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) *failed = "socket";
    return fd < 0 ? -errno : fd;
  }
  int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) {
    *failed = "open(/proc/thread-self/ns/net)";
    return -errno;
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(own);
    *failed = "open(" + path + ")";
    return -err;
  }
  int fd = -1, err = 0;
  if (setns(target, CLONE_NEWNET) != 0) {
    err = errno;
    *failed = "setns(" + path + ")";
  } else {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      *failed = "socket";
    }
    // Going back cannot fail for a namespace this thread was just in; if it ever did, carrying on in the
    // wrong namespace would be worse than stopping.
    if (setns(own, CLONE_NEWNET) != 0) abort();
  }
  close(target);
  close(own);
  return fd < 0 ? -err : fd;
}

int EthtoolValue(int fd, const std::string& ifname, uint32_t cmd, uint32_t* data) {
  ethtool_value value;
  memset(&value, 0, sizeof(value));
  value.cmd = cmd;
  value.data = *data;
  ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return -errno;
  *data = value.data;
  return 0;
}

bool ReadArgs(const Napi::CallbackInfo& info, std::string* ns, std::string* ifname) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() && !info[0].IsNull()) {
    Napi::TypeError::New(env, "netns: path string or null required").ThrowAsJavaScriptException();
    return false;
  }
  if (!info[1].IsString()) {
    Napi::TypeError::New(env, "ifname: string required").ThrowAsJavaScriptException();
    return false;
  }
  *ns = info[0].IsNull() ? "" : info[0].As<Napi::String>().Utf8Value();
  *ifname = info[1].As<Napi::String>().Utf8Value();
  if (ifname->empty() || ifname->size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, "offloads(" + *ifname + "): bad interface name");
    return false;
  }
  return true;
}

// offloadsGet(netns: string | null, ifname: string): { rx, tx, sg, tso, gso, gro, lro } as booleans.
Napi::Value OffloadsGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns, ifname, failed;
  if (!ReadArgs(info, &ns, &ifname)) return env.Undefined();
  int fd = SocketIn(ns, &failed);
  if (fd < 0) {
    ThrowErrno(env, -fd, "offloadsGet(" + ifname + "): " + failed);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  for (const Feature& f : kFeatures) {
    uint32_t data = 0;
    int r = EthtoolValue(fd, ifname, f.get, &data);
    if (r != 0) {
      close(fd);
      ThrowErrno(env, -r, "offloadsGet(" + ifname + "): " + f.name);
      return env.Undefined();
    }
    out.Set(f.name, Napi::Boolean::New(env, data != 0));
  }
  uint32_t flags = 0;
  int r = EthtoolValue(fd, ifname, ETHTOOL_GFLAGS, &flags);
  close(fd);
  if (r != 0) {
    ThrowErrno(env, -r, "offloadsGet(" + ifname + "): lro");
    return env.Undefined();
  }
  out.Set("lro", Napi::Boolean::New(env, (flags & ETH_FLAG_LRO) != 0));
  return out;
}

// offloadsSet(netns: string | null, ifname: string, want: { rx?, tx?, sg?, tso?, gso?, gro?, lro? }): the
// features named in `want` are set, in the order of kFeatures; the others are left alone. Throws on the first
// the kernel refuses, naming it (those before it stay set, as with `ethtool -K`).
Napi::Value OffloadsSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns, ifname, failed;
  if (!ReadArgs(info, &ns, &ifname)) return env.Undefined();
  if (!info[2].IsObject()) {
    Napi::TypeError::New(env, "want: object required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object want = info[2].As<Napi::Object>();
  int fd = SocketIn(ns, &failed);
  if (fd < 0) {
    ThrowErrno(env, -fd, "offloadsSet(" + ifname + "): " + failed);
    return env.Undefined();
  }
  for (const Feature& f : kFeatures) {
    Napi::Value v = want.Get(f.name);
    if (v.IsUndefined()) continue;
    uint32_t data = v.ToBoolean().Value() ? 1 : 0;
    int r = EthtoolValue(fd, ifname, f.set, &data);
    if (r != 0) {
      close(fd);
      ThrowErrno(env, -r, "offloadsSet(" + ifname + "): " + f.name);
      return env.Undefined();
    }
  }
  Napi::Value lro = want.Get("lro");
  if (!lro.IsUndefined()) {
    uint32_t flags = 0;
    int r = EthtoolValue(fd, ifname, ETHTOOL_GFLAGS, &flags);
    if (r == 0) {
      bool on = lro.ToBoolean().Value();
      bool is = (flags & ETH_FLAG_LRO) != 0;
      // Most drivers (veth among them) have no LRO and refuse any SFLAGS: only ask for a change.
      if (on != is) {
        flags = on ? flags | ETH_FLAG_LRO : flags & ~uint32_t(ETH_FLAG_LRO);
        r = EthtoolValue(fd, ifname, ETHTOOL_SFLAGS, &flags);
      }
    }
    if (r != 0) {
      close(fd);
      ThrowErrno(env, -r, "offloadsSet(" + ifname + "): lro");
      return env.Undefined();
    }
  }
  close(fd);
  return env.Undefined();
}

}  // namespace

void RegisterOffloads(Napi::Env env, Napi::Object exports) {
  exports.Set("offloadsGet", Napi::Function::New(env, OffloadsGet));
  exports.Set("offloadsSet", Napi::Function::New(env, OffloadsSet));
}

}  // namespace uvs
