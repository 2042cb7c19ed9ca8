/*
 * Pavise TUN addon: opens a Linux TUN device (IFF_TUN | IFF_NO_PI) in the calling process's
 * network namespace and moves packets between it and JavaScript with few crossings:
 *
 * - a libuv poll on the non-blocking fd; each time it is readable, up to `batch` packets are
 *   read into one buffer and handed to JavaScript in a single call (buffer + Uint32Array of
 *   packet lengths, packets back to back);
 * - non-blocking write(2) of one packet or of many; a full queue (EAGAIN/ENOBUFS) is counted as
 *   a drop, never waited for.
 *
 * Plain C N-API (node_api.h), no node-addon-api. The TypeScript side is
 * src/esp/driver/tun-device.ts; nothing else should load this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define MAX_BATCH 1024
#define MAX_PACKET 65535

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
static napi_value throw_errno(napi_env env, int err, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value msg, code, error, num;
  const char *name = strerrorname_np(err);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static napi_value make_error(napi_env env, int err, const char *what) {
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

static bool get_fd(napi_env env, napi_value v, int *fd) {
  int32_t n;
  if (napi_get_value_int32(env, v, &n) != napi_ok || n < 0) {
    napi_throw_type_error(env, "TUN_ADDON", "fd must be a non-negative integer");
    return false;
  }
  *fd = n;
  return true;
}

/* open(name: string) -> { fd, name } */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "name must be a string");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, len < IFNAMSIZ - 1 ? len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl TUNSETIFF");
  }
  napi_value result, jfd, jname;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_int32(env, fd, &jfd));
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  CHECK(env, napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &jname));
  CHECK(env, napi_set_named_property(env, result, "fd", jfd));
  CHECK(env, napi_set_named_property(env, result, "name", jname));
  return result;
}

/* close(fd) */
static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_fd(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

/* One write; returns 1 (written), 0 (dropped: queue full) or -errno. */
static int write_one(int fd, const void *data, size_t len) {
  for (;;) {
    ssize_t n = write(fd, data, len);
    if (n >= 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM) return 0;
    return -errno;
  }
}

/* write(fd, packet) -> 1 written, 0 dropped; throws on other errors */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_fd(env, argv[0], &fd)) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "packet must be a Buffer");
    return NULL;
  }
  int r = write_one(fd, data, len);
  if (r < 0) return throw_errno(env, -r, "write to TUN");
  napi_value out;
  CHECK(env, napi_create_int32(env, r, &out));
  return out;
}

/* writeBatch(fd, packets: Buffer[]) -> number of packets dropped; throws on other errors
 * (the error carries .written and .dropped so far). */
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_fd(env, argv[0], &fd)) return NULL;
  uint32_t count;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "packets must be an array of Buffers");
    return NULL;
  }
  uint32_t written = 0, dropped = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *data;
    size_t len;
    CHECK(env, napi_get_element(env, argv[1], i, &el));
    if (napi_get_buffer_info(env, el, &data, &len) != napi_ok) {
      napi_throw_type_error(env, "TUN_ADDON", "packets must be an array of Buffers");
      return NULL;
    }
    int r = write_one(fd, data, len);
    if (r > 0) {
      written++;
    } else if (r == 0) {
      dropped++;
    } else {
      napi_value error = make_error(env, -r, "write to TUN"), w, d;
      napi_create_uint32(env, written, &w);
      napi_create_uint32(env, dropped, &d);
      napi_set_named_property(env, error, "written", w);
      napi_set_named_property(env, error, "dropped", d);
      napi_throw(env, error);
      return NULL;
    }
  }
  napi_value out;
  CHECK(env, napi_create_uint32(env, dropped, &out));
  return out;
}

/* ---- reader ---- */

typedef struct reader {
  uv_poll_t poll; /* first: the handle pointer is the reader pointer */
  napi_env env;
  int fd;
  uint32_t batch;
  uint32_t max_packet;
  uint8_t *scratch; /* batch * max_packet bytes */
  uint32_t lengths[MAX_BATCH];
  napi_ref on_batch;
  napi_ref on_error;
  napi_async_context async;
  bool stopped;
  struct reader_box *box;
} reader_t;

/* The JS handle: an external that points at this box. box->r is set while the reader runs;
 * stopping the reader (by JS, by a read error or by garbage collection) clears both links. */
typedef struct reader_box {
  reader_t *r;
} reader_box_t;

static void reader_closed(uv_handle_t *handle) {
  reader_t *r = (reader_t *)handle;
  free(r->scratch);
  free(r);
}

static void reader_stop(reader_t *r) {
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

static void call_js(reader_t *r, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = r->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
  napi_status s = napi_make_callback(env, r->async, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/* A read error on a TUN (EBADFD after the device went away, EIO) does not clear: report it once
 * and stop the reader. */
static void deliver_error(reader_t *r, int err) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value arg = make_error(env, err, "read from TUN");
  call_js(r, r->on_error, 1, &arg);
  reader_stop(r);
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle;
  if (r->stopped) return;
  if (status < 0) {
    deliver_error(r, -status);
    return;
  }
  uint32_t count = 0;
  size_t used = 0;
  int err = 0;
  while (count < r->batch) {
    ssize_t n = read(r->fd, r->scratch + used, r->max_packet);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    r->lengths[count++] = (uint32_t)n;
    used += (size_t)n;
  }
  if (count > 0) {
    napi_env env = r->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[2], ab;
    void *copy = NULL, *lens = NULL;
    if (napi_create_buffer_copy(env, used, r->scratch, &copy, &argv[0]) == napi_ok &&
        napi_create_arraybuffer(env, count * sizeof(uint32_t), &lens, &ab) == napi_ok &&
        napi_create_typedarray(env, napi_uint32_array, count, ab, 0, &argv[1]) == napi_ok) {
      memcpy(lens, r->lengths, count * sizeof(uint32_t));
      call_js(r, r->on_batch, 2, argv);
    }
    napi_close_handle_scope(env, scope);
  }
  if (err != 0 && !r->stopped) deliver_error(r, err);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  reader_box_t *box = data;
  if (box->r != NULL) reader_stop(box->r);
  free(box);
}

/* startReader(fd, onBatch(buf, lengths), onError(err), batch, maxPacket) -> handle */
static napi_value tun_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || !get_fd(env, argv[0], &fd)) {
    if (argc < 5) napi_throw_type_error(env, "TUN_ADDON", "startReader needs 5 arguments");
    return NULL;
  }
  uint32_t batch, max_packet;
  if (napi_get_value_uint32(env, argv[3], &batch) != napi_ok || batch < 1 || batch > MAX_BATCH ||
      napi_get_value_uint32(env, argv[4], &max_packet) != napi_ok || max_packet < 20 ||
      max_packet > MAX_PACKET) {
    napi_throw_range_error(env, "TUN_ADDON", "batch must be 1..1024 and maxPacket 20..65535");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "startReader");
  r->scratch = malloc((size_t)batch * max_packet);
  if (r->scratch == NULL) {
    free(r);
    return throw_errno(env, ENOMEM, "startReader");
  }
  r->env = env;
  r->fd = fd;
  r->batch = batch;
  r->max_packet = max_packet;
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    free(r->scratch);
    free(r);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "PaviseTunReader", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &r->on_batch) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &r->on_error) != napi_ok ||
      napi_async_init(env, resource, name, &r->async) != napi_ok) {
    /* Partially set up: close the handle; references (if any) leak harmlessly at exit. */
    r->stopped = true;
    uv_close((uv_handle_t *)&r->poll, reader_closed);
    napi_throw_error(env, "TUN_ADDON", "startReader: cannot keep the callbacks");
    return NULL;
  }
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    reader_stop(r);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  reader_box_t *box = malloc(sizeof *box);
  if (box == NULL) {
    reader_stop(r);
    return throw_errno(env, ENOMEM, "startReader");
  }
  box->r = r;
  r->box = box;
  napi_value handle;
  if (napi_create_external(env, box, box_finalize, NULL, &handle) != napi_ok) {
    reader_stop(r);
    free(box);
    napi_throw_error(env, "TUN_ADDON", "startReader: cannot make the handle");
    return NULL;
  }
  return handle;
}

static reader_box_t *get_box(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "TUN_ADDON", "not a reader handle");
    return NULL;
  }
  return data;
}

/* stopReader(handle): stops the poll (idempotent). Close the fd only after this. */
static napi_value tun_stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return NULL;
  reader_box_t *box = get_box(env, argv[0]);
  if (box == NULL) return NULL;
  if (box->r != NULL) reader_stop(box->r);
  return NULL;
}

/* refReader(handle, bool): whether the reader keeps the event loop alive. */
static napi_value tun_ref_reader(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return NULL;
  reader_box_t *box = get_box(env, argv[0]);
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReader", NULL, tun_start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReader", NULL, tun_stop_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"refReader", NULL, tun_ref_reader, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
