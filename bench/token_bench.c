/*
 * token_bench.c - capability-token verifications per second (bench/tokens.sh).
 *
 *   token_bench KEY_DIR SECONDS
 *
 * Issues 10,000 distinct tokens with the newest token key of KEY_DIR, then
 * verifies them round-robin for SECONDS on one thread (no cache: every
 * verification parses the header, checks the ES256 signature with EVP and
 * every claim).  Prints "token_verifications_per_s N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/token.h"
#include "bench_args.h"

#define NTOKENS 10000

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct jg_token_keys *keys;
	char err[512], why[256];
	static char *tokens[NTOKENS];

	if (argc != 3) {
		fprintf(stderr, "usage: token_bench KEY_DIR SECONDS\n");
		return 2;
	}
	if (jg_token_keys_load(argv[1], &keys, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int64_t t0 = (int64_t)time(NULL);
	for (int i = 0; i < NTOKENS; i++) {
		struct jg_token_claims c = {
		    .iat = t0, .nbf = t0, .exp = t0 + 3600, .ncaps = 1, .audit_seq = (uint64_t)i};
		snprintf(c.iss, sizeof(c.iss), "https://jitgate.example.com");
		snprintf(c.sub, sizeof(c.sub), "alice");
		snprintf(c.aud, sizeof(c.aud), "payment-gateway");
		snprintf(c.jti, sizeof(c.jti), "tok_%08d", i);
		snprintf(c.grant, sizeof(c.grant), "req_bench");
		snprintf(c.caps[0], sizeof(c.caps[0]), "read-logs");
		if (jg_token_issue(keys, &c, &tokens[i]) != 0) {
			fprintf(stderr, "issue failed\n");
			return 1;
		}
	}
	double start = now(), until = start + bench_seconds(argv[2], 3600);
	unsigned long n = 0;
	while (now() < until) {
		for (int i = 0; i < 100; i++, n++) {
			struct jg_token_claims c;
			if (jg_token_verify(keys, tokens[n % NTOKENS],
					    "https://jitgate.example.com", "payment-gateway", t0,
					    &c, why, sizeof(why)) != 0) {
				fprintf(stderr, "verify failed: %s\n", why);
				return 1;
			}
		}
	}
	printf("token_verifications_per_s %.0f\n", (double)n / (now() - start));
	for (int i = 0; i < NTOKENS; i++)
		free(tokens[i]);
	jg_token_keys_free(keys);
	return 0;
}
