/*
 * TCP segmentation and coalescing for a TUN device opened with IFF_VNET_HDR and TSO offloads
 * (TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), the way virtio-net does it: the kernel
 * hands the reader TCP "super-packets" of up to 64 KiB with a virtio_net_hdr in front, and takes
 * such packets when written. One read then replaces dozens, and so does one write — the kernel's
 * per-packet cost on both sides of the TUN is what limits a user-space datapath.
 *
 * ESP carries MTU-sized inner packets, so reads are cut back into segments here (TSO done in
 * user space, every checksum complete), and decrypted segments of one TCP flow are merged into
 * one super-packet before they are written (GRO done in user space). Pure functions on bytes.
 */
#ifndef PAVISE_TUN_OFFLOAD_H
#define PAVISE_TUN_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN ((size_t)sizeof(struct virtio_net_hdr))

/*
 * Turns one read (virtio_net_hdr + packet) into complete packets, appended to `out` (at most
 * `out_room` bytes) with their lengths in `lengths` (at most `max_count`). A GSO packet becomes
 * its segments (RFC 9293 sequence numbers, IPv4 identification +1 per segment, FIN/PSH only on
 * the last, CWR only on the first); a packet with a partial checksum (NEEDS_CSUM) gets it
 * completed. Returns the number of packets written, or -1 when the read is malformed or does not
 * fit (the caller drops it).
 */
int offload_segment(const uint8_t *read, size_t read_len, uint8_t *out, size_t out_room,
                    uint32_t *lengths, uint32_t max_count, size_t *out_used);

/*
 * Merges a run of IPv4 TCP segments that continue each other (same flow, next sequence number,
 * same headers but for length/identification/checksums, all but the last of the first one's
 * size, plain ACK/PSH segments with valid checksums) into one GSO super-packet with its
 * virtio_net_hdr, written to `out` (room for VNET_HDR_LEN + 65535). `packets`/`lens` are the
 * candidates in arrival order; returns how many of them the result holds (at least 1: a packet
 * that cannot be merged is copied alone behind an empty header). `*out_len` is the total length.
 */
uint32_t offload_coalesce(const uint8_t *const *packets, const size_t *lens, uint32_t count,
                          uint8_t *out, size_t *out_len);

/* RFC 1071 ones'-complement sum of `len` bytes added to `sum` (not folded, not inverted). */
uint64_t offload_csum_add(uint64_t sum, const uint8_t *data, size_t len);

/* Folds a sum to 16 bits (not inverted). */
uint16_t offload_csum_fold(uint64_t sum);

#endif
