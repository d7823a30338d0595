// Node-API entry points. Every function that touches packets takes a whole batch per call: a crossing
// costs about 150 ns here, so per-packet calls would dominate the datapath (docs/design.md).
#include <napi.h>

#include "checksum.h"
#include "fastpath.h"
#include "gso.h"
#include "offloads.h"
#include "packet_io.h"
#include "tun.h"
#include "xdp_io.h"

namespace uvs {
// native/notify.cc: sd_notify(3) without libsystemd.
void RegisterNotify(Napi::Env env, Napi::Object exports);
// native/layout.cc: the values shared with TypeScript, checked by src/native.ts at load.
void RegisterLayout(Napi::Env env, Napi::Object exports);
}  // namespace uvs

namespace {

// The element type must match exactly: node-addon-api's As<T>() does not check it, and a Uint8Array taken
// as a Uint32Array would let the loops below read and write past the end of its memory.
template <typename T>
bool GetTyped(const Napi::Env& env, const Napi::Value& v, T* out, napi_typedarray_type type, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    Napi::TypeError::New(env, std::string(what) + " required").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<T>();
  return true;
}

// checksum(buf: Uint8Array, off: number, len: number): number — inverted Internet checksum of a region.
// One call per region: meant for tests and benchmarks, not for per-packet use on the datapath.
Napi::Value Checksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array buf;
  if (!GetTyped(env, info[0], &buf, napi_uint8_array, "buf: Uint8Array")) return env.Undefined();
  uint32_t off = info[1].As<Napi::Number>().Uint32Value();
  uint32_t len = info[2].As<Napi::Number>().Uint32Value();
  if (size_t(off) + len > buf.ByteLength()) {
    Napi::RangeError::New(env, "region out of bounds").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint16_t c = uint16_t(~uvs::csum_fold(uvs::csum_partial(buf.Data() + off, len, 0)));
  return Napi::Number::New(env, c);
}

// checksumBatch(buf, offs: Uint32Array, lens: Uint32Array, out: Uint16Array, count): number of regions
// done. The first region out of bounds stops the batch: the result is its index, and out[] from there on
// is left as it was.
Napi::Value ChecksumBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array buf;
  Napi::Uint32Array offs, lens;
  Napi::Uint16Array out;
  if (!GetTyped(env, info[0], &buf, napi_uint8_array, "buf: Uint8Array") ||
      !GetTyped(env, info[1], &offs, napi_uint32_array, "offs: Uint32Array") ||
      !GetTyped(env, info[2], &lens, napi_uint32_array, "lens: Uint32Array") ||
      !GetTyped(env, info[3], &out, napi_uint16_array, "out: Uint16Array"))
    return env.Undefined();
  size_t count = info[4].As<Napi::Number>().Uint32Value();
  if (count > offs.ElementLength() || count > lens.ElementLength() || count > out.ElementLength()) {
    Napi::RangeError::New(env, "count exceeds an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint8_t* base = buf.Data();
  size_t size = buf.ByteLength();
  size_t i = 0;
  for (; i < count; i++) {
    size_t off = offs[i], len = lens[i];
    if (off + len > size) break;
    out[i] = uint16_t(~uvs::csum_fold(uvs::csum_partial(base + off, len, 0)));
  }
  return Napi::Number::New(env, double(i));
}

// completePartial(buf, offs: Uint32Array, lens: Uint32Array, status: Uint8Array, count): number completed.
// status[i] is 1 on entry for frames that need completion (TP_STATUS_CSUMNOTREADY); on return it holds a
// PartialResult code for every frame.
Napi::Value CompletePartial(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array buf, status;
  Napi::Uint32Array offs, lens;
  if (!GetTyped(env, info[0], &buf, napi_uint8_array, "buf: Uint8Array") ||
      !GetTyped(env, info[1], &offs, napi_uint32_array, "offs: Uint32Array") ||
      !GetTyped(env, info[2], &lens, napi_uint32_array, "lens: Uint32Array") ||
      !GetTyped(env, info[3], &status, napi_uint8_array, "status: Uint8Array"))
    return env.Undefined();
  size_t count = info[4].As<Napi::Number>().Uint32Value();
  if (count > offs.ElementLength() || count > lens.ElementLength() || count > status.ElementLength()) {
    Napi::RangeError::New(env, "count exceeds an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint8_t* base = buf.Data();
  size_t size = buf.ByteLength();
  uint32_t done = 0;
  for (size_t i = 0; i < count; i++) {
    if (status[i] != 1) {
      status[i] = uvs::kPartialSkipped;
      continue;
    }
    size_t off = offs[i], len = lens[i];
    if (off > size || len > size - off) {
      status[i] = uvs::kPartialTruncated;
      continue;
    }
    uvs::PartialResult r = uvs::complete_partial_one(base + off, len);
    status[i] = r;
    if (r == uvs::kPartialDone) done++;
  }
  return Napi::Number::New(env, done);
}

// gsoSegment(frame: Uint8Array, gsoType, gsoSize, room): Uint8Array[] | null — the segments receive would
// cut `frame` into (native/gso.h), or null when it would not cut it. For tests: it allocates per segment.
Napi::Value GsoSegment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array frame;
  if (!GetTyped(env, info[0], &frame, napi_uint8_array, "frame: Uint8Array")) return env.Undefined();
  uint32_t type = info[1].As<Napi::Number>().Uint32Value();
  uint32_t size = info[2].As<Napi::Number>().Uint32Value();
  uint32_t room = info[3].As<Napi::Number>().Uint32Value();
  uvs::GsoPlan plan;
  if (type > 0xff || size > 0xffff ||
      !uvs::PlanGso(frame.Data(), uint32_t(frame.ByteLength()), uint8_t(type), uint16_t(size), room, &plan))
    return env.Null();
  Napi::Array out = Napi::Array::New(env, plan.count);
  for (uint32_t i = 0; i < plan.count; i++) {
    Napi::Uint8Array seg = Napi::Uint8Array::New(env, room);
    uint32_t n = uvs::WriteGsoSegment(frame.Data(), plan, i, seg.Data());
    out.Set(i, Napi::Uint8Array::New(env, n, seg.ArrayBuffer(), 0));
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("checksum", Napi::Function::New(env, Checksum));
  exports.Set("checksumBatch", Napi::Function::New(env, ChecksumBatch));
  exports.Set("completePartial", Napi::Function::New(env, CompletePartial));
  exports.Set("gsoSegment", Napi::Function::New(env, GsoSegment));
  uvs::RegisterOffloads(env, exports);
  uvs::RegisterPacketIo(env, exports);
  uvs::RegisterFastPath(env, exports);
  uvs::RegisterTun(env, exports);
  uvs::RegisterXdpIo(env, exports);
  uvs::RegisterNotify(env, exports);
  uvs::RegisterLayout(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(uvs_native, Init)
