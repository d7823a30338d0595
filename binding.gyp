{
  "targets": [
    {
      "target_name": "uvs_native",
      "sources": ["native/addon.cc", "native/checksum.cc", "native/fastpath.cc", "native/gso.cc", "native/layout.cc", "native/packet_io.cc", "native/offloads.cc", "native/tun.cc", "native/xdp_io.cc", "native/notify.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-std=c++17"]
    }
  ]
}
