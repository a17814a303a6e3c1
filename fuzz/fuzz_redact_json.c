/*
 * fuzz_redact_json.c - jg_redact_json (redact.c) on any JSON document, with
 * the sensitive keys api_agents.c uses, checking redact.h's contract:
 *   - it fails only for nesting deeper than JG_REDACT_MAX_DEPTH, a string
 *     longer than JG_REDACT_MAX_TEXT, or a top-level card number (an
 *     integer, or a real: one whose value is exact, below 2^53, is judged
 *     here; one beyond may stand for a card, redact.h);
 *   - after success the document still encodes (every string valid UTF-8),
 *     every sensitive key's value is the field marker, no integer and no
 *     integral real below 2^53 left is a 13-19 digit Luhn number, and
 *     JG_REDACT_FIELD is reported exactly when a sensitive key was there.
 */
#include <inttypes.h>
#include <strings.h>

#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/redact.h"

static const char *const sensitive[] = {"password", "secret", "token",	     "authorization",
					"cookie",   "ssn",    "card_number", "iban"};
#define NSENSITIVE (sizeof(sensitive) / sizeof(sensitive[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static int
is_sensitive(const char *key)
{
	for (size_t i = 0; i < NSENSITIVE; i++)
		if (strcasecmp(key, sensitive[i]) == 0)
			return 1;
	return 0;
}

static int
card_int(json_t *v)
{
	char digits[32];
	if (!json_is_integer(v))
		return 0;
	json_int_t x = json_integer_value(v);
	uint64_t a = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, a);
	return n >= 13 && n <= 19 && jg_redact_luhn(digits, (size_t)n);
}

/* A real whose value is an integer below 2^53 (exact) with 13-19 digits passing Luhn. */
static int
card_real(json_t *v)
{
	char digits[32];
	if (!json_is_real(v))
		return 0;
	double a = json_real_value(v);
	a = a < 0 ? -a : a;
	if (!(a < 9007199254740992.0) || a != (double)(uint64_t)a)
		return 0;
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, (uint64_t)a);
	return n >= 13 && n <= 19 && jg_redact_luhn(digits, (size_t)n);
}

/* A real beyond 2^53, integral and below 1e19: it may stand for a card (redact.h). */
static int
big_real(json_t *v)
{
	double a = json_is_real(v) ? json_real_value(v) : 0;
	a = a < 0 ? -a : a;
	return a >= 9007199254740992.0 && a < 1e19;
}

struct facts {
	size_t depth;
	int long_string, has_sensitive;
};

/* Walks v (depth d for containers): what the contract's failure cases depend on. */
static void
survey(json_t *v, size_t d, struct facts *f)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_string(v) && json_string_length(v) > JG_REDACT_MAX_TEXT)
		f->long_string = 1;
	if (!json_is_object(v) && !json_is_array(v))
		return;
	if (d > f->depth)
		f->depth = d;
	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			if (is_sensitive(k))
				f->has_sensitive = 1;
			else
				survey(c, d + 1, f);
		}
	} else {
		json_array_foreach(v, i, c) survey(c, d + 1, f);
	}
}

/* After success: the promises on what is left. */
static void
check(json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	FUZZ_CHECK(!card_int(v) && !card_real(v));
	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			if (is_sensitive(k))
				FUZZ_CHECK(json_is_string(c) &&
					   strcmp(json_string_value(c), JG_REDACT_MARK_FIELD) == 0);
			else
				check(c);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) check(c);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct facts f = {0};
	unsigned found = 0;

	if (doc == NULL)
		return 0;
	survey(doc, 1, &f);
	int rc = jg_redact_json(doc, sensitive, NSENSITIVE, &found);
	if (rc != 0) {
		FUZZ_CHECK(found == 0);
		FUZZ_CHECK((rc == JG_ETOOBIG && (f.depth > JG_REDACT_MAX_DEPTH || f.long_string)) ||
			   (rc == JG_EINVAL && (card_int(doc) || card_real(doc) || big_real(doc))));
	} else {
		char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
		FUZZ_CHECK(text != NULL);
		free(text);
		check(doc);
		FUZZ_CHECK(((found & JG_REDACT_FIELD) != 0) == (f.has_sensitive != 0));
	}
	json_decref(doc);
	return 0;
}
