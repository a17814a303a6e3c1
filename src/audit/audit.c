/*
 * audit.c - the audit log's life cycle: open, start, stop, free.
 *
 * The log's work is spread over src/audit/ (audit_int.h lists the files):
 * the writer (group commit), the checkpointer with its background thread,
 * the verified chain, and the readers.  This file opens a log on a store
 * with its checkpoint keys and starts and stops its two threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "jitgate/error.h"

/* ---- life cycle -------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int
jg_audit_open(struct jg_store *store, const char *key_dir, const struct jg_audit_config *cfg,
	      struct jg_audit **out, char *err, size_t errlen)
{
	struct jg_audit *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (a == NULL)
		return JG_ENOMEM;
	a->store = store;
	a->pg = jg_store_engine(store) == JG_STORE_POSTGRES;
	a->origin = strdup(cfg->origin);
	a->sink_dir = dup_or_null(cfg->sink_dir);
	a->sink_url = dup_or_null(cfg->sink_url);
	a->sink_ca_file = dup_or_null(cfg->sink_ca_file);
	a->checkpoint_entries = cfg->checkpoint_entries ? cfg->checkpoint_entries : 1000;
	a->checkpoint_seconds = cfg->checkpoint_seconds > 0 ? cfg->checkpoint_seconds : 60;
	a->verify_threads = cfg->verify_threads > 0 ? cfg->verify_threads : 2;
	a->reverify_seconds = cfg->reverify_seconds > 0 ? cfg->reverify_seconds : 300;
	pthread_mutex_init(&a->verify_lock, NULL);
	pthread_mutex_init(&a->anchor_lock, NULL);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->done, NULL);
	pthread_cond_init(&a->writer_wake, NULL);
	jg_clock_cond_init(&a->wakeup); /* waits on CLOCK_MONOTONIC: a clock step never stalls it */
	/* a sink that could not be copied would be skipped silently: no log without its sinks */
	if (a->origin == NULL || (cfg->sink_dir && a->sink_dir == NULL) ||
	    (cfg->sink_url && a->sink_url == NULL) ||
	    (cfg->sink_ca_file && a->sink_ca_file == NULL)) {
		jg_audit_free(a);
		return JG_ENOMEM;
	}
	if ((rc = jg_keys_load(key_dir, JG_KEY_CHECKPOINT, &a->keys, err, errlen)) != 0 ||
	    (rc = jg_audit_verifiers_load(key_dir, a->origin, &a->verifiers, err, errlen)) != 0) {
		jg_audit_free(a);
		return rc;
	}
	uint64_t size = 0, cp = 0;
	char *note = NULL;
	if ((rc = jg_audit_size(store, &size)) != 0) {
		snprintf(err, errlen, "cannot read the audit chain head");
		jg_audit_free(a);
		return rc;
	}
	if (jg_audit_latest_checkpoint(store, &note, &cp, NULL) == 0)
		free(note);
	a->size = size;
	a->checkpointed_size = cp;
	a->first_uncovered_ms = jg_audit_now_ms();
	*out = a;
	return 0;
}

int
jg_audit_start(struct jg_audit *a)
{
	if (jg_store_acquire(a->store, &a->conn) != 0)
		return JG_ESTORE;
	a->started = 1;
	if (pthread_create(&a->writer, NULL, jg_audit_writer_main, a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	a->writer_running = 1;
	if (pthread_create(&a->pusher, NULL, jg_audit_pusher_main, a) != 0) {
		jg_audit_stop(a);
		return JG_ENOMEM;
	}
	a->started = 2;
	return 0;
}

void
jg_audit_stop(struct jg_audit *a)
{
	if (a == NULL || !a->started)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = 1; /* no new jobs; queued ones still get written */
	pthread_cond_broadcast(&a->wakeup);
	pthread_mutex_unlock(&a->lock);
	if (a->started == 2)
		pthread_join(a->pusher, NULL);
	pthread_mutex_lock(&a->lock);
	while (a->writing || a->queue != NULL)
		pthread_cond_wait(&a->done, &a->lock);
	a->writer_exit = 1;
	pthread_cond_signal(&a->writer_wake);
	pthread_mutex_unlock(&a->lock);
	if (a->writer_running)
		pthread_join(a->writer, NULL);
	a->writer_running = 0;
	a->writer_exit = 0;
	jg_store_release(a->store, a->conn);
	a->conn = NULL;
	a->started = 0;
}

void
jg_audit_free(struct jg_audit *a)
{
	if (a == NULL)
		return;
	jg_audit_stop(a);
	jg_keyring_free(a->keys);
	free(a->origin);
	free(a->sink_dir);
	free(a->sink_url);
	free(a->sink_ca_file);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->verify_lock);
	pthread_mutex_destroy(&a->anchor_lock);
	pthread_cond_destroy(&a->done);
	pthread_cond_destroy(&a->writer_wake);
	pthread_cond_destroy(&a->wakeup);
	free(a);
}
