/*
 * agent_costly.c - drives libjitgate-agent for the CPU guard test of
 * tests/e2e/probes-agent.test.mjs: a probe that is really dear, stopped by
 * the agent and reported to jitgate through the real call.
 *
 *   agent_costly BASE_URL SERVICE KEY_FILE CA_FILE DEAR_FUNCTION CHEAP_FUNCTION
 *
 * Waits (up to 10 s) until two probes are installed, then calls both
 * functions in a loop for at most 10 s: DEAR_FUNCTION's args carry a 1 MiB
 * string that its probe's condition ("contains") scans on every call, so
 * the probe costs far more than its max_cpu_ms_per_second; CHEAP_FUNCTION,
 * called about once a millisecond, has one integer.  The loop ends once the agent has stopped the
 * dear probe and jitgate has answered its report (cpu_reported), plus a further second of calls to
 * show the cheap probe still captures and the stopped one no longer costs anything.  Then stops the
 * agent and prints its counters and the calls made as one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "jitgate-agent.h"

#define DEAR_BYTES (1024 * 1024)

static double
seconds_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char key[256];
	struct jga_stats st;

	if (argc != 7 || driver_read_key(argv[3], key, sizeof(key)) != 0) {
		fprintf(stderr,
			"usage: agent_costly BASE_URL SERVICE KEY_FILE CA_FILE DEAR_FUNCTION "
			"CHEAP_FUNCTION\n");
		return 2;
	}
	char *big = malloc(DEAR_BYTES + 1);
	if (big == NULL)
		return 1;
	memset(big, 'a', DEAR_BYTES);
	big[DEAR_BYTES] = '\0';
	json_t *dear = json_pack("{s:s}", "note", big);
	free(big);
	struct jga_agent *a = jga_new(argv[1], argv[2], key, argv[4]);
	if (dear == NULL || a == NULL)
		return 1;

	int installed = 0;
	for (int i = 0; i < 100 && !installed; i++) {
		jga_stats(a, &st);
		installed = st.installed >= 2;
		if (!installed)
			usleep(100 * 1000);
	}

	unsigned long long dear_calls = 0, cheap_calls = 0;
	double start = seconds_now(), reported_at = 0, cheap_at = 0;
	while (installed && seconds_now() - start < 10) {
		jga_hit(a, argv[5], dear, NULL);
		dear_calls++;
		/*
		 * The cheap function is called about once a millisecond: every call
		 * of a probed function is charged, so one called in this loop's
		 * tight pace would cost its probe more than its limit too.
		 */
		double now = seconds_now();
		if (now - cheap_at >= 0.001) {
			json_t *cheap = json_pack("{s:I}", "n", (json_int_t)cheap_calls);
			jga_hit(a, argv[6], cheap, NULL);
			json_decref(cheap);
			cheap_calls++;
			cheap_at = now;
		}
		jga_stats(a, &st);
		if (reported_at == 0 && st.cpu_reported > 0)
			reported_at = seconds_now();
		if (reported_at != 0 && seconds_now() - reported_at > 1)
			break;
	}
	jga_stop(a);
	jga_stats(a, &st);
	printf("{\"installed_seen\":%s,\"dear_calls\":%llu,\"cheap_calls\":%llu,"
	       "\"cpu_disabled\":%llu,\"cpu_reported\":%llu,\"reports_failed\":%llu,"
	       "\"matched\":%llu,\"captured\":%llu,\"posted\":%llu}\n",
	       installed ? "true" : "false", dear_calls, cheap_calls,
	       (unsigned long long)st.cpu_disabled, (unsigned long long)st.cpu_reported,
	       (unsigned long long)st.reports_failed, (unsigned long long)st.matched,
	       (unsigned long long)st.captured, (unsigned long long)st.posted);
	json_decref(dear);
	jga_free(a);
	return 0;
}
