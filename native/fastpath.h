// The datapath's native fast path (src/datapath/fastpath.ts): the connection-hit case of NAT, DR and TUN for
// a run of frames per call, over the JavaScript tables' own memory.
#pragma once
#include <napi.h>

namespace uvs {

// Adds the FastPath class to the addon's exports.
void RegisterFastPath(Napi::Env env, Napi::Object exports);

}  // namespace uvs
