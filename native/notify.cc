// systemd's service notification protocol (sd_notify(3)): one datagram of "KEY=VALUE\n..." text to the
// AF_UNIX datagram socket named in $NOTIFY_SOCKET. Node has no Unix datagram sockets, and this is a socket(),
// a sendto() and a close(), so it lives here rather than in a dependency with a native build of its own.
// A name starting with '@' is in the abstract namespace: a NUL byte in sun_path, no terminator.
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "napi_errors.h"

namespace uvs {
namespace {

// notifySend(socketPath, text): throws on a bad path or when the datagram cannot be sent.
Napi::Value NotifySend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "notifySend(socketPath: string, text: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string text = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() < 2 || path.size() > sizeof(addr.sun_path) - 1 || (path[0] != '/' && path[0] != '@')) {
    Napi::Error::New(env, "notifySend: bad socket path \"" + path + "\" (an absolute path or @abstract)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  // An abstract name is exactly as long as given; a path name carries its terminator.
  socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "notifySend: socket(AF_UNIX)");
    return env.Undefined();
  }
  ssize_t sent = sendto(fd, text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (sent < 0) ThrowErrno(env, err, "notifySend: sendto(" + path + ")");
  return env.Undefined();
}

}  // namespace

void RegisterNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("notifySend", Napi::Function::New(env, NotifySend));
}

}  // namespace uvs
