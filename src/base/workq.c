/*
 * workq.c - a fixed pool of threads running queued tasks (see workq.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include "jitgate/error.h"
#include "jitgate/workq.h"

struct jg_workq {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct jg_workq_task *head, *tail;
	int stopping;
	int nthreads;
	pthread_t *threads;
};

static void *
worker_main(void *arg)
{
	struct jg_workq *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct jg_workq_task *t = q->head;
		if (t == NULL) {
			if (q->stopping)
				break;
			pthread_cond_wait(&q->work, &q->lock);
			continue;
		}
		q->head = t->next;
		if (q->head == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		t->next = NULL;
		t->run(t); /* t may be gone when this returns */
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int
jg_workq_new(int threads, struct jg_workq **out)
{
	struct jg_workq *q;

	*out = NULL;
	if (threads < 1)
		return JG_EINVAL;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->threads = calloc((size_t)threads, sizeof(*q->threads))) == NULL) {
		free(q);
		return JG_ENOMEM;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	for (; q->nthreads < threads; q->nthreads++) {
		if (pthread_create(&q->threads[q->nthreads], NULL, worker_main, q) != 0) {
			jg_workq_free(q);
			return JG_ENOMEM;
		}
	}
	*out = q;
	return 0;
}

void
jg_workq_submit(struct jg_workq *q, struct jg_workq_task *task)
{
	task->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = task;
	else
		q->head = task;
	q->tail = task;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
}

void
jg_workq_free(struct jg_workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->work);
	free(q->threads);
	free(q);
}
