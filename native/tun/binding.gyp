{
  "targets": [
    {
      "target_name": "pavise_tun",
      "sources": ["addon.c", "poll-reader.c", "tun.c", "offload.c", "udp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
