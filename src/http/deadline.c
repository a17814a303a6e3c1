/*
 * deadline.c - the slow-client watchdog (see deadline.h): a table of slots
 * under one mutex, swept by a thread of thread.h every 200 ms.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "jitgate/deadline.h"
#include "jitgate/error.h"
#include "jitgate/thread.h"

#define SWEEP_MS 200

struct jg_deadline_slot {
	int fd;
	bool used, armed, cut;
	int64_t deadline_ms;
};

struct jg_deadline {
	pthread_mutex_t lock;	  /* the slots and the count */
	struct jg_thread *thread; /* the watchdog; NULL until started */
	int64_t timeout_ms;
	size_t nslots;
	unsigned long long cut_total;
	struct jg_deadline_slot *slots;
};

int64_t
jg_deadline_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct jg_deadline *
jg_deadline_new(size_t nslots, int64_t timeout_ms)
{
	struct jg_deadline *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	if ((d->slots = calloc(nslots ? nslots : 1, sizeof(*d->slots))) == NULL) {
		free(d);
		return NULL;
	}
	d->nslots = nslots;
	d->timeout_ms = timeout_ms;
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d->slots);
		free(d);
		return NULL;
	}
	return d;
}

/* The watchdog's round, every SWEEP_MS (thread.h: on CLOCK_MONOTONIC, like the deadlines). */
static int64_t
watchdog_tick(void *arg)
{
	struct jg_deadline *d = arg;
	(void)jg_deadline_sweep(d, jg_deadline_now());
	return SWEEP_MS;
}

int
jg_deadline_start(struct jg_deadline *d)
{
	if (d->thread != NULL)
		return 0;
	return jg_thread_start(&d->thread, "jg-deadline", SWEEP_MS, watchdog_tick, d);
}

void
jg_deadline_free(struct jg_deadline *d)
{
	if (d == NULL)
		return;
	jg_thread_stop(d->thread);
	pthread_mutex_destroy(&d->lock);
	free(d->slots);
	free(d);
}

struct jg_deadline_slot *
jg_deadline_open(struct jg_deadline *d, int fd, int64_t now_ms)
{
	struct jg_deadline_slot *s = NULL;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nslots; i++) {
		if (!d->slots[i].used) {
			s = &d->slots[i];
			*s = (struct jg_deadline_slot){.fd = fd,
						       .used = true,
						       .armed = true,
						       .deadline_ms = now_ms + d->timeout_ms};
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return s;
}

void
jg_deadline_arm(struct jg_deadline *d, struct jg_deadline_slot *slot, int64_t now_ms)
{
	if (slot == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	slot->armed = true;
	slot->deadline_ms = now_ms + d->timeout_ms;
	pthread_mutex_unlock(&d->lock);
}

void
jg_deadline_disarm(struct jg_deadline *d, struct jg_deadline_slot *slot)
{
	if (slot == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	slot->armed = false;
	pthread_mutex_unlock(&d->lock);
}

void
jg_deadline_close(struct jg_deadline *d, struct jg_deadline_slot *slot)
{
	if (slot == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	*slot = (struct jg_deadline_slot){.fd = -1};
	pthread_mutex_unlock(&d->lock);
}

size_t
jg_deadline_sweep(struct jg_deadline *d, int64_t now_ms)
{
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nslots; i++) {
		struct jg_deadline_slot *s = &d->slots[i];
		if (s->used && s->armed && !s->cut && now_ms >= s->deadline_ms) {
			/* under the lock: the slot (and so the descriptor) cannot be closed
			 * meanwhile */
			(void)shutdown(s->fd, SHUT_RDWR);
			s->cut = true;
			n++;
		}
	}
	d->cut_total += n;
	pthread_mutex_unlock(&d->lock);
	return n;
}

unsigned long long
jg_deadline_cut_total(struct jg_deadline *d)
{
	pthread_mutex_lock(&d->lock);
	unsigned long long n = d->cut_total;
	pthread_mutex_unlock(&d->lock);
	return n;
}
