/*
 * test_witness.c - unit tests for src/witness: the add-checkpoint decision
 * on a real SQLite state file, and its atomicity under threads started
 * together.  The e2e suite (tests/e2e/witness.test.mjs) checks the statuses
 * over HTTPS against logs built from the specs alone; here the point is
 * what only a unit test sees: many submissions reaching the compare at the
 * same instant, and what the state file holds afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/sha256.h"
#include "jitgate/signed_note.h"
#include "jitgate/witness.h"
#include "unit_fs.h"

#define ORIGIN	"log.unit.example/a"
#define WITNESS "witness.unit.example/w"
#define RACERS	8

struct fixture {
	char dir[64];
	EVP_PKEY *log_key;
	struct jg_witness *w;
	struct jg_note_verifier cosigner;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct jg_witness_log log;
	char path[128], err[256];
	EVP_PKEY *wkey;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/jg-witness-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->log_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	wkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(f->log_key);
	assert_non_null(wkey);
	memset(&log, 0, sizeof(log));
	snprintf(log.origin, sizeof(log.origin), "%s", ORIGIN);
	assert_int_equal(jg_signed_note_verifier_init(&log.keys[0], ORIGIN, f->log_key), 0);
	log.n_keys = 1;
	assert_int_equal(jg_signed_note_cosigner_init(&f->cosigner, WITNESS, wkey), 0);
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(jg_witness_open(WITNESS, wkey, path, &log, 1, &f->w, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_witness_free(f->w);
	EVP_PKEY_free(f->log_key);
	unit_rm_tree(f->dir);
	free(f);
	return 0;
}

/* "old N\n\n" and the log's note of a checkpoint of size with a root made from seed. */
static char *
submission(struct fixture *f, uint64_t old, uint64_t size, int seed)
{
	uint8_t root[32];
	char *body = NULL, *note = NULL, *req = NULL;
	size_t body_len, note_len;

	assert_int_equal(jg_sha256(&seed, sizeof(seed), root), 0);
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, size, root, &body, &body_len), 0);
	assert_int_equal(jg_signed_note_sign(body, body_len, ORIGIN, f->log_key, &note, &note_len),
			 0);
	assert_true(asprintf(&req, "old %llu\n\n%s", (unsigned long long)old, note) > 0);
	free(body);
	free(note);
	return req;
}

static int
submit(struct fixture *f, const char *req, struct jg_witness_answer *ans)
{
	int rc = jg_witness_add_checkpoint(f->w, req, strlen(req), 1700000000, ans);
	assert_int_equal(rc, 0);
	return ans->status;
}

/* The first checkpoint is cosigned, stored, and readable with the cosignature. */
static void
test_witness_first_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct jg_witness_answer ans;
	struct jg_signed_note *note = NULL;
	char *req = submission(f, 0, 7, 1), *latest = NULL;
	uint64_t t;
	size_t len;

	assert_int_equal(submit(f, req, &ans), 200);
	assert_int_equal(ans.size, 7);
	assert_int_equal(jg_witness_latest(f->w, ORIGIN, &latest, &len), 0);
	assert_int_equal(jg_signed_note_parse(latest, len, &note), 0);
	assert_int_equal(jg_signed_note_verify_time(note, &f->cosigner, &t), 0);
	assert_int_equal(t, 1700000000);
	/* the answer's line is the stored one */
	assert_non_null(strstr(latest, ans.body));
	free(latest);
	assert_int_equal(jg_witness_latest(f->w, "other.example/log", &latest, &len), JG_ENOTFOUND);
	assert_null(latest);
	jg_signed_note_free(note);
	free(ans.body);
	free(req);
	free(latest);
}

/* A second log signature from 0 is a conflict naming the size held; a fork at that size too. */
static void
test_witness_conflicts(void **state)
{
	struct fixture *f = *state;
	struct jg_witness_answer ans;
	char *first = submission(f, 0, 7, 1), *again = submission(f, 0, 9, 2),
	     *fork = submission(f, 7, 7, 3), *same = submission(f, 7, 7, 1);

	assert_int_equal(submit(f, first, &ans), 200);
	free(ans.body);
	assert_int_equal(submit(f, again, &ans), 409);
	assert_string_equal(ans.body, "7\n");
	free(ans.body);
	assert_int_equal(submit(f, fork, &ans), 409);
	assert_string_equal(ans.body, "7\n");
	free(ans.body);
	assert_int_equal(submit(f, same, &ans), 200);
	free(ans.body);
	free(first);
	free(again);
	free(fork);
	free(same);
}

struct racer {
	struct fixture *f;
	pthread_barrier_t *start;
	char *req;
	int status;
	char *body;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct jg_witness_answer ans;

	pthread_barrier_wait(r->start);
	r->status =
	    jg_witness_add_checkpoint(r->f->w, r->req, strlen(r->req), 1700000000, &ans) == 0
		? ans.status
		: -1;
	r->body = ans.body;
	return NULL;
}

/* Replaces the fixture's witness by a new one with an empty state file of its own. */
static void
fresh_witness(struct fixture *f, int n)
{
	EVP_PKEY *wkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct jg_witness_log log;
	char path[128], err[256];

	assert_non_null(wkey);
	memset(&log, 0, sizeof(log));
	snprintf(log.origin, sizeof(log.origin), "%s", ORIGIN);
	assert_int_equal(jg_signed_note_verifier_init(&log.keys[0], ORIGIN, f->log_key), 0);
	log.n_keys = 1;
	jg_witness_free(f->w);
	snprintf(path, sizeof(path), "%s/state-%d.db", f->dir, n);
	assert_int_equal(jg_witness_open(WITNESS, wkey, path, &log, 1, &f->w, err, sizeof(err)), 0);
}

/*
 * Threads released together each submit a first checkpoint ("old 0") of
 * another size: the witness must cosign exactly one and answer every other
 * with 409 and the winner's size - never two cosignatures from one size.
 * Rounds on fresh state files, since only a first checkpoint can be made up
 * here without a tree to prove consistency from.
 */
static void
test_witness_race_one_winner(void **state)
{
	struct fixture *f = *state;
	struct racer racers[RACERS];
	pthread_t threads[RACERS];
	pthread_barrier_t start;

	for (int round = 0; round < 20; round++) {
		char held[32];
		int won = 0, winner = -1;

		fresh_witness(f, round);
		assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++) {
			racers[i] = (struct racer){f, &start, submission(f, 0, 10 + (uint64_t)i, i),
						   0, NULL};
			assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
		}
		for (int i = 0; i < RACERS; i++) {
			pthread_join(threads[i], NULL);
			if (racers[i].status == 200) {
				won++;
				winner = 10 + i;
			}
		}
		pthread_barrier_destroy(&start);
		assert_int_equal(won, 1);
		snprintf(held, sizeof(held), "%d\n", winner);
		for (int i = 0; i < RACERS; i++) {
			if (racers[i].status != 200) {
				assert_int_equal(racers[i].status, 409);
				assert_string_equal(racers[i].body, held);
			}
			free(racers[i].body);
			free(racers[i].req);
		}
	}
}

/*
 * A resubmission of the held checkpoint with junk lines added (one
 * claiming the witness's own key) is cosigned again, but what the witness
 * keeps and serves is the text, the log's line and its own: it verifies.
 */
static void
test_witness_keeps_only_verified_lines(void **state)
{
	struct fixture *f = *state;
	struct jg_witness_answer ans;
	struct jg_signed_note *note = NULL;
	char *first = submission(f, 0, 7, 1), *again = NULL, *latest = NULL;
	uint8_t blob[4 + 8 + 64] = {0};
	char b64[4 * ((sizeof(blob) + 2) / 3) + 1];
	uint64_t t;
	size_t len;

	assert_int_equal(submit(f, first, &ans), 200);
	free(ans.body);
	/* a line under the witness's own name and key ID whose signature is zeros */
	blob[0] = (uint8_t)(f->cosigner.key_id >> 24);
	blob[1] = (uint8_t)(f->cosigner.key_id >> 16);
	blob[2] = (uint8_t)(f->cosigner.key_id >> 8);
	blob[3] = (uint8_t)f->cosigner.key_id;
	EVP_EncodeBlock((unsigned char *)b64, blob, (int)sizeof(blob));
	const char *text = strstr(first, "\n\n");
	assert_non_null(text);
	/* the held checkpoint again (old 7, size 7), the junk after the log's line */
	assert_true(asprintf(&again, "old 7\n%s\xe2\x80\x94 " WITNESS " %s\n", text + 1, b64) > 0);
	assert_int_equal(submit(f, again, &ans), 200);
	free(ans.body);
	assert_int_equal(jg_witness_latest(f->w, ORIGIN, &latest, &len), 0);
	assert_null(strstr(latest, b64));
	assert_int_equal(jg_signed_note_parse(latest, len, &note), 0);
	assert_int_equal(note->n_sigs, 2); /* the log's line and the witness's */
	assert_int_equal(jg_signed_note_verify_time(note, &f->cosigner, &t), 0);
	jg_signed_note_free(note);
	free(latest);
	free(again);
	free(first);
}

/* Malformed requests and foreign signatures are refused before anything is read or stored. */
static void
test_witness_refusals(void **state)
{
	struct fixture *f = *state;
	struct jg_witness_answer ans;
	char *good = submission(f, 0, 3, 1), *note = strstr(good, "\n\n") + 2, *req = NULL;
	EVP_PKEY *intruder = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *body = NULL, *forged = NULL;
	size_t body_len, forged_len;
	uint8_t root[32] = {1};

	assert_int_equal(submit(f, "", &ans), 400);
	assert_int_equal(submit(f, "old 1", &ans), 400);
	assert_true(asprintf(&req, "old 01\n\n%s", note) > 0);
	assert_int_equal(submit(f, req, &ans), 400);
	free(req);
	assert_true(asprintf(&req, "old 4\n\n%s", note) > 0); /* above the checkpoint's 3 */
	assert_int_equal(submit(f, req, &ans), 400);
	free(req);
	assert_true(
	    asprintf(&req, "old 0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n%s", note) > 0);
	assert_int_equal(submit(f, req, &ans), 400); /* a proof from 0 */
	free(req);
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, 3, root, &body, &body_len), 0);
	assert_int_equal(
	    jg_signed_note_sign(body, body_len, ORIGIN, intruder, &forged, &forged_len), 0);
	assert_true(asprintf(&req, "old 0\n\n%s", forged) > 0);
	assert_int_equal(submit(f, req, &ans), 403);
	free(req);
	/* nothing was stored by any of them */
	char *latest = NULL;
	size_t len;
	assert_int_equal(jg_witness_latest(f->w, ORIGIN, &latest, &len), JG_ENOTFOUND);
	EVP_PKEY_free(intruder);
	free(body);
	free(forged);
	free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_witness_first_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_witness_conflicts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_witness_race_one_winner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_witness_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_witness_keeps_only_verified_lines, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
