/*
 * fuzz_redact_text.c - the redaction scanners (jg_redact_text, redact.c) on
 * arbitrary bytes, checking what include/jitgate/redact.h promises:
 *   - nothing found <=> the output is the input, byte for byte;
 *   - valid UTF-8 in, valid UTF-8 out (a match never cuts a sequence);
 *   - markers are never matched or eaten by a second pass (each marker
 *     count only grows);
 *   - redacting twice changes nothing, except where the header allows it:
 *     items glued together with no separator.  Here "glued" means some
 *     marker of the first pass is directly preceded or followed by a byte
 *     that is not blank or one of , ; { } < > " ' ! ? | (found: in
 *     "1.2.3.25::1" the failed IPv6 run hides "::1" from the first pass,
 *     the second redacts it; in "+1(483) 554-(515)41666620b@x.com" the
 *     phone glued to the email is only seen once the email is a marker).
 */
#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/redact.h"

static const char *const markers[] = {
    JG_REDACT_MARK_EMAIL, JG_REDACT_MARK_CARD,	JG_REDACT_MARK_PHONE,
    JG_REDACT_MARK_IP,	  JG_REDACT_MARK_TOKEN, JG_REDACT_MARK_JWT,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static int
utf8_valid(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n); /* jansson checks UTF-8 (NULs allowed) */
	json_decref(j);
	return j != NULL;
}

static size_t
count(const char *s, size_t n, const char *needle)
{
	size_t c = 0, m = strlen(needle);
	for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), needle, m)) != NULL; p += m)
		c++;
	return c;
}

static int
separator(unsigned char b)
{
	return b != '\0' && (b == ' ' || b == '\t' || b == '\n' || b == '\r' ||
			     strchr(",;{}<>\"'!?|", b) != NULL);
}

static int
glued(const char *s, size_t n)
{
	for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), "[REDACTED:", 10)) != NULL;
	     p += 10) {
		const char *end = memchr(p, ']', n - (size_t)(p - s));
		if ((p > s && !separator((unsigned char)p[-1])) ||
		    (end != NULL && end + 1 < s + n && !separator((unsigned char)end[1])))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *out = NULL, *again = NULL;
	size_t out_len = 0, again_len = 0;
	unsigned found = 0, found2 = 0;

	int rc = jg_redact_text(size ? in : NULL, size, &out, &out_len, &found);
	if (size > JG_REDACT_MAX_TEXT) {
		FUZZ_CHECK(rc == JG_ETOOBIG && out == NULL);
		return 0;
	}
	FUZZ_CHECK(rc == 0 && out != NULL && out[out_len] == '\0');
	FUZZ_CHECK((found == 0) == (out_len == size && memcmp(out, in, size) == 0));
	FUZZ_CHECK(out_len <= 5 * size + 16);
	if (utf8_valid(in, size))
		FUZZ_CHECK(utf8_valid(out, out_len));

	FUZZ_CHECK(jg_redact_text(out, out_len, &again, &again_len, &found2) == 0);
	for (size_t k = 0; k < sizeof(markers) / sizeof(markers[0]); k++)
		FUZZ_CHECK(count(again, again_len, markers[k]) >= count(out, out_len, markers[k]));
	if (!glued(out, out_len))
		FUZZ_CHECK(found2 == 0 && again_len == out_len && memcmp(again, out, out_len) == 0);
	free(again);
	free(out);
	return 0;
}
