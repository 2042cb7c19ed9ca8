/*
 * A libuv poll on a non-blocking fd that calls JavaScript back, with the life cycle both readers
 * of the addon share (tun.c: the TUN device, udp.c: the ESP-in-UDP socket): the JS handle is an
 * external pointing at a box; stopping — by JS, by a read error or by garbage collection of the
 * handle — releases the callbacks and closes the poll, after which the reader's memory is freed.
 *
 * A reader struct embeds poll_reader_t as its FIRST member, so the uv handle pointer, the
 * poll_reader_t pointer and the reader pointer are the same.
 */
#ifndef PAVISE_POLL_READER_H
#define PAVISE_POLL_READER_H

#include <node_api.h>
#include <stdbool.h>
#include <uv.h>

typedef struct poll_reader poll_reader_t;

struct poll_reader {
  uv_poll_t poll; /* first: the handle pointer is the reader pointer */
  napi_env env;
  int fd;
  bool stopped;
  napi_ref on_batch;
  napi_ref on_error;
  napi_async_context async;
  struct poll_reader_box *box;
  /* Frees the whole reader (the struct that embeds this one) once the poll is closed. */
  void (*free_reader)(poll_reader_t *r);
};

/*
 * Starts polling `fd` for reading with `on_readable`, keeping the two callbacks. Returns the JS
 * handle, or NULL with an exception pending — the reader is freed then (also when `r` is NULL:
 * out of memory).
 */
napi_value poll_reader_start(napi_env env, poll_reader_t *r, int fd, napi_value on_batch,
                             napi_value on_error, const char *name, uv_poll_cb on_readable,
                             void (*free_reader)(poll_reader_t *r));

/* Stops the poll and releases the callbacks (idempotent). */
void poll_reader_stop(poll_reader_t *r);

/* Reports an error that does not clear (the fd went away) to on_error once, then stops. */
void poll_reader_fail(poll_reader_t *r, int err, const char *what);

/* JS: stopReader(handle) — idempotent; close the fd only after this. */
napi_value poll_reader_stop_js(napi_env env, napi_callback_info info);

/* JS: refReader(handle, bool) — whether the reader keeps the event loop alive. */
napi_value poll_reader_ref_js(napi_env env, napi_callback_info info);

#endif
