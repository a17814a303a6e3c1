/*
 * fuzz_witness_request.c - the body of a witness's POST /add-checkpoint
 * (witness.c: the old-size line, the proof lines, the note, then the
 * compare-and-store on a real SQLite state file).
 *
 * The first byte picks the form: 'S' signs the rest's note text with the
 * log's key (so inputs reach the stateful checks: "old N\n", proof lines,
 * "\n", then a checkpoint body the target signs); anything else is the body
 * as is.  Beyond memory safety: every answer is one of the spec's statuses;
 * a 200 is one cosignature line that verifies over the note's text with the
 * witness's key, and the checkpoint held is then the one submitted; a 409's
 * body is a decimal size and a newline; any other answer leaves what the
 * witness holds unchanged.
 */
#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/signed_note.h"
#include "jitgate/witness.h"

#define ORIGIN "fuzz.example/log"

static struct jg_witness *witness;
static EVP_PKEY *log_key;
static struct jg_note_verifier cosigner;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jg_witness_log log = {0};
	char path[512], err[256];
	EVP_PKEY *wkey;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	log_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	wkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	snprintf(log.origin, sizeof(log.origin), "%s", ORIGIN);
	log.n_keys = 1;
	snprintf(path, sizeof(path), "%s/witness.db", fuzz_tmpdir());
	if (log_key == NULL || wkey == NULL ||
	    jg_signed_note_verifier_init(&log.keys[0], ORIGIN, log_key) != 0 ||
	    jg_signed_note_cosigner_init(&cosigner, "fuzz.example/w", wkey) != 0 ||
	    jg_witness_open("fuzz.example/w", wkey, path, &log, 1, &witness, err, sizeof(err)) != 0)
		abort();
	return 0;
}

/* "old ...\n\n" + text -> the same with text signed as a note by the log's key. */
static char *
signed_form(const char *in, size_t len, size_t *out_len)
{
	const char *blank = NULL;
	char *note = NULL, *out;
	size_t note_len;

	for (size_t i = 0; i + 1 < len; i++)
		if (in[i] == '\n' && in[i + 1] == '\n') {
			blank = in + i + 2;
			break;
		}
	if (blank == NULL || jg_signed_note_sign(blank, len - (size_t)(blank - in), ORIGIN, log_key,
						 &note, &note_len) != 0)
		return NULL;
	*out_len = (size_t)(blank - in) + note_len;
	if ((out = malloc(*out_len + 1)) == NULL)
		abort();
	memcpy(out, in, (size_t)(blank - in));
	memcpy(out + (blank - in), note, note_len + 1);
	free(note);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jg_witness_answer ans;
	char *body = NULL, *before = NULL, *after = NULL;
	size_t len = 0, blen = 0, alen = 0;

	if (size > 0 && data[0] == 'S') {
		char *raw = fuzz_cstr(data + 1, size - 1);
		body = signed_form(raw, size - 1, &len);
		free(raw);
		if (body == NULL)
			return 0;
	} else {
		body = fuzz_cstr(data, size);
		len = size;
	}
	int had = jg_witness_latest(witness, ORIGIN, &before, &blen);
	int rc = jg_witness_add_checkpoint(witness, body, len, 1700000000, &ans);
	FUZZ_CHECK(rc == 0); /* the state file is healthy: every input gets an answer */
	FUZZ_CHECK(ans.status == 200 || ans.status == 400 || ans.status == 403 ||
		   ans.status == 404 || ans.status == 409 || ans.status == 422);
	int has = jg_witness_latest(witness, ORIGIN, &after, &alen);
	if (ans.status == 200) {
		struct jg_signed_note *note = NULL;
		uint64_t t;
		FUZZ_CHECK(ans.body != NULL && ans.body_len > 0 &&
			   ans.body[ans.body_len - 1] == '\n');
		FUZZ_CHECK(has == 0 && jg_signed_note_parse(after, alen, &note) == 0);
		FUZZ_CHECK(jg_signed_note_verify_time(note, &cosigner, &t) == 0 && t == 1700000000);
		jg_signed_note_free(note);
	} else {
		FUZZ_CHECK(had == has);
		FUZZ_CHECK(had != 0 || (blen == alen && memcmp(before, after, blen) == 0));
		if (ans.status == 409)
			FUZZ_CHECK(ans.body != NULL && ans.body_len >= 2 &&
				   strspn(ans.body, "0123456789") == ans.body_len - 1 &&
				   ans.body[ans.body_len - 1] == '\n');
	}
	free(ans.body);
	free(before);
	free(after);
	free(body);
	return 0;
}
