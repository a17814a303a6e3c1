/*
 * test_workq.c - the fixed thread pool: every submitted task runs exactly
 * once, one thread runs tasks in submission order, freeing the pool runs
 * what is still queued before it returns, and a pool needs a thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include <pthread.h>

#include "jitgate/error.h"
#include "jitgate/workq.h"

/* A task embedded in the test's state, as the server embeds them in its own. */
struct counted {
	struct jg_workq_task task;
	int runs;   /* this task's own count: exactly once, not merely "enough" */
	int *total; /* shared, counted atomically across the pool's threads */
	int index;  /* its place in submission order */
	int *order; /* where a one-thread pool records the order it ran tasks in */
	int *order_n;
};

static void
counted_run(struct jg_workq_task *task)
{
	struct counted *c = (struct counted *)task;
	__atomic_add_fetch(&c->runs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(c->total, 1, __ATOMIC_RELAXED);
	if (c->order != NULL)
		c->order[(*c->order_n)++] = c->index; /* one thread: no race */
}

#define MANY 1000

static void
every_task_runs_exactly_once(void **state)
{
	static struct counted tasks[MANY];
	struct jg_workq *q = NULL;
	int total = 0;
	(void)state;

	assert_int_equal(jg_workq_new(4, &q), 0);
	assert_non_null(q);
	for (int i = 0; i < MANY; i++) {
		tasks[i] = (struct counted){.task.run = counted_run, .total = &total, .index = i};
		jg_workq_submit(q, &tasks[i].task);
	}
	jg_workq_free(q); /* joins: every task has finished once this returns */
	assert_int_equal(total, MANY);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(tasks[i].runs, 1);
}

static void
one_thread_runs_in_submission_order(void **state)
{
	static struct counted tasks[MANY];
	static int order[MANY];
	struct jg_workq *q = NULL;
	int total = 0, n = 0;
	(void)state;

	assert_int_equal(jg_workq_new(1, &q), 0);
	for (int i = 0; i < MANY; i++) {
		tasks[i] = (struct counted){.task.run = counted_run,
					    .total = &total,
					    .index = i,
					    .order = order,
					    .order_n = &n};
		jg_workq_submit(q, &tasks[i].task);
	}
	jg_workq_free(q);
	assert_int_equal(n, MANY);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(order[i], i);
}

/* Tasks that hold every thread until released, so the rest stay queued. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	int inside;
	int open;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

struct blocker {
	struct jg_workq_task task;
	int ran;
};

static void
blocker_run(struct jg_workq_task *task)
{
	struct blocker *b = (struct blocker *)task;
	pthread_mutex_lock(&gate.m);
	gate.inside++;
	pthread_cond_broadcast(&gate.c);
	while (!gate.open)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
	b->ran = 1;
}

/* Opens the gate only after the main thread has entered jg_workq_free (give it time). */
static void *
opener_main(void *arg)
{
	struct timespec pause = {0, 50 * 1000 * 1000};
	(void)arg;
	nanosleep(&pause, NULL);
	pthread_mutex_lock(&gate.m);
	gate.open = 1;
	pthread_cond_broadcast(&gate.c);
	pthread_mutex_unlock(&gate.m);
	return NULL;
}

#define THREADS 2
#define QUEUED	50

static void
free_runs_what_is_still_queued(void **state)
{
	struct blocker blockers[THREADS] = {0};
	static struct counted tasks[QUEUED];
	struct jg_workq *q = NULL;
	pthread_t opener;
	int total = 0;
	(void)state;

	assert_int_equal(jg_workq_new(THREADS, &q), 0);
	for (int i = 0; i < THREADS; i++) {
		blockers[i].task.run = blocker_run;
		jg_workq_submit(q, &blockers[i].task);
	}
	/* Every thread is busy: what comes next can only be queued. */
	pthread_mutex_lock(&gate.m);
	while (gate.inside < THREADS)
		pthread_cond_wait(&gate.c, &gate.m);
	pthread_mutex_unlock(&gate.m);
	for (int i = 0; i < QUEUED; i++) {
		tasks[i] = (struct counted){.task.run = counted_run, .total = &total, .index = i};
		jg_workq_submit(q, &tasks[i].task);
	}
	assert_int_equal(__atomic_load_n(&total, __ATOMIC_RELAXED), 0);
	/* Free while the queue is full; the gate opens while free waits for the threads. */
	assert_int_equal(pthread_create(&opener, NULL, opener_main, NULL), 0);
	jg_workq_free(q);
	pthread_join(opener, NULL);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(blockers[i].ran, 1);
	assert_int_equal(total, QUEUED);
	for (int i = 0; i < QUEUED; i++)
		assert_int_equal(tasks[i].runs, 1);
}

static void
zero_threads_is_invalid(void **state)
{
	struct jg_workq *q = (struct jg_workq *)&q; /* not NULL: new must clear it */
	(void)state;

	assert_int_equal(jg_workq_new(0, &q), JG_EINVAL);
	assert_null(q);
	q = (struct jg_workq *)&q;
	assert_int_equal(jg_workq_new(-1, &q), JG_EINVAL);
	assert_null(q);
	jg_workq_free(NULL); /* documented as fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_task_runs_exactly_once),
	    cmocka_unit_test(one_thread_runs_in_submission_order),
	    cmocka_unit_test(free_runs_what_is_still_queued),
	    cmocka_unit_test(zero_threads_is_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
