/*
 * What the parts of the Pavise datapath addon share: error helpers and calling back into
 * JavaScript. The parts: tun.c (the TUN device), udp.c (the ESP-in-UDP socket), offload.c (TCP
 * segmentation and coalescing across the TUN).
 */
#ifndef PAVISE_ADDON_H
#define PAVISE_ADDON_H

#include <node_api.h>
#include <stdbool.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      const napi_extended_error_info *info_ = NULL;                             \
      napi_get_last_error_info((env), &info_);                                  \
      bool pending_ = false;                                                    \
      napi_is_exception_pending((env), &pending_);                              \
      if (!pending_)                                                            \
        napi_throw_error((env), "TUN_ADDON",                                    \
                         info_ && info_->error_message ? info_->error_message   \
                                                       : "N-API call failed");  \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

/* Throws an Error with .code = errno name (e.g. "EPERM") and .errno = the number. */
napi_value throw_errno(napi_env env, int err, const char *what);
/* The same Error, returned instead of thrown. */
napi_value make_error(napi_env env, int err, const char *what);
/* Reads a non-negative int32 fd argument; throws a TypeError and returns false otherwise. */
bool get_fd(napi_env env, napi_value v, int *fd);
/* Calls a referenced JS function from a libuv callback; an exception becomes fatal (uncaught). */
void addon_call(napi_env env, napi_async_context async, napi_ref fn_ref, size_t argc, napi_value *argv);
/* Adds the UDP socket functions (udp.c) to the exports. */
napi_value udp_register(napi_env env, napi_value exports);

#endif
