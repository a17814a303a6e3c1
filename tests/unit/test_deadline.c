/*
 * test_deadline.c - the slow-client watchdog: who is cut off, and when.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitgate/deadline.h"

/* The peer of a shut-down socket reads end-of-file at once. */
static int
peer_sees_eof(int fd)
{
	char c;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void
test_deadline_sweep_cuts_only_armed_and_late(void **state)
{
	struct jg_deadline *d = jg_deadline_new(4, 1000);
	int slow[2], busy[2], fresh[2];
	(void)state;

	assert_non_null(d);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, slow), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fresh), 0);
	struct jg_deadline_slot *s1 = jg_deadline_open(d, slow[0], 0);
	struct jg_deadline_slot *s2 = jg_deadline_open(d, busy[0], 0);
	assert_non_null(s1);
	assert_non_null(s2);
	jg_deadline_disarm(d, s2); /* its request is being handled */
	assert_int_equal(jg_deadline_sweep(d, 999), 0);
	struct jg_deadline_slot *s3 = jg_deadline_open(d, fresh[0], 500);
	assert_int_equal(jg_deadline_sweep(d, 1000), 1);
	assert_true(peer_sees_eof(slow[1]));
	assert_false(peer_sees_eof(busy[1]));
	assert_false(peer_sees_eof(fresh[1]));
	assert_int_equal(jg_deadline_sweep(d, 1200), 0); /* cut once */
	/* a completed request re-arms: the kept-alive connection has as long again */
	jg_deadline_arm(d, s2, 1200);
	assert_int_equal(jg_deadline_sweep(d, 2199), 1); /* only s3, due at 1500 */
	assert_true(peer_sees_eof(fresh[1]));
	assert_false(peer_sees_eof(busy[1]));
	assert_int_equal(jg_deadline_sweep(d, 2200), 1);
	assert_true(peer_sees_eof(busy[1]));
	assert_int_equal(jg_deadline_cut_total(d), 3);
	jg_deadline_close(d, s1);
	jg_deadline_close(d, s2);
	jg_deadline_close(d, s3);
	for (int i = 0; i < 2; i++) {
		close(slow[i]);
		close(busy[i]);
		close(fresh[i]);
	}
	jg_deadline_free(d);
}

static void
test_deadline_slots_are_bounded_and_reused(void **state)
{
	struct jg_deadline *d = jg_deadline_new(2, 1000);
	(void)state;

	struct jg_deadline_slot *a = jg_deadline_open(d, 100, 0), *b = jg_deadline_open(d, 101, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(jg_deadline_open(d, 102, 0)); /* untracked, not an overflow */
	jg_deadline_close(d, a);
	assert_ptr_equal(jg_deadline_open(d, 103, 0), a);
	jg_deadline_close(d, NULL);
	jg_deadline_free(d);
	jg_deadline_free(NULL);
}

static void
test_deadline_watchdog_thread_cuts(void **state)
{
	struct jg_deadline *d = jg_deadline_new(2, 300);
	int sv[2];
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_non_null(jg_deadline_open(d, sv[0], jg_deadline_now()));
	assert_int_equal(jg_deadline_start(d), 0);
	char c;
	/* blocks until the watchdog shuts the socket down (about 300-500 ms) */
	assert_int_equal(recv(sv[1], &c, 1, 0), 0);
	jg_deadline_free(d);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deadline_sweep_cuts_only_armed_and_late),
	    cmocka_unit_test(test_deadline_slots_are_bounded_and_reused),
	    cmocka_unit_test(test_deadline_watchdog_thread_cuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
