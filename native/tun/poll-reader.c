/* See poll-reader.h. */
#include "poll-reader.h"

#include <errno.h>
#include <stdlib.h>

#include "addon.h"

typedef struct poll_reader_box {
  poll_reader_t *r;
} poll_reader_box_t;

static void reader_closed(uv_handle_t *handle) {
  poll_reader_t *r = (poll_reader_t *)handle;
  r->free_reader(r);
}

void poll_reader_stop(poll_reader_t *r) {
  if (r->stopped) return;
  r->stopped = true;
  if (r->box != NULL) {
    r->box->r = NULL;
    r->box = NULL;
  }
  uv_poll_stop(&r->poll);
  napi_delete_reference(r->env, r->on_batch);
  napi_delete_reference(r->env, r->on_error);
  napi_async_destroy(r->env, r->async);
  uv_close((uv_handle_t *)&r->poll, reader_closed);
}

void poll_reader_fail(poll_reader_t *r, int err, const char *what) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value arg = make_error(env, err, what);
  addon_call(env, r->async, r->on_error, 1, &arg);
  poll_reader_stop(r);
  napi_close_handle_scope(env, scope);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  poll_reader_box_t *box = data;
  if (box->r != NULL) poll_reader_stop(box->r);
  free(box);
}

napi_value poll_reader_start(napi_env env, poll_reader_t *r, int fd, napi_value on_batch,
                             napi_value on_error, const char *name, uv_poll_cb on_readable,
                             void (*free_reader)(poll_reader_t *r)) {
  if (r == NULL) return throw_errno(env, ENOMEM, name);
  r->env = env;
  r->fd = fd;
  r->free_reader = free_reader;
  uv_loop_t *loop;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &r->poll, fd) : -EINVAL;
  if (rc < 0) {
    free_reader(r);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  napi_value resource, resource_name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_reference(env, on_batch, 1, &r->on_batch) != napi_ok ||
      napi_create_reference(env, on_error, 1, &r->on_error) != napi_ok ||
      napi_async_init(env, resource, resource_name, &r->async) != napi_ok) {
    /* Partially set up: close the handle; references (if any) leak harmlessly at exit. */
    r->stopped = true;
    uv_close((uv_handle_t *)&r->poll, reader_closed);
    napi_throw_error(env, "TUN_ADDON", "cannot keep the reader's callbacks");
    return NULL;
  }
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    poll_reader_stop(r);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  poll_reader_box_t *box = malloc(sizeof *box);
  if (box == NULL) {
    poll_reader_stop(r);
    return throw_errno(env, ENOMEM, name);
  }
  box->r = r;
  r->box = box;
  napi_value handle;
  if (napi_create_external(env, box, box_finalize, NULL, &handle) != napi_ok) {
    poll_reader_stop(r);
    free(box);
    napi_throw_error(env, "TUN_ADDON", "cannot make the reader's handle");
    return NULL;
  }
  return handle;
}

static poll_reader_box_t *get_box(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "TUN_ADDON", "not a reader handle");
    return NULL;
  }
  return data;
}

napi_value poll_reader_stop_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return NULL;
  poll_reader_box_t *box = get_box(env, argv[0]);
  if (box != NULL && box->r != NULL) poll_reader_stop(box->r);
  return NULL;
}

napi_value poll_reader_ref_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return NULL;
  poll_reader_box_t *box = get_box(env, argv[0]);
  if (box == NULL) return NULL;
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (box->r != NULL && !box->r->stopped) {
    if (on)
      uv_ref((uv_handle_t *)&box->r->poll);
    else
      uv_unref((uv_handle_t *)&box->r->poll);
  }
  return NULL;
}
