/*
 * test_clock_step.c - the background threads keep their pace when the wall
 * clock is stepped back (docs/reliability.md, "Clock steps").
 *
 * Stepping the real clock needs CAP_SYS_TIME and would disturb a shared
 * host, and libfaketime replaces pthread_cond_timedwait itself, so it
 * cannot show a stall.  Instead jitgate's code is linked with wrappers
 * (-Wl,--wrap=clock_gettime,--wrap=pthread_cond_init,
 * --wrap=pthread_cond_timedwait, see the Makefile) that emulate the step:
 *
 *   clock_gettime(CLOCK_REALTIME) reads the real clock less the steps
 *   taken so far (CLOCK_MONOTONIC is left alone, as a step leaves it);
 *
 *   pthread_cond_init records the clock of each condition;
 *
 *   a timed wait on a condition of the wall clock (CLOCK_REALTIME, the
 *   default) ends when the emulated wall clock reaches its deadline, i.e.
 *   the real clock reaches deadline + the steps, re-read every 50 ms so a
 *   step during the wait moves it as the kernel would.  A step taken while
 *   the thread was between two waits is charged to the next wait as if
 *   its deadline had been read just before the step (the worst of the
 *   possible interleavings, taken so the test does not depend on timing);
 *
 *   a timed wait on a CLOCK_MONOTONIC condition is left alone, but its
 *   deadline must lie on the monotonic clock (now .. now + an hour).
 *
 * Each test starts one kind of thread, steps the wall clock back an hour,
 * gives the thread work that its next tick would do (or waits for work it
 * scheduled before the step, such as a notification's retry), and requires
 * the work done within seconds.  The HTTPS client is replaced too
 * (--wrap=jg_httpc_request): notifications and the audit stream are
 * "delivered" to a counter that answers 200.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/audit.h"
#include "jitgate/audit_stream.h"
#include "jitgate/config.h"
#include "jitgate/deadline.h"
#include "jitgate/error.h"
#include "jitgate/httpc.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/notify.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"
#include "unit_fs.h"

#define STEP_SECONDS 3600 /* how far the wall clock goes back */
#define STEP_MS	     ((int64_t)STEP_SECONDS * 1000)
#define WITHIN_MS    5000 /* how soon the work must be done after the step */

/* ---- the wrapped functions ------------------------------------------------- */

int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);
int __real_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr);
int __wrap_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *until);
int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *until);
int __wrap_jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
			    struct jg_httpc_reply *reply);

#define MAX_CONDS 512

/* The clock each condition was initialised with (the last init of that address wins). */
static struct {
	pthread_mutex_t m;
	const pthread_cond_t *cond[MAX_CONDS];
	clockid_t clock[MAX_CONDS];
	size_t n;
} conds = {.m = PTHREAD_MUTEX_INITIALIZER};

static atomic_uint steps;		  /* wall-clock steps back so far */
static atomic_int wall_waits;		  /* timed waits on a condition of the wall clock */
static atomic_int off_clock_waits;	  /* monotonic condition, deadline not on that clock */
static _Thread_local unsigned seen_steps; /* the steps this thread's last wait knew of */
static atomic_uint steps_before_test;	  /* taken before this test's threads started */

int
__wrap_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	clockid_t clock = CLOCK_REALTIME; /* POSIX's default */
	if (attr != NULL && pthread_condattr_getclock(attr, &clock) != 0)
		clock = CLOCK_REALTIME;
	pthread_mutex_lock(&conds.m);
	size_t i = 0;
	while (i < conds.n && conds.cond[i] != c)
		i++;
	if (i < MAX_CONDS) {
		conds.cond[i] = c;
		conds.clock[i] = clock;
		if (i == conds.n)
			conds.n++;
	}
	pthread_mutex_unlock(&conds.m);
	return __real_pthread_cond_init(c, attr);
}

static clockid_t
clock_of(const pthread_cond_t *c)
{
	clockid_t clock = CLOCK_REALTIME; /* PTHREAD_COND_INITIALIZER: the wall clock */
	pthread_mutex_lock(&conds.m);
	for (size_t i = 0; i < conds.n; i++)
		if (conds.cond[i] == c)
			clock = conds.clock[i];
	pthread_mutex_unlock(&conds.m);
	return clock;
}

static int64_t
ms_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

/* The real clocks (the test's own measure, and the wrappers'). */
static int64_t
now_ms(clockid_t clock)
{
	struct timespec ts;
	__real_clock_gettime(clock, &ts);
	return ms_of(&ts);
}

int
__wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
	int rc = __real_clock_gettime(clock, ts);
	if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
		ts->tv_sec -= (time_t)atomic_load(&steps) * STEP_SECONDS;
	return rc;
}

int
__wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *until)
{
	clockid_t clock = clock_of(c);

	if (clock == CLOCK_MONOTONIC) {
		int64_t now = now_ms(CLOCK_MONOTONIC), at = ms_of(until);
		if (at < now - 1000 || at > now + STEP_MS)
			atomic_fetch_add(&off_clock_waits, 1);
		return __real_pthread_cond_timedwait(c, m, until);
	}
	atomic_fetch_add(&wall_waits, 1);
	/* steps since this thread's last wait (in this test): as if taken just after it read the
	 * deadline */
	unsigned s = atomic_load(&steps), before = atomic_load(&steps_before_test);
	if (seen_steps < before)
		seen_steps = before;
	int64_t at = ms_of(until) + (int64_t)(s - seen_steps) * STEP_MS;
	for (;;) {
		s = atomic_load(&steps);
		seen_steps = s;
		int64_t deadline = at + (int64_t)s * STEP_MS, now = now_ms(CLOCK_REALTIME),
			slice = deadline < now + 50 ? deadline : now + 50;
		struct timespec ts = {.tv_sec = slice / 1000, .tv_nsec = (slice % 1000) * 1000000L};
		int rc = __real_pthread_cond_timedwait(c, m, &ts);
		if (rc != ETIMEDOUT || slice == deadline)
			return rc;
	}
}

/* Deliveries seen: by URL prefix, answered 200. */
static struct {
	pthread_mutex_t m;
	int notifications, stream_batches;
	int fail_notifications; /* answer this many more notifications with 500 */
} seen = {.m = PTHREAD_MUTEX_INITIALIZER};

#define HOOK_URL "https://hooks.test/jitgate"
#define SIEM_URL "https://siem.test/ingest"

int
__wrap_jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
			struct jg_httpc_reply *reply)
{
	(void)body;
	(void)opts;
	memset(reply, 0, sizeof(*reply));
	reply->status = 200;
	pthread_mutex_lock(&seen.m);
	if (strcmp(url, HOOK_URL) == 0) {
		seen.notifications++;
		if (seen.fail_notifications > 0) {
			seen.fail_notifications--;
			reply->status = 500;
		}
	} else if (strcmp(url, SIEM_URL) == 0) {
		seen.stream_batches++;
	}
	pthread_mutex_unlock(&seen.m);
	return 0;
}

static int
seen_count(const int *counter)
{
	pthread_mutex_lock(&seen.m);
	int n = *counter;
	pthread_mutex_unlock(&seen.m);
	return n;
}

/* ---- fixture ---------------------------------------------------------------- */

static const char config_fmt[] =
    "public_url: \"https://jg.example.com\"\n"
    "tls: {cert_file: c.pem, key_file: k.pem}\n"
    "database: {url: \"sqlite://test.db\"}\n"
    "oidc: {issuer: \"https://sso.example.com\", client_id: jg, allowed_clients: [jg]}\n"
    "telemetry: {database: tel.db, logs_retention_seconds: 1}\n"
    "notifications:\n"
    "  retry_base_ms: 2000\n"
    "  retry_max_ms: 2000\n"
    "  sinks:\n"
    "    - {name: ops, type: slack, url: \"" HOOK_URL "\", audiences: [operators, approvers]}\n"
    "audit_stream: {type: webhook, url: \"" SIEM_URL "\"}\n";

struct fixture {
	char root[64];
	struct jg_config *cfg;
	struct jg_store *store, *telemetry;
	struct jg_audit *audit;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "", keys[128];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-clock-step-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	if (jg_config_parse(config_fmt, strlen(config_fmt), "t.yaml", f->root, &f->cfg, err,
			    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	free(f->cfg->migrations_dir); /* the repository's, not beside the config */
	assert_non_null(f->cfg->migrations_dir = strdup("migrations"));
	if (jg_store_open(f->cfg->database_path, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	if (jg_telemetry_migrate(f->cfg, NULL, err, sizeof(err)) != 0 ||
	    jg_telemetry_open(f->cfg, &f->telemetry, err, sizeof(err)) != 0)
		fail_msg("telemetry: %s", err);
	snprintf(keys, sizeof(keys), "%s/keys", f->root);
	/* checkpoints by time only: one second after the first entry they do not cover */
	struct jg_audit_config acfg = {.origin = "jg.example.com/audit",
				       .checkpoint_entries = 1000000,
				       .checkpoint_seconds = 1,
				       .verify_threads = 1};
	if (jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(f->store, keys, &acfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("audit: %s", err);
	atomic_store(&steps_before_test, atomic_load(&steps));
	atomic_store(&wall_waits, 0);
	atomic_store(&off_clock_waits, 0);
	pthread_mutex_lock(&seen.m);
	seen.notifications = seen.stream_batches = seen.fail_notifications = 0;
	pthread_mutex_unlock(&seen.m);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	jg_audit_free(f->audit);
	jg_store_close(f->telemetry);
	jg_store_close(f->store);
	jg_config_free(f->cfg);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/*
 * The wall clock goes back STEP_SECONDS while the threads started sleep.
 * 400 ms before the step lets each finish its first round (so work given
 * afterwards is left for a round after the step), and 400 ms after it lets
 * a round that was running at the step end and go to sleep again.
 */
static void
step_back(void)
{
	usleep(400000);
	atomic_fetch_add(&steps, 1);
	usleep(400000);
}

/* Polls done(arg) every 20 ms for WITHIN_MS; returns how long it took, or -1. */
static int64_t
within(bool (*done)(void *arg), void *arg)
{
	int64_t start = now_ms(CLOCK_MONOTONIC);
	while (!done(arg)) {
		if (now_ms(CLOCK_MONOTONIC) - start > WITHIN_MS)
			return -1;
		usleep(20000);
	}
	return now_ms(CLOCK_MONOTONIC) - start;
}

static void
assert_monotonic_waits(const char *thread)
{
	if (atomic_load(&wall_waits) != 0 || atomic_load(&off_clock_waits) != 0)
		fail_msg("%s: %d timed wait(s) on the wall clock, %d with a deadline off the "
			 "monotonic clock",
			 thread, atomic_load(&wall_waits), atomic_load(&off_clock_waits));
}

static int64_t
count_rows(struct jg_store *db, const char *sql)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t v = -1;
	assert_int_equal(jg_store_acquire(db, &conn), 0);
	assert_int_equal(jg_stmt_prepare(conn, sql, &st), 0);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	jg_store_release(db, conn);
	return v;
}

/* ---- the tests -------------------------------------------------------------- */

static bool
logs_gone(void *arg)
{
	return count_rows(arg, "SELECT count(*) FROM logs") == 0;
}

/* Telemetry retention: a log past its retention is deleted at the next tick. */
static void
test_step_telemetry_sweeper(void **state)
{
	struct fixture *f = *state;
	struct jg_telemetry_sweeper *sw = NULL;
	char *fields[] = {NULL};

	assert_int_equal(jg_telemetry_sweeper_start(f->telemetry, f->cfg, &sw), 0);
	step_back();
	json_t *logs = json_pack("[{s:I,s:I,s:i,s:s,s:s,s:s,s:{},s:{},s:{},s:n,s:n}]", "time_ns",
				 (json_int_t)1795600800000000000LL, "observed_ns",
				 (json_int_t)1795600800000000000LL, "severity_number", 9,
				 "severity_text", "INFO", "level", "info", "body", "old news",
				 "attributes", "resource", "scope", "trace_id", "span_id");
	/* received 10 s ago (the receipt time is the wall clock's), kept 1 s */
	assert_int_equal(
	    jg_telemetry_store_logs(f->telemetry, "pay", logs, fields, (int64_t)time(NULL) - 10),
	    0);
	json_decref(logs);
	int64_t took = within(logs_gone, f->telemetry);
	jg_telemetry_sweeper_stop(sw);
	if (took < 0)
		fail_msg("the expired log was not deleted within %d ms of a step back", WITHIN_MS);
	assert_monotonic_waits("telemetry sweeper");
}

static bool
notified(void *arg)
{
	(void)arg;
	return seen_count(&seen.notifications) >= 1;
}

struct queue_job {
	struct jg_notify *n;
};

static int
queue_fn(struct jg_audit_tx *tx, void *ctx)
{
	struct queue_job *j = ctx;
	json_t *r =
	    json_pack("{s:s,s:s,s:s,s:s,s:[s],s:s,s:{s:[s],s:[]},s:[]}", "id", "req_1", "state",
		      "pending", "requester", "alice", "service", "payment-api", "capabilities",
		      "read-logs", "justification", "INC-1", "decision", "matched_rules",
		      "payments-debug#rules[0]", "requirements", "requester_groups");
	int rc = jg_notify_request(j->n, jg_audit_tx_conn(tx), "request.pending", r,
				   JG_NOTIFY_APPROVERS, NULL);
	json_decref(r);
	return rc != 0 ? rc : jg_audit_tx_append(tx, "test.change", "user:alice", NULL, NULL);
}

/* Notifications: a row queued after the step is delivered by the sink's thread. */
static void
test_step_notify_sink(void **state)
{
	struct fixture *f = *state;
	struct jg_notify *n = NULL;
	char err[256];

	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_notify_new(f->store, f->audit, f->cfg, &n, err, sizeof(err)) != 0)
		fail_msg("notify: %s", err);
	assert_int_equal(jg_notify_start(n), 0);
	step_back();
	struct queue_job j = {n};
	assert_int_equal(jg_audit_run(f->audit, queue_fn, &j), 0);
	int64_t took = within(notified, NULL);
	jg_notify_free(n);
	if (took < 0)
		fail_msg("a queued notification was not delivered within %d ms of a step back",
			 WITHIN_MS);
	assert_monotonic_waits("notify");
}

static bool
retried(void *arg)
{
	(void)arg;
	return seen_count(&seen.notifications) >= 2;
}

static bool
attempted_once(void *arg)
{
	return count_rows(arg, "SELECT count(*) FROM notify_outbox WHERE attempts = 1") == 1;
}

/* Notifications: a retry scheduled before the step (1.5 to 2 s on) is made on time. */
static void
test_step_notify_retry(void **state)
{
	struct fixture *f = *state;
	struct jg_notify *n = NULL;
	char err[256];

	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_notify_new(f->store, f->audit, f->cfg, &n, err, sizeof(err)) != 0)
		fail_msg("notify: %s", err);
	pthread_mutex_lock(&seen.m);
	seen.fail_notifications = 1;
	pthread_mutex_unlock(&seen.m);
	assert_int_equal(jg_notify_start(n), 0);
	struct queue_job j = {n};
	assert_int_equal(jg_audit_run(f->audit, queue_fn, &j), 0);
	int64_t took = within(attempted_once, f->store); /* failed once, retry scheduled */
	if (took >= 0) {
		step_back();
		took = within(retried, NULL);
	}
	jg_notify_free(n);
	if (took < 0)
		fail_msg("a failed notification was not retried within %d ms of a step back "
			 "(%d attempt(s))",
			 WITHIN_MS, seen_count(&seen.notifications));
	assert_monotonic_waits("notify");
}

static bool
streamed(void *arg)
{
	(void)arg;
	return seen_count(&seen.stream_batches) >= 1;
}

/* The audit stream: an entry appended after the step reaches the SIEM. */
static void
test_step_audit_stream(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_stream *s = NULL;
	char err[256];

	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_audit_stream_new(f->store, f->cfg, &s, err, sizeof(err)) != 0)
		fail_msg("stream: %s", err);
	assert_int_equal(jg_audit_stream_start(s), 0);
	step_back();
	assert_int_equal(jg_audit_append(f->audit, "test.event", "system", NULL, NULL), 0);
	int64_t took = within(streamed, NULL);
	jg_audit_stream_free(s);
	if (took < 0)
		fail_msg("an audit entry was not streamed within %d ms of a step back", WITHIN_MS);
	assert_monotonic_waits("audit stream");
}

static bool
checkpointed(void *arg)
{
	struct fixture *f = arg;
	char *note = NULL;
	uint64_t size = 0;
	if (jg_audit_latest_checkpoint(f->store, &note, &size, NULL) != 0)
		return false;
	free(note);
	return size >= 1;
}

/* The checkpointer: an entry is covered by a checkpoint checkpoint_seconds after it. */
static void
test_step_audit_checkpointer(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(jg_audit_start(f->audit), 0);
	step_back();
	assert_int_equal(jg_audit_append(f->audit, "test.event", "system", NULL, NULL), 0);
	int64_t took = within(checkpointed, f);
	jg_audit_stop(f->audit);
	if (took < 0)
		fail_msg("no checkpoint within %d ms of a step back", WITHIN_MS);
	assert_monotonic_waits("audit checkpointer");
}

static bool
cut(void *arg)
{
	return jg_deadline_cut_total(arg) >= 1;
}

/* The slow-client watchdog: a connection past its deadline is cut. */
static void
test_step_deadline_watchdog(void **state)
{
	int fds[2];
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	struct jg_deadline *d = jg_deadline_new(4, 100);
	assert_non_null(d);
	assert_int_equal(jg_deadline_start(d), 0);
	step_back();
	assert_non_null(jg_deadline_open(d, fds[0], jg_deadline_now()));
	int64_t took = within(cut, d);
	jg_deadline_free(d);
	close(fds[0]);
	close(fds[1]);
	if (took < 0)
		fail_msg("a slow connection was not cut within %d ms of a step back", WITHIN_MS);
	assert_monotonic_waits("deadline watchdog");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_step_telemetry_sweeper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_notify_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_notify_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_audit_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_audit_checkpointer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_deadline_watchdog, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
