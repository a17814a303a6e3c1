/*
 * payments_demo.c - a demo service for the reference agent.
 *
 *   payments_demo BASE_URL SERVICE KEY_FILE CA_FILE [CALLS_PER_SECOND [SECONDS]]
 *
 * Calls an instrumented PaymentProcessor.selectProvider(amount, currency,
 * customer_email) CALLS_PER_SECOND times a second (default 50) for SECONDS
 * (default 5), with amounts uniform in 1..5000 and a fake email, then stops
 * the agent (one last flush) and prints its counters as one JSON line on
 * stdout.  The ingest key is read from KEY_FILE (never argv); CA_FILE may
 * be "-" for the system store.  The agent names itself in its probe status
 * reports after JG_AGENT_INSTANCE when it is set (the service's own
 * configuration), else "<host>:<pid>".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "jitgate-agent.h"

#define FUNCTION "PaymentProcessor.selectProvider"

static long
number(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "payments_demo: %s must be %ld..%ld\n", what, lo, hi);
		exit(2);
	}
	return v;
}

/* Reads the key file (at most 256 bytes, trailing newline cut). */
static int
read_key(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, out, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static uint32_t
rnd32(void)
{
	uint32_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) {
		/* not on a working system: stop rather than fall back to rand() */
		fprintf(stderr, "payments_demo: RAND_bytes failed\n");
		exit(1);
	}
	return r;
}

/*
 * The instrumented function: the agent sees its arguments on entry.  The
 * argument JSON is built only while a probe is installed (jga_enabled), so
 * an unprobed call costs one atomic load.
 */
static const char *
select_provider(struct jga_agent *agent, long amount, const char *currency, const char *email)
{
	const char *provider =
	    amount > 2500 ? "adyen" : (strcmp(currency, "USD") == 0 ? "stripe" : "mollie");
	if (!jga_enabled(agent, FUNCTION))
		return provider;
	json_t *args = json_pack("{s:I,s:s,s:s}", "amount", (json_int_t)amount, "currency",
				 currency, "customer_email", email);
	json_t *ret = json_string(provider);
	if (args != NULL)
		(void)jga_hit(agent, FUNCTION, args, ret);
	json_decref(args);
	json_decref(ret);
	return provider;
}

int
main(int argc, char **argv)
{
	static const char *currencies[] = {"EUR", "USD", "GBP"};
	char key[257];

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: payments_demo BASE_URL SERVICE KEY_FILE CA_FILE "
				"[CALLS_PER_SECOND [SECONDS]]\n");
		return 2;
	}
	long rate = argc > 5 ? number(argv[5], 1, 10000, "CALLS_PER_SECOND") : 50;
	long seconds = argc > 6 ? number(argv[6], 1, 86400, "SECONDS") : 5;
	if (read_key(argv[3], key, sizeof key) != 0) {
		fprintf(stderr, "payments_demo: cannot read the key file\n");
		return 1;
	}
	const char *instance = getenv("JG_AGENT_INSTANCE");
	struct jga_agent *agent =
	    jga_new_instance(argv[1], argv[2], key, strcmp(argv[4], "-") == 0 ? NULL : argv[4],
			     instance != NULL && *instance != '\0' ? instance : NULL);
	explicit_bzero(key, sizeof key);
	if (agent == NULL) {
		fprintf(stderr, "payments_demo: cannot start the agent\n");
		return 1;
	}

	long total = rate * seconds, calls = 0, over = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < total; i++) {
		/* call i is due at start + i/rate */
		long long due_ns = (long long)i * 1000000000LL / rate;
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long el = (long long)(now.tv_sec - start.tv_sec) * 1000000000LL +
				       (now.tv_nsec - start.tv_nsec);
			if (el >= due_ns)
				break;
			long long d = due_ns - el;
			struct timespec ts = {(time_t)(d / 1000000000LL), (long)(d % 1000000000LL)};
			nanosleep(&ts, NULL);
		}
		long amount = 1 + (long)(rnd32() % 5000);
		char email[64];
		snprintf(email, sizeof email, "customer%u@example.com", rnd32() % 100000);
		select_provider(agent, amount, currencies[rnd32() % 3], email);
		calls++;
		if (amount > 1000)
			over++;
	}

	struct jga_stats st;
	jga_stop(agent); /* one last flush */
	jga_stats(agent, &st);
	jga_free(agent);
	printf("{\"calls\":%ld,\"over_1000\":%ld,\"matched\":%" PRIu64 ",\"captured\":%" PRIu64
	       ",\"posted\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"polls_ok\":%" PRIu64
	       ",\"polls_failed\":%" PRIu64 ",\"skipped_rate\":%" PRIu64
	       ",\"skipped_max_hits\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"oversize\":%" PRIu64
	       ",\"cpu_disabled\":%" PRIu64 ",\"status_sent\":%" PRIu64
	       ",\"status_failed\":%" PRIu64 "}\n",
	       calls, over, st.matched, st.captured, st.posted, st.dropped, st.polls_ok,
	       st.polls_failed, st.skipped_rate, st.skipped_max_hits, st.truncated, st.oversize,
	       st.cpu_disabled, st.status_sent, st.status_failed);
	return 0;
}
