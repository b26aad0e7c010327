// crosscheck: a second load client for epmd servers, in C, to check
// epmd-bench's figures with a client that shares none of its code or
// runtime (no Go scheduler, no Go socket layer on the client side).
//
//   crosscheck [-rounds R] [-n N] [-procs P] [-hold H] [-conntrack F] pp|churn NAME=PORT...
//
// pp:    each request connects, sends PORT_PLEASE2 for a node registered
//        for the whole run and reads until the server closes.
// churn: each request connects, sends ALIVE2_REQ for a name never used
//        before, reads the 4-byte reply and closes, which unregisters it.
//
// Every target first gets H more nodes registered and held open (default
// 1000, as epmd-bench's -nodes; their names, like the churn's, carry the
// process id, so that two runs can share a server). Then the targets take
// turns: in each of R rounds every target, in the order given, gets N
// requests from P worker processes. Each worker binds its own 127.0.0.x
// source address, so that TIME_WAIT sockets spread over several addresses.
// Before each round it waits while the kernel's connection tracking, when
// loaded (Docker loads it), is over half full (-conntrack): a full table
// drops SYNs, and a round then takes a minute or more. Printed per target:
// the median over the rounds of requests per second, the slowest and
// fastest round, the median of the rounds' p99 latency (connect to close),
// and the ratio of its median rate to the first target's.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TARGETS = 16, MAX_ROUNDS = 64, MAX_PROCS = 32 };

struct target {
	const char *name;
	int port;
	int keep; // the connection of the node the PORT_PLEASE2 requests ask for
	double rate[MAX_ROUNDS], p99[MAX_ROUNDS];
};

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct target *t) {
	fprintf(stderr, "crosscheck: %s (target %s, port %d): %s\n", what, t->name, t->port,
	        errno ? strerror(errno) : "unexpected reply");
	exit(1);
}

// dial connects to the target on 127.0.0.1 from 127.0.0.src; a read that
// waits 10 s fails, so a server that stops answering ends the run.
static int dial(const struct target *t, int src) {
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) die("socket", t);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000 | src)};
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind a 127.0.0.x source", t);
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(t->port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&d, sizeof d) < 0) die("connect", t);
	return fd;
}

// alive2 sends an ALIVE2_REQ for name on fd and checks for result 0.
static void alive2(int fd, const char *name, const struct target *t) {
	unsigned char b[128], *p = b;
	int nl = strlen(name), l = 13 + nl;
	*p++ = l >> 8; *p++ = l;
	*p++ = 120;                 // ALIVE2_REQ
	*p++ = 0x1f; *p++ = 0x90;   // port 8080
	*p++ = 77; *p++ = 0;        // normal node, tcp/ipv4
	*p++ = 0; *p++ = 6;         // highest version
	*p++ = 0; *p++ = 5;         // lowest version
	*p++ = nl >> 8; *p++ = nl;
	memcpy(p, name, nl); p += nl;
	*p++ = 0; *p++ = 0;         // no extra
	errno = 0;
	if (write(fd, b, p - b) != p - b) die("send ALIVE2_REQ", t);
	int got = 0, n;
	while (got < 4 && (n = read(fd, b + got, sizeof b - got)) > 0) got += n;
	if (got < 4) die("read the ALIVE2 reply", t);
	if (b[1] != 0) {
		errno = 0;
		fprintf(stderr, "crosscheck: ALIVE2 of %s refused, result %d\n", name, b[1]);
		die("register", t);
	}
}

// keepName is the node every target holds for the whole run, which the
// PORT_PLEASE2 requests ask for: node1_<pid>.
static char keepName[32];

static void one(int churn, const struct target *t, int src, long seq) {
	int fd = dial(t, src);
	unsigned char b[256];
	if (churn) {
		char name[32];
		snprintf(name, sizeof name, "c%d_%d_%ld", (int)getppid(), src, seq);
		alive2(fd, name, t);
	} else {
		int nl = strlen(keepName);
		b[0] = 0; b[1] = 1 + nl; b[2] = 122; // PORT_PLEASE2_REQ
		memcpy(b + 3, keepName, nl);
		errno = 0;
		if (write(fd, b, 3 + nl) != 3 + nl) die("send PORT_PLEASE2_REQ", t);
		ssize_t n, got = 0;
		while ((n = read(fd, b + got, sizeof b - got)) > 0) got += n;
		if (n < 0) die("read the PORT2_RESP", t);
		if (got < 2 || b[0] != 119 || b[1] != 0) {
			errno = 0;
			die("PORT_PLEASE2 of the held node", t);
		}
	}
	close(fd);
}

// conntrack returns how many connections the kernel's connection
// tracking holds and may hold, or 0 when it is not loaded.
static long conntrack(long *max) {
	long n = 0;
	*max = 0;
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_count", "r");
	FILE *g = fopen("/proc/sys/net/netfilter/nf_conntrack_max", "r");
	if (!f || !g || fscanf(f, "%ld", &n) != 1 || fscanf(g, "%ld", max) != 1) n = *max = 0;
	if (f) fclose(f);
	if (g) fclose(g);
	return n;
}

// drainConntrack waits, polling for at most 3 minutes, until the kernel's
// connection tracking holds no more than limit of its maximum: every
// connection's entry stays 2 minutes after it closes, and a full table
// drops new connections' SYNs, which then come again only after 1, 3, 7,
// ... seconds (a round measured then says nothing about the server).
static void drainConntrack(double limit) {
	long max, n = conntrack(&max);
	if (limit <= 0 || max == 0 || n <= limit * max) return;
	double t0 = now();
	while (n > limit * max && now() - t0 < 180) {
		usleep(200000);
		n = conntrack(&max);
	}
	fprintf(stderr, "crosscheck: waited %.0f s for the conntrack table to drain to %ld of %ld\n", now() - t0, n, max);
}

static int cmpd(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// usage prints why (when not NULL) and the usage, and returns exit status 2.
static int usage(const char *why) {
	if (why) fprintf(stderr, "crosscheck: %s\n", why);
	fprintf(stderr, "usage: crosscheck [-rounds R] [-n N] [-procs P] [-hold H] [-conntrack F] pp|churn NAME=PORT...\n"
	                "  R rounds (1-%d, default 9) of N requests (100 or more, default 8000)\n"
	                "  from P processes (1-%d, default 4) per target, 1-%d targets,\n"
	                "  each holding H more registered nodes (default 1000); before each round,\n"
	                "  wait while the conntrack table is over F of its maximum (default 0.5; 0: never)\n",
	        MAX_ROUNDS, MAX_PROCS, MAX_TARGETS);
	return 2;
}

// fracarg reads a fraction from 0 to 1 into *v.
static int fracarg(const char *s, double *v) {
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (errno || *s == '\0' || *end != '\0' || !(x >= 0 && x <= 1)) return 0;
	*v = x;
	return 1;
}

static int intarg(const char *s, int lo, int hi, int *v) {
	char *end;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || x < lo || x > hi) return 0;
	*v = x;
	return 1;
}

int main(int argc, char **argv) {
	int rounds = 9, N = 8000, P = 4, hold = 1000, i = 1;
	double ctLimit = 0.5;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		const char *f = argv[i];
		int ok = !strcmp(f, "-rounds") ? intarg(argv[i + 1], 1, MAX_ROUNDS, &rounds)
		       : !strcmp(f, "-n")      ? intarg(argv[i + 1], 100, 10000000, &N)
		       : !strcmp(f, "-procs")  ? intarg(argv[i + 1], 1, MAX_PROCS, &P)
		       : !strcmp(f, "-hold")   ? intarg(argv[i + 1], 0, 100000, &hold)
		       : !strcmp(f, "-conntrack") ? fracarg(argv[i + 1], &ctLimit)
		       : -1;
		if (ok < 0) {
			fprintf(stderr, "crosscheck: unknown flag %s\n", f);
			return usage(NULL);
		}
		if (!ok) {
			fprintf(stderr, "crosscheck: %s %s: out of range or not a number\n", f, argv[i + 1]);
			return usage(NULL);
		}
	}
	if (i >= argc || (strcmp(argv[i], "pp") && strcmp(argv[i], "churn")))
		return usage("give the mode: pp or churn");
	int churn = !strcmp(argv[i++], "churn");
	int T = argc - i;
	if (T < 1 || T > MAX_TARGETS) return usage("give 1 to 16 targets as NAME=PORT");
	struct target tg[MAX_TARGETS];
	memset(tg, 0, sizeof tg);
	for (int t = 0; t < T; t++, i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i] || !intarg(eq + 1, 1, 65535, &tg[t].port)) {
			fprintf(stderr, "crosscheck: target %s: expected NAME=PORT, PORT 1-65535\n", argv[i]);
			return usage(NULL);
		}
		*eq = '\0';
		tg[t].name = argv[i];
	}
	double *lat = mmap(NULL, sizeof(double) * N, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED) { perror("crosscheck: mmap"); return 1; }

	snprintf(keepName, sizeof keepName, "node1_%d", (int)getpid());
	// The held nodes' connections stay open until the process exits.
	for (int t = 0; t < T; t++) {
		for (int h = 0; h < hold; h++) {
			char name[32];
			snprintf(name, sizeof name, "held%d_%d", (int)getpid(), h);
			alive2(dial(&tg[t], 200 + h % 50), name, &tg[t]);
		}
		tg[t].keep = dial(&tg[t], 1);
		alive2(tg[t].keep, keepName, &tg[t]);
	}

	for (int r = 0, seq = 0; r < rounds; r++) {
		for (int t = 0; t < T; t++) {
			seq++;
			drainConntrack(ctLimit);
			double t0 = now();
			for (int p = 0; p < P; p++) {
				pid_t pid = fork();
				if (pid < 0) { perror("crosscheck: fork"); return 1; }
				if (pid == 0) {
					int src = 2 + p * 40 + seq % 40;
					for (int k = p; k < N; k += P) {
						double s = now();
						one(churn, &tg[t], src, (long)seq * 10000000 + k);
						lat[k] = now() - s;
					}
					_exit(0);
				}
			}
			int failed = 0;
			for (int p = 0; p < P; p++) {
				int st;
				if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) failed = 1;
			}
			if (failed) {
				fprintf(stderr, "crosscheck: a worker failed in round %d on target %s\n", r + 1, tg[t].name);
				return 1;
			}
			tg[t].rate[r] = N / (now() - t0);
			qsort(lat, N, sizeof *lat, cmpd);
			tg[t].p99[r] = lat[N * 99 / 100] * 1e3;
		}
	}

	printf("%s, %d rounds of %d requests from %d processes, %d more nodes held\n",
	       churn ? "churn (connect, ALIVE2, reply, close)" : "PORT_PLEASE2 (connect, request, reply, close)",
	       rounds, N, P, hold);
	double ref = 0;
	for (int t = 0; t < T; t++) {
		qsort(tg[t].rate, rounds, sizeof(double), cmpd);
		qsort(tg[t].p99, rounds, sizeof(double), cmpd);
		double med = tg[t].rate[rounds / 2];
		if (t == 0) ref = med;
		printf("%-10s %8.0f/s  rounds %.0f..%.0f/s  p99 %.2f ms  %.3fx %s\n", tg[t].name, med,
		       tg[t].rate[0], tg[t].rate[rounds - 1], tg[t].p99[rounds / 2], med / ref, tg[0].name);
	}
	return 0;
}
