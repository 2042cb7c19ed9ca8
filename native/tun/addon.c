/* See addon.h. */
#define _GNU_SOURCE
#include "addon.h"

#include <stdio.h>
#include <string.h>

napi_value make_error(napi_env env, int err, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value msg, code, error, num;
  const char *name = strerrorname_np(err);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  return error;
}

napi_value throw_errno(napi_env env, int err, const char *what) {
  napi_throw(env, make_error(env, err, what));
  return NULL;
}

bool get_fd(napi_env env, napi_value v, int *fd) {
  int32_t n;
  if (napi_get_value_int32(env, v, &n) != napi_ok || n < 0) {
    napi_throw_type_error(env, "TUN_ADDON", "fd must be a non-negative integer");
    return false;
  }
  *fd = n;
  return true;
}

void addon_call(napi_env env, napi_async_context async, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
  napi_status s = napi_make_callback(env, async, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}
