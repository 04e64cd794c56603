/* The C anchor for bench/capture.py: libpcap reading a file and doing the counting that
 * sentinel's accounting does per frame (Ethernet + VLAN tags, IPv4/IPv6 with extension
 * headers, direction against one IPv4 network, protocol, packets and bytes per cell,
 * distinct source MACs). Build: cc -O2 -o pcapcount pcapcount.c -lpcap
 * Run: pcapcount FILE NET MASKBITS   (prints packets/s of CPU time and the totals)
 *      pcapcount -i IFACE NET MASKBITS COUNT
 *          live: libpcap on the interface (its TPACKET_V3 ring, 32 MiB, promiscuous,
 *          snap length 256 as sentinel's headers-only default) until COUNT packets or
 *          2 s without any; prints "ready" once capturing, then the totals with the
 *          kernel's drop count */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

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

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int parse_net(const char *text, const char *maskbits) {
    unsigned a, b, c, d;
    if (sscanf(text, "%u.%u.%u.%u", &a, &b, &c, &d) != 4) return -1;
    int bits = atoi(maskbits);
    mask = bits ? 0xffffffffu << (32 - bits) : 0;
    net = ((a << 24) | (b << 16) | (c << 8) | d) & mask;
    return 0;
}

static uint64_t total_packets(void) {
    uint64_t total = 0;
    for (int i = 0; i < CELLS; i++) total += packets[i];
    return total;
}

static int live(const char *iface, uint64_t want) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_create(iface, err);
    if (!pc) { fprintf(stderr, "%s\n", err); return 1; }
    pcap_set_snaplen(pc, 256);
    pcap_set_promisc(pc, 1);
    pcap_set_buffer_size(pc, 32 << 20);
    pcap_set_timeout(pc, 50);
    if (pcap_activate(pc) < 0) { fprintf(stderr, "%s\n", pcap_geterr(pc)); return 1; }
    printf("ready\n");
    fflush(stdout);
    double t0 = cpu_seconds();
    time_t last = time(NULL);
    while (total_packets() < want) {
        int n = pcap_dispatch(pc, -1, frame, NULL);
        if (n < 0) break;
        if (n > 0) last = time(NULL);
        else if (total_packets() && time(NULL) - last >= 2) break;
        else if (time(NULL) - last >= 30) break;
    }
    double cpu = cpu_seconds() - t0;
    struct pcap_stat st = {0};
    pcap_stats(pc, &st);
    printf("received=%llu drops=%u macs=%llu cpu=%.3f\n", (unsigned long long)total_packets(),
           st.ps_drop, (unsigned long long)distinct_macs, cpu);
    pcap_close(pc);
    return 0;
}

int main(int argc, char **argv) {
    mac_table = calloc(MACS, sizeof *mac_table);
    if (argc == 6 && strcmp(argv[1], "-i") == 0) {
        if (parse_net(argv[3], argv[4]) < 0) return 2;
        return live(argv[2], strtoull(argv[5], NULL, 10));
    }
    if (argc != 4) {
        fprintf(stderr, "usage: pcapcount FILE NET MASKBITS | pcapcount -i IFACE NET MASKBITS COUNT\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    if (parse_net(argv[2], argv[3]) < 0) return 2;
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
