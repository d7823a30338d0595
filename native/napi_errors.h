// Errors thrown to JavaScript by the native entry points: the errno's name (EPERM, ENODEV, ...) in the
// message and in `code`, and the negative errno in `errno`, as Node's own system errors carry them.
#pragma once

#include <napi.h>
#include <string.h>

#include <string>

namespace uvs {

inline std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E" + std::to_string(err);
}

inline void ThrowErrno(Napi::Env env, int err, const std::string& what) {
  std::string name = ErrnoName(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + name + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -err));
  e.ThrowAsJavaScriptException();
}

}  // namespace uvs
