// Interface offloads (checksum, TSO, GSO, GRO, LRO) read and set through the ethtool ioctl, optionally in
// another network namespace. The lab, the tests and the live bench turn them off on their veths, and the
// daemon turns GRO/LRO off on the interfaces it captures on, without the ethtool program.
#pragma once

#include <napi.h>

namespace uvs {

void RegisterOffloads(Napi::Env env, Napi::Object exports);

}  // namespace uvs
