/*
 * test_audit_sink.c - the audit log's off-host sinks, with the HTTPS client
 * and strdup replaced at link time (-Wl,--wrap=jg_httpc_request,--wrap=strdup,
 * see the Makefile): the push is observed where it happens, on the
 * background thread, and an allocation is made to fail on purpose.
 *
 * The tests prove that a push to the HTTPS sink holds no store connection
 * while it waits for the sink (the whole pool but the writer's connection
 * can be borrowed during the push), that a push is recorded once it
 * succeeded and retried while it fails (jg_audit_oldest_unpushed tells the
 * operator alert which checkpoint is waiting), and that jg_audit_open fails
 * when a sink's configuration cannot be copied instead of starting without
 * that sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <pthread.h>

#include "jitgate/audit.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/httpc.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/store.h"
#include "unit_fs.h"

#define ORIGIN	 "jitgate.test/sink"
#define SINK_URL "https://sink.test/checkpoints"

/* ---- the wrapped functions ------------------------------------------------- */

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
int __wrap_jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
			    struct jg_httpc_reply *reply);

/* strdup of exactly this pointer fails (NULL: none does). */
static const char *fail_strdup_of;

char *
__wrap_strdup(const char *s)
{
	if (s != NULL && s == fail_strdup_of)
		return NULL;
	return __real_strdup(s);
}

/* What the sink saw, and what the pool looked like while it was being pushed to. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	struct jg_store *store; /* the pool a push must leave free */
	int calls;
	int fail_next;	    /* answer the next push with JG_EIO */
	int pool_free;	    /* every connection but the writer's could be borrowed during a push */
	int borrowed;	    /* the borrower thread got them */
	pthread_t borrower; /* joined by the test */
	int borrower_started;
	char url[128];
	char body[4096];
} sink = {.m = PTHREAD_MUTEX_INITIALIZER};

/*
 * Borrows every connection the writer does not hold, then gives them back.
 * (No cmocka asserts off the test's thread: the outcome is read by the test.)
 */
static void *
borrow_pool(void *arg)
{
	struct jg_store_conn *c[JG_STORE_POOL_SIZE - 1];
	int n = 0;
	(void)arg;
	while (n < JG_STORE_POOL_SIZE - 1 && jg_store_acquire(sink.store, &c[n]) == 0)
		n++;
	pthread_mutex_lock(&sink.m);
	sink.borrowed = n == JG_STORE_POOL_SIZE - 1;
	pthread_cond_broadcast(&sink.c);
	pthread_mutex_unlock(&sink.m);
	for (int i = 0; i < n; i++)
		jg_store_release(sink.store, c[i]);
	return NULL;
}

int
__wrap_jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
			struct jg_httpc_reply *reply)
{
	struct timespec until;
	int fail;

	(void)opts;
	memset(reply, 0, sizeof(*reply));
	pthread_mutex_lock(&sink.m);
	snprintf(sink.url, sizeof(sink.url), "%s", url);
	snprintf(sink.body, sizeof(sink.body), "%s", body ? body : "");
	fail = sink.fail_next;
	sink.fail_next = 0;
	/*
	 * While this push waits for the sink, another thread must be able to
	 * borrow the whole pool but the writer's connection.  If the pusher
	 * held one, the borrower would wait until the push ended: give it 2 s.
	 */
	if (!sink.borrower_started) {
		sink.borrowed = 0;
		/* not started: pool_free stays 0 and the test fails on it */
		sink.borrower_started =
		    pthread_create(&sink.borrower, NULL, borrow_pool, NULL) == 0;
		jg_clock_deadline(&until, 2000);
		while (!sink.borrowed && pthread_cond_timedwait(&sink.c, &sink.m, &until) == 0)
			;
		sink.pool_free = sink.borrowed;
	}
	sink.calls++;
	pthread_cond_broadcast(&sink.c);
	pthread_mutex_unlock(&sink.m);
	if (fail)
		return JG_EIO;
	reply->status = 200;
	return 0;
}

/* ---- fixture ---------------------------------------------------------------- */

struct fixture {
	char root[64];
	char db[128];
	char keys[128];
	struct jg_store *store;
	struct jg_audit *audit;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-audit-sink-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (jg_store_open(f->db, &f->store, err, sizeof(err)) != 0)
		fail_msg("jg_store_open: %s", err);
	if (jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("jg_migrate_apply: %s", err);
	if (jg_keys_generate(f->keys, err, sizeof(err)) != 0)
		fail_msg("jg_keys_generate: %s", err);
	pthread_mutex_lock(&sink.m);
	sink.store = f->store;
	sink.calls = sink.fail_next = sink.pool_free = sink.borrowed = 0;
	sink.borrower_started = 0;
	pthread_mutex_unlock(&sink.m);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	if (sink.borrower_started)
		pthread_join(sink.borrower, NULL);
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

static struct jg_audit_config
config(void)
{
	struct jg_audit_config cfg = {
	    .origin = ORIGIN,
	    .checkpoint_entries = 1000000, /* checkpoints only when a test asks */
	    .checkpoint_seconds = 3600,
	    .sink_url = SINK_URL,
	    .verify_threads = 2,
	};
	return cfg;
}

/* Waits (up to 10 s) until the sink has been called at least n times. */
static void
wait_calls(int n)
{
	struct timespec until;
	jg_clock_deadline(&until, 10000);
	pthread_mutex_lock(&sink.m);
	while (sink.calls < n && pthread_cond_timedwait(&sink.c, &sink.m, &until) == 0)
		;
	int calls = sink.calls;
	pthread_mutex_unlock(&sink.m);
	if (calls < n)
		fail_msg("the sink was called %d times, %d expected", calls, n);
}

/* Waits (up to 10 s) until no checkpoint is waiting for sink. */
static void
wait_pushed(struct fixture *f, const char *sink_name)
{
	int64_t at;
	for (int i = 0; i < 1000; i++) {
		if (jg_audit_oldest_unpushed(f->store, sink_name, &at) == JG_ENOTFOUND)
			return;
		struct timespec pause = {0, 10 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	fail_msg("the checkpoint was never recorded as pushed to %s", sink_name);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_audit_sink_push_holds_no_connection(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = config();
	char err[512] = "", *note = NULL;
	uint64_t size = 0;
	int64_t at = 0;

	if (jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	assert_int_equal(jg_audit_oldest_unpushed(f->store, JG_AUDIT_SINK_URL, &at), JG_ENOTFOUND);

	assert_int_equal(jg_audit_append(f->audit, "thing.done", "tester", NULL, NULL), 0);
	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	assert_int_equal(size, 1);
	wait_calls(1);
	pthread_mutex_lock(&sink.m);
	int pool_free = sink.pool_free;
	assert_string_equal(sink.url, SINK_URL);
	assert_string_equal(sink.body, note);
	pthread_mutex_unlock(&sink.m);
	assert_true(pool_free); /* the pusher held a connection while it pushed */
	wait_pushed(f, JG_AUDIT_SINK_URL);
	/* the directory sink is not configured: that checkpoint waits for it */
	assert_int_equal(jg_audit_oldest_unpushed(f->store, JG_AUDIT_SINK_DIR, &at), 0);
	free(note);
}

static void
test_audit_sink_failed_push_retried_then_recorded(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = config();
	char err[512] = "";
	uint64_t size = 0;
	int64_t at = 0;

	if (jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("jg_audit_open: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	pthread_mutex_lock(&sink.m);
	sink.fail_next = 1;
	pthread_mutex_unlock(&sink.m);
	int64_t before = jg_clock_now_ms();
	assert_int_equal(jg_audit_append(f->audit, "thing.done", "tester", NULL, NULL), 0);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	wait_calls(1);
	/* refused by the sink: still waiting, since the checkpoint was made */
	assert_int_equal(jg_audit_oldest_unpushed(f->store, JG_AUDIT_SINK_URL, &at), 0);
	assert_true(at >= before && at <= jg_clock_now_ms());
	/* the background thread tries again (every second) and records the success */
	wait_calls(2);
	wait_pushed(f, JG_AUDIT_SINK_URL);
}

/* A sink whose address cannot be copied must not be dropped: the log does not open. */
static void
test_audit_open_fails_when_a_sink_cannot_be_copied(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = config();
	char err[512] = "", dir[160];

	snprintf(dir, sizeof(dir), "%s/sink", f->root);
	cfg.sink_dir = dir;
	cfg.sink_ca_file = "/etc/ssl/certs/ca-certificates.crt";
	const char *each[] = {cfg.sink_url, cfg.sink_dir, cfg.sink_ca_file};
	for (size_t i = 0; i < 3; i++) {
		fail_strdup_of = each[i];
		int rc = jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err));
		fail_strdup_of = NULL;
		if (rc != JG_ENOMEM)
			fail_msg("sink setting %zu not copied: jg_audit_open returned %d", i, rc);
		assert_null(f->audit);
	}
	assert_int_equal(jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	if (jg_clock_cond_init(&sink.c) != 0) /* the waits below use jg_clock_deadline */
		return 1;
	const struct CMUnitTest tests[] = {
	    T(test_audit_sink_push_holds_no_connection),
	    T(test_audit_sink_failed_push_retried_then_recorded),
	    T(test_audit_open_fails_when_a_sink_cannot_be_copied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
