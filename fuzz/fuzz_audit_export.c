/*
 * fuzz_audit_export.c - audit export files as `jitgate audit verify` reads
 * them (jg_audit_verify_export in audit_verify.c: lines, header, signed
 * checkpoint notes, canonical entries, hash links, Merkle frontier, the
 * consistency with an older checkpoint).
 *
 * A checkpoint must verify before anything after it is looked at, so a
 * fuzzer could never get past step 3 of docs/audit-format.md §5.3.  Inputs
 * starting with 'R' are therefore re-signed here with a key made at
 * start-up (origin jitgate.fuzz/audit): the body of the note on the last
 * line, and of the older checkpoint when the input holds one after a line
 * "--old--", is signed again, whatever it says.  Other inputs are
 * verified as they are.
 *
 * Beyond memory safety: the answer is 0 or JG_EVERIFY (with a reason), an
 * export verifies only when re-signed here, and then with a summary.
 */
#include "fuzz_common.h"
#include "jitgate/audit.h"
#include "jitgate/error.h"
#include "jitgate/signed_note.h"

#define ORIGIN	 "jitgate.fuzz/audit"
#define OLD_MARK "\n--old--\n"

static EVP_PKEY *key;
static struct jg_audit_verifiers vs;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    jg_signed_note_verifier_init(&vs.v[0], ORIGIN, key) != 0)
		abort();
	vs.n = 1;
	return 0;
}

/* note (len bytes) with its signatures replaced by ours; NULL when it has no body to sign. */
static char *
resign(const char *note, size_t len, size_t *out_len)
{
	const char *blank = memmem(note, len, "\n\n", 2);
	char *out = NULL;
	if (blank == NULL ||
	    jg_signed_note_sign(note, (size_t)(blank - note) + 1, ORIGIN, key, &out, out_len) != 0)
		return NULL;
	return out;
}

/* The export with the note of its last line re-signed (caller frees), or NULL. */
static char *
resign_export(const char *buf, size_t len, size_t *out_len)
{
	if (len < 2 || buf[len - 1] != '\n')
		return NULL;
	const char *start = buf + len - 1;
	while (start > buf && start[-1] != '\n')
		start--;
	json_t *line = json_loadb(start, (size_t)(buf + len - 1 - start), 0, NULL);
	json_t *cp = json_object_get(line, "checkpoint");
	size_t nlen = 0;
	char *note = json_is_string(cp)
			 ? resign(json_string_value(cp), json_string_length(cp), &nlen)
			 : NULL;
	json_t *obj = note ? json_pack("{s:s%}", "checkpoint", note, nlen) : NULL;
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	char *out = NULL;
	if (text != NULL) {
		size_t head = (size_t)(start - buf), tl = strlen(text);
		out = malloc(head + tl + 2);
		if (out == NULL)
			abort();
		memcpy(out, buf, head);
		memcpy(out + head, text, tl + 1);
		out[head + tl] = '\n'; /* in place of text's NUL */
		out[head + tl + 1] = '\0';
		*out_len = head + tl + 1;
	}
	free(text);
	free(note);
	json_decref(line);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t len = size, old_len = 0;
	const char *old = NULL;
	char *fresh = NULL, *fresh_old = NULL;
	int resigned = 0;

	if (size > 0 && data[0] == 'R') {
		buf++;
		len--;
		const char *mark = memmem(buf, len, OLD_MARK, strlen(OLD_MARK));
		if (mark != NULL) {
			old = mark + strlen(OLD_MARK);
			old_len = len - (size_t)(old - buf);
			len = (size_t)(mark - buf) + 1; /* the export keeps its final LF */
			fresh_old = resign(old, old_len, &old_len);
			old = fresh_old;
		}
		size_t flen = 0;
		if ((fresh = resign_export(buf, len, &flen)) != NULL) {
			buf = fresh;
			len = flen;
			resigned = 1;
		}
	}
	char summary[512] = "";
	struct jg_chain_fault fault;
	memset(&fault, 0, sizeof(fault));
	int rc = jg_audit_verify_export(buf, len, &vs, old, old ? old_len : 0, 1 + (int)(size & 1),
					summary, sizeof(summary), &fault);
	if (getenv("FUZZ_VERBOSE")) /* to see why a seed stops where it does */
		fprintf(stderr, "verify: rc=%d resigned=%d %s %s\n", rc, resigned, summary,
			rc ? fault.why : "");
	if (rc == 0) {
		FUZZ_CHECK(resigned && summary[0] != '\0');
	} else {
		FUZZ_CHECK(rc == JG_EVERIFY && fault.why[0] != '\0');
	}
	free(fresh);
	free(fresh_old);
	return 0;
}
