/* See offload.h. Byte layouts: IPv4 RFC 791, IPv6 RFC 8200, TCP RFC 9293, checksum RFC 1071;
 * the virtio_net_hdr fields as the Linux TUN driver reads and writes them (host byte order). */
#include "offload.h"

#include <string.h>

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define UDP_CSUM_OFFSET 6
#define MAX_SEGMENTS_PER_READ 256

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

uint64_t offload_csum_add(uint64_t sum, const uint8_t *data, size_t len) {
  size_t i = 0;
  for (; i + 4 <= len; i += 4) sum += rd32(data + i);
  for (; i + 2 <= len; i += 2) sum += rd16(data + i);
  if (i < len) sum += (uint64_t)data[i] << 8;
  return sum;
}

uint16_t offload_csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* The TCP pseudo-header sum (RFC 9293 §3.1; RFC 8200 §8.1 for IPv6). */
static uint64_t pseudo_header_sum(const uint8_t *ip, int v4, size_t tcp_len) {
  uint64_t sum = v4 ? offload_csum_add(0, ip + 12, 8) : offload_csum_add(0, ip + 8, 32);
  return sum + IPPROTO_TCP_ + tcp_len;
}

static void set_ipv4_header_checksum(uint8_t *ip, size_t header_len) {
  wr16(ip + 10, 0);
  wr16(ip + 10, (uint16_t)~offload_csum_fold(offload_csum_add(0, ip, header_len)));
}

/* A packet that is not GSO: copied, its partial checksum completed when the kernel left one. */
static int complete_one(const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len, uint8_t *out,
                        size_t out_room, uint32_t *lengths, uint32_t max_count, size_t *out_used) {
  if (len > out_room || max_count < 1) return -1;
  memcpy(out, pkt, len);
  if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    size_t start = h->csum_start, field = start + h->csum_offset;
    if (start >= len || field + 2 > len) return -1;
    uint16_t sum = (uint16_t)~offload_csum_fold(offload_csum_add(0, out + start, len - start));
    /* RFC 768: a computed UDP checksum of 0 is sent as all ones (0 means "none"). */
    if (sum == 0 && h->csum_offset == UDP_CSUM_OFFSET) sum = 0xffff;
    wr16(out + field, sum);
  }
  lengths[0] = (uint32_t)len;
  *out_used = len;
  return 1;
}

int offload_segment(const uint8_t *read, size_t read_len, uint8_t *out, size_t out_room,
                    uint32_t *lengths, uint32_t max_count, size_t *out_used) {
  if (read_len <= VNET_HDR_LEN) return -1;
  struct virtio_net_hdr h;
  memcpy(&h, read, sizeof h);
  const uint8_t *pkt = read + VNET_HDR_LEN;
  size_t len = read_len - VNET_HDR_LEN;
  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  if (gso == VIRTIO_NET_HDR_GSO_NONE)
    return complete_one(&h, pkt, len, out, out_room, lengths, max_count, out_used);
  if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) return -1;

  int v4 = gso == VIRTIO_NET_HDR_GSO_TCPV4;
  size_t ip_len;
  if (v4) {
    if (len < 20 || pkt[0] >> 4 != 4 || pkt[9] != IPPROTO_TCP_) return -1;
    ip_len = (size_t)(pkt[0] & 0x0f) * 4;
    if (ip_len < 20) return -1;
  } else {
    /* Extension headers would sit between; the kernel's TSO6 packets here have none. */
    if (len < 40 || pkt[0] >> 4 != 6 || pkt[6] != IPPROTO_TCP_) return -1;
    ip_len = 40;
  }
  if (len < ip_len + 20) return -1;
  size_t tcp_len = (size_t)(pkt[ip_len + 12] >> 4) * 4;
  size_t hdr_len = ip_len + tcp_len;
  if (tcp_len < 20 || len < hdr_len || h.gso_size == 0) return -1;
  size_t payload = len - hdr_len, mss = h.gso_size;
  uint32_t count = payload == 0 ? 1 : (uint32_t)((payload + mss - 1) / mss);
  if (count > max_count || count > MAX_SEGMENTS_PER_READ || payload + count * hdr_len > out_room)
    return -1;

  uint32_t seq = rd32(pkt + ip_len + 4);
  uint16_t id = v4 ? rd16(pkt + 4) : 0;
  uint8_t flags = pkt[ip_len + 13];
  size_t used = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t offset = (size_t)i * mss;
    size_t n = payload - offset < mss ? payload - offset : mss;
    uint8_t *seg = out + used;
    memcpy(seg, pkt, hdr_len);
    memcpy(seg + hdr_len, pkt + hdr_len + offset, n);
    if (v4) {
      wr16(seg + 2, (uint16_t)(hdr_len + n));
      wr16(seg + 4, (uint16_t)(id + i));
      set_ipv4_header_checksum(seg, ip_len);
    } else {
      wr16(seg + 4, (uint16_t)(tcp_len + n));
    }
    uint8_t *tcp = seg + ip_len;
    wr32(tcp + 4, seq + (uint32_t)offset);
    uint8_t f = flags;
    if (i + 1 < count) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= (uint8_t)~TCP_CWR;
    tcp[13] = f;
    wr16(tcp + 16, 0);
    uint64_t sum = pseudo_header_sum(seg, v4, tcp_len + n);
    wr16(tcp + 16, (uint16_t)~offload_csum_fold(offload_csum_add(sum, tcp, tcp_len + n)));
    lengths[i] = (uint32_t)(hdr_len + n);
    used += hdr_len + n;
  }
  *out_used = used;
  return (int)count;
}

/* An IPv4 TCP segment that may be merged: no IP options or fragments, ACK with data and at most
 * PSH besides, lengths that add up and checksums that hold (a merged packet's checksum is the
 * kernel's to check no more, so a damaged segment must not hide inside one). */
typedef struct {
  size_t tcp_len;
  size_t payload;
  uint32_t seq;
  uint8_t flags;
} segment_t;

static int mergeable(const uint8_t *p, size_t len, segment_t *s) {
  if (len < 40 || p[0] != 0x45 || p[9] != IPPROTO_TCP_ || rd16(p + 2) != len) return 0;
  if (rd16(p + 6) & 0x3fff) return 0; /* MF or a fragment offset */
  size_t tcp_len = (size_t)(p[32] >> 4) * 4;
  if (tcp_len < 20 || 20 + tcp_len >= len) return 0;
  uint8_t flags = p[33];
  if (!(flags & TCP_ACK) || (flags & (uint8_t)~(TCP_ACK | TCP_PSH))) return 0;
  if (offload_csum_fold(offload_csum_add(0, p, 20)) != 0xffff) return 0;
  uint64_t sum = offload_csum_add(pseudo_header_sum(p, 1, len - 20), p + 20, len - 20);
  if (offload_csum_fold(sum) != 0xffff) return 0;
  s->tcp_len = tcp_len;
  s->payload = len - 20 - tcp_len;
  s->seq = rd32(p + 24);
  s->flags = flags;
  return 1;
}

/* Same flow and same headers but for what merging rewrites (RFC 9293 fields; the IPv4 TOS, TTL
 * and DF must match too, as Linux GRO requires). */
static int continues(const uint8_t *first, const segment_t *f, const uint8_t *p, const segment_t *s) {
  return s->tcp_len == f->tcp_len && first[1] == p[1] && first[8] == p[8] &&
         (rd16(first + 6) & 0x4000) == (rd16(p + 6) & 0x4000) &&
         memcmp(first + 12, p + 12, 8) == 0 &&                     /* addresses */
         memcmp(first + 20, p + 20, 4) == 0 &&                     /* ports */
         memcmp(first + 28, p + 28, 4) == 0 &&                     /* acknowledgment */
         first[32] == p[32] && memcmp(first + 34, p + 34, 2) == 0 && /* offset, window */
         memcmp(first + 40, p + 40, f->tcp_len - 20) == 0;         /* options */
}

uint32_t offload_coalesce(const uint8_t *const *packets, const size_t *lens, uint32_t count,
                          uint8_t *out, size_t *out_len) {
  struct virtio_net_hdr h;
  memset(&h, 0, sizeof h);
  segment_t first, next;
  if (count == 0) {
    *out_len = 0;
    return 0;
  }
  const uint8_t *p0 = packets[0];
  uint32_t taken = 1;
  size_t total = lens[0];
  if (mergeable(p0, lens[0], &first)) {
    const segment_t *last = &first;
    segment_t prev = first;
    while (taken < count && prev.payload == first.payload && !(prev.flags & TCP_PSH)) {
      const uint8_t *p = packets[taken];
      if (!mergeable(p, lens[taken], &next) || !continues(p0, &first, p, &next) ||
          next.payload > first.payload || next.seq != prev.seq + (uint32_t)prev.payload ||
          total + next.payload > 65535)
        break;
      total += next.payload;
      prev = next;
      last = &prev;
      taken++;
    }
    if (taken > 1) {
      size_t hdr_len = 20 + first.tcp_len;
      uint8_t *ip = out + VNET_HDR_LEN;
      memcpy(ip, p0, hdr_len);
      size_t at = hdr_len;
      for (uint32_t i = 0; i < taken; i++) {
        memcpy(ip + at, packets[i] + hdr_len, lens[i] - hdr_len);
        at += lens[i] - hdr_len;
      }
      wr16(ip + 2, (uint16_t)total);
      set_ipv4_header_checksum(ip, 20);
      ip[33] = (uint8_t)(first.flags | (last->flags & TCP_PSH));
      /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the rest is already verified. */
      wr16(ip + 36, offload_csum_fold(pseudo_header_sum(ip, 1, total - 20)));
      h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
      h.hdr_len = (uint16_t)hdr_len;
      h.gso_size = (uint16_t)first.payload;
      h.csum_start = 20;
      h.csum_offset = 16;
      memcpy(out, &h, sizeof h);
      *out_len = VNET_HDR_LEN + total;
      return taken;
    }
  }
  memcpy(out, &h, sizeof h);
  memcpy(out + VNET_HDR_LEN, p0, lens[0]);
  *out_len = VNET_HDR_LEN + lens[0];
  return 1;
}
