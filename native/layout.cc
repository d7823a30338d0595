// Exports native/layout.h to JavaScript: `layout`, every shared value by its TypeScript name, and the two
// hash functions C uses over JavaScript's tables, so that src/native.ts can compare results as well as
// constants when the addon is loaded.
#include "layout.h"

#include <napi.h>

namespace uvs {
namespace {

bool Uint32Arg(const Napi::CallbackInfo& info, size_t at, uint32_t* out) {
  if (!info[at].IsNumber()) {
    Napi::TypeError::New(info.Env(), "layout hash: numbers required").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[at].As<Napi::Number>().Uint32Value();
  return true;
}

// layoutConnHash(seed, proto, caddr, cport): ConnHash, unsigned, before the bucket mask.
Napi::Value LayoutConnHash(const Napi::CallbackInfo& info) {
  uint32_t seed, proto, caddr, cport;
  if (!Uint32Arg(info, 0, &seed) || !Uint32Arg(info, 1, &proto) || !Uint32Arg(info, 2, &caddr) ||
      !Uint32Arg(info, 3, &cport))
    return info.Env().Undefined();
  return Napi::Number::New(info.Env(), ConnHash(seed, proto, caddr, cport));
}

// layoutAddrHash(key, mask): AddrHash.
Napi::Value LayoutAddrHash(const Napi::CallbackInfo& info) {
  uint32_t key, mask;
  if (!Uint32Arg(info, 0, &key) || !Uint32Arg(info, 1, &mask)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), AddrHash(key, mask));
}

}  // namespace

void RegisterLayout(Napi::Env env, Napi::Object exports) {
  Napi::Object layout = Napi::Object::New(env);
#define UVS_LAYOUT_EXPORT(name, key, value) layout.Set(key, Napi::Number::New(env, name));
  UVS_LAYOUT(UVS_LAYOUT_EXPORT)
#undef UVS_LAYOUT_EXPORT
  layout.Freeze();
  exports.Set("layout", layout);
  exports.Set("layoutConnHash", Napi::Function::New(env, LayoutConnHash));
  exports.Set("layoutAddrHash", Napi::Function::New(env, LayoutAddrHash));
}

}  // namespace uvs
