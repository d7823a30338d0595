// TUN devices for the user-space IPIP decapsulator (`uvs rs tun`, src/rs/tun.ts): open a layer-3 TUN device
// (IFF_TUN | IFF_NO_PI) and hand the kernel a whole batch of IPv4 packets per native call, as if they had
// arrived on that device.
#pragma once
#include <napi.h>

namespace uvs {

// Adds tunOpen, tunWriteBatch, tunClose and ipipSinkOpen to the addon's exports.
void RegisterTun(Napi::Env env, Napi::Object exports);

}  // namespace uvs
