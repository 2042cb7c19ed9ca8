/*
 * The ESP-in-UDP socket (RFC 3948, port 4500) of the datapath addon. Node's dgram makes one
 * system call and one JavaScript call per datagram, which is where a user-space datapath spends
 * most of its time. This socket moves datagrams in batches instead:
 *
 * - receiving: a libuv poll; on each wake-up recvmmsg(2) takes up to UDP_BATCH messages, each of
 *   which may be several datagrams the kernel coalesced (UDP_GRO); they are split back and handed
 *   to JavaScript in one call: (buffer, lengths, sources) — sources holds 20 bytes per datagram:
 *   16 address bytes (IPv4 in the first 4), the port (big-endian), the family (4 or 6), a pad.
 * - sending: datagrams of equal size to one destination go out as one sendmsg(2) with UDP
 *   segmentation offload (UDP_SEGMENT); the kernel cuts them apart late, or not at all when the
 *   path takes them whole. A datagram that cannot be sent (full queue, no route) is a drop.
 *
 * IKE messages on port 4500 share the socket; telling them from ESP is the caller's job
 * (src/ike/core/udp-demux.ts).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "poll-reader.h"

#define UDP_BATCH 32
#define UDP_MAX_MESSAGE 65536
#define UDP_MAX_DATAGRAMS 8192
#define SOURCE_BYTES 20
/* The kernel accepts at most this many segments in one UDP_SEGMENT send (UDP_MAX_SEGMENTS). */
#define GSO_MAX_SEGMENTS 64
#define SEND_MAX 1024
#define SOCKET_BUFFER (8 << 20)

typedef struct udp_reader {
  poll_reader_t base; /* first (poll-reader.h) */
  uint8_t *scratch; /* UDP_BATCH * UDP_MAX_MESSAGE */
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage from[UDP_BATCH];
  char control[UDP_BATCH][CMSG_SPACE(sizeof(int))];
  uint32_t lengths[UDP_MAX_DATAGRAMS];
  uint8_t sources[UDP_MAX_DATAGRAMS * SOURCE_BYTES];
} udp_reader_t;

static bool get_address(napi_env env, napi_value v, uint32_t port, struct sockaddr_storage *ss,
                        socklen_t *len) {
  char text[64];
  size_t n = 0;
  memset(ss, 0, sizeof *ss);
  if (napi_get_value_string_utf8(env, v, text, sizeof text, &n) != napi_ok || port > 65535) {
    napi_throw_type_error(env, "TUN_ADDON", "address must be an IP address string, port 0..65535");
    return false;
  }
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return true;
  }
  napi_throw_type_error(env, "TUN_ADDON", "address must be an IP address string");
  return false;
}

/* udpOpen(address, port) -> fd: a non-blocking UDP socket bound there (SO_REUSEADDR, as Node's
 * dgram with reuseAddr), receiving coalesced datagrams (UDP_GRO) where the kernel offers it. */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t port;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_uint32(env, argv[1], &port) != napi_ok) {
    napi_throw_type_error(env, "TUN_ADDON", "udpOpen(address, port)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (!get_address(env, argv[0], port, &ss, &len)) return NULL;
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on); /* best effort: older kernels lack it */
  /* Room for bursts: ESP and IKE share this socket, and a full queue drops both. The FORCE
   * variants pass net.core.rmem_max/wmem_max (CAP_NET_ADMIN, which serve needs anyway). */
  int buffer = SOCKET_BUFFER;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind");
  }
  napi_value out;
  CHECK(env, napi_create_int32(env, fd, &out));
  return out;
}

/* One sendmsg of `count` datagrams (UDP_SEGMENT when more than one); 0 sent, or -errno. */
static int send_run(int fd, struct sockaddr_storage *to, socklen_t to_len, struct iovec *iov,
                    uint32_t count, uint16_t segment) {
  char control[CMSG_SPACE(sizeof(uint16_t))];
  struct msghdr msg = {0};
  msg.msg_name = to;
  msg.msg_namelen = to_len;
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  if (count > 1) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &segment, sizeof segment);
  }
  for (;;) {
    if (sendmsg(fd, &msg, 0) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

/* Set when the kernel refused a UDP_SEGMENT send: from then on, one datagram per sendmsg. */
static bool gso_refused = false;

/* udpSend(fd, address, port, datagrams: Buffer[]) -> number dropped (never throws on I/O). */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int fd;
  uint32_t port, count;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || !get_fd(env, argv[0], &fd)) return NULL;
  if (napi_get_value_uint32(env, argv[2], &port) != napi_ok ||
      napi_get_array_length(env, argv[3], &count) != napi_ok || count > SEND_MAX) {
    napi_throw_type_error(env, "TUN_ADDON", "udpSend(fd, address, port, datagrams[<=1024])");
    return NULL;
  }
  struct sockaddr_storage to;
  socklen_t to_len;
  if (!get_address(env, argv[1], port, &to, &to_len)) return NULL;
  struct iovec iov[SEND_MAX];
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    CHECK(env, napi_get_element(env, argv[3], i, &el));
    if (napi_get_buffer_info(env, el, &iov[i].iov_base, &iov[i].iov_len) != napi_ok) {
      napi_throw_type_error(env, "TUN_ADDON", "datagrams must be Buffers");
      return NULL;
    }
  }
  uint32_t dropped = 0;
  for (uint32_t i = 0; i < count;) {
    /* A run: datagrams of the first one's size, the last of them possibly shorter. */
    size_t size = iov[i].iov_len, total = size;
    uint32_t n = 1;
    while (!gso_refused && i + n < count && n < GSO_MAX_SEGMENTS && iov[i + n - 1].iov_len == size &&
           iov[i + n].iov_len <= size && iov[i + n].iov_len > 0 &&
           total + iov[i + n].iov_len <= UDP_MAX_MESSAGE - 1024) {
      total += iov[i + n].iov_len;
      n++;
    }
    int r = send_run(fd, &to, to_len, iov + i, n, (uint16_t)size);
    if (r == -EINVAL || r == -EIO || r == -ENOPROTOOPT) {
      if (n > 1) {
        gso_refused = true;
        continue; /* the same datagrams again, one by one */
      }
    }
    if (r < 0) dropped += n;
    i += n;
  }
  napi_value out;
  CHECK(env, napi_create_uint32(env, dropped, &out));
  return out;
}

static void free_reader(poll_reader_t *base) {
  udp_reader_t *r = (udp_reader_t *)base;
  free(r->scratch);
  free(r);
}

static void write_source(uint8_t *out, const struct sockaddr_storage *ss) {
  memset(out, 0, SOURCE_BYTES);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
    memcpy(out, &v4->sin_addr, 4);
    memcpy(out + 16, &v4->sin_port, 2);
    out[18] = 4;
  } else {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
    memcpy(out, &v6->sin6_addr, 16);
    memcpy(out + 16, &v6->sin6_port, 2);
    out[18] = 6;
  }
}

/* The segment size of a coalesced message (UDP_GRO control message), or 0. */
static uint16_t gro_size(struct msghdr *msg) {
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
      int size;
      memcpy(&size, CMSG_DATA(cm), sizeof size);
      return size > 0 && size < 65536 ? (uint16_t)size : 0;
    }
  }
  return 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  udp_reader_t *r = (udp_reader_t *)handle;
  if (r->base.stopped) return;
  napi_env env = r->base.env;
  if (status < 0) {
    poll_reader_fail(&r->base, -status, "read from UDP socket");
    return;
  }
  for (uint32_t i = 0; i < UDP_BATCH; i++) {
    r->iov[i].iov_base = r->scratch + (size_t)i * UDP_MAX_MESSAGE;
    r->iov[i].iov_len = UDP_MAX_MESSAGE;
    memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->from[i];
    r->msgs[i].msg_hdr.msg_namelen = sizeof r->from[i];
    r->msgs[i].msg_hdr.msg_control = r->control[i];
    r->msgs[i].msg_hdr.msg_controllen = sizeof r->control[i];
  }
  int got = recvmmsg(r->base.fd, r->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
  if (got <= 0) return; /* EAGAIN, or an ICMP error queued on the socket: nothing to deliver */
  /* Datagrams are handed over back to back: move each message's bytes down to close gaps. */
  uint32_t count = 0;
  size_t used = 0;
  for (int m = 0; m < got; m++) {
    size_t len = r->msgs[m].msg_len;
    uint16_t segment = gro_size(&r->msgs[m].msg_hdr);
    if (segment == 0 || segment >= len) segment = (uint16_t)(len < 65535 ? len : 65535);
    uint32_t pieces = len == 0 ? 1 : (uint32_t)((len + segment - 1) / segment);
    if (count + pieces > UDP_MAX_DATAGRAMS) break;
    memmove(r->scratch + used, r->iov[m].iov_base, len);
    uint8_t source[SOURCE_BYTES];
    write_source(source, &r->from[m]);
    for (uint32_t p = 0; p < pieces; p++) {
      size_t n = len - (size_t)p * segment < segment ? len - (size_t)p * segment : segment;
      r->lengths[count] = (uint32_t)n;
      memcpy(r->sources + (size_t)count * SOURCE_BYTES, source, SOURCE_BYTES);
      count++;
    }
    used += len;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3], lengths_ab;
  void *copy = NULL, *lens = NULL, *srcs = NULL;
  if (napi_create_buffer_copy(env, used, r->scratch, &copy, &argv[0]) == napi_ok &&
      napi_create_arraybuffer(env, count * sizeof(uint32_t), &lens, &lengths_ab) == napi_ok &&
      napi_create_typedarray(env, napi_uint32_array, count, lengths_ab, 0, &argv[1]) == napi_ok &&
      napi_create_buffer_copy(env, (size_t)count * SOURCE_BYTES, r->sources, &srcs, &argv[2]) ==
          napi_ok) {
    memcpy(lens, r->lengths, count * sizeof(uint32_t));
    addon_call(env, r->base.async, r->base.on_batch, 3, argv);
  }
  napi_close_handle_scope(env, scope);
}

/* udpStartReader(fd, onBatch(buffer, lengths, sources), onError(err)) -> handle */
static napi_value udp_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "TUN_ADDON", "udpStartReader needs 3 arguments");
    return NULL;
  }
  if (!get_fd(env, argv[0], &fd)) return NULL;
  udp_reader_t *r = calloc(1, sizeof *r);
  if (r != NULL && (r->scratch = malloc((size_t)UDP_BATCH * UDP_MAX_MESSAGE)) == NULL) {
    free(r);
    r = NULL;
  }
  return poll_reader_start(env, r == NULL ? NULL : &r->base, fd, argv[1], argv[2], "PaviseUdpReader",
                           on_readable, free_reader);
}

napi_value udp_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpStartReader", NULL, udp_start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpStopReader", NULL, poll_reader_stop_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpRefReader", NULL, poll_reader_ref_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  return exports;
}
