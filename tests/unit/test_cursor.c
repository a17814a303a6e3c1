/*
 * test_cursor.c - sealed paging cursors (cursor.h) under keys on disk.
 *
 * What a client relies on: a cursor pages on after a restart and on any
 * replica that shares the key directory (two loads of the same directory
 * stand in for two processes), and after a key rotation while the old key
 * is kept.  What jitgate relies on: a cursor reveals nothing of the
 * position, names its kind (one list's cursor is refused by another),
 * and any change to it - one character, its length, its header - or any
 * text that is not strict base64url (the "a=" that aborted liboauth2's
 * decoder) is refused.  The format is checked byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/codec.h"
#include "jitgate/cursor.h"
#include "jitgate/error.h"
#include "jitgate/keys.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char dir[128];
	struct jg_cursor_keys *keys;
};

static struct jg_cursor_keys *
load(const char *dir)
{
	struct jg_cursor_keys *keys = NULL;
	char err[512] = "";
	if (jg_cursor_keys_load(dir, &keys, err, sizeof(err)) != 0)
		fail_msg("jg_cursor_keys_load: %s", err);
	return keys;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-cursor-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/keys", f->root);
	if (jg_keys_generate_kind(f->dir, JG_KEY_CURSOR, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate_kind: %s", err);
	f->keys = load(f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_cursor_keys_free(f->keys);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static void
test_cursor_round_trip_hides_the_position(void **state)
{
	struct fixture *f = *state;
	char c1[JG_CURSOR_MAX_LEN], c2[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1];

	assert_int_equal(
	    jg_cursor_seal(f->keys, "requests", "1764100000 req_abcdef", c1, sizeof(c1)), 0);
	assert_int_equal(
	    jg_cursor_seal(f->keys, "requests", "1764100000 req_abcdef", c2, sizeof(c2)), 0);
	assert_string_not_equal(c1, c2); /* a fresh nonce each time */
	assert_null(strstr(c1, "req_"));
	assert_true(jg_b64url_valid(c1, strlen(c1)));
	assert_int_equal(jg_cursor_open(f->keys, "requests", c1, plain, sizeof(plain)), 0);
	assert_string_equal(plain, "1764100000 req_abcdef");
	assert_int_equal(jg_cursor_open(f->keys, "requests", c2, plain, sizeof(plain)), 0);
	assert_string_equal(plain, "1764100000 req_abcdef");
}

/* base64url(version 1 || key number || nonce || AES-256-GCM(kind \0 position) || tag) */
static void
test_cursor_format(void **state)
{
	struct fixture *f = *state;
	char c[JG_CURSOR_MAX_LEN];
	uint8_t raw[300];
	size_t n;

	assert_int_equal(jg_cursor_seal(f->keys, "logs", "1795600800000000001:42", c, sizeof(c)),
			 0);
	assert_int_equal(jg_b64url_decode(c, strlen(c), raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 3 + 12 + strlen("logs") + 1 + strlen("1795600800000000001:42") + 16);
	assert_int_equal(raw[0], 1);
	assert_int_equal(raw[1] << 8 | raw[2], 1); /* cursor-0001.pem */
	/* the largest position fits the documented length */
	char big[JG_CURSOR_MAX_PLAIN + 1];
	memset(big, '9', JG_CURSOR_MAX_PLAIN);
	big[JG_CURSOR_MAX_PLAIN] = '\0';
	assert_int_equal(jg_cursor_seal(f->keys, "abcdefghijklmnop", big, c, sizeof(c)), 0);
	assert_true(strlen(c) < JG_CURSOR_MAX_LEN);
}

/* Another process loading the same key directory (a restart, a replica) opens it. */
static void
test_cursor_survives_restart_and_replicas(void **state)
{
	struct fixture *f = *state;
	char c[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1];

	assert_int_equal(jg_cursor_seal(f->keys, "logs", "100:7", c, sizeof(c)), 0);
	jg_cursor_keys_free(f->keys);
	f->keys = load(f->dir);
	assert_int_equal(jg_cursor_open(f->keys, "logs", c, plain, sizeof(plain)), 0);
	assert_string_equal(plain, "100:7");
}

/* After a rotation the new key seals; a cursor of the old one opens while that key is kept. */
static void
test_cursor_rotation(void **state)
{
	struct fixture *f = *state;
	char old[JG_CURSOR_MAX_LEN], fresh[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1],
	    err[512] = "", path[256];
	uint8_t raw[300];
	size_t n;
	int number = 0;

	assert_int_equal(jg_cursor_seal(f->keys, "requests", "1 req_a", old, sizeof(old)), 0);
	assert_int_equal(jg_keys_rotate(f->dir, JG_KEY_CURSOR, &number, err, sizeof(err)), 0);
	assert_int_equal(number, 2);
	jg_cursor_keys_free(f->keys);
	f->keys = load(f->dir);
	assert_int_equal(jg_cursor_seal(f->keys, "requests", "2 req_b", fresh, sizeof(fresh)), 0);
	assert_int_equal(jg_b64url_decode(fresh, strlen(fresh), raw, sizeof(raw), &n), 0);
	assert_int_equal(raw[1] << 8 | raw[2], 2);
	assert_int_equal(jg_cursor_open(f->keys, "requests", old, plain, sizeof(plain)), 0);
	assert_string_equal(plain, "1 req_a");

	/* the old key archived: its cursors are refused, the new ones still open */
	snprintf(path, sizeof(path), "%s/cursor-0001.pem", f->dir);
	assert_int_equal(unlink(path), 0);
	jg_cursor_keys_free(f->keys);
	f->keys = load(f->dir);
	assert_int_equal(jg_cursor_open(f->keys, "requests", old, plain, sizeof(plain)), JG_EINVAL);
	assert_string_equal(plain, "");
	assert_int_equal(jg_cursor_open(f->keys, "requests", fresh, plain, sizeof(plain)), 0);
}

/* One list's cursor is not another's, even with a position the other would parse. */
static void
test_cursor_kind_is_checked(void **state)
{
	struct fixture *f = *state;
	char c[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1];

	assert_int_equal(jg_cursor_seal(f->keys, "logs", "100:7", c, sizeof(c)), 0);
	assert_int_equal(jg_cursor_open(f->keys, "requests", c, plain, sizeof(plain)), JG_EINVAL);
	assert_int_equal(jg_cursor_open(f->keys, "log", c, plain, sizeof(plain)), JG_EINVAL);
	assert_int_equal(jg_cursor_open(f->keys, "logsx", c, plain, sizeof(plain)), JG_EINVAL);
	assert_string_equal(plain, "");
	assert_int_equal(jg_cursor_open(f->keys, "logs", c, plain, sizeof(plain)), 0);
}

static void
test_cursor_open_refuses_tampered_foreign_and_garbage(void **state)
{
	struct fixture *f = *state;
	char c[JG_CURSOR_MAX_LEN], plain[JG_CURSOR_MAX_PLAIN + 1], long_one[600], err[512] = "",
										  other_dir[160];

	assert_int_equal(jg_cursor_seal(f->keys, "requests", "42 req_x", c, sizeof(c)), 0);
	/* every character changed, and every shorter length */
	for (size_t i = 0; i < strlen(c); i++) {
		char t[JG_CURSOR_MAX_LEN];
		memcpy(t, c, strlen(c) + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(jg_cursor_open(f->keys, "requests", t, plain, sizeof(plain)),
				 JG_EINVAL);
		memcpy(t, c, i);
		t[i] = '\0';
		assert_int_equal(jg_cursor_open(f->keys, "requests", t, plain, sizeof(plain)),
				 JG_EINVAL);
	}
	/* sealed under another deployment's key (same number, other bytes) */
	snprintf(other_dir, sizeof(other_dir), "%s/other", f->root);
	assert_int_equal(jg_keys_generate_kind(other_dir, JG_KEY_CURSOR, err, sizeof(err)), 0);
	struct jg_cursor_keys *other = load(other_dir);
	assert_int_equal(jg_cursor_open(other, "requests", c, plain, sizeof(plain)), JG_EINVAL);
	jg_cursor_keys_free(other);

	assert_int_equal(jg_cursor_open(f->keys, "requests", "", plain, sizeof(plain)), JG_EINVAL);
	assert_int_equal(jg_cursor_open(f->keys, "requests", "!!!!", plain, sizeof(plain)),
			 JG_EINVAL);
	assert_int_equal(jg_cursor_open(f->keys, "requests", "AAAA", plain, sizeof(plain)),
			 JG_EINVAL);
	assert_int_equal(jg_cursor_open(f->keys, "requests", NULL, plain, sizeof(plain)),
			 JG_EINVAL);
	/* liboauth2's decoder aborted the process on these (issue 16, finding A) */
	static const char *const padded[] = {"a=", "a==", "=", "ab=c", "AAAA=AAAA"};
	for (size_t i = 0; i < sizeof(padded) / sizeof(padded[0]); i++)
		assert_int_equal(
		    jg_cursor_open(f->keys, "requests", padded[i], plain, sizeof(plain)),
		    JG_EINVAL);
	/* the padded form of a real cursor is not a second spelling of it */
	char pad[JG_CURSOR_MAX_LEN + 2];
	snprintf(pad, sizeof(pad), "%s=", c);
	assert_int_equal(jg_cursor_open(f->keys, "requests", pad, plain, sizeof(plain)), JG_EINVAL);
	memset(long_one, 'A', sizeof(long_one) - 1);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_int_equal(jg_cursor_open(f->keys, "requests", long_one, plain, sizeof(plain)),
			 JG_EINVAL);
	/* the position must fit the caller's buffer */
	char tiny[4];
	assert_int_equal(jg_cursor_open(f->keys, "requests", c, tiny, sizeof(tiny)), JG_EINVAL);
	assert_string_equal(tiny, "");
	/* no keys: nothing opens */
	assert_int_equal(jg_cursor_open(NULL, "requests", c, plain, sizeof(plain)), JG_EINVAL);
}

static void
test_cursor_seal_refuses_bad_kind_and_position(void **state)
{
	struct fixture *f = *state;
	char c[JG_CURSOR_MAX_LEN], big[JG_CURSOR_MAX_PLAIN + 2];

	assert_int_equal(jg_cursor_seal(f->keys, "requests", "", c, sizeof(c)), JG_EINVAL);
	assert_int_equal(jg_cursor_seal(f->keys, "requests", NULL, c, sizeof(c)), JG_EINVAL);
	assert_int_equal(jg_cursor_seal(f->keys, "", "1", c, sizeof(c)), JG_EINVAL);
	assert_int_equal(jg_cursor_seal(f->keys, "Logs", "1", c, sizeof(c)), JG_EINVAL);
	assert_int_equal(jg_cursor_seal(f->keys, "abcdefghijklmnopq", "1", c, sizeof(c)),
			 JG_EINVAL);
	assert_int_equal(jg_cursor_seal(NULL, "logs", "1", c, sizeof(c)), JG_EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(jg_cursor_seal(f->keys, "logs", big, c, sizeof(c)), JG_EINVAL);
	big[JG_CURSOR_MAX_PLAIN] = '\0';
	assert_int_equal(jg_cursor_seal(f->keys, "logs", big, c, sizeof(c)), 0);
	/* too small an output buffer */
	assert_int_equal(jg_cursor_seal(f->keys, "logs", "1", c, 10), JG_ETOOBIG);
}

static void
test_cursor_keys_load_needs_a_key(void **state)
{
	struct fixture *f = *state;
	struct jg_cursor_keys *keys = (struct jg_cursor_keys *)1;
	char err[512] = "", path[256];

	snprintf(path, sizeof(path), "%s/cursor-0001.pem", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(jg_cursor_keys_load(f->dir, &keys, err, sizeof(err)), JG_ENOTFOUND);
	assert_null(keys);
	assert_non_null(strstr(err, "jitgate keys generate --kind cursor"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cursor_round_trip_hides_the_position, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_survives_restart_and_replicas, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_kind_is_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_open_refuses_tampered_foreign_and_garbage,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_seal_refuses_bad_kind_and_position, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_keys_load_needs_a_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
