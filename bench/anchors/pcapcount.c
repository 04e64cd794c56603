/* The C anchor for bench/capture.py: libpcap reading a file and doing the counting that
 * sentinel's accounting does per frame (Ethernet + VLAN tags, IPv4/IPv6 with extension
 * headers, direction against one IPv4 network, protocol, packets and bytes per cell,
 * distinct source MACs). Build: cc -O2 -o pcapcount pcapcount.c -lpcap
 * Run: pcapcount FILE NET MASKBITS   (prints packets/s of CPU time and the totals) */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELLS 64
static uint64_t packets[CELLS], bytes[CELLS];
static uint32_t net, mask;
#define MACS (1u << 20)
static uint64_t *mac_table;
static uint64_t distinct_macs;

static void add_mac(uint64_t mac) {
    uint64_t h = (mac * 0x9E3779B97F4A7C15ull) >> 44, key = mac + 1;
    while (mac_table[h]) {
        if (mac_table[h] == key) return;
        h = (h + 1) & (MACS - 1);
    }
    if (distinct_macs < MACS / 2) { mac_table[h] = key; distinct_macs++; }
}

static void frame(u_char *user, const struct pcap_pkthdr *h, const u_char *f) {
    (void)user;
    uint32_t n = h->caplen, len = h->len, off = 14;
    int dir = 2, fam = 3, proto = 3;
    if (n < 14) { packets[0]++; bytes[0] += len; return; }
    uint64_t mac = 0;
    for (int i = 6; i < 12; i++) mac = (mac << 8) | f[i];
    add_mac(mac);
    uint16_t et = (f[12] << 8) | f[13];
    while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && n >= off + 4) {
        et = (f[off + 2] << 8) | f[off + 3];
        off += 4;
    }
    uint8_t p = 255;
    if (et == 0x0800 && n >= off + 20) {
        uint32_t s, d;
        memcpy(&s, f + off + 12, 4); memcpy(&d, f + off + 16, 4);
        s = __builtin_bswap32(s); d = __builtin_bswap32(d);
        int sl = (s & mask) == net, dl = (d & mask) == net;
        dir = sl ? (dl ? 2 : 1) : (dl ? 0 : 3);
        fam = 0; p = f[off + 9];
    } else if (et == 0x86dd && n >= off + 40) {
        fam = 1; dir = 3; p = f[off + 6];
        uint32_t l4 = off + 40; int hops = 0;
        while ((p == 0 || p == 43 || p == 60 || p == 44 || p == 51) && hops++ < 8 && n >= l4 + 8) {
            uint8_t nx = f[l4];
            l4 += p == 44 ? 8 : p == 51 ? (f[l4 + 1] + 2) * 4 : (f[l4 + 1] + 1) * 8;
            p = nx;
        }
    } else if (et == 0x0806) {
        fam = 2;
    }
    proto = p == 6 ? 0 : p == 17 ? 1 : (p == 1 || p == 58) ? 2 : 3;
    int c = (dir * 4 + fam) * 4 + proto;
    packets[c]++;
    bytes[c] += len;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: pcapcount FILE NET MASKBITS\n"); return 2; }
    char err[PCAP_ERRBUF_SIZE];
    unsigned a, b, c, d;
    if (sscanf(argv[2], "%u.%u.%u.%u", &a, &b, &c, &d) != 4) return 2;
    int bits = atoi(argv[3]);
    mask = bits ? 0xffffffffu << (32 - bits) : 0;
    net = ((a << 24) | (b << 16) | (c << 8) | d) & mask;
    mac_table = calloc(MACS, sizeof *mac_table);
    pcap_t *pc = pcap_open_offline(argv[1], err);
    if (!pc) { fprintf(stderr, "%s\n", err); return 1; }
    clock_t t0 = clock();
    pcap_loop(pc, -1, frame, NULL);
    double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
    uint64_t total = 0, total_bytes = 0;
    for (int i = 0; i < CELLS; i++) { total += packets[i]; total_bytes += bytes[i]; }
    printf("packets=%llu bytes=%llu macs=%llu cpu=%.3f pps=%.0f\n", (unsigned long long)total,
           (unsigned long long)total_bytes, (unsigned long long)distinct_macs, cpu,
           cpu > 0 ? total / cpu : 0.0);
    pcap_close(pc);
    return 0;
}
