/* The accounting hot path in C: the same counting as accounting.Accounting, a whole
 * pcap file region or a whole TPACKET_V3 ring block per call.
 *
 * accounting.py is the reference: this module must count exactly what it counts (the
 * tests run both on the same frames and compare every counter, table and wanted
 * frame). It reads only inside the buffer it is given, whatever the bytes say, and
 * allocates nothing per ordinary frame; frames the detectors want become (ts, wirelen,
 * bytes) tuples for the Python decoder, as in accounting.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define N_CELLS 64
#define CELL(d, f, p) ((((d) * 4) + (f)) * 4 + (p))
enum { D_IN, D_OUT, D_INTERNAL, D_TRANSIT };
enum { F_V4, F_V6, F_ARP, F_OTHER };
enum { P_TCP, P_UDP, P_ICMP, P_OTHER };
#define MAX_FRAME 262144u
#define MAX_NETS 64
#define TALKER_SLOTS_MAX 1024

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p) {
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* -- a bounded set of 128-bit keys (MACs, IPv4 and IPv6 addresses) ------------------- */

#define DETECTOR_SLICES 100
#define POST_SLOTS 256       /* accounting.POST_SLOTS */
#define POST_ANSWER_WINDOW 10.0 /* seconds: accounting.POST_ANSWER_WINDOW */
#define ACK_SLOTS 32768         /* accounting.ACK_SLOTS: TCP flows' recency, by flow hash */
#define ACK_QUIET 10.0          /* seconds: accounting.ACK_QUIET */
#define ACK_ANSWER_WINDOW 10.0  /* seconds: accounting.ACK_ANSWER_WINDOW */

typedef struct {
    uint64_t *hi, *lo;
    uint8_t *used;
    size_t size;  /* slots, a power of two */
    size_t count;
} KeySet;

static uint64_t seed_a, seed_b;

static inline size_t slot_of(uint64_t hi, uint64_t lo, size_t mask) {
    /* Keyed per process, so a LAN host cannot choose addresses that collide. */
    uint64_t h = (lo ^ seed_a) * 0x9E3779B97F4A7C15ull;
    h ^= (hi ^ seed_b) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (size_t)h & mask;
}

static int set_alloc(KeySet *s, size_t size) {
    uint64_t *hi = PyMem_Calloc(size, sizeof(uint64_t));
    uint64_t *lo = PyMem_Calloc(size, sizeof(uint64_t));
    uint8_t *used = PyMem_Calloc(size, 1);
    if (!hi || !lo || !used) {
        PyMem_Free(hi);
        PyMem_Free(lo);
        PyMem_Free(used);
        return -1;
    }
    s->hi = hi;
    s->lo = lo;
    s->used = used;
    s->size = size;
    s->count = 0;
    return 0;
}

static void set_free(KeySet *s) {
    PyMem_Free(s->hi);
    PyMem_Free(s->lo);
    PyMem_Free(s->used);
    s->hi = s->lo = NULL;
    s->used = NULL;
    s->size = s->count = 0;
}

static int set_has(const KeySet *s, uint64_t hi, uint64_t lo) {
    size_t mask = s->size - 1, i = slot_of(hi, lo, mask);
    while (s->used[i]) {
        if (s->lo[i] == lo && s->hi[i] == hi) return 1;
        i = (i + 1) & mask;
    }
    return 0;
}

static void set_put(KeySet *s, uint64_t hi, uint64_t lo) {
    size_t mask = s->size - 1, i = slot_of(hi, lo, mask);
    while (s->used[i]) i = (i + 1) & mask;
    s->used[i] = 1;
    s->hi[i] = hi;
    s->lo[i] = lo;
    s->count++;
}

/* Add a key known to be absent; grows at half load. Fails only when memory does. */
static int set_add(KeySet *s, uint64_t hi, uint64_t lo) {
    if ((s->count + 1) * 2 > s->size) {
        KeySet bigger;
        if (set_alloc(&bigger, s->size * 2) < 0) return -1;
        for (size_t i = 0; i < s->size; i++)
            if (s->used[i]) set_put(&bigger, s->hi[i], s->lo[i]);
        set_free(s);
        *s = bigger;
    }
    set_put(s, hi, lo);
    return 0;
}

#define SET_START 256

/* -- the detector gate: known sources first, floods as aggregates --------------------- */
/* accounting.py explains the rules; the tables here are exact (no sketch) so both engines
 * decide every frame alike. */

#define GATE_KNOWN_CAP 4096    /* sources per generation (accounting.GATE_KNOWN_CAP) */
#define GATE_PROBATION_CAP 16384
#define GATE_WINDOW 60.0       /* seconds a generation of known sources lasts */
#define KNOWN_BURST_SLICES 10  /* slices of known sources' budget a burst may use at once */
#define SOURCE_RATE 5000       /* frames a second one known source may hand over */
#define AGG_CAP 256            /* SYN aggregates between two drains */
#define AGG_SENDERS 64         /* senders kept exactly per aggregate */
#define GATE_MAC_TAG (1ull << 63) /* key_hi of a source known only by its MAC */

typedef struct {
    uint64_t *hi, *lo;
    long long *second;
    int *count;
    uint8_t *used;
    size_t size, n; /* slots (power of two, 2x the cap), entries */
} SrcMap;

static int map_alloc(SrcMap *m, size_t size) {
    m->hi = PyMem_Calloc(size, sizeof(uint64_t));
    m->lo = PyMem_Calloc(size, sizeof(uint64_t));
    m->second = PyMem_Calloc(size, sizeof(long long));
    m->count = PyMem_Calloc(size, sizeof(int));
    m->used = PyMem_Calloc(size, 1);
    m->size = size;
    m->n = 0;
    return (m->hi && m->lo && m->second && m->count && m->used) ? 0 : -1;
}

static void map_free(SrcMap *m) {
    PyMem_Free(m->hi);
    PyMem_Free(m->lo);
    PyMem_Free(m->second);
    PyMem_Free(m->count);
    PyMem_Free(m->used);
    memset(m, 0, sizeof *m);
}

static void map_clear(SrcMap *m) {
    if (m->used) memset(m->used, 0, m->size);
    m->n = 0;
}

static long map_find(const SrcMap *m, uint64_t hi, uint64_t lo) {
    size_t mask = m->size - 1, i = slot_of(hi, lo, mask);
    while (m->used[i]) {
        if (m->lo[i] == lo && m->hi[i] == hi) return (long)i;
        i = (i + 1) & mask;
    }
    return -1;
}

/* Insert a key known to be absent while under the cap; -1 when full. */
static long map_put(SrcMap *m, uint64_t hi, uint64_t lo, long long second, int count) {
    if (m->n >= GATE_KNOWN_CAP) return -1;
    size_t mask = m->size - 1, i = slot_of(hi, lo, mask);
    while (m->used[i]) i = (i + 1) & mask;
    m->used[i] = 1;
    m->hi[i] = hi;
    m->lo[i] = lo;
    m->second[i] = second;
    m->count[i] = count;
    m->n++;
    return (long)i;
}

typedef struct {
    uint64_t hi, lo, mac;
    long long count;
} Sender;

typedef struct {
    long long second, packets, untracked;
    uint64_t dhi, dlo;
    unsigned dport;
    int v6, n_senders;
    Sender senders[AGG_SENDERS];
} Aggregate;

#define AGG_INDEX 512 /* open-addressing index into the aggregates, 2x AGG_CAP */
#define MAC_AGGS 16   /* seconds of withheld new MACs between two drains (then merged) */

typedef struct {
    long long second, macs, multicast;
} MacAggregate;

/* UDP datagrams with data to one destination in one second (accounting.UDP_*): what a
 * flood of non-empty datagrams looks like, and how much the destination answered; the
 * fragments of UDP and TCP (first and later) to it apart (frag), the same way. */
#define UDP_AGG_CAP 512
#define UDP_INDEX 1024
#define UDP_FLOOR 1000 /* datagrams a second: fewer are never handed over */
#define UDP_PORTS 8   /* distinct ports kept per side */
/* UDP probes with data (a UDP scan, nmap -sU --data-length): the distinct destination
 * ports each tracked sender sent datagrams to, and the ports the destination answered
 * from, in the second; a second where one sender reached UDP_PROBE_FLOOR ports is handed
 * over whatever its datagrams (accounting.UDP_PROBE_*). */
#define UDP_PROBE_FLOOR 8
#define UDP_PROBE_PORTS 32

typedef struct {
    long long second, packets, answers, untracked;
    uint64_t dhi, dlo;
    int v6, frag, n_senders, n_dports, n_sports, n_answered, probing;
    unsigned dports[UDP_PORTS], sports[UDP_PORTS], answered[UDP_PROBE_PORTS];
    Sender senders[AGG_SENDERS];
    uint16_t sender_ports[AGG_SENDERS][UDP_PROBE_PORTS];
    uint8_t n_sender_ports[AGG_SENDERS];
} UdpAggregate;

/* UDP port spread (accounting.SPREAD_*): a UDP scan with payloads slower than
 * UDP_PROBE_FLOOR ports a second (nmap -sU -T2 --data-length, -T1) never fills a second.
 * Per pair of the site's hosts, over minutes, each side's distinct destination ports
 * below SPREAD_EPHEMERAL (replies to clients' ephemeral ports are no probes) with the
 * second each was first sent to and its datagrams in its first SPREAD_GRACE seconds, and
 * the ports below SPREAD_EPHEMERAL each side sent from (what it answered from, in either
 * order). A port is judged SPREAD_GRACE seconds after it was first sent to (a second,
 * once its side holds SPREAD_CROWD ports): more than SPREAD_REPEATS datagrams is a
 * stream, a port the other side sent from is answered; once SPREAD_FLOOR unanswered ports
 * of one side wait, they are handed over (udp_spread) and make room (a stream's and an
 * answered port stay, judged once). A side that sent from more than SPREAD_FROM such
 * ports is a server answering from many: the other side's ports are never handed over.
 * A pair is forgotten SPREAD_IDLE seconds after its last datagram. 4096 pairs of 536
 * bytes: 2.2 MB, and an index of 16 kB. */
#define SPREAD_CAP 4096
#define SPREAD_INDEX 8192
#define SPREAD_PORTS 24
#define SPREAD_CROWD 16 /* ports held that have a side's older ones judged the next second */
#define SPREAD_FROM 8
#define SPREAD_EPHEMERAL 32768
#define SPREAD_FLOOR 6
#define SPREAD_REPEATS 3
#define SPREAD_GRACE 10
#define SPREAD_IDLE 900

enum { SPREAD_WATCHED, SPREAD_WAITING, SPREAD_DONE };

typedef struct {
    int32_t first; /* the second first sent to, from the pair's base */
    uint16_t port;
    uint8_t n;     /* datagrams in its first SPREAD_GRACE seconds (at most 255) */
    uint8_t state; /* watched, judged a probe waiting for more, or done with */
} SpreadPort;

typedef struct {
    uint64_t mac; /* the MAC of the side's first datagram */
    int sent, n_ports, n_from, from_full, crowded;
    uint16_t from[SPREAD_FROM];
    SpreadPort ports[SPREAD_PORTS];
} SpreadSide;

typedef struct {
    uint64_t hi[2], lo[2]; /* side 0: the lower address */
    long long base, last;
    int v6;
    SpreadSide side[2];
} Spread;

/* -- the accounting core ------------------------------------------------------------- */

typedef struct {
    uint64_t hi, lo;
    long long amount;
} Talker;

#define QUIET_MAX 1024 /* resolvers (address, MAC) whose answers are not wanted */

typedef struct {
    uint64_t hi, lo, mac;
    int v6;
} Quiet;

typedef struct {
    PyObject_HEAD
    unsigned long long packets[N_CELLS], bytes[N_CELLS];
    unsigned long long truncated, bad_ip_header, multicast_source;
    uint32_t v4_net[MAX_NETS], v4_mask[MAX_NETS];
    uint64_t v6_net[MAX_NETS][2], v6_mask[MAX_NETS][2];
    int n_v4, n_v6;
    Py_ssize_t device_cap;
    double half_window, rotate_at;
    double latest; /* the latest frame's time: the UDP port spreads' clock */
    KeySet macs, macs_prev, ips, ips_prev;
    unsigned long long device_table_full;
    Py_ssize_t detector_cap;
    long long detector_rate, detector_second, detector_budget;
    PyObject *wanted; /* list of (ts, wirelen, bytes) */
    unsigned long long detector_frames, detector_frames_dropped, detector_frames_aggregated;
    long long budget_known, budget_new, budget_new_syn;
    SrcMap known, known_prev;
    KeySet probation;
    double gate_rotate_at;
    Aggregate *aggs;
    int n_aggs;
    int16_t agg_index[AGG_INDEX];
    MacAggregate mac_aggs[MAC_AGGS];
    int n_mac_aggs;
    UdpAggregate *udp;
    int n_udp;
    long long udp_second; /* the latest second a datagram was counted in */
    long long udp_oldest; /* the earliest second held */
    int16_t udp_index[UDP_INDEX];
    Talker *talkers;
    int talker_slots, n_talkers, sample;
    uint64_t post_tag[POST_SLOTS]; /* HTTP POSTs waiting for their answer (by flow hash) */
    double post_ts[POST_SLOTS];
    double *ack_seen; /* [2 * slot + side]: the last segment from each side of a flow */
    double *ack_pend; /* [2 * slot + side]: an empty ACK from that side awaits an answer */
    Quiet quiet[QUIET_MAX]; /* accounting.Accounting.quiet: see quiet_answers() */
    int n_quiet;
    unsigned long long answers_quiet;
    int failed; /* out of memory inside the hot path: raised after the frame */
    int ready;  /* __init__ has completed: until then every method refuses */
    /* UDP port spreads (away from the counters every frame touches) */
    Spread *spread;
    int n_spread, spread_full;
    long long spread_due;   /* the earliest second a watched port is judged in */
    long long spread_swept; /* the second the table was last swept for idle pairs */
    int16_t spread_index[SPREAD_INDEX];
} Core;

/* Core.__new__(Core) without __init__ has no tables: refuse instead of crashing. */
static int not_ready(Core *self) {
    if (self->ready) return 0;
    PyErr_SetString(PyExc_RuntimeError, "Core used before __init__ completed");
    return 1;
}

static void core_dealloc(Core *self) {
    set_free(&self->macs);
    set_free(&self->macs_prev);
    set_free(&self->ips);
    set_free(&self->ips_prev);
    PyMem_Free(self->talkers);
    map_free(&self->known);
    map_free(&self->known_prev);
    set_free(&self->probation);
    PyMem_Free(self->aggs);
    PyMem_Free(self->udp);
    PyMem_Free(self->spread);
    PyMem_Free(self->ack_seen);
    PyMem_Free(self->ack_pend);
    Py_XDECREF(self->wanted);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int core_init(Core *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"v4", "v6", "device_cap", "window", "detector_cap",
                             "detector_rate", "talker_slots", NULL};
    PyObject *v4, *v6;
    Py_ssize_t device_cap = 65536, detector_cap = 4096;
    double window = 300.0;
    long long detector_rate = 20000;
    int talker_slots = 64;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|ndnLi", kwlist, &v4, &v6, &device_cap,
                                     &window, &detector_cap, &detector_rate, &talker_slots))
        return -1;
    if (talker_slots < 1 || talker_slots > TALKER_SLOTS_MAX) {
        PyErr_SetString(PyExc_ValueError, "talker_slots out of range");
        return -1;
    }
    PyObject *seq = PySequence_Fast(v4, "v4 must be a sequence of (net, mask)");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_NETS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many site networks");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned int net, mask;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "II", &net, &mask)) {
            Py_DECREF(seq);
            return -1;
        }
        self->v4_net[i] = net;
        self->v4_mask[i] = mask;
    }
    self->n_v4 = (int)n;
    Py_DECREF(seq);
    seq = PySequence_Fast(v6, "v6 must be a sequence of (net_hi, net_lo, mask_hi, mask_lo)");
    if (!seq) return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_NETS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many site networks");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long a, b, c, d;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "KKKK", &a, &b, &c, &d)) {
            Py_DECREF(seq);
            return -1;
        }
        self->v6_net[i][0] = a;
        self->v6_net[i][1] = b;
        self->v6_mask[i][0] = c;
        self->v6_mask[i][1] = d;
    }
    self->n_v6 = (int)n;
    Py_DECREF(seq);
    if (self->ready) return 0; /* __init__ called twice: keep the state */
    /* an earlier __init__ that failed part-way may have left some tables */
    set_free(&self->macs);
    set_free(&self->macs_prev);
    set_free(&self->ips);
    set_free(&self->ips_prev);
    PyMem_Free(self->talkers);
    self->talkers = NULL;
    map_free(&self->known);
    map_free(&self->known_prev);
    set_free(&self->probation);
    PyMem_Free(self->aggs);
    self->aggs = NULL;
    PyMem_Free(self->udp);
    self->udp = NULL;
    PyMem_Free(self->spread);
    self->spread = NULL;
    PyMem_Free(self->ack_seen);
    PyMem_Free(self->ack_pend);
    self->ack_seen = self->ack_pend = NULL;
    Py_CLEAR(self->wanted);
    self->device_cap = device_cap;
    self->half_window = window / 2;
    self->rotate_at = -INFINITY;
    self->detector_cap = detector_cap;
    self->detector_rate = detector_rate;
    self->detector_second = -1;
    self->detector_budget = detector_rate;
    self->budget_known = self->budget_new = self->budget_new_syn = 0;
    self->gate_rotate_at = -INFINITY;
    self->n_aggs = 0;
    self->n_mac_aggs = 0;
    self->n_udp = 0;
    self->udp_second = -1;
    self->udp_oldest = -1;
    memset(self->udp_index, 0xFF, sizeof self->udp_index);
    memset(self->agg_index, 0xFF, sizeof self->agg_index);
    self->n_spread = self->spread_full = 0;
    self->latest = -1.0;
    self->spread_swept = -1;
    self->spread_due = LLONG_MAX;
    memset(self->spread_index, 0xFF, sizeof self->spread_index);
    self->talker_slots = talker_slots;
    self->talkers = PyMem_Calloc((size_t)talker_slots, sizeof(Talker));
    self->wanted = PyList_New(0);
    self->aggs = PyMem_Calloc(AGG_CAP, sizeof(Aggregate));
    self->udp = PyMem_Calloc(UDP_AGG_CAP, sizeof(UdpAggregate));
    self->spread = PyMem_Calloc(SPREAD_CAP, sizeof(Spread));
    self->ack_seen = PyMem_Calloc(2 * ACK_SLOTS, sizeof(double));
    self->ack_pend = PyMem_Calloc(2 * ACK_SLOTS, sizeof(double));
    if (!self->aggs || !self->udp || !self->spread || !self->ack_seen || !self->ack_pend || map_alloc(&self->known, 2 * GATE_KNOWN_CAP) < 0 ||
        map_alloc(&self->known_prev, 2 * GATE_KNOWN_CAP) < 0 ||
        set_alloc(&self->probation, SET_START) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (!self->talkers || !self->wanted || set_alloc(&self->macs, SET_START) < 0 ||
        set_alloc(&self->macs_prev, SET_START) < 0 || set_alloc(&self->ips, SET_START) < 0 ||
        set_alloc(&self->ips_prev, SET_START) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->ready = 1;
    return 0;
}

static void rotate(Core *self, double ts) {
    /* Two half-window generations: a device counts while seen in the last window. */
    KeySet fresh;
    if (set_alloc(&fresh, SET_START) < 0) {
        self->failed = 1;
        return;
    }
    set_free(&self->macs_prev);
    self->macs_prev = self->macs;
    self->macs = fresh;
    if (set_alloc(&fresh, SET_START) < 0) {
        self->failed = 1;
        return;
    }
    set_free(&self->ips_prev);
    self->ips_prev = self->ips;
    self->ips = fresh;
    self->rotate_at = ts + self->half_window;
}

static void talker(Core *self, uint64_t hi, uint64_t lo, long long amount) {
    /* Misra-Gries summary in insertion order, as accounting.py's dict. */
    Talker *t = self->talkers;
    int n = self->n_talkers;
    for (int i = 0; i < n; i++) {
        if (t[i].lo == lo && t[i].hi == hi) {
            t[i].amount += amount;
            return;
        }
    }
    if (n < self->talker_slots) {
        t[n].hi = hi;
        t[n].lo = lo;
        t[n].amount = amount;
        self->n_talkers = n + 1;
        return;
    }
    long long low = amount;
    for (int i = 0; i < n; i++)
        if (t[i].amount < low) low = t[i].amount;
    int k = 0;
    for (int i = 0; i < n; i++) {
        t[i].amount -= low;
        if (t[i].amount > 0) t[k++] = t[i];
    }
    if (amount > low) {
        t[k].hi = hi;
        t[k].lo = lo;
        t[k].amount = amount - low;
        k++;
    }
    self->n_talkers = k;
}

static void hand_over(Core *self, const uint8_t *f, Py_ssize_t n, unsigned long wirelen,
                      double ts) {
    PyObject *item = Py_BuildValue("(dky#)", ts, wirelen, (const char *)f, n);
    if (!item || PyList_Append(self->wanted, item) < 0) self->failed = 1;
    Py_XDECREF(item);
}

static int aggregate_syn(Core *self, long long second, uint64_t dhi, uint64_t dlo, int v6,
                         unsigned dport, uint64_t shi, uint64_t slo, uint64_t mac) {
    /* One SYN the budget had no room for, added to its (second, victim, port) aggregate. */
    uint64_t h = (dlo ^ seed_a ^ ((uint64_t)dport << 48) ^ (uint64_t)second) * 0x9E3779B97F4A7C15ull;
    h ^= (dhi ^ seed_b) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    size_t i = (size_t)h & (AGG_INDEX - 1);
    Aggregate *a = NULL;
    while (self->agg_index[i] >= 0) {
        Aggregate *c = &self->aggs[self->agg_index[i]];
        if (c->second == second && c->dlo == dlo && c->dhi == dhi && c->dport == dport &&
            c->v6 == v6) {
            a = c;
            break;
        }
        i = (i + 1) & (AGG_INDEX - 1);
    }
    if (!a) {
        if (self->n_aggs >= AGG_CAP) return 0;
        self->agg_index[i] = (int16_t)self->n_aggs;
        a = &self->aggs[self->n_aggs++];
        a->second = second;
        a->dhi = dhi;
        a->dlo = dlo;
        a->v6 = v6;
        a->dport = dport;
        a->packets = a->untracked = 0;
        a->n_senders = 0;
    }
    a->packets++;
    for (int k = 0; k < a->n_senders; k++) {
        Sender *x = &a->senders[k];
        if (x->lo == slo && x->hi == shi && x->mac == mac) {
            x->count++;
            return 1;
        }
    }
    if (a->n_senders < AGG_SENDERS) {
        Sender *x = &a->senders[a->n_senders++];
        x->hi = shi;
        x->lo = slo;
        x->mac = mac;
        x->count = 1;
    } else {
        a->untracked++;
    }
    return 1;
}

static inline size_t udp_slot(long long second, uint64_t hi, uint64_t lo, int frag) {
    uint64_t h = (lo ^ seed_a ^ (uint64_t)second ^ ((uint64_t)frag << 40)) * 0x9E3779B97F4A7C15ull;
    h ^= (hi ^ seed_b) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (size_t)h & (UDP_INDEX - 1);
}

static long udp_find(const Core *self, long long second, uint64_t hi, uint64_t lo, int v6,
                     int frag, size_t *slot) {
    size_t i = udp_slot(second, hi, lo, frag);
    while (self->udp_index[i] >= 0) {
        const UdpAggregate *u = &self->udp[self->udp_index[i]];
        if (u->second == second && u->dlo == lo && u->dhi == hi && u->v6 == v6 &&
            u->frag == frag)
            return self->udp_index[i];
        i = (i + 1) & (UDP_INDEX - 1);
    }
    if (slot) *slot = i;
    return -1;
}

static void keep_port(unsigned *ports, int *n, unsigned port, int cap) {
    for (int k = 0; k < *n; k++)
        if (ports[k] == port) return;
    if (*n < cap) ports[(*n)++] = port;
}

/* A tracked sender's datagram to dport: its distinct ports, up to UDP_PROBE_PORTS. */
static void sender_port(UdpAggregate *u, int j, unsigned dport) {
    uint16_t *ports = u->sender_ports[j];
    int n = u->n_sender_ports[j];
    for (int k = 0; k < n; k++)
        if (ports[k] == dport) return;
    if (n < UDP_PROBE_PORTS) {
        ports[n] = (uint16_t)dport;
        u->n_sender_ports[j] = (uint8_t)(n + 1);
        if (n + 1 >= UDP_PROBE_FLOOR) u->probing = 1;
    }
}

/* A UDP datagram with data the detectors do not take as a frame, or (frag) a fragment of
 * UDP or TCP (accounting._udp). */
static void udp_seen(Core *self, double ts, uint64_t shi, uint64_t slo, uint64_t dhi,
                     uint64_t dlo, int v6, int frag, unsigned sport, unsigned dport,
                     uint64_t mac) {
    long long second = (long long)floor(ts);
    if (second > self->udp_second) self->udp_second = second;
    size_t slot = 0;
    long k = udp_find(self, second, dhi, dlo, v6, frag, &slot);
    if (k < 0 && self->n_udp < UDP_AGG_CAP) {
        if (!self->n_udp || second < self->udp_oldest) self->udp_oldest = second;
        k = self->n_udp++;
        self->udp_index[slot] = (int16_t)k;
        UdpAggregate *u = &self->udp[k];
        memset(u, 0, offsetof(UdpAggregate, senders));
        /* sender_ports and n_sender_ports are reset per sender as it is added */
        u->second = second;
        u->dhi = dhi;
        u->dlo = dlo;
        u->v6 = v6;
        u->frag = frag;
    }
    if (k >= 0) {
        UdpAggregate *u = &self->udp[k];
        u->packets++;
        if (!frag) { /* later fragments carry no ports */
            keep_port(u->dports, &u->n_dports, dport, UDP_PORTS);
            keep_port(u->sports, &u->n_sports, sport, UDP_PORTS);
        }
        int found = -1;
        for (int j = 0; j < u->n_senders; j++) {
            Sender *x = &u->senders[j];
            if (x->lo == slo && x->hi == shi && x->mac == mac) {
                x->count++;
                found = j;
                break;
            }
        }
        if (found < 0) {
            if (u->n_senders < AGG_SENDERS) {
                found = u->n_senders++;
                Sender *x = &u->senders[found];
                x->hi = shi;
                x->lo = slo;
                x->mac = mac;
                x->count = 1;
                u->n_sender_ports[found] = 0;
            } else {
                u->untracked++;
            }
        }
        if (found >= 0 && !frag) sender_port(u, found, dport);
    }
    for (int kind = 0; kind < 2; kind++) { /* the sender is itself a destination: an answer */
        long a = udp_find(self, second, shi, slo, v6, kind, NULL);
        if (a >= 0) {
            UdpAggregate *b = &self->udp[a];
            b->answers++;
            if (!kind && !frag) keep_port(b->answered, &b->n_answered, sport, UDP_PROBE_PORTS);
        }
    }
}

static inline size_t spread_slot(const uint64_t *hi, const uint64_t *lo) {
    uint64_t h = (lo[0] ^ seed_a) * 0x9E3779B97F4A7C15ull;
    h ^= (hi[0] ^ seed_b ^ (lo[1] << 1)) * 0xC2B2AE3D27D4EB4Full;
    h ^= (hi[1] ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return (size_t)h & (SPREAD_INDEX - 1);
}

static long spread_find(const Core *self, const uint64_t *hi, const uint64_t *lo, int v6,
                        size_t *slot) {
    size_t i = spread_slot(hi, lo);
    while (self->spread_index[i] >= 0) {
        const Spread *e = &self->spread[self->spread_index[i]];
        if (e->lo[0] == lo[0] && e->lo[1] == lo[1] && e->hi[0] == hi[0] && e->hi[1] == hi[1] &&
            e->v6 == v6)
            return self->spread_index[i];
        i = (i + 1) & (SPREAD_INDEX - 1);
    }
    if (slot) *slot = i;
    return -1;
}

/* A UDP datagram with data from one of the site's hosts to another (accounting._spread):
 * its destination port, if below SPREAD_EPHEMERAL, for its sender's side of the pair;
 * its source port, if below, as one the sender answers from. */
static void spread_seen(Core *self, double ts, uint64_t shi, uint64_t slo, uint64_t dhi,
                        uint64_t dlo, int v6, unsigned sport, unsigned dport, uint64_t mac) {
    int low_d = dport < SPREAD_EPHEMERAL, low_s = sport < SPREAD_EPHEMERAL;
    if (!low_d && !low_s) return; /* one client's ephemeral port to another's */
    long long second = (long long)floor(ts);
    int me = shi > dhi || (shi == dhi && slo > dlo); /* the sender's side */
    uint64_t hi[2], lo[2];
    hi[me] = shi;
    lo[me] = slo;
    hi[!me] = dhi;
    lo[!me] = dlo;
    size_t slot = 0;
    long k = spread_find(self, hi, lo, v6, &slot);
    Spread *e;
    if (k < 0) {
        if (self->n_spread >= SPREAD_CAP) {
            self->spread_full = 1; /* swept for idle pairs at the next hand-over */
            return;
        }
        k = self->n_spread++;
        self->spread_index[slot] = (int16_t)k;
        e = &self->spread[k];
        memset(e, 0, sizeof *e);
        memcpy(e->hi, hi, sizeof hi);
        memcpy(e->lo, lo, sizeof lo);
        e->v6 = v6;
        e->base = e->last = second;
    } else {
        e = &self->spread[k];
        if (second > e->last) e->last = second;
    }
    SpreadSide *s = &e->side[me];
    if (!s->sent) {
        s->sent = 1;
        s->mac = mac;
    }
    if (low_s && !s->from_full) {
        int i = 0;
        while (i < s->n_from && s->from[i] != sport) i++;
        if (i == s->n_from) {
            if (s->n_from < SPREAD_FROM)
                s->from[s->n_from++] = (uint16_t)sport;
            else
                s->from_full = 1;
        }
    }
    if (!low_d) return;
    int32_t at = (int32_t)(second - e->base);
    for (int i = 0; i < s->n_ports; i++) {
        SpreadPort *p = &s->ports[i];
        if (p->port == dport) {
            if (at - p->first < SPREAD_GRACE && p->n < 255) p->n++;
            return;
        }
    }
    if (s->n_ports < SPREAD_PORTS) {
        SpreadPort *p = &s->ports[s->n_ports++];
        p->port = (uint16_t)dport;
        p->first = at;
        p->n = 1;
        p->state = SPREAD_WATCHED;
        long long due = second + SPREAD_GRACE;
        if (s->n_ports >= SPREAD_CROWD) { /* a spread too fast to wait for: judge it soon */
            s->crowded = 1;
            due = second + 1;
        }
        if (due < self->spread_due) self->spread_due = due;
    }
}

/* A frame the detectors want (accounting.Accounting._want). key: its source (the IP
 * address, or the MAC for frames without one); syn: a SYN without ACK, which may become
 * an aggregate instead of a frame when the budget has no room. */
static void want(Core *self, const uint8_t *f, Py_ssize_t n, unsigned long wirelen, double ts,
                 uint64_t key_hi, uint64_t key_lo, int syn, uint64_t dhi, uint64_t dlo, int v6,
                 unsigned dport, int new_mac) {
    if (!self->detector_cap) return; /* no detectors: nothing wanted, nothing dropped */
    self->detector_frames++;
    /* The budget is given out per 10 ms slice (accounting.SLICES), three quarters to
       sources seen before, a quarter to new ones: a scan inside a spoofed flood keeps
       its share, and a flood's one-shot senders cannot take it. */
    long long tick = (long long)(ts * DETECTOR_SLICES);
    if (tick != self->detector_second) {
        long long i = tick % DETECTOR_SLICES, r = self->detector_rate, rn = r / 4, rk = r - rn;
        /* Known sources' share is a bucket holding up to KNOWN_BURST_SLICES slices: a
           scan's burst (nmap sends a thousand probes in a tenth of a second) is not cut
           to one slice's share while the bucket has what earlier slices did not use. */
        long long gap = self->detector_second < 0 ? KNOWN_BURST_SLICES
                                                  : tick - self->detector_second;
        if (gap >= KNOWN_BURST_SLICES) {
            self->budget_known = rk * KNOWN_BURST_SLICES / DETECTOR_SLICES;
        } else {
            for (long long t = tick - gap + 1; t <= tick; t++) {
                long long j = t % DETECTOR_SLICES;
                self->budget_known += rk * (j + 1) / DETECTOR_SLICES - rk * j / DETECTOR_SLICES;
            }
            if (self->budget_known > rk * KNOWN_BURST_SLICES / DETECTOR_SLICES)
                self->budget_known = rk * KNOWN_BURST_SLICES / DETECTOR_SLICES;
        }
        self->detector_second = tick;
        /* New sources' quarter: half for SYNs, which have an aggregate when it runs out,
           half for everything else (ARP, DNS, resets), which has not. */
        long long rs = rn / 2, ro = rn - rs;
        self->budget_new_syn = rs * (i + 1) / DETECTOR_SLICES - rs * i / DETECTOR_SLICES;
        self->budget_new = ro * (i + 1) / DETECTOR_SLICES - ro * i / DETECTOR_SLICES;
    }
    if (ts >= self->gate_rotate_at) {
        SrcMap t = self->known_prev;
        self->known_prev = self->known;
        self->known = t;
        map_clear(&self->known);
        set_free(&self->probation);
        if (set_alloc(&self->probation, SET_START) < 0) {
            self->failed = 1;
            return;
        }
        self->gate_rotate_at = ts + GATE_WINDOW;
    }
    long long second = (long long)floor(ts);
    long slot = map_find(&self->known, key_hi, key_lo);
    if (slot < 0) {
        long old = map_find(&self->known_prev, key_hi, key_lo);
        if (old >= 0) {
            slot = map_put(&self->known, key_hi, key_lo, self->known_prev.second[old],
                           self->known_prev.count[old]);
        } else if (set_has(&self->probation, key_hi, key_lo)) {
            slot = map_put(&self->known, key_hi, key_lo, second, 0); /* seen twice: known */
        } else {
            if (self->probation.count >= GATE_PROBATION_CAP) {
                set_free(&self->probation);
                if (set_alloc(&self->probation, SET_START) < 0) {
                    self->failed = 1;
                    return;
                }
            }
            if (set_add(&self->probation, key_hi, key_lo) < 0) {
                self->failed = 1;
                return;
            }
        }
    }
    int room = PyList_GET_SIZE(self->wanted) < self->detector_cap;
    if (slot >= 0) {
        SrcMap *m = &self->known;
        if (m->second[slot] != second) {
            m->second[slot] = second;
            m->count[slot] = 0;
        }
        if (room && self->budget_known > 0 && m->count[slot] < SOURCE_RATE) {
            self->budget_known--;
            m->count[slot]++;
            hand_over(self, f, n, wirelen, ts);
            return;
        }
    } else if (room && (syn ? self->budget_new_syn : self->budget_new) > 0) {
        if (syn)
            self->budget_new_syn--;
        else
            self->budget_new--;
        hand_over(self, f, n, wirelen, ts);
        return;
    }
    int taken = 0;
    if (new_mac) { /* a never-seen source MAC: mac_flood counts it without the frame */
        MacAggregate *m = self->n_mac_aggs ? &self->mac_aggs[self->n_mac_aggs - 1] : NULL;
        if (!m || (m->second != second && self->n_mac_aggs < MAC_AGGS)) {
            m = &self->mac_aggs[self->n_mac_aggs++];
            m->second = second;
            m->macs = m->multicast = 0;
        }
        m->macs++;
        m->multicast += f[6] & 1;
        taken = 1;
    }
    if (syn) {
        uint64_t mac = ((uint64_t)be16(f + 6) << 32) | be32(f + 8);
        taken |= aggregate_syn(self, second, dhi, dlo, v6, dport, key_hi, key_lo, mac);
    }
    if (taken)
        self->detector_frames_aggregated++;
    else
        self->detector_frames_dropped++;
}

static inline void count(Core *self, int c, unsigned long wirelen) {
    self->packets[c]++;
    self->bytes[c] += wirelen;
}


/* Whether detectors want a frame for its transport header (accounting.py says the same
 * in Python): TCP SYN, FIN or RST, or no ACK outside a handshake (NULL, FIN, Xmas
 * probes), and DNS over TCP segments with data; UDP to or from DNS, DHCP, DHCPv6, mDNS, or an empty datagram (a UDP probe); every
 * ICMP; any rare IP protocol (IP-protocol scans) but the tunnels that carry bulk traffic. */
static int detector_wants_l4(unsigned proto, const uint8_t *f, Py_ssize_t n, Py_ssize_t l4,
                             int first_fragment, Py_ssize_t ip_end) {
    if (proto == 6) {
        if (!first_fragment || n < l4 + 14) return 0;
        if ((f[l4 + 13] & 0x07) || !(f[l4 + 13] & 0x10)) return 1;
        /* DNS over TCP: segments that carry data (a message, or part of one) */
        return (be16(f + l4) == 53 || be16(f + l4 + 2) == 53) &&
               ip_end - l4 - (Py_ssize_t)(f[l4 + 12] >> 4) * 4 > 0;
    }
    if (proto == 17) {
        if (!first_fragment || n < l4 + 6) return 0;
        unsigned sport = be16(f + l4), dport = be16(f + l4 + 2);
        return sport == 53 || sport == 67 || sport == 68 || sport == 546 || sport == 547 ||
               sport == 5353 || dport == 53 || dport == 67 || dport == 68 || dport == 546 ||
               dport == 547 || dport == 5353 || be16(f + l4 + 4) == 8;
    }
    if (proto == 1 || proto == 58) return 1;
    return proto != 4 && proto != 41 && proto != 47 && proto != 50 && proto != 51;
}

/* The first bytes of a TCP payload (sentinel/packet.py login_prefix, its Python twin). */
enum { LOGIN_NONE, LOGIN_REPLY, LOGIN_POST, LOGIN_HTTP };

static const uint8_t IMAP_TAG[256] = {
    ['.'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,
    ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

#define REPLY_MAX 512 /* sentinel.packet.REPLY_MAX */

/* m bytes captured of a payload of size bytes on the wire */
static int login_prefix(const uint8_t *p, Py_ssize_t m, Py_ssize_t size) {
    if (m < 4) return LOGIN_NONE;
    uint8_t c = p[0], d = p[1];
    if (c == 'H' && d == 'T' && m >= 12 && p[4] == '/' && p[8] == ' ') {
        if (p[2] == 'T' && p[3] == 'P' && p[5] == '1') {
            if (p[9] == '4' && p[10] == '0' && p[11] == '1') return LOGIN_REPLY;
            return LOGIN_HTTP;
        }
    } else if (c == 'P' && d == 'O' && m >= 5 && p[2] == 'S' && p[3] == 'T') {
        if (p[4] == ' ') return LOGIN_POST;
    } else if (c == '5' && d == '3' && (p[2] == '0' || p[2] == '5') && (p[3] == ' ' || p[3] == '-')) {
        return LOGIN_REPLY; /* FTP 530, SMTP 535 */
    } else if (c == '-') { /* Redis, POP3: -ERR, -WRONGPASS, -NOAUTH */
        uint8_t e = p[2];
        if ((d == 'E' && e == 'R') || (d == 'W' && e == 'R') || (d == 'N' && e == 'O'))
            return LOGIN_REPLY;
    } else if (c == '\r' || c == '\n' || c == 'L') { /* telnet login(1) */
        Py_ssize_t i = 0;
        while (i < 4 && (p[i] == '\r' || p[i] == '\n')) i++;
        if (m - i >= 15 && memcmp(p + i, "Login incorrect", 15) == 0) return LOGIN_REPLY;
    } else if ((c | d | p[2]) == 0 && p[3] == 1) { /* VNC: security result failed */
        int reason = m >= 9 && p[4] == 0 && p[5] == 0;
        if (size == 4 || (reason && ((p[6] << 8) | p[7]) == size - 8)) return LOGIN_REPLY;
    } else if (c == 'R' && d == 'F' && m >= 21 && memcmp(p, "RFB 003.00", 10) == 0) {
        /* VNC: "RFB 003.003\n", security type 0, the reason (a blacklisted host) */
        if (p[11] == '\n' && (p[12] | p[13] | p[14] | p[15] | p[16] | p[17]) == 0 &&
            ((p[18] << 8) | p[19]) == size - 20)
            return LOGIN_REPLY;
    }
    if (size > REPLY_MAX) return LOGIN_NONE;
    if (m >= 9 && p[4] == 0xFF && p[5] == 0x15 && p[6] == 0x04 &&
        (c | (d << 8) | (p[2] << 16)) == size - 4)
        return LOGIN_REPLY; /* MySQL error packet 1045 */
    if (c == 'E' && d == 0 && p[2] == 0 && m >= 12) { /* PostgreSQL ErrorResponse */
        Py_ssize_t last = (m < 128 ? m : 128) - 7;
        for (Py_ssize_t i = 5; i <= last; i++)
            if (p[i] == 'C' && p[i + 1] == '2' && memcmp(p + i, "C28P01", 7) == 0)
                return LOGIN_REPLY;
        return LOGIN_NONE;
    }
    if (IMAP_TAG[c]) { /* "<tag> NO " or "<tag> BAD " */
        Py_ssize_t i = 1, last = m - 5 < 11 ? m - 5 : 11;
        while (i < last && IMAP_TAG[p[i]]) i++;
        if (i < last && p[i] == ' ') {
            if (p[i + 1] == 'N' && p[i + 2] == 'O' && p[i + 3] == ' ') return LOGIN_REPLY;
            if (p[i + 1] == 'B' && p[i + 2] == 'A' && p[i + 3] == 'D' && p[i + 4] == ' ')
                return LOGIN_REPLY;
        }
    }
    return LOGIN_NONE;
}

/* Which of a POST's flow and its answer's (client first) share: accounting.flow_hash. */
static inline uint64_t flow_hash(uint64_t a_hi, uint64_t a_lo, uint64_t b_hi, uint64_t b_lo,
                                 unsigned pa, unsigned pb) {
    uint64_t h = a_hi * 0x9E3779B97F4A7C15ull ^ a_lo;
    h = h * 0xBF58476D1CE4E5B9ull ^ b_hi;
    h = h * 0x94D049BB133111EBull ^ b_lo;
    h = h * 0x9E3779B97F4A7C15ull ^ (((uint64_t)pa << 16) | pb);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h | 1;
}

/* A TCP segment with data: wanted when it starts like a login reply, is an HTTP POST
 * (remembered), or is the HTTP answer to a remembered POST. */
static int login_wanted(Core *self, const uint8_t *f, Py_ssize_t n, Py_ssize_t end,
                        Py_ssize_t l4, uint64_t s_hi, uint64_t s_lo, uint64_t d_hi,
                        uint64_t d_lo, double ts) {
    Py_ssize_t start = l4 + (f[l4 + 12] >> 4) * 4, size = end - start;
    if (end > n) end = n;
    if (end - start < 4) return 0;
    int k = login_prefix(f + start, end - start, size);
    if (k == LOGIN_NONE) return 0;
    if (k == LOGIN_REPLY) return 1;
    unsigned sport = be16(f + l4), dport = be16(f + l4 + 2);
    if (k == LOGIN_POST) {
        uint64_t h = flow_hash(s_hi, s_lo, d_hi, d_lo, sport, dport);
        self->post_tag[h & (POST_SLOTS - 1)] = h;
        self->post_ts[h & (POST_SLOTS - 1)] = ts;
        return 1;
    }
    uint64_t h = flow_hash(d_hi, d_lo, s_hi, s_lo, dport, sport);
    size_t i = h & (POST_SLOTS - 1);
    if (self->post_tag[i] != h || ts - self->post_ts[i] > POST_ANSWER_WINDOW) return 0;
    self->post_tag[i] = 0;
    return 1;
}

/* Every TCP segment, when detectors run: the flow's recency per side. Wanted: an empty
 * ACK (no SYN, RST or FIN) from a side whose peer has been quiet for ACK_QUIET, which
 * acknowledges nothing (an ACK or Window scan's probe, a keepalive, a flow that began
 * before the capture), once per ACK_ANSWER_WINDOW and side, and the first segment from the peer after such an ACK or an empty
 * FIN|ACK (a Maimon probe, or a close): its answer, which tells the scan of a filtered
 * host (none) from a live flow (accounting.Accounting._ack_seen, its Python twin). */
static int ack_seen(Core *self, double ts, uint64_t s_hi, uint64_t s_lo, uint64_t d_hi,
                    uint64_t d_lo, unsigned sport, unsigned dport, unsigned flags,
                    Py_ssize_t payload) {
    int lower = s_hi < d_hi || (s_hi == d_hi && (s_lo < d_lo || (s_lo == d_lo && sport < dport)));
    uint64_t h = lower ? flow_hash(s_hi, s_lo, d_hi, d_lo, sport, dport)
                       : flow_hash(d_hi, d_lo, s_hi, s_lo, dport, sport);
    size_t i = (size_t)(h & (ACK_SLOTS - 1)) * 2, me = i + !lower, peer = i + lower;
    int wanted = 0;
    double other = self->ack_seen[peer];
    if (self->ack_pend[peer] != 0 && ts - self->ack_pend[peer] <= ACK_ANSWER_WINDOW) {
        wanted = 1;
        self->ack_pend[peer] = 0;
    } else if ((flags & 0x16) == 0x10 && payload == 0) {
        if (flags & 0x01) {
            self->ack_pend[me] = ts;
        } else if ((other == 0 || ts - other > ACK_QUIET) &&
                   (self->ack_pend[me] == 0 || ts - self->ack_pend[me] > ACK_ANSWER_WINDOW)) {
            self->ack_pend[me] = ts; /* once per answer window: one side of a flow */
            wanted = 1;
        }
    }
    self->ack_seen[me] = ts;
    return wanted;
}

static void add_device(Core *self, KeySet *cur, uint64_t hi, uint64_t lo) {
    if ((Py_ssize_t)cur->count < self->device_cap) {
        if (set_add(cur, hi, lo) < 0) self->failed = 1;
    } else {
        self->device_table_full++;
    }
}

/* An IPv4 destination whose host part is all ones in one of the site's networks. */
static int directed_broadcast(const Core *self, int family, uint64_t dst) {
    if (family == F_V6) return 0;
    for (int i = 0; i < self->n_v4; i++)
        if ((dst & self->v4_mask[i]) == self->v4_net[i] && self->v4_mask[i] < 0xFFFFFFFEu &&
            (dst | self->v4_mask[i]) == 0xFFFFFFFFu)
            return 1;
    return 0;
}

/* Account one Ethernet frame of n captured bytes (accounting.Accounting.frame). */
static void frame(Core *self, const uint8_t *f, Py_ssize_t n, unsigned long wirelen, double ts) {
    if (n < 14) {
        self->truncated++;
        count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
        return;
    }
    if (ts >= self->rotate_at) rotate(self, ts);
    if (ts > self->latest) self->latest = ts;
    if (f[6] & 1) { /* a group (multicast) source MAC: no NIC sends one, a damaged frame */
        self->multicast_source++;
        count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
        return;
    }
    uint64_t mac = ((uint64_t)be16(f + 6) << 32) | be32(f + 8);
    int new_mac = 0;
    if (!set_has(&self->macs, 0, mac)) {
        add_device(self, &self->macs, 0, mac);
        new_mac = !set_has(&self->macs_prev, 0, mac);
    }
    Py_ssize_t off = 14;
    unsigned etype = be16(f + 12);
    while ((etype == 0x8100 || etype == 0x88A8 || etype == 0x9100) && n >= off + 4) {
        etype = be16(f + off + 2);
        off += 4;
    }
    int wanted = new_mac, family, src_local = 0, dst_local = 0, first_fragment, fragment;
    unsigned proto;
    Py_ssize_t l4;
    uint64_t src_hi = 0, src_lo, dst_hi = 0, dst_lo;
    Py_ssize_t ip_end;
    if (etype == 0x0800) {
        if (n < off + 20) {
            self->truncated++;
            count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
            return;
        }
        unsigned vihl = f[off], ihl = (vihl & 0x0F) * 4;
        if (vihl >> 4 != 4 || ihl < 20) {
            self->bad_ip_header++;
            count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
            return;
        }
        uint32_t src = be32(f + off + 12), dst = be32(f + off + 16);
        for (int i = 0; i < self->n_v4; i++) {
            if ((src & self->v4_mask[i]) == self->v4_net[i]) src_local = 1;
            if ((dst & self->v4_mask[i]) == self->v4_net[i]) dst_local = 1;
        }
        src_lo = src;
        dst_lo = dst;
        ip_end = off + be16(f + off + 2);
        proto = f[off + 9];
        l4 = off + (Py_ssize_t)ihl;
        first_fragment = !((f[off + 6] & 0x1F) | f[off + 7]);
        fragment = ((f[off + 6] & 0x3F) | f[off + 7]) != 0; /* more fragments, or an offset */
        family = F_V4;
    } else if (etype == 0x86DD) {
        if (n < off + 40) {
            self->truncated++;
            count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
            return;
        }
        if (f[off] >> 4 != 6) {
            self->bad_ip_header++;
            count(self, CELL(D_INTERNAL, F_OTHER, P_OTHER), wirelen);
            return;
        }
        uint64_t shi = be64(f + off + 8), slo = be64(f + off + 16);
        uint64_t dhi = be64(f + off + 24), dlo = be64(f + off + 32);
        for (int i = 0; i < self->n_v6; i++) {
            const uint64_t *net = self->v6_net[i], *mask = self->v6_mask[i];
            if ((shi & mask[0]) == net[0] && (slo & mask[1]) == net[1]) src_local = 1;
            if ((dhi & mask[0]) == net[0] && (dlo & mask[1]) == net[1]) dst_local = 1;
        }
        src_hi = shi;
        src_lo = slo;
        dst_hi = dhi;
        dst_lo = dlo;
        ip_end = off + 40 + be16(f + off + 4);
        proto = f[off + 6];
        l4 = off + 40;
        first_fragment = 1;
        fragment = 0;
        family = F_V6;
        int hops = 0;
        while ((proto == 0 || proto == 43 || proto == 60 || proto == 51 || proto == 135 ||
                proto == 139 || proto == 140 || proto == 44) &&
               hops < 8 && n >= l4 + 8) {
            hops++;
            if (proto == 44) { /* fragment header: later fragments carry no L4 header */
                first_fragment = !(be16(f + l4 + 2) & 0xFFF8);
                fragment = (be16(f + l4 + 2) & 0xFFF9) != 0; /* an offset, or M */
                proto = f[l4];
                l4 += 8;
                if (!first_fragment) break; /* the rest is data: proto names its first header */
            } else if (proto == 51) {
                Py_ssize_t len = ((Py_ssize_t)f[l4 + 1] + 2) * 4;
                proto = f[l4];
                l4 += len;
            } else {
                Py_ssize_t len = ((Py_ssize_t)f[l4 + 1] + 1) * 8;
                proto = f[l4];
                l4 += len;
            }
        }
    } else {
        family = etype == 0x0806 ? F_ARP : F_OTHER;
        count(self, CELL(D_INTERNAL, family, P_OTHER), wirelen);
        if (family == F_ARP || new_mac)
            want(self, f, n, wirelen, ts, GATE_MAC_TAG, mac, 0, 0, 0, 0, 0, new_mac);
        return;
    }
    int direction;
    if (src_local) {
        direction = dst_local ? D_INTERNAL : D_OUT;
        if (!set_has(&self->ips, src_hi, src_lo)) add_device(self, &self->ips, src_hi, src_lo);
        if (++self->sample >= 16) { /* top talkers from every 16th local packet */
            self->sample = 0;
            talker(self, src_hi, src_lo, (long long)wirelen * 16);
        }
    } else {
        direction = dst_local ? D_IN : D_TRANSIT;
    }
    int p = proto == 6 ? P_TCP : proto == 17 ? P_UDP : (proto == 1 || proto == 58) ? P_ICMP : P_OTHER;
    if (proto == 6 && first_fragment && n >= l4 + 14 && self->detector_cap) {
        Py_ssize_t data = ip_end - l4 - (Py_ssize_t)(f[l4 + 12] >> 4) * 4;
        if (ack_seen(self, ts, src_hi, src_lo, dst_hi, dst_lo, be16(f + l4), be16(f + l4 + 2),
                     f[l4 + 13], data > 0 ? data : 0))
            wanted = 1;
    }
    int quiet = 0;
    if (detector_wants_l4(proto, f, n, l4, first_fragment, ip_end)) {
        wanted = 1;
        /* A learned resolver's answer over UDP: no detector reads it (quiet_answers) */
        if (self->n_quiet && proto == 17 && !new_mac && n >= l4 + 8 && be16(f + l4) == 53 &&
            be16(f + l4 + 4) > 8) {
            uint64_t smac = ((uint64_t)be16(f + 6) << 32) | be32(f + 8);
            int v6 = family == F_V6;
            for (int i = 0; i < self->n_quiet; i++) {
                const Quiet *q = &self->quiet[i];
                if (q->lo == src_lo && q->mac == smac && q->hi == src_hi && q->v6 == v6) {
                    quiet = 1;
                    wanted = 0;
                    self->answers_quiet++;
                    break;
                }
            }
        }
    }
    else if (proto == 6 && first_fragment && n >= l4 + 20 &&
             login_wanted(self, f, n, ip_end, l4, src_hi, src_lo, dst_hi, dst_lo, ts))
        wanted = 1;
    count(self, CELL(direction, family, p), wirelen);
    /* a fragment of UDP or TCP, wanted or not; a whole datagram with data, not wanted */
    if ((proto == 17 || proto == 6) && self->detector_cap &&
        (fragment || (proto == 17 && !wanted && !quiet && n >= l4 + 8))) {
        int group = family == F_V6 ? (dst_hi >> 56) == 0xFF
                                   : (dst_lo >> 28) == 0xE || dst_lo == 0xFFFFFFFFu;
        if (!group) { /* multicast and broadcast streams are nobody's flood */
            uint64_t smac = ((uint64_t)be16(f + 6) << 32) | be32(f + 8);
            unsigned sport = fragment ? 0 : be16(f + l4), dport = fragment ? 0 : be16(f + l4 + 2);
            udp_seen(self, ts, src_hi, src_lo, dst_hi, dst_lo, family == F_V6, fragment, sport,
                     dport, smac);
            if (!fragment && src_local && dst_local && !directed_broadcast(self, family, dst_lo))
                spread_seen(self, ts, src_hi, src_lo, dst_hi, dst_lo, family == F_V6, sport,
                            dport, smac);
        }
    }
    if (wanted) {
        int syn = proto == 6 && first_fragment && n >= l4 + 14 && (f[l4 + 13] & 0x12) == 0x02;
        want(self, f, n, wirelen, ts, src_hi, src_lo, syn, dst_hi, dst_lo, family == F_V6,
             syn ? be16(f + l4 + 2) : 0, new_mac);
    }
}

static PyObject *failed(Core *self) {
    self->failed = 0;
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return NULL;
}

static PyObject *core_frame(Core *self, PyObject *args) {
    Py_buffer buf;
    unsigned long wirelen;
    double ts;
    if (not_ready(self) || !PyArg_ParseTuple(args, "y*kd", &buf, &wirelen, &ts)) return NULL;
    frame(self, buf.buf, buf.len, wirelen, ts);
    PyBuffer_Release(&buf);
    if (self->failed) return failed(self);
    Py_RETURN_NONE;
}

static inline uint32_t rd32(const uint8_t *p, int big) {
    return big ? be32(p)
               : ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* Classic pcap records from off up to end: (next offset, frames, damaged). Stops after
 * limit frames so the caller can drain the detectors in between. */
static PyObject *core_pcap(Core *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t off, end, limit;
    int big;
    double unit;
    if (not_ready(self) ||
        !PyArg_ParseTuple(args, "y*nnpdn", &buf, &off, &end, &big, &unit, &limit))
        return NULL;
    const uint8_t *v = buf.buf;
    if (end > buf.len) end = buf.len;
    Py_ssize_t frames = 0;
    int damaged = 0;
    while (frames < limit && off >= 0 && off + 16 <= end) {
        const uint8_t *h = v + off;
        uint32_t sec = rd32(h, big), frac = rd32(h + 4, big), incl = rd32(h + 8, big);
        uint32_t orig = rd32(h + 12, big);
        if (incl > MAX_FRAME || off + 16 + (Py_ssize_t)incl > end) {
            damaged = 1;
            break;
        }
        frame(self, h + 16, incl, orig, (double)sec + (double)frac * unit);
        off += 16 + incl;
        frames++;
        if (self->failed) break;
    }
    PyBuffer_Release(&buf);
    if (self->failed) return failed(self);
    return Py_BuildValue("(nnO)", off, frames, damaged ? Py_True : Py_False);
}

/* One TPACKET_V3 block at base: every frame in it; returns the number of frames. */
static PyObject *core_ring_block(Core *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t base, block_size;
    if (not_ready(self) || !PyArg_ParseTuple(args, "y*nn", &buf, &base, &block_size)) return NULL;
    const uint8_t *v = buf.buf;
    Py_ssize_t frames = 0;
    if (base >= 0 && block_size >= 48 && base + block_size <= buf.len) {
        const uint8_t *blk = v + base;
        uint32_t num, first;
        memcpy(&num, blk + 12, 4);
        memcpy(&first, blk + 16, 4);
        Py_ssize_t pos = first;
        for (uint32_t i = 0; i < num; i++) {
            if (pos < 0 || pos + 28 > block_size) break;
            const uint8_t *h = blk + pos;
            uint32_t next, sec, nsec, snap, wire;
            uint16_t mac;
            memcpy(&next, h, 4);
            memcpy(&sec, h + 4, 4);
            memcpy(&nsec, h + 8, 4);
            memcpy(&snap, h + 12, 4);
            memcpy(&wire, h + 16, 4);
            memcpy(&mac, h + 24, 2);
            if (pos + mac + (Py_ssize_t)snap > block_size) break;
            frame(self, h + mac, snap, wire, (double)sec + (double)nsec * 1e-9);
            frames++;
            if (self->failed || next == 0) break; /* 0: the last packet of the block */
            pos += next;
        }
    }
    PyBuffer_Release(&buf);
    if (self->failed) return failed(self);
    return PyLong_FromSsize_t(frames);
}

static PyObject *core_detector_batch(Core *self, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(self)) return NULL;
    PyObject *fresh = PyList_New(0);
    if (!fresh) return NULL;
    PyObject *batch = self->wanted;
    self->wanted = fresh;
    return batch;
}

static PyObject *addr_bytes(uint64_t hi, uint64_t lo, int v6) {
    uint8_t b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(hi >> (56 - 8 * i));
        b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    return v6 ? PyBytes_FromStringAndSize((const char *)b, 16)
              : PyBytes_FromStringAndSize((const char *)b + 12, 4);
}

static PyObject *mac_bytes(uint64_t mac) {
    uint8_t b[6];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(mac >> (40 - 8 * i));
    return PyBytes_FromStringAndSize((const char *)b, 6);
}

/* The SYN aggregates since the last call, in the order they began (accounting.py). */
static PyObject *core_aggregates(Core *self, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(self)) return NULL;
    PyObject *list = PyList_New(self->n_aggs);
    if (!list) return NULL;
    for (int i = 0; i < self->n_aggs; i++) {
        Aggregate *a = &self->aggs[i];
        PyObject *senders = PyTuple_New(a->n_senders);
        if (!senders) goto fail;
        for (int k = 0; k < a->n_senders; k++) {
            Sender *x = &a->senders[k];
            PyObject *t = Py_BuildValue("(NNL)", addr_bytes(x->hi, x->lo, a->v6), mac_bytes(x->mac),
                                        x->count);
            if (!t) {
                Py_DECREF(senders);
                goto fail;
            }
            PyTuple_SET_ITEM(senders, k, t);
        }
        PyObject *item = Py_BuildValue("(LNILNL)", a->second, addr_bytes(a->dhi, a->dlo, a->v6),
                                       a->dport, a->packets, senders, a->untracked);
        if (!item) goto fail;
        PyList_SET_ITEM(list, i, item);
    }
    self->n_aggs = 0;
    memset(self->agg_index, 0xFF, sizeof self->agg_index);
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

/* Never-seen source MACs whose frames were withheld, per second: [(second, MACs,
 * multicast MACs)] since the last call. */
static PyObject *core_mac_aggregates(Core *self, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(self)) return NULL;
    PyObject *list = PyList_New(self->n_mac_aggs);
    if (!list) return NULL;
    for (int i = 0; i < self->n_mac_aggs; i++) {
        MacAggregate *m = &self->mac_aggs[i];
        PyObject *item = Py_BuildValue("(LLL)", m->second, m->macs, m->multicast);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    self->n_mac_aggs = 0;
    return list;
}

static PyObject *ports_tuple(const unsigned *ports, int n) {
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *x = PyLong_FromUnsignedLong(ports[i]);
        if (!x) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

/* ((sender, MAC, (destination ports, ...)), ...): the senders of a UDP aggregate that
 * reached UDP_PROBE_FLOOR distinct destination ports. */
static PyObject *udp_probes(const UdpAggregate *u) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (int k = 0; u->probing && k < u->n_senders; k++) {
        int n = u->n_sender_ports[k];
        if (n < UDP_PROBE_FLOOR) continue;
        unsigned ports[UDP_PROBE_PORTS];
        for (int i = 0; i < n; i++) ports[i] = u->sender_ports[k][i];
        const Sender *x = &u->senders[k];
        PyObject *t = Py_BuildValue("(NNN)", addr_bytes(x->hi, x->lo, u->v6), mac_bytes(x->mac),
                                    ports_tuple(ports, n));
        if (!t || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    PyObject *t = PyList_AsTuple(out);
    Py_DECREF(out);
    return t;
}

/* The UDP aggregates of the seconds that are over (all of them when final) with at least
 * UDP_FLOOR datagrams or a sender of UDP probes: [(second, destination, datagrams, answers,
 * senders, untracked, destination ports, source ports, fragments, probes, answered ports)];
 * the seconds handed over are forgotten. */
static PyObject *core_udp_aggregates(Core *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"final", NULL};
    int final = 0;
    if (not_ready(self) || !PyArg_ParseTupleAndKeywords(args, kwds, "|p", kwlist, &final))
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    if (!final && (!self->n_udp || self->udp_oldest >= self->udp_second))
        return list; /* every second held is still going on: nothing to hand over */
    int kept = 0;
    for (int i = 0; i < self->n_udp; i++) {
        UdpAggregate *u = &self->udp[i];
        if (!final && u->second >= self->udp_second) {
            if (kept != i) self->udp[kept] = *u;
            kept++;
            continue;
        }
        if (u->packets < UDP_FLOOR && !u->probing) continue;
        PyObject *probes = udp_probes(u);
        if (!probes) goto fail;
        PyObject *senders = PyTuple_New(u->n_senders);
        if (!senders) goto fail;
        for (int k = 0; k < u->n_senders; k++) {
            Sender *x = &u->senders[k];
            PyObject *t = Py_BuildValue("(NNL)", addr_bytes(x->hi, x->lo, u->v6), mac_bytes(x->mac),
                                        x->count);
            if (!t) {
                Py_DECREF(senders);
                Py_DECREF(probes);
                goto fail;
            }
            PyTuple_SET_ITEM(senders, k, t);
        }
        PyObject *item = Py_BuildValue(
            "(LNLLNLNNNNN)", u->second, addr_bytes(u->dhi, u->dlo, u->v6), u->packets,
            u->answers, senders, u->untracked, ports_tuple(u->dports, u->n_dports),
            ports_tuple(u->sports, u->n_sports), PyBool_FromLong(u->frag), probes,
            ports_tuple(u->answered, u->n_answered));
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    self->n_udp = kept;
    self->udp_oldest = self->udp_second;
    memset(self->udp_index, 0xFF, sizeof self->udp_index);
    for (int i = 0; i < kept; i++) {
        size_t slot = 0;
        UdpAggregate *u = &self->udp[i];
        udp_find(self, u->second, u->dhi, u->dlo, u->v6, u->frag, &slot);
        self->udp_index[slot] = (int16_t)i;
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

/* One side's ports of a pair judged (accounting._judge_spread): once SPREAD_FLOOR wait,
 * (second, sender, MAC, destination, ((port, second first sent to), ...), ports the
 * destination answered from) is appended to list. The earliest second a port still
 * watched is judged in lowers *due. -1 when out of memory. */
static int spread_judge(Spread *e, int me, int final, long long now, PyObject *list,
                        long long *due) {
    SpreadSide *s = &e->side[me], *o = &e->side[!me];
    int waiting = 0, crowded = s->crowded;
    s->crowded = 0;
    for (int i = 0; i < s->n_ports; i++) {
        SpreadPort *p = &s->ports[i];
        if (p->state == SPREAD_DONE) continue;
        if (o->from_full) { /* a server answering from many ports: a conversation */
            p->state = SPREAD_DONE;
            continue;
        }
        long long ready = e->base + p->first + SPREAD_GRACE;
        if (crowded && e->base + p->first < now) ready = now; /* a second old is enough */
        if (p->state == SPREAD_WATCHED && !final && ready > now) {
            if (ready < *due) *due = ready;
            continue;
        }
        int answered = 0;
        for (int j = 0; j < o->n_from && !answered; j++) answered = o->from[j] == p->port;
        if (answered || p->n > SPREAD_REPEATS) {
            p->state = SPREAD_DONE;
            continue;
        }
        p->state = SPREAD_WAITING;
        waiting++;
    }
    if (waiting < SPREAD_FLOOR) return 0;
    PyObject *ports = PyTuple_New(waiting);
    if (!ports) return -1;
    for (int i = 0, k = 0; i < s->n_ports; i++) {
        SpreadPort *p = &s->ports[i];
        if (p->state != SPREAD_WAITING) continue;
        PyObject *t = Py_BuildValue("(IL)", (unsigned)p->port, e->base + p->first);
        if (!t) {
            Py_DECREF(ports);
            return -1;
        }
        PyTuple_SET_ITEM(ports, k++, t);
    }
    int kept = 0; /* the ports handed over make room: a scan goes on past SPREAD_PORTS */
    for (int i = 0; i < s->n_ports; i++)
        if (s->ports[i].state != SPREAD_WAITING) s->ports[kept++] = s->ports[i];
    s->n_ports = kept;
    unsigned from[SPREAD_FROM];
    for (int j = 0; j < o->n_from; j++) from[j] = o->from[j];
    PyObject *item = Py_BuildValue("(LNNNNN)", now, addr_bytes(e->hi[me], e->lo[me], e->v6),
                                   mac_bytes(s->mac), addr_bytes(e->hi[!me], e->lo[!me], e->v6),
                                   ports, ports_tuple(from, o->n_from));
    if (!item || PyList_Append(list, item) < 0) {
        Py_XDECREF(item);
        return -1;
    }
    Py_DECREF(item);
    return 0;
}

/* The UDP port spreads that reached SPREAD_FLOOR unanswered ports (all ports judged
 * when final): [(the latest second, sender, MAC, destination, ((port, second), ...),
 * answered ports)]. The table is gone through only when a watched port is due, or to
 * forget idle pairs when it was full. */
static PyObject *core_udp_spread(Core *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"final", NULL};
    int final = 0;
    if (not_ready(self) || !PyArg_ParseTupleAndKeywords(args, kwds, "|p", kwlist, &final))
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    long long now = (long long)floor(self->latest);
    int sweep = self->spread_full && now > self->spread_swept;
    if (!final && !sweep && now < self->spread_due) return list;
    long long due = LLONG_MAX;
    int kept = 0;
    for (int i = 0; i < self->n_spread; i++) {
        Spread *e = &self->spread[i];
        if (spread_judge(e, 0, final, now, list, &due) < 0 ||
            spread_judge(e, 1, final, now, list, &due) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        if (now - e->last > SPREAD_IDLE) continue; /* forgotten */
        if (kept != i) self->spread[kept] = *e;
        kept++;
    }
    if (kept != self->n_spread) {
        self->n_spread = kept;
        memset(self->spread_index, 0xFF, sizeof self->spread_index);
        for (int i = 0; i < kept; i++) {
            size_t slot = 0;
            Spread *e = &self->spread[i];
            spread_find(self, e->hi, e->lo, e->v6, &slot);
            self->spread_index[slot] = (int16_t)i;
        }
    }
    self->spread_full = 0;
    self->spread_swept = now;
    self->spread_due = due;
    return list;
}

static PyObject *u64_list(const unsigned long long *a) {
    PyObject *list = PyList_New(N_CELLS);
    if (!list) return NULL;
    for (int i = 0; i < N_CELLS; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(a[i]);
        if (!x) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, x);
    }
    return list;
}

static PyObject *core_get_packets(Core *self, void *closure) { return u64_list(self->packets); }
static PyObject *core_get_bytes(Core *self, void *closure) { return u64_list(self->bytes); }

static PyObject *core_get_malformed(Core *self, void *closure) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    struct {
        const char *name;
        unsigned long long n;
    } reasons[] = {{"truncated", self->truncated},
                   {"bad_ip_header", self->bad_ip_header},
                   {"multicast_source", self->multicast_source}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (!reasons[i].n) continue;
        PyObject *x = PyLong_FromUnsignedLongLong(reasons[i].n);
        if (!x || PyDict_SetItemString(d, reasons[i].name, x) < 0) {
            Py_XDECREF(x);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(x);
    }
    return d;
}

static size_t union_size(const KeySet *cur, const KeySet *prev) {
    size_t n = cur->count;
    for (size_t i = 0; i < prev->size; i++)
        if (prev->used[i] && !set_has(cur, prev->hi[i], prev->lo[i])) n++;
    return n;
}

static PyObject *core_active(Core *self, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(self)) return NULL;
    return Py_BuildValue("(nn)", (Py_ssize_t)union_size(&self->macs, &self->macs_prev),
                         (Py_ssize_t)union_size(&self->ips, &self->ips_prev));
}

static PyObject *key_int(uint64_t hi, uint64_t lo) {
    if (!hi) return PyLong_FromUnsignedLongLong(lo);
    PyObject *h = PyLong_FromUnsignedLongLong(hi), *l = PyLong_FromUnsignedLongLong(lo);
    PyObject *s = PyLong_FromLong(64), *shifted = NULL, *out = NULL;
    if (h && l && s && (shifted = PyNumber_Lshift(h, s))) out = PyNumber_Or(shifted, l);
    Py_XDECREF(h);
    Py_XDECREF(l);
    Py_XDECREF(s);
    Py_XDECREF(shifted);
    return out;
}

static PyObject *core_talkers(Core *self, PyObject *Py_UNUSED(ignored)) {
    if (not_ready(self)) return NULL;
    PyObject *list = PyList_New(self->n_talkers);
    if (!list) return NULL;
    for (int i = 0; i < self->n_talkers; i++) {
        PyObject *addr = key_int(self->talkers[i].hi, self->talkers[i].lo);
        PyObject *item = addr ? Py_BuildValue("(NL)", addr, self->talkers[i].amount) : NULL;
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* quiet_answers([(address bytes, MAC bytes), ...]): replaces the resolvers whose answers
 * over UDP are not wanted (accounting.Accounting.quiet_answers). */
static PyObject *core_quiet_answers(Core *self, PyObject *arg) {
    if (not_ready(self)) return NULL;
    PyObject *seq = PySequence_Fast(arg, "quiet_answers() takes a sequence of (address, MAC)");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > QUIET_MAX) n = QUIET_MAX;
    Quiet got[QUIET_MAX];
    int k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *ip, *mac;
        Py_ssize_t ip_n, mac_n;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "y#y#", &ip, &ip_n, &mac,
                              &mac_n)) {
            Py_DECREF(seq);
            return NULL;
        }
        if ((ip_n != 4 && ip_n != 16) || mac_n != 6) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "quiet_answers(): 4 or 16 address bytes, 6 MAC bytes");
            return NULL;
        }
        const uint8_t *a = (const uint8_t *)ip, *m = (const uint8_t *)mac;
        got[k].v6 = ip_n == 16;
        got[k].hi = ip_n == 16 ? be64(a) : 0;
        got[k].lo = ip_n == 16 ? be64(a + 8) : be32(a);
        got[k].mac = ((uint64_t)be16(m) << 32) | be32(m + 2);
        k++;
    }
    Py_DECREF(seq);
    memcpy(self->quiet, got, sizeof(Quiet) * (size_t)k);
    self->n_quiet = k;
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    {"quiet_answers", (PyCFunction)core_quiet_answers, METH_O,
     "quiet_answers([(address, MAC), ...]): resolvers whose answers over UDP are not wanted"},
    {"frame", (PyCFunction)core_frame, METH_VARARGS,
     "frame(f, wirelen, ts): account one Ethernet frame"},
    {"pcap", (PyCFunction)core_pcap, METH_VARARGS,
     "pcap(buffer, off, end, big_endian, unit, limit) -> (off, frames, damaged)"},
    {"ring_block", (PyCFunction)core_ring_block, METH_VARARGS,
     "ring_block(buffer, base, block_size) -> frames: one TPACKET_V3 block"},
    {"detector_batch", (PyCFunction)core_detector_batch, METH_NOARGS,
     "the (ts, wirelen, frame) tuples wanted since the last call"},
    {"udp_aggregates", (PyCFunction)(void (*)(void))core_udp_aggregates,
     METH_VARARGS | METH_KEYWORDS,
     "udp_aggregates(final=False): datagrams with data per destination and second"},
    {"udp_spread", (PyCFunction)(void (*)(void))core_udp_spread, METH_VARARGS | METH_KEYWORDS,
     "udp_spread(final=False): senders of datagrams with data to many unanswered ports of a "
     "host over minutes"},
    {"mac_aggregates", (PyCFunction)core_mac_aggregates, METH_NOARGS,
     "the withheld never-seen MACs (second, MACs, multicast) since the last call"},
    {"aggregates", (PyCFunction)core_aggregates, METH_NOARGS,
     "the SYN aggregates (second, victim, port, packets, senders, untracked) since the last call"},
    {"active", (PyCFunction)core_active, METH_NOARGS,
     "(MACs, IPs) seen in the device window"},
    {"talker_items", (PyCFunction)core_talkers, METH_NOARGS,
     "[(address, estimated bytes)] of the top-talker summary, in insertion order"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"packets", (getter)core_get_packets, NULL, "packets per cell", NULL},
    {"bytes", (getter)core_get_bytes, NULL, "bytes per cell", NULL},
    {"malformed", (getter)core_get_malformed, NULL, "frames not accounted, by reason", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef core_members[] = {
    {"device_table_full", T_ULONGLONG, offsetof(Core, device_table_full), READONLY, NULL},
    {"detector_frames", T_ULONGLONG, offsetof(Core, detector_frames), READONLY, NULL},
    {"detector_frames_dropped", T_ULONGLONG, offsetof(Core, detector_frames_dropped), READONLY,
     NULL},
    {"detector_frames_aggregated", T_ULONGLONG, offsetof(Core, detector_frames_aggregated),
     READONLY, NULL},
    {"answers_quiet", T_ULONGLONG, offsetof(Core, answers_quiet), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sentinel.capture._fastpath.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The accounting hot path (see accounting.py for the reference).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_methods = core_methods,
    .tp_members = core_members,
    .tp_getset = core_getset,
};

static int seed(void) {
    PyObject *os = PyImport_ImportModule("os");
    if (!os) return -1;
    PyObject *bytes = PyObject_CallMethod(os, "urandom", "i", 16);
    Py_DECREF(os);
    if (!bytes) return -1;
    memcpy(&seed_a, PyBytes_AS_STRING(bytes), 8);
    memcpy(&seed_b, PyBytes_AS_STRING(bytes) + 8, 8);
    Py_DECREF(bytes);
    return 0;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastpath", "The capture accounting hot path in C.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&CoreType) < 0 || seed() < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
