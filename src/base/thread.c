/*
 * thread.c - the background-thread primitive (see thread.h).
 *
 * Two flags under one mutex say why a sleep ends: `woken` (run the next
 * tick now; cleared when a tick starts, so a wake during a tick skips the
 * next sleep instead of being lost) and `stopping` (checked before every
 * tick).  The timed sleep waits on a condition initialised for
 * CLOCK_MONOTONIC (jg_clock_cond_init) against a deadline from the same
 * clock (jg_clock_deadline), and loops over spurious wake-ups until the
 * deadline, a wake or stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/thread.h"

struct jg_thread {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool woken, stopping;
	int64_t first_ms;
	jg_thread_tick_fn tick;
	void *arg;
	char name[16];
};

/* Sleeps up to ms (JG_THREAD_UNTIL_WOKEN: no limit) unless woken or stopping.  With t->lock. */
static void
sleep_locked(struct jg_thread *t, int64_t ms)
{
	struct timespec until;

	if (ms == 0)
		return;
	if (ms > 0)
		jg_clock_deadline(&until, ms);
	while (!t->woken && !t->stopping) {
		if (ms < 0)
			(void)pthread_cond_wait(&t->wake, &t->lock);
		else if (pthread_cond_timedwait(&t->wake, &t->lock, &until) == ETIMEDOUT)
			break;
	}
}

static void *
thread_main(void *arg)
{
	struct jg_thread *t = arg;
	int64_t next = t->first_ms;

	(void)pthread_setname_np(pthread_self(), t->name); /* a name is a courtesy to ps/top */
	pthread_mutex_lock(&t->lock);
	for (;;) {
		sleep_locked(t, next);
		if (t->stopping)
			break;
		t->woken = false;
		pthread_mutex_unlock(&t->lock);
		next = t->tick(t->arg);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int
jg_thread_start(struct jg_thread **out, const char *name, int64_t first_ms, jg_thread_tick_fn tick,
		void *arg)
{
	struct jg_thread *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return JG_ENOMEM;
	t->first_ms = first_ms;
	t->tick = tick;
	t->arg = arg;
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return JG_ENOMEM;
	}
	if (jg_clock_cond_init(&t->wake) != 0) {
		pthread_mutex_destroy(&t->lock);
		free(t);
		return JG_ENOMEM;
	}
	if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return JG_ENOMEM;
	}
	*out = t;
	return 0;
}

void
jg_thread_wake(struct jg_thread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->woken = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void
jg_thread_signal_stop(struct jg_thread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void
jg_thread_stop(struct jg_thread *t)
{
	if (t == NULL)
		return;
	jg_thread_signal_stop(t);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
