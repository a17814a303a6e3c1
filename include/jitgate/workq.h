/*
 * workq.h - a fixed pool of threads running queued tasks in order.
 *
 * The server's handlers that may block (the store's writer, the identity
 * provider) run here, so the event loops never wait on them.  Tasks are
 * intrusive (embedded in the caller's state): submitting allocates nothing
 * and cannot fail.
 */
#ifndef JITGATE_WORKQ_H
#define JITGATE_WORKQ_H

struct jg_workq;

struct jg_workq_task {
	void (*run)(struct jg_workq_task *task); /* on a pool thread */
	struct jg_workq_task *next;		 /* the queue's */
};

/* Starts threads (>= 1) threads.  Returns 0, JG_EINVAL or JG_ENOMEM. */
int jg_workq_new(int threads, struct jg_workq **out) __attribute__((warn_unused_result));

/* Queues task; a free thread runs it. */
void jg_workq_submit(struct jg_workq *q, struct jg_workq_task *task);

/* Runs whatever is still queued, joins the threads, frees q.  NULL is fine. */
void jg_workq_free(struct jg_workq *q);

#endif
