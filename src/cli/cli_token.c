/*
 * cli_token.c - `jitgate token inspect TOKEN`: explain a capability token.
 *
 * Needs no secret and checks nothing cryptographic (a third party verifies
 * with the JWKS, docs/tokens.md): it decodes the header and claims and says
 * in words what the token allows, for how long, and where it is anchored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/token.h"

/*
 * t (seconds since the epoch) in UTC into out (len >= 2), or "?" when no
 * calendar date stands for it: the token is not verified, its times can be
 * any number.
 */
static void
when(json_int_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		out[0] = '?';
		out[1] = '\0';
	}
}

int
jg_cmd_token(int argc, char **argv)
{
	json_t *hdr = NULL, *p = NULL;
	char a[32], b[32];

	if (argc != 3 || strcmp(argv[1], "inspect") != 0) {
		fprintf(stderr, "usage: jitgate token inspect TOKEN\n");
		return JG_EXIT_USAGE;
	}
	if (jg_token_decode_unverified(argv[2], &hdr, &p) != 0) {
		fprintf(stderr, "jitgate token inspect: not a JWT\n");
		return JG_EXIT_RUNTIME;
	}
	char *h = json_dumps(hdr, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *c = json_dumps(p, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("header:\n%s\nclaims:\n%s\n\n", h ? h : "", c ? c : "");
	free(h);
	free(c);
	json_int_t exp = json_integer_value(json_object_get(p, "exp"));
	json_int_t nbf = json_integer_value(json_object_get(p, "nbf"));
	when(nbf, a, sizeof(a));
	when(exp, b, sizeof(b));
	char *caps = json_dumps(json_object_get(p, "caps"), JSON_COMPACT);
	printf("%s may use %s on service %s from %s until %s (grant %s, token %s).\n",
	       json_string_value(json_object_get(p, "sub")) ?: "?", caps ? caps : "?",
	       json_string_value(json_object_get(p, "aud")) ?: "?", a, b,
	       json_string_value(json_object_get(p, "grant")) ?: "?",
	       json_string_value(json_object_get(p, "jti")) ?: "?");
	printf("Issued by %s, signed with key %s (%s); anchored at audit entry %lld.\n",
	       json_string_value(json_object_get(p, "iss")) ?: "?",
	       json_string_value(json_object_get(hdr, "kid")) ?: "?",
	       json_string_value(json_object_get(hdr, "alg")) ?: "?",
	       (long long)json_integer_value(json_object_get(json_object_get(p, "audit"), "seq")));
	printf("%s\n",
	       exp <= (json_int_t)time(NULL) ? "It has expired." : "It has not expired yet.");
	printf("This explains the token; it does not verify it (use the JWKS at "
	       "<iss>/.well-known/jwks.json, docs/tokens.md).\n");
	free(caps);
	json_decref(hdr);
	json_decref(p);
	return JG_EXIT_OK;
}
