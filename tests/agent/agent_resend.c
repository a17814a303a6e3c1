/*
 * agent_resend.c - drives libjitgate-agent for tests/e2e/probes-agent.test.mjs.
 *
 *   agent_resend BASE_URL SERVICE KEY_FILE CA_FILE FUNCTION
 *
 * Waits (up to 10 s) until a probe on FUNCTION is installed, then records
 * three calls: n=1, then one whose args nest 40 levels deep (jitgate would
 * refuse such an event whole; the agent cuts it at the probe's max_depth
 * and names the cut in "truncated"), then n=3; stops the agent (one last
 * flush) and prints its counters as one JSON line.  All three must arrive.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "jitgate-agent.h"

int
main(int argc, char **argv)
{
	char key[256];
	struct jga_stats st;

	if (argc != 6 || driver_read_key(argv[3], key, sizeof(key)) != 0) {
		fprintf(stderr, "usage: agent_resend BASE_URL SERVICE KEY_FILE CA_FILE FUNCTION\n");
		return 2;
	}
	struct jga_agent *a = jga_new(argv[1], argv[2], key, argv[4]);
	if (a == NULL)
		return 1;
	int installed = 0;
	for (int i = 0; i < 100 && !installed; i++) {
		jga_stats(a, &st);
		installed = st.installed > 0;
		if (!installed)
			usleep(100 * 1000);
	}

	json_t *deep = json_integer(0);
	for (int i = 0; i < 40; i++)
		deep = json_pack("{s:o}", "d", deep);
	json_t *calls[3] = {json_pack("{s:i}", "n", 1), json_pack("{s:i,s:o}", "n", 2, "x", deep),
			    json_pack("{s:i}", "n", 3)};
	for (int i = 0; i < 3; i++) {
		jga_hit(a, argv[5], calls[i], NULL);
		json_decref(calls[i]);
	}
	jga_stop(a);
	jga_stats(a, &st);
	printf("{\"installed_seen\":%s,\"posted\":%llu,\"dropped\":%llu,\"truncated\":%llu}\n",
	       installed ? "true" : "false", (unsigned long long)st.posted,
	       (unsigned long long)st.dropped, (unsigned long long)st.truncated);
	jga_free(a);
	return 0;
}
