/*
 * agent.c - the reference agent: the poller, the flusher and jga_hit().
 *
 * State is one mutex-guarded list of installed probes, each with its
 * conditions, its local deadline (CLOCK_MONOTONIC: the time the poll was
 * sent + expires_at - jitgate's now - 1 s, so neither the local clock nor
 * the whole-second rounding of now extends a probe) and its queue
 * of events (at most MAX_QUEUE; the oldest is dropped).  The poller makes
 * the list equal to each successful poll; the flusher takes at most 100
 * events of a probe, posts them without the lock, and on 404/409 drops
 * the probe, on 401/403 every probe, on a network error or 5xx puts the
 * batch back (unless the deadline passed).  HTTP is libcurl directly
 * (httpc.h has no Authorization header); TLS is always verified.
 *
 * Each probe carries the limits of its poll (capture.c): an event is cut
 * field by field to them, the rate bucket and max_hits bound how many are
 * queued, and the CPU guard times every probe's work in jga_hit() with
 * CLOCK_MONOTONIC (its capture step with the thread's CPU clock), and, once
 * that goes over, all of it with the thread's CPU clock for a second to
 * confirm (capture.c, jga_cpu_charge).  A probe past max_hits or over
 * its CPU budget stops capturing at once but stays listed (state != LIVE) until a poll stops
 * listing it or its deadline passes, so a later poll cannot reinstall it;
 * its queued events are still posted, and a CPU stop is reported to
 * jitgate by the flusher thread, never by the caller of jga_hit().
 * "active" counts LIVE probes atomically so jga_enabled() answers without
 * the lock when nothing is installed ("listed", all probes, does the same
 * for jga_hit()).
 *
 * After every successful poll the poller reports the probe status of this
 * instance (POST /v1/agents/probes/status): the LIVE probes as installed,
 * and every listed probe it could not install with a code and a message
 * (limits or conditions it cannot honour, the MAX_PROBES cap, no memory).
 * The report is built under the lock and sent without it; a failed report
 * is counted and simply replaced by the next poll's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "internal.h"
#include "jitgate-agent.h"

#define MAX_PROBES	500
#define MAX_QUEUE	1000 /* events per probe */
#define MAX_BATCH	100
#define MAX_BATCH_BYTES (512 * 1024) /* well within limits.max_body_bytes (1 MiB) */
#define MAX_EVENT_BYTES 16384	     /* one event as compact JSON (docs/agents.md) */
#define MAX_TIGHTEN	20 /* rounds of tighter limits: enough to reach the tightest (16) */
#define MAX_REPLY	(1024 * 1024)
#define DEFAULT_POLL_MS 2000
#define FLUSH_MS	1000
#define FLUSH_EARLY_MS	250 /* before a probe's deadline */
#define FLUSH_MIN_MS	50
#define MAX_BACKOFF_MS	60000
#define UNAUTH_POLL_MS	300000
#define HTTP_TIMEOUT_MS 5000L
#define MAX_INSTANCE	128 /* bytes of an instance name (docs/agents.md, "Probe status") */
#define MAX_WHY		256 /* bytes of a failure message */

enum probe_state { LIVE, EXHAUSTED, CPU_OFF };

struct probe {
	char *id;
	char *function;
	char *template;		   /* a log probe's message template; NULL: a snapshot */
	struct jga_metric *metric; /* a metric probe's aggregate; NULL for the other kinds */
	bool capture_args, capture_return;
	double rate;
	json_t *conditions;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	json_t *queue;		  /* array of events */
	struct jga_limits lim;
	struct jga_bucket bucket;
	struct jga_cpu cpu;
	long hits;	   /* events queued, ever */
	long long dropped; /* events lost here (a full buffer, a batch refused whole) */
	enum probe_state state;
	double cpu_ms;	     /* the window that stopped it */
	bool report_pending; /* CPU_OFF not yet reported to jitgate */
};

struct jga_agent {
	char *base_url, *service, *key, *ca_file;
	char *instance; /* this process's name in status reports */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool stop;
	struct probe *probes[MAX_PROBES];
	size_t nprobes;
	struct jga_stats st;
	atomic_size_t active; /* LIVE probes (jga_enabled's fast path) */
	atomic_size_t listed; /* all probes (jga_hit's fast path: skips are counted) */
	pthread_t poller, flusher;
	bool poller_up, flusher_up;
};

static void
mono_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static struct timespec
mono_after_ms(long ms)
{
	struct timespec t;

	mono_now(&t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool
before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Uniform in [0, 1) from RAND_bytes; -1 when the generator fails. */
static double
uniform(void)
{
	uint64_t r;

	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		return -1.0;
	return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	free(p->id);
	free(p->function);
	free(p->template);
	free(p->metric);
	json_decref(p->conditions);
	json_decref(p->queue);
	free(p);
}

/* Updates the installed count and the atomic one (lock held). */
static void
recount(struct jga_agent *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->nprobes; i++)
		if (a->probes[i]->state == LIVE)
			n++;
	a->st.installed = n;
	atomic_store(&a->active, n);
	atomic_store(&a->listed, a->nprobes);
}

/* Removes probe i (lock held); its queued events count as dropped. */
static void
uninstall(struct jga_agent *a, size_t i)
{
	a->st.dropped += json_array_size(a->probes[i]->queue);
	probe_free(a->probes[i]);
	a->probes[i] = a->probes[--a->nprobes];
	a->probes[a->nprobes] = NULL;
}

static void
uninstall_all(struct jga_agent *a)
{
	while (a->nprobes > 0)
		uninstall(a, a->nprobes - 1);
}

/* Uninstalls every probe past its deadline (lock held). */
static void
expire(struct jga_agent *a)
{
	struct timespec now;

	mono_now(&now);
	for (size_t i = a->nprobes; i-- > 0;)
		if (!before(&now, &a->probes[i]->deadline))
			uninstall(a, i);
	recount(a);
}

static ssize_t
find(struct jga_agent *a, const char *id)
{
	for (size_t i = 0; i < a->nprobes; i++)
		if (strcmp(a->probes[i]->id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* ---- HTTP --------------------------------------------------------------- */

struct buf {
	char *p;
	size_t n;
	bool over;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->n + n > MAX_REPLY) {
		b->over = true;
		return 0;
	}
	char *q = realloc(b->p, b->n + n + 1);
	if (q == NULL)
		return 0;
	memcpy(q + b->n, data, n);
	b->n += n;
	q[b->n] = '\0';
	b->p = q;
	return n;
}

/*
 * GET (body NULL) or POST a JSON body to base_url + path.  Returns the HTTP
 * status, or -1 when there was no answer; *reply (caller frees) gets the
 * body parsed as JSON when it is JSON.
 */
static long
request(struct jga_agent *a, const char *path, const char *body, json_t **reply)
{
	struct curl_slist *hdr = NULL, *h;
	struct buf b = {0};
	long status = -1;
	char *url = NULL, *auth = NULL;
	CURL *c = curl_easy_init();

	*reply = NULL;
	if (c == NULL)
		goto out;
	if (asprintf(&url, "%s%s", a->base_url, path) < 0) {
		url = NULL;
		goto out;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", a->key) < 0) {
		auth = NULL;
		goto out;
	}
	if ((h = curl_slist_append(hdr, auth)) == NULL)
		goto out;
	hdr = h;
	if ((h = curl_slist_append(hdr, "Accept: application/json")) == NULL)
		goto out;
	hdr = h;
	if (body != NULL) {
		if ((h = curl_slist_append(hdr, "Content-Type: application/json")) == NULL)
			goto out;
		hdr = h;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (a->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK || b.over)
		goto out;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.p != NULL)
		*reply = json_loadb(b.p, b.n, 0, NULL);
out:
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	free(b.p);
	curl_slist_free_all(hdr);
	if (c != NULL)
		curl_easy_cleanup(c);
	return status;
}

/*
 * POSTs body (borrowed) to /v1/agents/probes/<id>/<what>: the status, or
 * -1 when nothing could be sent; *reply as request() gives it.
 */
static long
post_probe(struct jga_agent *a, const char *id, const char *what, json_t *body, json_t **reply)
{
	char path[160];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status = -1;

	*reply = NULL;
	if (text != NULL &&
	    (size_t)snprintf(path, sizeof path, "/v1/agents/probes/%s/%s", id, what) < sizeof path)
		status = request(a, path, text, reply);
	free(text);
	return status;
}

/* ---- polling ------------------------------------------------------------- */

/*
 * A probe of a poll, or NULL with *code and why (a sentence) saying why it
 * cannot be installed: "bad_probe" (no function, a sampling_rate that is
 * not a number in (0, 1]), "bad_kind" (a kind other than snapshot, log and
 * metric), "bad_template" (a log probe without a template it can render),
 * "bad_metric" (a metric probe without a spec it can aggregate),
 * "bad_limits" (limits it cannot honour), "bad_conditions" (conditions it
 * cannot evaluate), "no_memory".
 */
static struct probe *
probe_from_json(const json_t *j, const struct timespec *deadline, const char **code, char *why,
		size_t len)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *fn = json_string_value(json_object_get(j, "function"));
	json_t *conds = json_object_get(j, "conditions");
	json_t *rate = json_object_get(j, "sampling_rate");
	json_t *kind = json_object_get(j, "kind");
	const char *tmpl = json_string_value(json_object_get(j, "template"));
	struct probe *p;

	struct jga_limits lim;

	*code = "bad_probe";
	if (id == NULL || fn == NULL || *fn == '\0') {
		snprintf(why, len, "the probe names no function");
		return NULL;
	}
	if (!json_is_number(rate) || !(json_number_value(rate) > 0.0) ||
	    json_number_value(rate) > 1.0) {
		snprintf(why, len, "sampling_rate is not a number in (0, 1]");
		return NULL;
	}
	/* no "kind": a snapshot */
	if (kind != NULL &&
	    !(json_is_string(kind) && (strcmp(json_string_value(kind), "snapshot") == 0 ||
				       strcmp(json_string_value(kind), "log") == 0 ||
				       strcmp(json_string_value(kind), "metric") == 0))) {
		*code = "bad_kind";
		snprintf(why, len, "a probe kind this agent does not know");
		return NULL;
	}
	bool log = kind != NULL && strcmp(json_string_value(kind), "log") == 0;
	if (log && (tmpl == NULL || !jga_template_valid(tmpl))) {
		*code = "bad_template";
		snprintf(why, len, "a log template this agent cannot render");
		return NULL;
	}
	struct jga_metric metric;
	bool is_metric = kind != NULL && strcmp(json_string_value(kind), "metric") == 0;
	if (is_metric && jga_metric_parse(json_object_get(j, "metric"), &metric) != 0) {
		*code = "bad_metric";
		snprintf(why, len, "a metric spec this agent cannot aggregate");
		return NULL;
	}
	/* no "limits" (a jitgate before them): the protocol's defaults */
	if (jga_limits_parse(json_object_get(j, "limits"), &lim) != 0) {
		*code = "bad_limits";
		snprintf(why, len,
			 "limits this agent cannot honour (unknown, or out of the bounds of "
			 "docs/agents.md)");
		return NULL;
	}
	if (jga_conditions_check(conds, why, len) != 0) {
		*code = "bad_conditions";
		return NULL;
	}
	*code = "no_memory";
	snprintf(why, len, "out of memory");
	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->lim = lim;
	p->state = LIVE;
	p->id = strdup(id);
	p->function = strdup(fn);
	p->queue = json_array();
	p->conditions = conds ? json_deep_copy(conds) : json_array();
	p->template = log ? strdup(tmpl) : NULL;
	if (is_metric && (p->metric = malloc(sizeof(*p->metric))) != NULL)
		*p->metric = metric;
	if (p->id == NULL || p->function == NULL || p->queue == NULL || p->conditions == NULL ||
	    (log && p->template == NULL) || (is_metric && p->metric == NULL)) {
		probe_free(p);
		return NULL;
	}
	p->capture_args = json_is_true(json_object_get(j, "capture_args"));
	p->capture_return = json_is_true(json_object_get(j, "capture_return"));
	p->rate = json_number_value(rate);
	p->deadline = *deadline;
	return p;
}

/* Adds {id, code, message} to failed (NULL: not collected). */
static void
failed_add(json_t *failed, const char *id, const char *code, const char *why)
{
	if (failed != NULL && json_array_size(failed) < MAX_PROBES)
		json_array_append_new(
		    failed, json_pack("{s:s,s:s,s:s}", "id", id, "code", code, "message", why));
}

/*
 * Makes the installed set equal to a 200 reply (lock held); the listed
 * probes it could not install are added to failed.  Returns 0 or -1.
 */
static int
apply_poll(struct jga_agent *a, const json_t *reply, const struct timespec *t0, json_t *failed)
{
	const json_t *list = json_object_get(reply, "probes");
	json_t *jnow = json_object_get(reply, "now");
	bool keep[MAX_PROBES] = {false};

	if (!json_is_array(list) || !json_is_integer(jnow))
		return -1;
	json_int_t now = json_integer_value(jnow);
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *j = json_array_get(list, i);
		const char *id = json_string_value(json_object_get(j, "id"));
		json_t *exp = json_object_get(j, "expires_at");
		if (id == NULL || !json_is_integer(exp))
			continue;
		/*
		 * now is whole seconds, so the server's true clock may be up to 1 s
		 * past it: take a second off, so the local deadline is never later
		 * than expires_at (at the cost of up to 1 s at the end).
		 */
		json_int_t left = json_integer_value(exp) - now - 1;
		if (left <= 0)
			continue;
		struct timespec dl = *t0; /* the local clock when the poll was sent */
		dl.tv_sec += (time_t)left;
		ssize_t at = find(a, id);
		if (at >= 0) {
			if (before(&dl, &a->probes[at]->deadline))
				a->probes[at]->deadline = dl; /* never extended */
			keep[at] = true;
			continue;
		}
		if (a->nprobes == MAX_PROBES) {
			failed_add(failed, id, "too_many_probes",
				   "this agent holds at most 500 probes at once");
			continue;
		}
		const char *code;
		char why[MAX_WHY];
		struct probe *p = probe_from_json(j, &dl, &code, why, sizeof why);
		if (p == NULL) {
			failed_add(failed, id, code, why);
			continue;
		}
		keep[a->nprobes] = true;
		a->probes[a->nprobes++] = p;
	}
	for (size_t i = a->nprobes; i-- > 0;) {
		if (!keep[i]) {
			uninstall(a, i);
			keep[i] = keep[a->nprobes]; /* uninstall moved the last one to i */
		}
	}
	expire(a);
	recount(a);
	return 0;
}

/*
 * The status report of this instance (lock held): the LIVE probes as
 * installed with the events each lost here so far (dropped, when any),
 * failed as given (stolen).  NULL when out of memory.
 */
static json_t *
status_body(struct jga_agent *a, json_t *failed)
{
	json_t *ids = json_array(), *dropped = json_object();

	for (size_t i = 0; ids != NULL && dropped != NULL && i < a->nprobes; i++) {
		struct probe *p = a->probes[i];
		if (p->state != LIVE)
			continue;
		if (json_array_append_new(ids, json_string(p->id)) != 0 ||
		    (p->dropped > 0 &&
		     json_object_set_new(dropped, p->id, json_integer(p->dropped)) != 0)) {
			json_decref(ids);
			ids = NULL;
		}
	}
	if (ids == NULL || dropped == NULL || failed == NULL) {
		json_decref(ids);
		json_decref(dropped);
		json_decref(failed);
		return NULL;
	}
	return json_pack("{s:s,s:s,s:o,s:o,s:o}", "service", a->service, "instance", a->instance,
			 "installed", ids, "dropped", dropped, "failed", failed);
}

/* Sends a status report (POST /v1/agents/probes/status), without the lock. */
static void
send_status(struct jga_agent *a, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *reply = NULL;
	long status = text ? request(a, "/v1/agents/probes/status", text, &reply) : -1;

	free(text);
	json_decref(reply);
	pthread_mutex_lock(&a->mu);
	if (status == 200)
		a->st.status_sent++;
	else
		a->st.status_failed++;
	pthread_mutex_unlock(&a->mu);
}

/* One poll; returns the delay to the next one in ms. */
static long
poll_once(struct jga_agent *a, long *backoff)
{
	char *path = NULL;
	char *svc = curl_easy_escape(NULL, a->service, 0);
	json_t *reply = NULL, *failed = json_array();
	long next = DEFAULT_POLL_MS;
	struct timespec t0;

	mono_now(&t0);
	if (svc == NULL || asprintf(&path, "/v1/agents/probes?service=%s", svc) < 0) {
		path = NULL;
		goto fail;
	}
	long status = request(a, path, NULL, &reply);
	pthread_mutex_lock(&a->mu);
	if (status == 200 && apply_poll(a, reply, &t0, failed) == 0) {
		json_t *ps = json_object_get(reply, "poll_seconds");
		if (json_is_integer(ps) && json_integer_value(ps) > 0 &&
		    json_integer_value(ps) <= 3600)
			next = (long)json_integer_value(ps) * 1000;
		a->st.polls_ok++;
		*backoff = 0;
		json_t *body = status_body(a, failed);
		failed = NULL; /* stolen */
		pthread_mutex_unlock(&a->mu);
		send_status(a, body);
		json_decref(body);
		goto out;
	}
	a->st.polls_failed++;
	if (status == 401 || status == 403) {
		uninstall_all(a);
		recount(a);
		pthread_mutex_unlock(&a->mu);
		next = UNAUTH_POLL_MS;
		goto out;
	}
	expire(a); /* keep what is installed only until its deadline */
	recount(a);
	pthread_mutex_unlock(&a->mu);
fail:
	*backoff = *backoff ? *backoff * 2 : 1000;
	if (*backoff > MAX_BACKOFF_MS)
		*backoff = MAX_BACKOFF_MS;
	next = *backoff;
out:
	json_decref(failed);
	json_decref(reply);
	free(path);
	curl_free(svc);
	/* +-20 % jitter */
	double u = uniform();
	if (u >= 0)
		next = (long)((double)next * (0.8 + 0.4 * u));
	return next;
}

/* Sleeps until deadline or stop; returns true when stopping (lock held). */
static bool
wait_until(struct jga_agent *a, const struct timespec *until)
{
	while (!a->stop) {
		int rc = pthread_cond_timedwait(&a->wake, &a->mu, until);
		if (rc == ETIMEDOUT)
			break;
	}
	return a->stop;
}

static void *
poller_main(void *arg)
{
	struct jga_agent *a = arg;
	long backoff = 0;

	for (;;) {
		long next = poll_once(a, &backoff);
		struct timespec until = mono_after_ms(next);
		pthread_mutex_lock(&a->mu);
		bool stop = wait_until(a, &until);
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
	}
	return NULL;
}

/* ---- flushing ------------------------------------------------------------ */

/* Puts batch back at the front of probe id's queue, if it is still installed (lock held). */
static void
requeue(struct jga_agent *a, const char *id, json_t *batch)
{
	ssize_t at = find(a, id);
	if (at < 0) {
		a->st.dropped += json_array_size(batch);
		return;
	}
	json_t *q = a->probes[at]->queue;
	json_array_extend(batch, q);
	json_array_clear(q);
	while (json_array_size(batch) > MAX_QUEUE) {
		json_array_remove(batch, 0);
		a->st.dropped++;
		a->probes[at]->dropped++;
	}
	json_array_extend(q, batch);
}

static json_t *metric_event(struct probe *p);

/*
 * Queues the point of every metric probe (lock held) whose interval is up,
 * whose deadline is near (the flusher wakes FLUSH_EARLY_MS before it), or
 * every one with all (the agent stopping).  A point is a hit: max_hits
 * points exhaust the probe as max_hits events do.
 */
static void
cut_points(struct jga_agent *a, bool all)
{
	struct timespec now, near;

	mono_now(&now);
	near = mono_after_ms(2 * FLUSH_EARLY_MS);
	for (size_t i = 0; i < a->nprobes; i++) {
		struct probe *p = a->probes[i];
		if (p->metric == NULL || p->metric->count == 0 ||
		    !(all || jga_metric_due(p->metric, &now) || before(&p->deadline, &near)))
			continue;
		json_t *ev = metric_event(p);
		if (ev == NULL || json_array_append_new(p->queue, ev) != 0)
			continue; /* out of memory: its calls stay counted, cut next round */
		a->st.captured++;
		while (json_array_size(p->queue) > MAX_QUEUE) {
			json_array_remove(p->queue, 0);
			a->st.dropped++;
			p->dropped++;
		}
		if (++p->hits >= p->lim.max_hits && p->state == LIVE) {
			p->state = EXHAUSTED; /* its queue is still posted */
			recount(a);
		}
	}
}

/*
 * Posts everything queued, a batch per probe per round, after cutting the
 * metric points that are due (all: every one).  Returns -1 when a post
 * failed.
 */
static int
flush_all(struct jga_agent *a, bool all)
{
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	cut_points(a, all);
	pthread_mutex_unlock(&a->mu);
	for (;;) {
		char *id = NULL;
		json_t *batch = NULL;

		pthread_mutex_lock(&a->mu);
		expire(a);
		for (size_t i = 0; i < a->nprobes && id == NULL; i++) {
			struct probe *p = a->probes[i];
			size_t n = json_array_size(p->queue);
			if (n == 0)
				continue;
			if (n > MAX_BATCH)
				n = MAX_BATCH;
			batch = json_array();
			id = strdup(p->id);
			if (batch == NULL || id == NULL) {
				json_decref(batch);
				free(id);
				pthread_mutex_unlock(&a->mu);
				return -1;
			}
			/* at most MAX_BATCH events and about MAX_BATCH_BYTES of body */
			size_t bytes = 0, k = 0;
			for (; k < n; k++) {
				json_t *ev = json_array_get(p->queue, k);
				bytes += json_dumpb(ev, NULL, 0, JSON_COMPACT) + 1;
				if (k > 0 && bytes > MAX_BATCH_BYTES)
					break;
				json_array_append(batch, ev);
			}
			for (size_t r = 0; r < k; r++)
				json_array_remove(p->queue, 0);
		}
		pthread_mutex_unlock(&a->mu);
		if (id == NULL)
			return rc;

		json_t *reply;
		json_t *body = json_pack("{s:O}", "events", batch);
		long status = post_probe(a, id, "events", body, &reply);
		json_decref(body);
		/* a 400 names the one bad event: nothing was stored, the others go again */
		json_t *index = json_object_get(json_object_get(reply, "error"), "index");
		json_int_t bad =
		    status == 400 && json_is_integer(index) ? json_integer_value(index) : -1;
		/* a 201 may refuse some events one by one (max_hits, budget, rate, over_limits) */
		size_t refused = json_array_size(json_object_get(reply, "refused"));
		json_decref(reply);

		pthread_mutex_lock(&a->mu);
		ssize_t at = find(a, id);
		if (status == 201) {
			size_t n = json_array_size(batch);
			if (refused > n)
				refused = n;
			a->st.posted += n - refused;
			a->st.dropped += refused;
		} else if (status == 404 || status == 409) {
			a->st.dropped += json_array_size(batch);
			if (at >= 0)
				uninstall(a, (size_t)at);
		} else if (status == 401 || status == 403) {
			a->st.dropped += json_array_size(batch);
			uninstall_all(a);
		} else if (status == -1 || status >= 500) {
			requeue(a, id, batch);
			rc = -1;
		} else if (bad >= 0 && (size_t)bad < json_array_size(batch)) {
			json_array_remove(batch, (size_t)bad);
			a->st.dropped++;
			if (at >= 0)
				a->probes[at]->dropped++;
			if (json_array_size(batch) > 0)
				requeue(a, id, batch); /* posted again in this same round */
		} else {
			a->st.dropped += json_array_size(batch); /* 413/415: a bug here */
			if (at >= 0)
				a->probes[at]->dropped += (long long)json_array_size(batch);
		}
		recount(a);
		pthread_mutex_unlock(&a->mu);
		json_decref(batch);
		free(id);
		if (rc != 0)
			return rc; /* retry next round */
	}
}

/*
 * Reports every probe the CPU guard stopped (POST /v1/agents/probes/{id}/
 * disable), from the flusher's thread.  A network error or 5xx keeps the
 * report for the next round; any other answer but 200 or 409 (already
 * ended) is logged on stderr and counted: a jitgate without the call (404)
 * changes nothing here, the probe stays stopped locally.
 */
static void
report_all(struct jga_agent *a)
{
	for (;;) {
		char *id = NULL;
		double ms = 0;

		pthread_mutex_lock(&a->mu);
		for (size_t i = 0; i < a->nprobes && id == NULL; i++) {
			struct probe *p = a->probes[i];
			if (!p->report_pending)
				continue;
			if ((id = strdup(p->id)) == NULL)
				break;
			ms = p->cpu_ms;
			p->report_pending = false;
		}
		pthread_mutex_unlock(&a->mu);
		if (id == NULL)
			return;

		json_t *reply;
		json_t *body = json_pack("{s:s,s:f}", "reason", "cpu", "cpu_ms_per_second", ms);
		long status = post_probe(a, id, "disable", body, &reply);
		json_decref(body);
		json_decref(reply);

		pthread_mutex_lock(&a->mu);
		bool retry = status == -1 || status >= 500;
		ssize_t at = find(a, id);
		if (retry && at >= 0)
			a->probes[at]->report_pending = true;
		else if (status == 200 || status == 409)
			a->st.cpu_reported++;
		else if (!retry)
			a->st.reports_failed++;
		pthread_mutex_unlock(&a->mu);
		if (!retry || at < 0)
			fprintf(stderr,
				"{\"level\":\"%s\",\"msg\":\"cpu guard report\",\"probe\":\"%s\","
				"\"status\":%ld}\n",
				status == 200 || status == 409 ? "info" : "warn", id, status);
		free(id);
		if (retry)
			return; /* the next round */
	}
}

static void *
flusher_main(void *arg)
{
	struct jga_agent *a = arg;
	long backoff = 0;

	for (;;) {
		long next = FLUSH_MS;
		int frc =
		    flush_all(a, false); /* first: events are bound by their probe's deadline */
		report_all(a);
		if (frc != 0) {
			backoff = backoff ? backoff * 2 : FLUSH_MS;
			if (backoff > MAX_BACKOFF_MS)
				backoff = MAX_BACKOFF_MS;
			next = backoff;
		} else {
			backoff = 0;
		}
		struct timespec until = mono_after_ms(next);
		pthread_mutex_lock(&a->mu);
		/* wake early enough to post what a probe holds before its deadline */
		for (size_t i = 0; i < a->nprobes; i++) {
			struct timespec dl = a->probes[i]->deadline;
			dl.tv_nsec -= FLUSH_EARLY_MS * 1000000L;
			if (dl.tv_nsec < 0) {
				dl.tv_sec--;
				dl.tv_nsec += 1000000000L;
			}
			struct timespec soon = mono_after_ms(FLUSH_MIN_MS);
			if (before(&dl, &soon))
				dl = soon;
			if (before(&dl, &until))
				until = dl;
		}
		bool stop = wait_until(a, &until);
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
	}
	return NULL;
}

/* ---- the public API -------------------------------------------------------- */

static void
curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* 1 to MAX_INSTANCE bytes of printable ASCII. */
static bool
instance_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n == MAX_INSTANCE || s[n] < 0x20 || s[n] > 0x7e)
			return false;
	return n > 0;
}

/* "<host>:<pid>", the host name cut so the whole fits, anything unprintable as '?'. */
static char *
default_instance(void)
{
	char host[MAX_INSTANCE] = "", *out = NULL;

	if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof host, "unknown-host");
	host[MAX_INSTANCE - 16] = '\0'; /* room for ":" and the pid */
	for (char *c = host; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if (asprintf(&out, "%s:%ld", host, (long)getpid()) < 0)
		return NULL;
	return out;
}

struct jga_agent *
jga_new(const char *base_url, const char *service, const char *ingest_key, const char *ca_file)
{
	return jga_new_instance(base_url, service, ingest_key, ca_file, NULL);
}

struct jga_agent *
jga_new_instance(const char *base_url, const char *service, const char *ingest_key,
		 const char *ca_file, const char *instance)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct jga_agent *a;
	pthread_condattr_t ca;

	if (base_url == NULL || strncmp(base_url, "https://", 8) != 0 || service == NULL ||
	    *service == '\0' || ingest_key == NULL || strncmp(ingest_key, "jgk_", 4) != 0 ||
	    (instance != NULL && !instance_valid(instance)))
		return NULL;
	if ((a = calloc(1, sizeof *a)) == NULL)
		return NULL;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_once(&once, curl_init);
	a->base_url = strdup(base_url);
	a->service = strdup(service);
	a->key = strdup(ingest_key);
	a->ca_file = ca_file ? strdup(ca_file) : NULL;
	a->instance = instance ? strdup(instance) : default_instance();
	if (a->base_url == NULL || a->service == NULL || a->key == NULL ||
	    (ca_file != NULL && a->ca_file == NULL) || a->instance == NULL)
		goto fail;
	size_t n = strlen(a->base_url);
	while (n > 8 && a->base_url[n - 1] == '/')
		a->base_url[--n] = '\0';
	if (pthread_create(&a->poller, NULL, poller_main, a) != 0)
		goto fail;
	a->poller_up = true;
	if (pthread_create(&a->flusher, NULL, flusher_main, a) != 0)
		goto fail;
	a->flusher_up = true;
	return a;
fail:
	jga_free(a);
	return NULL;
}

void
jga_stop(struct jga_agent *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_broadcast(&a->wake);
	pthread_mutex_unlock(&a->mu);
	if (a->poller_up)
		pthread_join(a->poller, NULL);
	if (a->flusher_up)
		pthread_join(a->flusher, NULL);
	bool flush = a->poller_up || a->flusher_up;
	a->poller_up = a->flusher_up = false;
	if (flush) {
		(void)flush_all(a, true); /* what is still queued for live probes */
		report_all(a);
	}
	pthread_mutex_lock(&a->mu);
	uninstall_all(a); /* nothing more is recorded */
	recount(a);
	pthread_mutex_unlock(&a->mu);
}

void
jga_free(struct jga_agent *a)
{
	if (a == NULL)
		return;
	jga_stop(a);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->wake);
	if (a->key != NULL) {
		explicit_bzero(a->key, strlen(a->key));
		free(a->key);
	}
	free(a->base_url);
	free(a->service);
	free(a->ca_file);
	free(a->instance);
	free(a);
}

/* RFC 3339 UTC with milliseconds. */
static void
timestamp(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/*
 * The event's args/return cut to l (capture.c), or a log probe's message
 * rendered within l (template.c), with "truncated" listing the paths cut.
 * Returns a new event or NULL when out of memory.
 */
static json_t *
build_event(const struct probe *p, const struct jga_limits *l, const char *id, const char *ts,
	    json_t *args, json_t *ret)
{
	json_t *cut = json_array();
	json_t *ev = json_pack("{s:s,s:s,s:s}", "ts", ts, "event_id", id, "function", p->function);

	if (ev == NULL || cut == NULL)
		goto fail;
	if (p->template != NULL) { /* a log probe: its message, nothing captured */
		json_t *msg = jga_template_render(p->template, args, ret, l, cut);
		if (msg == NULL || json_object_set_new(ev, "message", msg) != 0)
			goto fail;
	}
	if (p->capture_args) {
		json_t *v = args ? jga_capture(args, "args", 0, l, cut) : json_null();
		if (v == NULL || json_object_set_new(ev, "args", v) != 0)
			goto fail;
	}
	if (p->capture_return) {
		json_t *v = ret ? jga_capture(ret, "return", 1, l, cut) : json_null();
		if (v == NULL || json_object_set_new(ev, "return", v) != 0)
			goto fail;
	}
	if (json_array_size(cut) > 0 && json_object_set(ev, "truncated", cut) != 0)
		goto fail;
	json_decref(cut);
	return ev;
fail:
	json_decref(cut);
	json_decref(ev);
	return NULL;
}

/* A new event's id (32 hex digits) and time; false when no random bytes. */
static bool
event_head(char id[33], char ts[32])
{
	unsigned char rnd[16];

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return false;
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	timestamp(ts);
	return true;
}

/* A metric probe's point as an event {ts, event_id, function, metric}, or NULL. */
static json_t *
metric_event(struct probe *p)
{
	char id[33], ts[32];

	if (!event_head(id, ts))
		return NULL;
	/* the event first: the aggregate is reset only once its point has somewhere to go */
	json_t *ev = json_pack("{s:s,s:s,s:s}", "ts", ts, "event_id", id, "function", p->function);
	json_t *pt = ev ? jga_metric_take(p->metric) : NULL;
	if (pt == NULL || json_object_set_new(ev, "metric", pt) != 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/*
 * An event within the probe's limits and within MAX_EVENT_BYTES: when the
 * limits still allow more than 16,384 bytes, the event is cut again with
 * tighter ones (strings, items and fields halved down to their minimum,
 * then one level less deep), every cut marked as usual.  *oversize is set
 * (and NULL returned) when even the tightest does not fit, e.g. a member
 * name of 16 KiB: the event is then not queued, and counted.
 */
static json_t *
make_event(const struct probe *p, json_t *args, json_t *ret, bool *oversize)
{
	char id[33], ts[32];
	struct jga_limits l = p->lim;

	*oversize = false;
	if (!event_head(id, ts))
		return NULL;
	for (int round = 0; round <= MAX_TIGHTEN; round++) {
		json_t *ev = build_event(p, &l, id, ts, args, ret);
		if (ev == NULL)
			return NULL;
		if (json_dumpb(ev, NULL, 0, JSON_COMPACT) <= MAX_EVENT_BYTES)
			return ev;
		json_decref(ev);
		bool tighter = false;
		if (l.max_string_bytes > 16) {
			l.max_string_bytes =
			    l.max_string_bytes / 2 < 16 ? 16 : l.max_string_bytes / 2;
			tighter = true;
		}
		if (l.max_collection_items > 1) {
			l.max_collection_items /= 2;
			tighter = true;
		}
		if (l.max_fields > 1) {
			l.max_fields /= 2;
			tighter = true;
		}
		if (!tighter && l.max_depth > 1) {
			l.max_depth--;
			tighter = true;
		}
		if (!tighter)
			break;
	}
	*oversize = true;
	return NULL;
}

static int64_t
ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/*
 * Charges spent_ns, ending at now, to probe p (lock held); over its
 * max_cpu_ms_per_second it stops capturing and its report waits for the
 * flusher, woken now.
 */
static void
cpu_charge(struct jga_agent *a, struct probe *p, const struct timespec *now, int64_t spent_ns)
{
	double ms;

	if (p->state != LIVE ||
	    !jga_cpu_charge(&p->cpu, now, spent_ns, p->lim.max_cpu_ms_per_second, &ms))
		return;
	p->state = CPU_OFF;
	p->cpu_ms = ms;
	p->report_pending = true;
	a->st.cpu_disabled++;
	recount(a);
	pthread_cond_broadcast(&a->wake);
}

int
jga_hit(struct jga_agent *a, const char *function, json_t *args, json_t *ret)
{
	struct timespec now;
	int queued = 0;
	bool failed = false;

	if (a == NULL || function == NULL)
		return -1;
	if (atomic_load(&a->listed) == 0)
		return 0;
	mono_now(&now);
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nprobes; i++) {
		struct probe *p = a->probes[i];
		if (strcmp(p->function, function) != 0 || !before(&now, &p->deadline))
			continue; /* never records for an expired probe */
		if (p->state == EXHAUSTED)
			a->st.skipped_max_hits++;
		if (p->state != LIVE)
			continue;
		/*
		 * The CPU guard: this probe's whole share of the call, from here,
		 * on the monotonic clock; its capture alone on the thread's CPU
		 * clock instead (cap_mono out, cap_cpu in), so that the thread
		 * being preempted while it builds an event, the longest step, does
		 * not stop the probe.  Captures are bounded by the rate bucket, so
		 * the dearer clock is read at most 2 * max_events_per_second times
		 * a second per probe.  After a monotonic window over the limit the
		 * whole share is timed on the CPU clock (jga_cpu_charge), which a
		 * preemption anywhere in it does not inflate.
		 */
		struct timespec t0, t1, w0;
		int64_t cap_mono = 0, cap_cpu = 0;
		bool precise = p->cpu.precise;
		mono_now(&t0);
		if (precise)
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &w0);
		if (!jg_probe_match(p->conditions, args))
			goto charge;
		a->st.matched++;
		if (p->rate < 1.0) {
			double u = uniform();
			if (u < 0) {
				failed = true;
				goto charge;
			}
			if (!(u < p->rate))
				goto charge;
		}
		if (p->metric != NULL) {
			/* aggregated here; the flusher cuts one point per interval */
			if (jga_metric_record(p->metric, args, ret, &t0))
				queued++;
			goto charge;
		}
		if (!jga_bucket_take(&p->bucket, &t0, p->lim.max_events_per_second)) {
			a->st.skipped_rate++;
			goto charge;
		}
		bool oversize;
		struct timespec m1, m2, c1, c2;
		mono_now(&m1);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		json_t *ev = make_event(p, args, ret, &oversize);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c2);
		mono_now(&m2);
		cap_mono = ns_between(&m1, &m2);
		cap_cpu = ns_between(&c1, &c2);
		if (oversize) {
			a->st.oversize++;
			goto charge;
		}
		if (ev == NULL || json_array_append_new(p->queue, ev) != 0) {
			failed = true;
			goto charge;
		}
		if (json_object_get(ev, "truncated") != NULL)
			a->st.truncated++;
		a->st.captured++;
		queued++;
		while (json_array_size(p->queue) > MAX_QUEUE) {
			json_array_remove(p->queue, 0);
			a->st.dropped++;
			p->dropped++;
		}
		if (++p->hits >= p->lim.max_hits) {
			p->state = EXHAUSTED; /* its queue is still posted */
			recount(a);
		}
	charge:
		mono_now(&t1);
		int64_t spent = ns_between(&t0, &t1) - cap_mono + cap_cpu;
		if (precise) {
			struct timespec w1;
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &w1);
			spent = ns_between(&w0, &w1);
		}
		cpu_charge(a, p, &t1, spent);
	}
	pthread_mutex_unlock(&a->mu);
	return failed ? -1 : queued;
}

int
jga_enabled(struct jga_agent *a, const char *function)
{
	struct timespec now;
	int on = 0;

	if (a == NULL || function == NULL || atomic_load(&a->active) == 0)
		return 0;
	mono_now(&now);
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nprobes && !on; i++) {
		const struct probe *p = a->probes[i];
		on = p->state == LIVE && before(&now, &p->deadline) &&
		     strcmp(p->function, function) == 0;
	}
	pthread_mutex_unlock(&a->mu);
	return on;
}

void
jga_stats(struct jga_agent *a, struct jga_stats *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->st;
	pthread_mutex_unlock(&a->mu);
}

/* ---- test hooks (internal.h) ----------------------------------------------- */

int
jga_test_install(struct jga_agent *a, const json_t *reply)
{
	struct timespec t0;

	mono_now(&t0);
	pthread_mutex_lock(&a->mu);
	int rc = apply_poll(a, reply, &t0, NULL);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

json_t *
jga_test_status(struct jga_agent *a, const json_t *reply)
{
	struct timespec t0;
	json_t *failed = json_array(), *body = NULL;

	mono_now(&t0);
	pthread_mutex_lock(&a->mu);
	if (apply_poll(a, reply, &t0, failed) == 0) {
		body = status_body(a, failed);
		failed = NULL;
	}
	pthread_mutex_unlock(&a->mu);
	json_decref(failed);
	return body;
}

int
jga_test_cpu_charge(struct jga_agent *a, const char *id, int64_t spent_ns)
{
	int rc = -1;

	pthread_mutex_lock(&a->mu);
	ssize_t at = find(a, id);
	if (at >= 0) {
		struct timespec now;
		mono_now(&now);
		cpu_charge(a, a->probes[at], &now, spent_ns);
		rc = a->probes[at]->state == CPU_OFF;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int
jga_test_report_pending(struct jga_agent *a, const char *id)
{
	int rc = -1;

	pthread_mutex_lock(&a->mu);
	ssize_t at = find(a, id);
	if (at >= 0)
		rc = a->probes[at]->report_pending;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

json_t *
jga_test_metric_point(struct jga_agent *a, const char *id)
{
	json_t *pt = NULL;

	pthread_mutex_lock(&a->mu);
	ssize_t at = find(a, id);
	if (at >= 0 && a->probes[at]->metric != NULL && a->probes[at]->metric->count > 0)
		pt = jga_metric_take(a->probes[at]->metric);
	pthread_mutex_unlock(&a->mu);
	return pt;
}

json_t *
jga_test_make_event(const json_t *probe, json_t *args, json_t *ret, bool *oversize)
{
	struct timespec dl = mono_after_ms(60000);
	const char *code;
	char why[MAX_WHY];
	struct probe *p = probe_from_json(probe, &dl, &code, why, sizeof why);

	*oversize = false;
	if (p == NULL)
		return NULL;
	json_t *ev = make_event(p, args, ret, oversize);
	probe_free(p);
	return ev;
}
