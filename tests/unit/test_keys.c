/*
 * test_keys.c - signing keys on disk: created safely, never replaced,
 * rotated forward, and loaded only when the file is a private, regular file
 * holding a key of the right type.
 *
 * Each test gets a fresh temporary directory; the key directory inside it
 * does not exist until jg_keys_generate() creates it.  Token keys must be
 * ECDSA P-256, checkpoint keys Ed25519, pii and cursor keys 32 raw bytes
 * (held as an HMAC key), and neither of those two loads as the other; a
 * public key written by jg_key_public_pem() must read back as the same key.
 * A deployment made before pii or cursor keys existed adds one with
 * jg_keys_generate_kind(), which touches no other kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char dir[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-keys-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/keys", f->root);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* scandir(3) filter: every entry but "." and "..". */
static int
not_dot(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static void
key_path(const struct fixture *f, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", f->dir, name);
}

static void
generate(struct fixture *f)
{
	char err[512] = "";
	if (jg_keys_generate(f->dir, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
}

/* The whole content of path into buf (cap bytes); returns its length. */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	size_t n = fread(buf, 1, cap, fp);
	assert_true(n < cap);
	assert_int_equal(fclose(fp), 0);
	return n;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
assert_mode(const char *path, mode_t want)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	if ((st.st_mode & 07777) != want)
		fail_msg("%s: mode %04o, want %04o", path, (unsigned)(st.st_mode & 07777),
			 (unsigned)want);
}

static struct jg_keyring *
load(const struct fixture *f, enum jg_key_kind kind)
{
	struct jg_keyring *ring = NULL;
	char err[512] = "";
	if (jg_keys_load(f->dir, kind, &ring, err, sizeof(err)) != 0)
		fail_msg("jg_keys_load(%s): %s", jg_key_kind_name(kind), err);
	assert_non_null(ring);
	return ring;
}

static void
expect_load_refused(const struct fixture *f, enum jg_key_kind kind, int want_rc, const char *needle)
{
	struct jg_keyring *ring = (struct jg_keyring *)1;
	char err[512] = "";
	int rc = jg_keys_load(f->dir, kind, &ring, err, sizeof(err));
	if (rc != want_rc || strstr(err, needle) == NULL)
		fail_msg("expected %d with \"%s\", got %d \"%s\"", want_rc, needle, rc, err);
	assert_null(ring);
}

static int
is_p256(EVP_PKEY *pkey)
{
	char curve[32];
	size_t len;
	return EVP_PKEY_is_a(pkey, "EC") &&
	       EVP_PKEY_get_utf8_string_param(pkey, "group", curve, sizeof(curve), &len) == 1 &&
	       strcmp(curve, "prime256v1") == 0;
}

static void
test_keys_generate_creates_every_kind(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct jg_keyring *ring;

	umask(022); /* the modes below must not depend on the umask being strict */
	generate(f);
	assert_mode(f->dir, 0700);
	key_path(f, "token-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	key_path(f, "checkpoint-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	key_path(f, "pii-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	key_path(f, "cursor-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	key_path(f, "audit-state-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	key_path(f, "session-token-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);

	ring = load(f, JG_KEY_TOKEN);
	assert_int_equal(ring->kind, JG_KEY_TOKEN);
	assert_int_equal(ring->n, 1);
	assert_int_equal(ring->keys[0].number, 1);
	assert_true(is_p256(ring->keys[0].pkey));
	assert_ptr_equal(jg_keyring_active(ring), &ring->keys[0]);
	jg_keyring_free(ring);

	ring = load(f, JG_KEY_CHECKPOINT);
	assert_int_equal(ring->n, 1);
	assert_int_equal(ring->keys[0].number, 1);
	assert_true(EVP_PKEY_is_a(ring->keys[0].pkey, "ED25519"));
	jg_keyring_free(ring);

	ring = load(f, JG_KEY_PII);
	assert_int_equal(ring->n, 1);
	assert_true(EVP_PKEY_is_a(ring->keys[0].pkey, "HMAC"));
	unsigned char raw[64];
	size_t rawlen = sizeof(raw);
	assert_int_equal(EVP_PKEY_get_raw_private_key(ring->keys[0].pkey, raw, &rawlen), 1);
	assert_int_equal(rawlen, JG_KEY_PII_BYTES);
	jg_keyring_free(ring);

	ring = load(f, JG_KEY_CURSOR);
	assert_int_equal(ring->n, 1);
	unsigned char craw[64];
	size_t crawlen = sizeof(craw);
	assert_int_equal(EVP_PKEY_get_raw_private_key(ring->keys[0].pkey, craw, &crawlen), 1);
	assert_int_equal(crawlen, JG_KEY_CURSOR_BYTES);
	/* two secrets, not one written twice */
	assert_memory_not_equal(craw, raw, JG_KEY_CURSOR_BYTES);
	jg_keyring_free(ring);

	ring = load(f, JG_KEY_AUDIT_STATE);
	assert_int_equal(ring->n, 1);
	assert_true(EVP_PKEY_is_a(ring->keys[0].pkey, "HMAC"));
	unsigned char sraw[64];
	size_t srawlen = sizeof(sraw);
	assert_int_equal(EVP_PKEY_get_raw_private_key(ring->keys[0].pkey, sraw, &srawlen), 1);
	assert_int_equal(srawlen, JG_KEY_AUDIT_STATE_BYTES);
	assert_memory_not_equal(sraw, raw, JG_KEY_AUDIT_STATE_BYTES);
	assert_memory_not_equal(sraw, craw, JG_KEY_AUDIT_STATE_BYTES);
	jg_keyring_free(ring);

	/* Nothing else was written (no temporary files left behind). */
	static const char *const written[] = {"audit-state-0001.pem",	"checkpoint-0001.pem",
					      "cursor-0001.pem",	"pii-0001.pem",
					      "session-token-0001.pem", "token-0001.pem"};
	struct dirent **names = NULL;
	int n = scandir(f->dir, &names, not_dot, alphasort);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		assert_string_equal(names[i]->d_name, written[i]);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void
test_keys_generate_refuses_second_time(void **state)
{
	struct fixture *f = *state;
	char path[2][256], before[2][16384], after[16384], err[512] = "";
	size_t len[2];
	struct stat st_before[2], st_after;

	generate(f);
	key_path(f, "token-0001.pem", path[0], sizeof(path[0]));
	key_path(f, "checkpoint-0001.pem", path[1], sizeof(path[1]));
	for (int i = 0; i < 2; i++) {
		len[i] = slurp(path[i], before[i], sizeof(before[i]));
		assert_int_equal(stat(path[i], &st_before[i]), 0);
	}
	assert_int_equal(jg_keys_generate(f->dir, err, sizeof(err)), JG_ECONFLICT);
	assert_non_null(strstr(err, "already holds token keys"));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(stat(path[i], &st_after), 0);
		assert_int_equal(st_after.st_ino, st_before[i].st_ino); /* not replaced */
		assert_int_equal(slurp(path[i], after, sizeof(after)), len[i]);
		assert_memory_equal(after, before[i], len[i]);
	}

	/* Checkpoint keys alone also block it, and no token key is added. */
	assert_int_equal(unlink(path[0]), 0);
	assert_int_equal(jg_keys_generate(f->dir, err, sizeof(err)), JG_ECONFLICT);
	assert_non_null(strstr(err, "already holds checkpoint keys"));
	assert_int_equal(access(path[0], F_OK), -1);
}

/* A deployment from before pii keys: generate --kind pii adds one and nothing else. */
static void
test_keys_generate_kind_adds_missing(void **state)
{
	struct fixture *f = *state;
	char path[256], before[16384], after[16384], err[512] = "";
	size_t len;
	struct jg_keyring *ring;

	generate(f);
	key_path(f, "pii-0001.pem", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	expect_load_refused(f, JG_KEY_PII, JG_ENOTFOUND, "run 'jitgate keys generate --kind pii'");
	/* generate without a kind still refuses: token and checkpoint keys exist */
	assert_int_equal(jg_keys_generate(f->dir, err, sizeof(err)), JG_ECONFLICT);
	assert_int_equal(access(path, F_OK), -1);

	key_path(f, "token-0001.pem", path, sizeof(path));
	len = slurp(path, before, sizeof(before));
	assert_int_equal(jg_keys_generate_kind(f->dir, JG_KEY_PII, err, sizeof(err)), 0);
	assert_int_equal(slurp(path, after, sizeof(after)), len);
	assert_memory_equal(after, before, len);
	key_path(f, "pii-0001.pem", path, sizeof(path));
	assert_mode(path, 0600);
	ring = load(f, JG_KEY_PII);
	assert_int_equal(ring->n, 1);
	jg_keyring_free(ring);
	/* and never twice */
	assert_int_equal(jg_keys_generate_kind(f->dir, JG_KEY_PII, err, sizeof(err)), JG_ECONFLICT);
	assert_non_null(strstr(err, "already holds pii keys"));

	enum jg_key_kind kind = JG_KEY_TOKEN;
	assert_int_equal(jg_key_kind_parse("pii", &kind), 0);
	assert_int_equal(kind, JG_KEY_PII);
	assert_int_equal(jg_key_kind_parse("checkpoint", &kind), 0);
	assert_int_equal(kind, JG_KEY_CHECKPOINT);
	assert_int_equal(jg_key_kind_parse("cursor", &kind), 0);
	assert_int_equal(kind, JG_KEY_CURSOR);
	assert_int_equal(jg_key_kind_parse("audit-state", &kind), 0);
	assert_int_equal(kind, JG_KEY_AUDIT_STATE);
	assert_int_equal(jg_key_kind_parse("session-token", &kind), 0);
	assert_int_equal(kind, JG_KEY_SESSION_TOKEN);
	assert_int_equal(jg_key_kind_parse("PII", &kind), JG_EINVAL);
	assert_int_equal(jg_key_kind_parse(NULL, &kind), JG_EINVAL);
}

/* A key directory from before cursor keys: generate --kind cursor adds one, and it rotates. */
static void
test_keys_generate_kind_cursor(void **state)
{
	struct fixture *f = *state;
	char path[256], err[512] = "";
	struct jg_keyring *ring;
	int number = 0;

	generate(f);
	key_path(f, "cursor-0001.pem", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	expect_load_refused(f, JG_KEY_CURSOR, JG_ENOTFOUND,
			    "run 'jitgate keys generate --kind cursor'");
	assert_int_equal(jg_keys_generate_kind(f->dir, JG_KEY_CURSOR, err, sizeof(err)), 0);
	assert_mode(path, 0600);
	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_CURSOR, &number, err, sizeof(err)), 0);
	assert_int_equal(number, 2);
	ring = load(f, JG_KEY_CURSOR);
	assert_int_equal(ring->n, 2);
	assert_int_equal(jg_keyring_active(ring)->number, 2);
	jg_keyring_free(ring);
	assert_int_equal(jg_keys_generate_kind(f->dir, JG_KEY_CURSOR, err, sizeof(err)),
			 JG_ECONFLICT);
	assert_non_null(strstr(err, "already holds cursor keys"));
}

static void
test_keys_rotate_adds_active_key(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", path[256];
	int number = 0;
	struct jg_keyring *ring;
	EVP_PKEY *first;

	generate(f);
	ring = load(f, JG_KEY_CHECKPOINT);
	first = ring->keys[0].pkey;
	EVP_PKEY_up_ref(first);
	jg_keyring_free(ring);

	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_CHECKPOINT, &number, err, sizeof(err)), 0);
	assert_int_equal(number, 2);
	key_path(f, "checkpoint-0002.pem", path, sizeof(path));
	assert_mode(path, 0600);
	ring = load(f, JG_KEY_CHECKPOINT);
	assert_int_equal(ring->n, 2);
	assert_int_equal(ring->keys[0].number, 1);
	assert_int_equal(ring->keys[1].number, 2);
	assert_int_equal(jg_keyring_active(ring)->number, 2);
	assert_true(EVP_PKEY_is_a(jg_keyring_active(ring)->pkey, "ED25519"));
	/* The old key stays, unchanged; the new one is a different key. */
	assert_int_equal(EVP_PKEY_eq(ring->keys[0].pkey, first), 1);
	assert_int_not_equal(EVP_PKEY_eq(ring->keys[1].pkey, first), 1);
	jg_keyring_free(ring);
	EVP_PKEY_free(first);

	/* Token keys rotate on their own numbering. */
	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_TOKEN, &number, err, sizeof(err)), 0);
	assert_int_equal(number, 2);
	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_TOKEN, NULL, err, sizeof(err)), 0);
	ring = load(f, JG_KEY_TOKEN);
	assert_int_equal(ring->n, 3);
	assert_int_equal(jg_keyring_active(ring)->number, 3);
	assert_true(is_p256(jg_keyring_active(ring)->pkey));
	jg_keyring_free(ring);
	ring = load(f, JG_KEY_CHECKPOINT);
	assert_int_equal(ring->n, 2);
	jg_keyring_free(ring);
}

static void
test_keys_load_refuses_readable_by_others(void **state)
{
	struct fixture *f = *state;
	char path[256];

	generate(f);
	key_path(f, "checkpoint-0001.pem", path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	expect_load_refused(f, JG_KEY_CHECKPOINT, JG_EDENIED, "accessible to group or others");
	assert_int_equal(chmod(path, 0640), 0);
	expect_load_refused(f, JG_KEY_CHECKPOINT, JG_EDENIED, "accessible to group or others");
	/* The other kind is unaffected. */
	jg_keyring_free(load(f, JG_KEY_TOKEN));
}

static void
test_keys_load_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	char path[256], target[256];

	generate(f);
	key_path(f, "checkpoint-0001.pem", target, sizeof(target));
	key_path(f, "checkpoint-0003.pem", path, sizeof(path));
	/* A link to a good 0600 key of the right type is still refused. */
	assert_int_equal(symlink(target, path), 0);
	expect_load_refused(f, JG_KEY_CHECKPOINT, JG_EIO, "must not be a symlink");
}

static void
test_keys_load_refuses_wrong_type(void **state)
{
	struct fixture *f = *state;
	char path[256], pem[16384];
	size_t len;

	generate(f);
	/* The P-256 token key, copied 0600 under a checkpoint key name. */
	key_path(f, "token-0001.pem", path, sizeof(path));
	len = slurp(path, pem, sizeof(pem));
	key_path(f, "checkpoint-0003.pem", path, sizeof(path));
	write_file(path, pem, len, 0600);
	expect_load_refused(f, JG_KEY_CHECKPOINT, JG_EPARSE, "Ed25519 key");

	/* And an Ed25519 key under a token key name. */
	assert_int_equal(unlink(path), 0);
	key_path(f, "checkpoint-0001.pem", path, sizeof(path));
	len = slurp(path, pem, sizeof(pem));
	key_path(f, "token-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600);
	expect_load_refused(f, JG_KEY_TOKEN, JG_EPARSE, "not a P-256 ECDSA key");

	/* An EC key on another curve is not a token key either. */
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(p384);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, p384, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
	EVP_PKEY_free(p384);
	expect_load_refused(f, JG_KEY_TOKEN, JG_EPARSE, "not a P-256 ECDSA key");

	/* Not a key at all. */
	write_file(path, "hello\n", 6, 0600);
	expect_load_refused(f, JG_KEY_TOKEN, JG_EPARSE, "not a P-256 ECDSA key");
	assert_int_equal(unlink(path), 0);

	/* A signing key under a pii key name, and a pii key under a token key name. */
	key_path(f, "checkpoint-0001.pem", path, sizeof(path));
	len = slurp(path, pem, sizeof(pem));
	key_path(f, "pii-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600);
	expect_load_refused(f, JG_KEY_PII, JG_EPARSE, "not a 32-byte pii key");
	assert_int_equal(unlink(path), 0);
	key_path(f, "pii-0001.pem", path, sizeof(path));
	len = slurp(path, pem, sizeof(pem));
	key_path(f, "token-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600);
	expect_load_refused(f, JG_KEY_TOKEN, JG_EPARSE, "not a P-256 ECDSA key");
	assert_int_equal(unlink(path), 0);

	/* The two secret kinds never stand in for each other: their PEM labels differ. */
	key_path(f, "cursor-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600); /* the pii key's bytes */
	expect_load_refused(f, JG_KEY_CURSOR, JG_EPARSE, "not a 32-byte cursor key");
	assert_int_equal(unlink(path), 0);
	key_path(f, "cursor-0001.pem", path, sizeof(path));
	len = slurp(path, pem, sizeof(pem));
	key_path(f, "pii-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600);
	expect_load_refused(f, JG_KEY_PII, JG_EPARSE, "not a 32-byte pii key");
	assert_int_equal(unlink(path), 0);
	/* nor does a cursor key stand in for the audit-state key (which authenticates the log's
	 * state) */
	key_path(f, "audit-state-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600); /* the cursor key's bytes */
	expect_load_refused(f, JG_KEY_AUDIT_STATE, JG_EPARSE, "not a 32-byte audit-state key");
	assert_int_equal(unlink(path), 0);
	/* nor for the key that encrypts the stored session tokens */
	key_path(f, "session-token-0002.pem", path, sizeof(path));
	write_file(path, pem, len, 0600); /* the cursor key's bytes */
	expect_load_refused(f, JG_KEY_SESSION_TOKEN, JG_EPARSE, "not a 32-byte session-token key");
}

static void
test_keys_load_refuses_empty_or_missing(void **state)
{
	struct fixture *f = *state;
	char path[256];

	expect_load_refused(f, JG_KEY_TOKEN, JG_ENOTFOUND, "run 'jitgate keys generate'");
	assert_int_equal(mkdir(f->dir, 0700), 0);
	/* Names that are not <kind>-NNNN.pem are ignored. */
	key_path(f, "token-1.pem", path, sizeof(path));
	write_file(path, "x", 1, 0600);
	key_path(f, "token-0000.pem", path, sizeof(path));
	write_file(path, "x", 1, 0600);
	expect_load_refused(f, JG_KEY_TOKEN, JG_ENOTFOUND, "no token keys");
}

static void
test_key_public_pem_round_trip(void **state)
{
	struct fixture *f = *state;
	enum jg_key_kind kinds[] = {JG_KEY_TOKEN, JG_KEY_CHECKPOINT};
	char path[256], err[512] = "";

	generate(f);
	for (int i = 0; i < 2; i++) {
		struct jg_keyring *ring = load(f, kinds[i]);
		EVP_PKEY *priv = jg_keyring_active(ring)->pkey, *pub = NULL;
		char *pem = jg_key_public_pem(priv);
		assert_non_null(pem);
		assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----\n"));
		assert_null(strstr(pem, "PRIVATE"));
		snprintf(path, sizeof(path), "%s/%s.pub", f->root, jg_key_kind_name(kinds[i]));
		/* A public key is not a secret: 0644 is fine. */
		write_file(path, pem, strlen(pem), 0644);
		if (jg_key_read_public_pem(path, &pub, err, sizeof(err)) != 0)
			fail_msg("jg_key_read_public_pem: %s", err);
		assert_non_null(pub);
		assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
		/* Writing the read-back key gives the same PEM. */
		char *again = jg_key_public_pem(pub);
		assert_non_null(again);
		assert_string_equal(again, pem);
		free(again);
		free(pem);
		EVP_PKEY_free(pub);
		jg_keyring_free(ring);
	}

	/* A private key file is not accepted as a public key. */
	key_path(f, "checkpoint-0001.pem", path, sizeof(path));
	EVP_PKEY *pub = (EVP_PKEY *)1;
	assert_int_equal(jg_key_read_public_pem(path, &pub, err, sizeof(err)), JG_EPARSE);
	assert_null(pub);
	assert_non_null(strstr(err, "not a PEM public key"));
	snprintf(path, sizeof(path), "%s/missing.pub", f->root);
	assert_int_equal(jg_key_read_public_pem(path, &pub, err, sizeof(err)), JG_EIO);
}

/*
 * The raw bytes of a secret kind (what cursor.c and session_grant.c seal
 * with): every key, numbered, oldest first, the very bytes of the ring's
 * keys; a signing kind has no raw bytes to give.
 */
static void
test_keys_load_raw(void **state)
{
	struct fixture *f = *state;
	struct jg_raw_keys raw;
	struct jg_keyring *ring;
	char err[512] = "";
	uint8_t k[JG_KEY_RAW_BYTES];
	size_t len;

	generate(f);
	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_CURSOR, NULL, err, sizeof(err)), 0);
	assert_int_equal(jg_keys_load_raw(f->dir, JG_KEY_CURSOR, &raw, err, sizeof(err)), 0);
	ring = load(f, JG_KEY_CURSOR);
	assert_int_equal(raw.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(raw.keys[i].number, i + 1);
		len = sizeof(k);
		assert_int_equal(EVP_PKEY_get_raw_private_key(ring->keys[i].pkey, k, &len), 1);
		assert_int_equal(len, JG_KEY_RAW_BYTES);
		assert_memory_equal(raw.keys[i].k, k, JG_KEY_RAW_BYTES);
	}
	assert_memory_not_equal(raw.keys[0].k, raw.keys[1].k, JG_KEY_RAW_BYTES);
	assert_ptr_equal(jg_raw_keys_find(&raw, 2), &raw.keys[1]);
	assert_null(jg_raw_keys_find(&raw, 3));
	jg_keyring_free(ring);
	/* each secret kind its own keys */
	struct jg_raw_keys other;
	assert_int_equal(jg_keys_load_raw(f->dir, JG_KEY_SESSION_TOKEN, &other, err, sizeof(err)),
			 0);
	assert_int_equal(other.n, 1);
	assert_memory_not_equal(other.keys[0].k, raw.keys[0].k, JG_KEY_RAW_BYTES);
	/* signing keys are not raw bytes */
	assert_int_equal(jg_keys_load_raw(f->dir, JG_KEY_TOKEN, &other, err, sizeof(err)),
			 JG_EINVAL);
	assert_int_equal(other.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keys_generate_creates_every_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_generate_kind_adds_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_generate_kind_cursor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_generate_refuses_second_time, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keys_rotate_adds_active_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_load_refuses_readable_by_others, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keys_load_refuses_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_load_refuses_wrong_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_load_refuses_empty_or_missing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_public_pem_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_load_raw, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
