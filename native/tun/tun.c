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

#include "addon.h"
#include "offload.h"
#include "poll-reader.h"

#define MAX_BATCH 1024
#define MAX_PACKET 65535
/* Room for the packets of one wake-up when reads are TSO super-packets cut into segments. */
#define MAX_SEGMENTS 8192
#define SEGMENT_ROOM (2 * 65536)

/* open(name: string, offload: boolean) -> { fd, name, vnet, offload }
 * With offload, the device carries a virtio_net_hdr before each packet (IFF_VNET_HDR) and the
 * kernel may read and write TCP super-packets (TUNSETOFFLOAD, see offload.h); `vnet` says whether
 * headers are on, `offload` whether the kernel took the offloads. */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "name must be a string");
    return NULL;
  }
  bool want_offload = false;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &want_offload);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want_offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len < IFNAMSIZ - 1 ? len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ioctl TUNSETIFF");
  }
  bool offload = false;
  if (want_offload) {
    int size = (int)VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "ioctl TUNSETVNETHDRSZ");
    }
    offload = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
  }
  napi_value result, jfd, jname, jvnet, joffload;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_get_boolean(env, want_offload, &jvnet));
  CHECK(env, napi_get_boolean(env, offload, &joffload));
  CHECK(env, napi_set_named_property(env, result, "vnet", jvnet));
  CHECK(env, napi_set_named_property(env, result, "offload", joffload));
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

/* One write (behind an empty virtio_net_hdr when `vnet`); returns 1 (written), 0 (dropped:
 * queue full) or -errno. */
static int write_one(int fd, const void *data, size_t len, bool vnet) {
  static const uint8_t empty_header[sizeof(struct virtio_net_hdr)];
  struct iovec iov[2] = {{(void *)empty_header, VNET_HDR_LEN}, {(void *)data, len}};
  for (;;) {
    ssize_t n = vnet ? writev(fd, iov, 2) : write(fd, data, len);
    if (n >= 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM) return 0;
    return -errno;
  }
}

/* write(fd, packet, vnet) -> 1 written, 0 dropped; throws on other errors */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_fd(env, argv[0], &fd)) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "packet must be a Buffer");
    return NULL;
  }
  bool vnet = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &vnet);
  int r = write_one(fd, data, len, vnet);
  if (r < 0) return throw_errno(env, -r, "write to TUN");
  napi_value out;
  CHECK(env, napi_create_int32(env, r, &out));
  return out;
}

/* writeBatch(fd, packets: Buffer[], vnet) -> number of packets dropped; throws on other errors
 * (the error carries .written and .dropped so far). With `vnet`, runs of segments of one TCP
 * flow go to the kernel as one super-packet (offload_coalesce). */
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_fd(env, argv[0], &fd)) return NULL;
  bool vnet = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &vnet);
  uint32_t count;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok || count > MAX_BATCH) {
    napi_throw_type_error(env, "TUN_ADDON", "packets must be an array of at most 1024 Buffers");
    return NULL;
  }
  const uint8_t *data[MAX_BATCH];
  size_t lens[MAX_BATCH];
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *bytes;
    CHECK(env, napi_get_element(env, argv[1], i, &el));
    if (napi_get_buffer_info(env, el, &bytes, &lens[i]) != napi_ok) {
      napi_throw_type_error(env, "TUN_ADDON", "packets must be an array of Buffers");
      return NULL;
    }
    data[i] = bytes;
  }
  static uint8_t merged[VNET_HDR_LEN + 65536];
  uint32_t written = 0, dropped = 0;
  for (uint32_t i = 0; i < count;) {
    uint32_t taken = 1;
    int r;
    if (vnet) {
      size_t len = 0;
      taken = offload_coalesce(data + i, lens + i, count - i, merged, &len);
      r = write_one(fd, merged, len, false);
    } else {
      r = write_one(fd, data[i], lens[i], false);
    }
    if (r > 0) {
      written += taken;
    } else if (r == 0) {
      dropped += taken;
    } else {
      napi_value error = make_error(env, -r, "write to TUN"), w, d;
      napi_create_uint32(env, written, &w);
      napi_create_uint32(env, dropped, &d);
      napi_set_named_property(env, error, "written", w);
      napi_set_named_property(env, error, "dropped", d);
      napi_throw(env, error);
      return NULL;
    }
    i += taken;
  }
  napi_value out;
  CHECK(env, napi_create_uint32(env, dropped, &out));
  return out;
}

/* ---- reader ---- */

typedef struct reader {
  poll_reader_t base; /* first (poll-reader.h) */
  uint32_t batch;
  uint32_t max_packet;
  bool vnet;        /* reads carry a virtio_net_hdr and may be TSO super-packets */
  uint8_t *scratch; /* batch * max_packet bytes (+ SEGMENT_ROOM with vnet) */
  size_t scratch_size;
  uint8_t *super;   /* one read with vnet: header + up to 64 KiB */
  uint32_t segment_drops;
  uint32_t lengths[MAX_SEGMENTS];
} reader_t;

static void free_reader(poll_reader_t *base) {
  reader_t *r = (reader_t *)base;
  free(r->scratch);
  free(r->super);
  free(r);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle;
  if (r->base.stopped) return;
  /* A read error on a TUN (EBADFD after the device went away, EIO) does not clear. */
  if (status < 0) {
    poll_reader_fail(&r->base, -status, "read from TUN");
    return;
  }
  uint32_t count = 0;
  size_t used = 0;
  int err = 0;
  for (uint32_t reads = 0; reads < r->batch; reads++) {
    if (r->vnet && (used + SEGMENT_ROOM > r->scratch_size || count + 256 > MAX_SEGMENTS)) break;
    uint8_t *into = r->vnet ? r->super : r->scratch + used;
    ssize_t n = read(r->base.fd, into, r->vnet ? VNET_HDR_LEN + MAX_PACKET : r->max_packet);
    if (n < 0) {
      if (errno == EINTR) {
        reads--;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) break;
    if (!r->vnet) {
      r->lengths[count++] = (uint32_t)n;
      used += (size_t)n;
      continue;
    }
    size_t produced = 0;
    int segments = offload_segment(r->super, (size_t)n, r->scratch + used, r->scratch_size - used,
                                   r->lengths + count, MAX_SEGMENTS - count, &produced);
    if (segments < 0) {
      r->segment_drops++;
      continue;
    }
    count += (uint32_t)segments;
    used += produced;
  }
  if (count > 0) {
    napi_env env = r->base.env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[2], ab;
    void *copy = NULL, *lens = NULL;
    if (napi_create_buffer_copy(env, used, r->scratch, &copy, &argv[0]) == napi_ok &&
        napi_create_arraybuffer(env, count * sizeof(uint32_t), &lens, &ab) == napi_ok &&
        napi_create_typedarray(env, napi_uint32_array, count, ab, 0, &argv[1]) == napi_ok) {
      memcpy(lens, r->lengths, count * sizeof(uint32_t));
      addon_call(env, r->base.async, r->base.on_batch, 2, argv);
    }
    napi_close_handle_scope(env, scope);
  }
  if (err != 0 && !r->base.stopped) poll_reader_fail(&r->base, err, "read from TUN");
}

/* startReader(fd, onBatch(buf, lengths), onError(err), batch, maxPacket, vnet) -> handle */
static napi_value tun_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
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
  reader_t *r = calloc(1, sizeof *r);
  if (r != NULL) {
    if (argc >= 6) napi_get_value_bool(env, argv[5], &r->vnet);
    r->batch = batch;
    r->max_packet = max_packet;
    r->scratch_size = (size_t)batch * max_packet + (r->vnet ? SEGMENT_ROOM : 0);
    r->scratch = malloc(r->scratch_size);
    r->super = r->vnet ? malloc(VNET_HDR_LEN + MAX_PACKET) : NULL;
    if (r->scratch == NULL || (r->vnet && r->super == NULL)) {
      free_reader(&r->base);
      r = NULL;
    }
  }
  return poll_reader_start(env, r == NULL ? NULL : &r->base, fd, argv[1], argv[2], "PaviseTunReader",
                           on_readable, free_reader);
}

/* ---- the offload functions on bytes, for tests (test/unit/tun-offload.test.ts) ---- */

/* offloadSegment(read: Buffer) -> { buffer, lengths } | null (virtio_net_hdr + packet in) */
static napi_value tun_offload_segment(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t len;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "offloadSegment(buffer)");
    return NULL;
  }
  static uint8_t out[SEGMENT_ROOM];
  static uint32_t lengths[MAX_SEGMENTS];
  size_t used = 0;
  int count = offload_segment(data, len, out, sizeof out, lengths, MAX_SEGMENTS, &used);
  napi_value result, buffer, lens, ab;
  if (count < 0) {
    CHECK(env, napi_get_null(env, &result));
    return result;
  }
  void *copy, *into;
  CHECK(env, napi_create_buffer_copy(env, used, out, &copy, &buffer));
  CHECK(env, napi_create_arraybuffer(env, (size_t)count * sizeof(uint32_t), &into, &ab));
  memcpy(into, lengths, (size_t)count * sizeof(uint32_t));
  CHECK(env, napi_create_typedarray(env, napi_uint32_array, (size_t)count, ab, 0, &lens));
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_set_named_property(env, result, "buffer", buffer));
  CHECK(env, napi_set_named_property(env, result, "lengths", lens));
  return result;
}

/* offloadCoalesce(packets: Buffer[]) -> { write: Buffer (virtio_net_hdr + packet), taken } */
static napi_value tun_offload_coalesce(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t count;
  if (argc < 1 || napi_get_array_length(env, argv[0], &count) != napi_ok || count == 0 ||
      count > MAX_BATCH) {
    napi_throw_type_error(env, "TUN_ADDON", "offloadCoalesce(packets: 1..1024 Buffers)");
    return NULL;
  }
  const uint8_t *data[MAX_BATCH];
  size_t lens[MAX_BATCH];
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *bytes;
    CHECK(env, napi_get_element(env, argv[0], i, &el));
    if (napi_get_buffer_info(env, el, &bytes, &lens[i]) != napi_ok || lens[i] > 65535) {
      napi_throw_type_error(env, "TUN_ADDON", "packets must be Buffers of at most 65535 bytes");
      return NULL;
    }
    data[i] = bytes;
  }
  static uint8_t merged[VNET_HDR_LEN + 65536];
  size_t len = 0;
  uint32_t taken = offload_coalesce(data, lens, count, merged, &len);
  napi_value result, buffer, jtaken;
  void *copy;
  CHECK(env, napi_create_buffer_copy(env, len, merged, &copy, &buffer));
  CHECK(env, napi_create_uint32(env, taken, &jtaken));
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_set_named_property(env, result, "write", buffer));
  CHECK(env, napi_set_named_property(env, result, "taken", jtaken));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReader", NULL, tun_start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReader", NULL, poll_reader_stop_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"refReader", NULL, poll_reader_ref_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"offloadSegment", NULL, tun_offload_segment, NULL, NULL, NULL, napi_enumerable, NULL},
      {"offloadCoalesce", NULL, tun_offload_coalesce, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  return udp_register(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
