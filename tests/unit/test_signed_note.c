/*
 * test_signed_note.c - unit tests for src/signed_note.c.
 *
 * Golden vectors come from two independent implementations: the
 * PeterNeumann / EnochRoot keys, note and signatures of Go's
 * golang.org/x/mod/sumdb/note tests, and a checkpoint signed with the
 * fixed seed 00 01 .. 1f by Python's cryptography package (Ed25519 is
 * deterministic, so the note text is exact).  Around them: round trips
 * with fresh keys, tampering, foreign and forged signatures, and a long
 * list of malformed notes, checkpoints and key strings.  The cosignature
 * (type 0x04) vector was made with node:crypto from the seed 07 07 .. 07,
 * over the checkpoint of the tlog-cosignature spec's example at its time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/signed_note.h"

#define DASH "\xe2\x80\x94 "

/* From golang.org/x/mod/sumdb/note note_test.go. */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_EKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define GO_TEXT                                                                                    \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define GO_PB64_HEAD                                                                               \
	"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJ"
#define GO_PB64 GO_PB64_HEAD "nAM="
#define GO_PSIG DASH "PeterNeumann " GO_PB64 "\n"
#define GO_ESIG                                                                                    \
	DASH "EnochRoot "                                                                          \
	     "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"                                        \
	     "5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

/* Checkpoint signed by Python cryptography with seed 00..1f; root = RFC 6962 8-leaf root. */
#define CP_NAME "jitgate.example/audit"
#define CP_SKEY                                                                                    \
	"PRIVATE+KEY+jitgate.example/audit+27e210a6+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
#define CP_VKEY "jitgate.example/audit+27e210a6+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
#define CP_BODY "jitgate.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
#define CP_NOTE                                                                                    \
	CP_BODY "\n" DASH "jitgate.example/audit "                                                 \
		"J+IQpk2fMGiphmFtJwrFPIW3RJnQWme+lDZ7MLu0V/"                                       \
		"zjej7dDm96vtbt5ZQDbsQrvFTP3QdZwznCvBXDqCLn2tQPXgY=\n"

/* tlog-cosignature v1.0.1's example, cosigned by node:crypto with the seed 07 x 32. */
#define CO_NAME "witness.example/w"
#define CO_SKEY                                                                                    \
	"PRIVATE+KEY+witness.example/w+83755ab3+BAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"
#define CO_VKEY "witness.example/w+83755ab3+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
#define CO_BODY                                                                                    \
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define CO_TIME 1679315147
#define CO_LINE                                                                                    \
	DASH "witness.example/w "                                                                  \
	     "g3VaswAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/"          \
	     "ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n"

static const uint8_t root8[32] = {
    0x5d, 0xc9, 0xda, 0x79, 0xa7, 0x06, 0x59, 0xa9, 0xad, 0x55, 0x9c, 0xb7, 0x01, 0xde, 0xd9, 0xa2,
    0xab, 0x9d, 0x82, 0x3a, 0xad, 0x2f, 0x49, 0x60, 0xcf, 0xe3, 0x70, 0xef, 0xf4, 0x60, 0x43, 0x28,
};

/* Two fresh keys for the round-trip tests. */
struct keys {
	EVP_PKEY *a, *b;
	struct jg_note_verifier va, vb;
};

static int
keys_teardown(void **state)
{
	struct keys *k = *state;

	if (k != NULL) {
		EVP_PKEY_free(k->a);
		EVP_PKEY_free(k->b);
		free(k);
	}
	*state = NULL;
	return 0;
}

static int
keys_setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	*state = k;
	if (k == NULL || (k->a = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (k->b = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    jg_signed_note_verifier_init(&k->va, "a.example/log", k->a) != 0 ||
	    jg_signed_note_verifier_init(&k->vb, "b.example/log", k->b) != 0) {
		keys_teardown(state);
		return -1;
	}
	return 0;
}

/* Parses and verifies s against v; the note is freed.  Returns the first error. */
static int
parse_verify(const char *s, size_t len, const struct jg_note_verifier *v)
{
	struct jg_signed_note *note;
	int rc;

	if ((rc = jg_signed_note_parse(s, len, &note)) != 0)
		return rc;
	rc = jg_signed_note_verify(note, v);
	jg_signed_note_free(note);
	return rc;
}

static int
parse_verify_str(const char *s, const struct jg_note_verifier *v)
{
	return parse_verify(s, strlen(s), v);
}

/* Signs text with key under name, returning a new string (asserts success). */
static char *
sign(const char *text, const char *name, EVP_PKEY *key)
{
	char *note = NULL;
	size_t len;

	assert_int_equal(jg_signed_note_sign(text, strlen(text), name, key, &note, &len), 0);
	assert_int_equal(strlen(note), len);
	return note;
}

/* The signature line of a note made by sign(). */
static const char *
sig_line(const char *note)
{
	const char *p = strstr(note, "\n\n" DASH);

	assert_non_null(p);
	return p + 2;
}

static void
test_signed_note_key_id_golden(void **state)
{
	struct jg_note_verifier v;
	uint32_t id;

	(void)state;
	assert_int_equal(jg_signed_note_verifier_parse(GO_VKEY, &v), 0);
	assert_int_equal(jg_signed_note_key_id("PeterNeumann", v.pub, &id), 0);
	assert_int_equal(id, 0xc74f20a3);
	assert_int_equal(jg_signed_note_key_id("Peter Neumann", v.pub, &id), JG_EINVAL);
	assert_int_equal(jg_signed_note_key_id("", v.pub, &id), JG_EINVAL);
}

/* Go's signer key signs Go's text into Go's exact note. */
static void
test_signed_note_sign_golden_go(void **state)
{
	struct jg_note_verifier v, w;
	char name[JG_NOTE_MAX_NAME + 1], *note, *s;
	EVP_PKEY *key;

	(void)state;
	assert_int_equal(jg_signed_note_signer_parse(GO_SKEY, name, &key), 0);
	assert_string_equal(name, "PeterNeumann");
	note = sign(GO_TEXT, name, key);
	assert_string_equal(note, GO_TEXT "\n" GO_PSIG);

	/* The verifier key derived from the signer is Go's verifier key. */
	assert_int_equal(jg_signed_note_verifier_init(&v, name, key), 0);
	assert_int_equal(jg_signed_note_verifier_format(&v, &s), 0);
	assert_string_equal(s, GO_VKEY);
	assert_int_equal(jg_signed_note_verifier_parse(GO_VKEY, &w), 0);
	assert_memory_equal(&v, &w, sizeof(v));
	assert_int_equal(parse_verify_str(note, &w), 0);
	free(s);
	free(note);
	EVP_PKEY_free(key);
}

/* Go's two-signature note: each key verifies its own line and ignores the other. */
static void
test_signed_note_verify_golden_go(void **state)
{
	const char *both = GO_TEXT "\n" GO_PSIG GO_ESIG;
	/* Go's "invalid signature" case: four characters spliced into Peter's signature. */
	char spliced[sizeof(GO_TEXT "\n" GO_PSIG) + 4];
	struct jg_note_verifier peter, enoch;
	struct jg_signed_note *note;
	size_t cut = strlen(GO_TEXT "\n") + 60;

	(void)state;
	assert_int_equal(jg_signed_note_verifier_parse(GO_VKEY, &peter), 0);
	assert_int_equal(jg_signed_note_verifier_parse(GO_EKEY, &enoch), 0);
	assert_int_equal(jg_signed_note_parse(both, strlen(both), &note), 0);
	assert_int_equal(note->text_len, strlen(GO_TEXT));
	assert_string_equal(note->text, GO_TEXT);
	assert_int_equal(note->n_sigs, 2);
	assert_string_equal(note->sigs[0].name, "PeterNeumann");
	assert_int_equal(note->sigs[0].key_id, 0xc74f20a3);
	assert_int_equal(note->sigs[0].sig_len, 64);
	assert_string_equal(note->sigs[1].name, "EnochRoot");
	assert_int_equal(note->sigs[1].key_id, 0xaf0cfe78);
	assert_int_equal(jg_signed_note_verify(note, &peter), 0);
	assert_int_equal(jg_signed_note_verify(note, &enoch), 0);
	jg_signed_note_free(note);

	snprintf(spliced, sizeof(spliced), "%.*sABCD%s", (int)cut, GO_TEXT "\n" GO_PSIG,
		 (GO_TEXT "\n" GO_PSIG) + cut);
	assert_int_equal(parse_verify_str(spliced, &peter), JG_EVERIFY);
	/* Repeated lines are fine. */
	assert_int_equal(parse_verify_str(GO_TEXT "\n" GO_PSIG GO_PSIG GO_ESIG GO_ESIG, &peter), 0);
}

/* The fixed-seed checkpoint: exact body, exact note, exact key strings. */
static void
test_signed_note_sign_golden_checkpoint(void **state)
{
	struct jg_note_verifier v;
	struct jg_checkpoint cp;
	char name[JG_NOTE_MAX_NAME + 1], *body, *note, *s;
	size_t len;
	EVP_PKEY *key;

	(void)state;
	assert_int_equal(jg_signed_note_checkpoint_body(CP_NAME, 8, root8, &body, &len), 0);
	assert_string_equal(body, CP_BODY);
	assert_int_equal(len, strlen(CP_BODY));
	assert_int_equal(jg_signed_note_signer_parse(CP_SKEY, name, &key), 0);
	assert_string_equal(name, CP_NAME);
	note = sign(body, name, key);
	assert_string_equal(note, CP_NOTE);
	assert_int_equal(jg_signed_note_verifier_init(&v, name, key), 0);
	assert_int_equal(jg_signed_note_verifier_format(&v, &s), 0);
	assert_string_equal(s, CP_VKEY);

	assert_int_equal(jg_signed_note_open_checkpoint(CP_NOTE, strlen(CP_NOTE), &v, &cp), 0);
	assert_string_equal(cp.origin, CP_NAME);
	assert_int_equal(cp.size, 8);
	assert_memory_equal(cp.root, root8, 32);
	free(s);
	free(note);
	free(body);
	EVP_PKEY_free(key);
}

static void
test_signed_note_sign_roundtrip(void **state)
{
	struct keys *k = *state;
	struct jg_checkpoint cp;
	uint8_t root[32];
	char *body, *note;
	size_t len;

	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(
	    jg_signed_note_checkpoint_body("a.example/log", UINT64_MAX, root, &body, &len), 0);
	note = sign(body, "a.example/log", k->a);
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &k->va, &cp), 0);
	assert_string_equal(cp.origin, "a.example/log");
	assert_int_equal(cp.size, UINT64_MAX);
	assert_memory_equal(cp.root, root, 32);
	/* Another key's verifier finds nothing it knows. */
	assert_int_equal(jg_signed_note_open_checkpoint(note, strlen(note), &k->vb, &cp),
			 JG_EVERIFY);
	free(note);
	free(body);

	/* Any text, empty lines included. */
	note = sign("\n\nx\n\n", "a.example/log", k->a);
	assert_int_equal(parse_verify_str(note, &k->va), 0);
	free(note);
}

/* Changing any part of the body breaks the signature. */
static void
test_signed_note_verify_tampered(void **state)
{
	struct keys *k = *state;
	static const char *const edits[][2] = {
	    {"\n8\n", "\n9\n"},		/* size */
	    {"\nXcna", "\nYcna"},	/* root */
	    {"audit\n8", "audiT\n8"},	/* origin */
	    {"Qyg=\n\n", "Qyg=\n\n\n"}, /* an extra blank line in the text */
	};
	struct jg_checkpoint cp;
	char *body, *note, *bad;
	size_t len;

	assert_int_equal(jg_signed_note_checkpoint_body(CP_NAME, 8, root8, &body, &len), 0);
	note = sign(body, "a.example/log", k->a);
	assert_int_equal(parse_verify_str(note, &k->va), 0);
	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		char *at = strstr(note, edits[e][0]);

		assert_non_null(at);
		assert_true(asprintf(&bad, "%.*s%s%s", (int)(at - note), note, edits[e][1],
				     at + strlen(edits[e][0])) > 0);
		assert_int_equal(parse_verify_str(bad, &k->va), JG_EVERIFY);
		assert_int_not_equal(jg_signed_note_open_checkpoint(bad, strlen(bad), &k->va, &cp),
				     0);
		free(bad);
	}
	/* Every byte of the signature line after the name matters. */
	len = strlen(note);
	for (size_t i = len - 93; i < len - 1; i++) {
		char c = note[i];

		note[i] = c == 'A' ? 'B' : 'A';
		assert_int_not_equal(parse_verify_str(note, &k->va), 0);
		note[i] = c;
	}
	assert_int_equal(parse_verify_str(note, &k->va), 0);
	free(note);
	free(body);
}

/* Foreign signatures are ignored; a failing one under our name and ID refuses the note. */
static void
test_signed_note_verify_other_key(void **state)
{
	struct keys *k = *state;
	struct jg_note_verifier forged, vc;
	char *na, *nb, *nc, *both, *bad;
	EVP_PKEY *c;

	na = sign(CP_BODY, "a.example/log", k->a);
	nb = sign(CP_BODY, "b.example/log", k->b);
	/* Key a signing under b's name: same name, different key ID. */
	nc = sign(CP_BODY, "b.example/log", k->a);
	assert_int_equal(parse_verify_str(nb, &k->va), JG_EVERIFY);
	assert_int_equal(parse_verify_str(na, &k->vb), JG_EVERIFY);
	assert_int_equal(parse_verify_str(nc, &k->vb), JG_EVERIFY);

	/* a's note with b's line added: each verifier finds its own. */
	assert_true(asprintf(&both, "%s%s", na, sig_line(nb)) > 0);
	assert_int_equal(parse_verify_str(both, &k->va), 0);
	assert_int_equal(parse_verify_str(both, &k->vb), 0);
	/* A third key verifies nothing. */
	c = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(c);
	assert_int_equal(jg_signed_note_verifier_init(&vc, "c.example/log", c), 0);
	assert_int_equal(parse_verify_str(both, &vc), JG_EVERIFY);

	/* A verifier with a's name and ID but b's key: the line is "ours" and fails. */
	forged = k->va;
	memcpy(forged.pub, k->vb.pub, sizeof(forged.pub));
	assert_int_equal(parse_verify_str(na, &forged), JG_EVERIFY);

	/* A good line for a, plus a bad line claiming a's name and ID: refused (spec SHOULD). */
	bad = strdup(na);
	assert_non_null(bad);
	bad[strlen(bad) - 10] = bad[strlen(bad) - 10] == 'A' ? 'B' : 'A';
	free(both);
	assert_true(asprintf(&both, "%s%s", na, sig_line(bad)) > 0);
	assert_int_equal(parse_verify_str(both, &k->va), JG_EVERIFY);

	EVP_PKEY_free(c);
	free(bad);
	free(both);
	free(na);
	free(nb);
	free(nc);
}

static void
test_signed_note_parse_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    /* no signatures; blank line but no signatures; no blank line */
	    GO_TEXT,
	    GO_TEXT "\n",
	    GO_TEXT GO_PSIG,
	    /* no final newline */
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64,
	    /* control character, not UTF-8, overlong, surrogate, tab, CR */
	    "\x01" GO_TEXT "\n" GO_PSIG,
	    "\xff" GO_TEXT "\n" GO_PSIG,
	    "\xc0\xaf" GO_TEXT "\n" GO_PSIG,
	    "\xed\xa0\x80" GO_TEXT "\n" GO_PSIG,
	    "a\tb\n\n" GO_PSIG,
	    "a\r\n\n" GO_PSIG,
	    /* bad names: space, empty, plus, no-break space */
	    GO_TEXT "\n" DASH "Bad Name " GO_PB64 "\n",
	    GO_TEXT "\n" DASH " " GO_PB64 "\n",
	    GO_TEXT "\n" DASH "Peter+Neumann " GO_PB64 "\n",
	    GO_TEXT "\n" DASH "Peter\xc2\xa0Neumann " GO_PB64 "\n",
	    /* not a signature line: trailing text, hyphen for em dash, trailing blank line */
	    GO_TEXT "\n" GO_PSIG "Unexpected line.\n",
	    GO_TEXT "\n- PeterNeumann " GO_PB64 "\n",
	    GO_TEXT "\n" GO_PSIG "\n",
	    /* no signature, empty signature, two spaces, trailing space */
	    GO_TEXT "\n" DASH "PeterNeumann\n",
	    GO_TEXT "\n" DASH "PeterNeumann \n",
	    GO_TEXT "\n" DASH "PeterNeumann  " GO_PB64 "\n",
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64 " \n",
	    /* base64: no padding, non-canonical, too much padding, base64url, under 5 bytes */
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64_HEAD "nAM\n",
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64_HEAD "nAN=\n",
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64_HEAD "nAM==\n",
	    GO_TEXT "\n" DASH "PeterNeumann " GO_PB64_HEAD "-AM=\n",
	    GO_TEXT "\n" DASH "PeterNeumann AAAA\n",
	};
	struct jg_signed_note *note = (struct jg_signed_note *)1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (jg_signed_note_parse(bad[i], strlen(bad[i]), &note) != JG_EPARSE)
			fail_msg("malformed note %zu accepted", i);
		assert_null(note);
	}
	/* A NUL inside. */
	assert_int_equal(
	    jg_signed_note_parse("a\0b\n\n" GO_PSIG, sizeof("a\0b\n\n" GO_PSIG) - 1, &note),
	    JG_EPARSE);
	assert_int_equal(jg_signed_note_parse(NULL, 0, &note), JG_EPARSE);
	/* Control: the Go note parses. */
	assert_int_equal(
	    jg_signed_note_parse(GO_TEXT "\n" GO_PSIG, strlen(GO_TEXT "\n" GO_PSIG), &note), 0);
	jg_signed_note_free(note);
	jg_signed_note_free(NULL);
}

static void
test_signed_note_parse_limits(void **state)
{
	struct jg_note_verifier peter;
	struct jg_signed_note *note;
	const size_t text = sizeof(GO_TEXT "\n") - 1, sig = sizeof(GO_PSIG) - 1;
	char *buf = malloc(JG_NOTE_MAX_BYTES + 2);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(jg_signed_note_verifier_parse(GO_VKEY, &peter), 0);
	/* 100 signature lines: fine.  101: refused, as Go does. */
	memcpy(buf, GO_TEXT "\n", text);
	for (int i = 0; i < 101; i++)
		memcpy(buf + text + (size_t)i * sig, GO_PSIG, sig);
	assert_int_equal(jg_signed_note_parse(buf, text + 100 * sig, &note), 0);
	assert_int_equal(note->n_sigs, 100);
	assert_int_equal(jg_signed_note_verify(note, &peter), 0);
	jg_signed_note_free(note);
	assert_int_equal(jg_signed_note_parse(buf, text + 101 * sig, &note), JG_EPARSE);

	/* Exactly JG_NOTE_MAX_BYTES: fine.  One more: too big. */
	memset(buf, 'a', JG_NOTE_MAX_BYTES + 1);
	memset(buf + JG_NOTE_MAX_BYTES - sig - 2, '\n', 2);
	memcpy(buf + JG_NOTE_MAX_BYTES - sig, GO_PSIG, sig);
	assert_int_equal(jg_signed_note_parse(buf, JG_NOTE_MAX_BYTES, &note), 0);
	assert_int_equal(note->text_len, JG_NOTE_MAX_BYTES - sig - 1);
	jg_signed_note_free(note);
	memmove(buf + 1, buf, JG_NOTE_MAX_BYTES);
	assert_int_equal(jg_signed_note_parse(buf, JG_NOTE_MAX_BYTES + 1, &note), JG_ETOOBIG);
	free(buf);
}

static void
test_signed_note_checkpoint_parse_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "o\n1\n",
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",      /* no final newline */
	    "\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",     /* empty origin */
	    "o o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",  /* space */
	    "o+o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",  /* plus */
	    "o\to\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", /* tab */
	    "o\xe3\x80\x80o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", /* U+3000 */
	    "o\n\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",		 /* empty size */
	    "o\n01\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",		 /* leading zero */
	    "o\n00\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n+1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n 1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n1 \nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n0x1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n1e3\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n18446744073709551616\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", /* 2^64 */
	    "o\n99999999999999999999\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
	    "o\n1\n\n",							 /* no root */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n",	 /* no padding */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n",	 /* non-canonical */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQw==\n",	 /* 31 bytes */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=AAAA\n",	 /* 35 bytes */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=\n",	 /* base64url */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next\n", /* extension line */
	    "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n",	 /* blank line */
	};
	struct jg_checkpoint cp, before;

	(void)state;
	memset(&cp, 0x5a, sizeof(cp));
	before = cp;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (jg_signed_note_checkpoint_parse(bad[i], strlen(bad[i]), &cp) != JG_EPARSE)
			fail_msg("malformed checkpoint %zu accepted", i);
		assert_memory_equal(&cp, &before, sizeof(cp));
	}
	/* The edges that are fine. */
	assert_int_equal(jg_signed_note_checkpoint_parse(
			     "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", 49, &cp),
			 0);
	assert_int_equal(cp.size, 0);
	assert_int_equal(jg_signed_note_checkpoint_parse(
			     "\xc3\xa9/log\n18446744073709551615\n"
			     "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
			     strlen("\xc3\xa9/log\n18446744073709551615\n"
				    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"),
			     &cp),
			 0);
	assert_string_equal(cp.origin, "\xc3\xa9/log");
	assert_int_equal(cp.size, UINT64_MAX);
	assert_memory_equal(cp.root, root8, 32);
}

static void
test_signed_note_checkpoint_body_invalid(void **state)
{
	char origin[JG_NOTE_MAX_NAME + 2], *body = (char *)1;
	size_t len;

	(void)state;
	assert_int_equal(jg_signed_note_checkpoint_body("", 1, root8, &body, &len), JG_EINVAL);
	assert_null(body);
	assert_int_equal(jg_signed_note_checkpoint_body("a b", 1, root8, &body, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_checkpoint_body("a+b", 1, root8, &body, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_checkpoint_body("a\nb", 1, root8, &body, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_checkpoint_body(NULL, 1, root8, &body, &len), JG_EINVAL);
	memset(origin, 'o', sizeof(origin) - 1);
	origin[sizeof(origin) - 1] = '\0';
	assert_int_equal(jg_signed_note_checkpoint_body(origin, 1, root8, &body, &len), JG_EINVAL);
	origin[sizeof(origin) - 2] = '\0';
	assert_int_equal(jg_signed_note_checkpoint_body(origin, 1, root8, &body, &len), 0);
	free(body);
}

static void
test_signed_note_sign_invalid(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *ec, *pub;
	unsigned char raw[32];
	size_t rawlen = sizeof(raw), len;
	char *note = (char *)1, *big;

	assert_int_equal(jg_signed_note_sign("abc", 3, "a", k->a, &note, &len), JG_EINVAL);
	assert_null(note);
	assert_int_equal(jg_signed_note_sign("", 0, "a", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("a\rb\n", 4, "a", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("\xff\n", 2, "a", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "a b", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "a+b", k->a, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "a", NULL, &note, &len), JG_EINVAL);
	/* Not Ed25519. */
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "a", ec, &note, &len), JG_EINVAL);
	assert_int_equal(jg_signed_note_verifier_init(&(struct jg_note_verifier){0}, "a", ec),
			 JG_EINVAL);
	EVP_PKEY_free(ec);
	/* Public half only. */
	assert_int_equal(EVP_PKEY_get_raw_public_key(k->a, raw, &rawlen), 1);
	pub = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, rawlen);
	assert_non_null(pub);
	assert_int_equal(jg_signed_note_sign("a\n", 2, "a", pub, &note, &len), JG_ECRYPTO);
	EVP_PKEY_free(pub);
	/* A note we would refuse to parse is not made. */
	big = malloc(JG_NOTE_MAX_BYTES);
	assert_non_null(big);
	memset(big, 'x', JG_NOTE_MAX_BYTES);
	big[JG_NOTE_MAX_BYTES - 1] = '\n';
	assert_int_equal(jg_signed_note_sign(big, JG_NOTE_MAX_BYTES, "a", k->a, &note, &len),
			 JG_ETOOBIG);
	free(big);
}

/* Every proper substring of a key string, and every byte bumped by one, is refused (as in Go). */
static void
test_signed_note_verifier_parse_mangled(void **state)
{
	char b[sizeof(GO_VKEY)], sub[sizeof(GO_VKEY)];
	struct jg_note_verifier v;
	size_t n = strlen(GO_VKEY);

	(void)state;
	memcpy(b, GO_VKEY, sizeof(b));
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i + 1; j <= n; j++) {
			if (i == 0 && j == n)
				continue;
			memcpy(sub, b + i, j - i);
			sub[j - i] = '\0';
			if (jg_signed_note_verifier_parse(sub, &v) != JG_EPARSE)
				fail_msg("substring %zu..%zu accepted", i, j);
		}
	}
	for (size_t i = 0; i < n; i++) {
		b[i]++;
		if (jg_signed_note_verifier_parse(b, &v) != JG_EPARSE)
			fail_msg("byte %zu bumped accepted", i);
		b[i]--;
	}
	/* Wrong key length and unknown algorithm, each with a matching key ID. */
	assert_int_equal(
	    jg_signed_note_verifier_parse(
		"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", &v),
	    JG_EPARSE);
	assert_int_equal(
	    jg_signed_note_verifier_parse(
		"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v),
	    JG_EPARSE);
	/* Upper-case hex is read; the round trip writes lower case. */
	assert_int_equal(
	    jg_signed_note_verifier_parse(
		"PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v),
	    0);
	assert_int_equal(v.key_id, 0xc74f20a3);
	assert_int_equal(jg_signed_note_verifier_parse(NULL, &v), JG_EPARSE);
}

static void
test_signed_note_verifier_format_roundtrip(void **state)
{
	struct keys *k = *state;
	struct jg_note_verifier v;
	char *s;

	assert_int_equal(jg_signed_note_verifier_format(&k->va, &s), 0);
	assert_int_equal(strncmp(s, "a.example/log+", 14), 0);
	assert_int_equal(jg_signed_note_verifier_parse(s, &v), 0);
	assert_memory_equal(&v, &k->va, sizeof(v));
	free(s);
	assert_int_equal(jg_signed_note_verifier_init(&v, "a b", k->a), JG_EINVAL);
	assert_int_equal(jg_signed_note_verifier_init(&v, "", k->a), JG_EINVAL);
	assert_int_equal(jg_signed_note_verifier_init(&v, "a", NULL), JG_EINVAL);
}

static void
test_signed_note_signer_parse_mangled(void **state)
{
	char b[sizeof(GO_SKEY)], sub[sizeof(GO_SKEY)], name[JG_NOTE_MAX_NAME + 1];
	size_t n = strlen(GO_SKEY);
	EVP_PKEY *key;

	(void)state;
	memcpy(b, GO_SKEY, sizeof(b));
	for (size_t i = 0; i <= n; i += 3) {
		for (size_t j = i + 1; j <= n; j++) {
			if (i == 0 && j == n)
				continue;
			memcpy(sub, b + i, j - i);
			sub[j - i] = '\0';
			if (jg_signed_note_signer_parse(sub, name, &key) == 0)
				fail_msg("substring %zu..%zu accepted", i, j);
			assert_null(key);
		}
	}
	for (size_t i = 0; i < n; i++) {
		b[i]++;
		if (jg_signed_note_signer_parse(b, name, &key) == 0)
			fail_msg("byte %zu bumped accepted", i);
		b[i]--;
	}
	/* A verifier key is not a signer key. */
	assert_int_equal(jg_signed_note_signer_parse(GO_VKEY, name, &key), JG_EPARSE);
}

/* The cosigner key signs the spec's example into node:crypto's exact line, and it verifies. */
static void
test_signed_note_cosign_golden(void **state)
{
	char name[JG_NOTE_MAX_NAME + 1], *line = NULL, *s = NULL;
	struct jg_note_verifier v, w, log_view;
	struct jg_signed_note *note = NULL;
	uint64_t t = 0;
	size_t len;
	EVP_PKEY *key = NULL;

	(void)state;
	assert_int_equal(jg_signed_note_cosigner_signer_parse(CO_SKEY, name, &key), 0);
	assert_string_equal(name, CO_NAME);
	/* a 0x04 signer key is not a log key, nor a 0x01 key a cosigner's */
	assert_int_equal(jg_signed_note_signer_parse(CO_SKEY, name, &(EVP_PKEY *){NULL}),
			 JG_EPARSE);
	assert_int_equal(jg_signed_note_cosigner_parse(GO_VKEY, &w), JG_EPARSE);
	assert_int_equal(jg_signed_note_verifier_parse(CO_VKEY, &w), JG_EPARSE);

	assert_int_equal(
	    jg_signed_note_cosign(CO_BODY, strlen(CO_BODY), CO_NAME, key, CO_TIME, &line, &len), 0);
	assert_string_equal(line, CO_LINE);
	assert_int_equal(len, strlen(CO_LINE));

	assert_int_equal(jg_signed_note_cosigner_init(&v, CO_NAME, key), 0);
	assert_int_equal(v.alg, JG_NOTE_ALG_COSIGNATURE_V1);
	assert_int_equal(jg_signed_note_verifier_format(&v, &s), 0);
	assert_string_equal(s, CO_VKEY);
	assert_int_equal(jg_signed_note_cosigner_parse(CO_VKEY, &w), 0);
	assert_memory_equal(&v, &w, sizeof(v));

	assert_int_equal(
	    jg_signed_note_parse(CO_BODY "\n" CO_LINE, strlen(CO_BODY "\n" CO_LINE), &note), 0);
	assert_int_equal(jg_signed_note_verify_time(note, &w, &t), 0);
	assert_int_equal(t, CO_TIME);
	/* the same key as a log key (type 0x01): another key ID, so the line is not its to judge */
	assert_int_equal(jg_signed_note_verifier_init(&log_view, CO_NAME, key), 0);
	assert_int_not_equal(log_view.key_id, w.key_id);
	assert_int_equal(jg_signed_note_verify(note, &log_view), JG_EVERIFY);
	jg_signed_note_free(note);
	free(s);
	free(line);
	EVP_PKEY_free(key);
}

/* A cosignature with its time or text changed, or cut, does not verify; the time is bounded. */
static void
test_signed_note_cosign_tampered(void **state)
{
	struct keys *k = *state;
	struct jg_note_verifier v;
	struct jg_signed_note *note = NULL;
	char *line = NULL, buf[1024];
	uint64_t t;
	size_t len;

	assert_int_equal(jg_signed_note_cosigner_init(&v, "w.example/x", k->a), 0);
	assert_int_equal(jg_signed_note_cosign(CO_BODY, strlen(CO_BODY), "w.example/x", k->a,
					       (uint64_t)INT64_MAX + 1, &line, &len),
			 JG_EINVAL);
	assert_int_equal(
	    jg_signed_note_cosign(CO_BODY, strlen(CO_BODY), "w.example/x", k->a, 42, &line, &len),
	    0);
	snprintf(buf, sizeof(buf), "%s\n%s", CO_BODY, line);
	assert_int_equal(jg_signed_note_parse(buf, strlen(buf), &note), 0);
	assert_int_equal(jg_signed_note_verify_time(note, &v, &t), 0);
	assert_int_equal(t, 42);
	jg_signed_note_free(note);

	/* every byte of the base64 blob bumped (time, key ID or signature): never accepted */
	char *b64 = strchr(buf + strlen(CO_BODY) + 1 + 4, ' ') + 1;
	for (char *p = b64; *p != '\n'; p++) {
		char was = *p;
		*p = was == 'A' ? 'B' : 'A';
		if (jg_signed_note_parse(buf, strlen(buf), &note) == 0) {
			if (jg_signed_note_verify_time(note, &v, &t) == 0)
				fail_msg("byte %td changed, still verified", p - b64);
			jg_signed_note_free(note);
		}
		*p = was;
	}
	/* the text changed */
	buf[0] = 'f';
	assert_int_equal(jg_signed_note_parse(buf, strlen(buf), &note), 0);
	assert_int_equal(jg_signed_note_verify_time(note, &v, &t), JG_EVERIFY);
	jg_signed_note_free(note);
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signed_note_key_id_golden),
	    cmocka_unit_test(test_signed_note_sign_golden_go),
	    cmocka_unit_test(test_signed_note_verify_golden_go),
	    cmocka_unit_test(test_signed_note_sign_golden_checkpoint),
	    cmocka_unit_test_setup_teardown(test_signed_note_sign_roundtrip, keys_setup,
					    keys_teardown),
	    cmocka_unit_test_setup_teardown(test_signed_note_verify_tampered, keys_setup,
					    keys_teardown),
	    cmocka_unit_test_setup_teardown(test_signed_note_verify_other_key, keys_setup,
					    keys_teardown),
	    cmocka_unit_test(test_signed_note_parse_malformed),
	    cmocka_unit_test(test_signed_note_parse_limits),
	    cmocka_unit_test(test_signed_note_checkpoint_parse_malformed),
	    cmocka_unit_test(test_signed_note_checkpoint_body_invalid),
	    cmocka_unit_test_setup_teardown(test_signed_note_sign_invalid, keys_setup,
					    keys_teardown),
	    cmocka_unit_test(test_signed_note_verifier_parse_mangled),
	    cmocka_unit_test_setup_teardown(test_signed_note_verifier_format_roundtrip, keys_setup,
					    keys_teardown),
	    cmocka_unit_test(test_signed_note_signer_parse_mangled),
	    cmocka_unit_test(test_signed_note_cosign_golden),
	    cmocka_unit_test_setup_teardown(test_signed_note_cosign_tampered, keys_setup,
					    keys_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
