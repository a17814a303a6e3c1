/*
 * audit_stream.c - the audit log forwarded to a SIEM (see audit_stream.h).
 *
 * The position lives in the database, written only after an
 * acknowledgement, so the stream survives restarts and outages without
 * gaps.  The thread holds no store connection while it waits for the
 * receiver, and every wait (connect, TLS, write, acknowledgement) is bounded
 * by audit_stream.timeout_ms.  Failed batches are retried after an
 * exponential backoff (jg_backoff_ms), forever: the log must arrive.
 */
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "jitgate/audit.h"
#include "jitgate/audit_stream.h"
#include "jitgate/backoff.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/log.h"
#include "jitgate/thread.h"
#include "jitgate/webhook.h"

#define IDLE_MS	   250
#define MAX_SECRET 4096

struct jg_audit_stream {
	struct jg_store *store;
	const struct jg_config *cfg;
	char destination[600]; /* "webhook <url>" or "syslog <address>": the key of the position */
	char hostname[256];
	char *secret;
	size_t secret_len;
	struct jg_thread *thread; /* NULL until started, and once stopped */
	pthread_mutex_t lock;	  /* the counters below, read by the metrics */
	uint64_t next_seq;	  /* acknowledged up to here */
	unsigned long long sent, failures;
	/* the thread's own state */
	int loaded;   /* next_seq was read from the database */
	int attempts; /* batches failed in a row */
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- syslog framing ------------------------------------------------------------- */

int
jg_audit_stream_syslog_frame(const char *entry, size_t len, const char *hostname, char **out,
			     size_t *outlen)
{
	json_t *e = json_loadb(entry, len, 0, NULL);
	json_t *seq = json_object_get(e, "seq"), *ts = json_object_get(e, "ts");
	const char *type = json_string_value(json_object_get(e, "type"));
	char stamp[40], *msg = NULL, *framed = NULL;
	int n, rc = JG_EINVAL;
	struct tm tm;

	*out = NULL;
	if (!json_is_integer(seq) || !json_is_integer(ts) || type == NULL ||
	    json_integer_value(ts) < 0)
		goto out;
	/* SD-PARAM values need '"', '\' and ']' escaped; a type never holds them (audit.c) */
	if (strpbrk(type, "\"\\]") != NULL)
		goto out;
	time_t secs = (time_t)(json_integer_value(ts) / 1000);
	/* strftime returns 0 when the stamp does not fit, leaving stamp undefined */
	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		goto out;
	n = asprintf(
	    &msg,
	    "<110>1 %s.%03dZ %s jitgate - audit [jitgate@32473 seq=\"%lld\" type=\"%s\"] %.*s",
	    stamp, (int)(json_integer_value(ts) % 1000), hostname,
	    (long long)json_integer_value(seq), type, (int)len, entry);
	if (n < 0) {
		msg = NULL;
		rc = JG_ENOMEM;
		goto out;
	}
	n = asprintf(&framed, "%d %s", n, msg);
	if (n < 0) {
		rc = JG_ENOMEM;
		goto out;
	}
	*out = framed;
	*outlen = (size_t)n;
	rc = 0;
out:
	free(msg);
	json_decref(e);
	return rc;
}

/* ---- the position --------------------------------------------------------------- */

static const char sql_pos_get[] = "SELECT next_seq FROM audit_stream WHERE destination = ?";
static const char sql_pos_set[] =
    "INSERT INTO audit_stream (destination, next_seq, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (destination) DO UPDATE SET next_seq = excluded.next_seq, "
    "updated_at = excluded.updated_at";

static int
position_load(struct jg_audit_stream *s)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if (jg_store_acquire(s->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_stmt_prepare(conn, sql_pos_get, &st)) == 0) {
		jg_stmt_bind_text(st, 1, s->destination);
		rc = jg_stmt_step(st);
		s->next_seq = rc == JG_STMT_ROW ? (uint64_t)jg_stmt_column_int64(st, 0) : 0;
		rc = rc == JG_STMT_ROW || rc == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(s->store, conn);
	return rc;
}

static int
position_store(struct jg_audit_stream *s, uint64_t next)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if (jg_store_acquire(s->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_stmt_prepare(conn, sql_pos_set, &st)) == 0) {
		jg_stmt_bind_text(st, 1, s->destination);
		jg_stmt_bind_int64(st, 2, (int64_t)next);
		jg_stmt_bind_int64(st, 3, now_ms());
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
	}
	jg_store_release(s->store, conn);
	return rc;
}

struct batch {
	char **entries;
	size_t *lens;
	size_t n;
	uint64_t first;
};

static void
batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->entries[i]);
	free(b->entries);
	free(b->lens);
	memset(b, 0, sizeof(*b));
}

/* Copies one entry into the batch (jg_audit_read_from hands them over in order). */
static int
batch_add(void *ctx, uint64_t seq, const void *entry, size_t len)
{
	struct batch *b = ctx;
	(void)seq;
	if ((b->entries[b->n] = malloc(len + 1)) == NULL)
		return JG_ENOMEM;
	memcpy(b->entries[b->n], entry, len);
	b->entries[b->n][len] = '\0';
	b->lens[b->n++] = len;
	return 0;
}

/* The entries from s->next_seq on, in order, without gaps (a gap ends the batch early). */
static int
batch_read(struct jg_audit_stream *s, struct batch *b)
{
	size_t max = (size_t)s->cfg->stream_batch_size;

	memset(b, 0, sizeof(*b));
	b->first = s->next_seq;
	if ((b->entries = calloc(max, sizeof(char *))) == NULL ||
	    (b->lens = calloc(max, sizeof(size_t))) == NULL) {
		batch_clear(b);
		return JG_ENOMEM;
	}
	int rc = jg_audit_read_from(s->store, s->next_seq, max, batch_add, b);
	/* out of memory part way: send what was read, the rest follows in the next batch */
	return rc == JG_ENOMEM ? 0 : rc;
}

/* ---- webhook ---------------------------------------------------------------------- */

static int
send_webhook(struct jg_audit_stream *s, const struct batch *b)
{
	size_t total = 1;
	for (size_t i = 0; i < b->n; i++)
		total += b->lens[i] + 1;
	char *body = malloc(total), *p = body;
	char h_first[64], h_last[64], h_ts[64], h_sig[JG_WEBHOOK_SIG_LEN + 32];
	const char *headers[5] = {h_first, h_last, h_ts, NULL, NULL};
	struct jg_httpc_reply reply;
	int64_t ts = now_ms() / 1000;
	int rc;

	if (body == NULL)
		return JG_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		memcpy(p, b->entries[i], b->lens[i]);
		p += b->lens[i];
		*p++ = '\n';
	}
	*p = '\0';
	snprintf(h_first, sizeof(h_first), "X-Jitgate-First-Seq: %llu",
		 (unsigned long long)b->first);
	snprintf(h_last, sizeof(h_last), "X-Jitgate-Last-Seq: %llu",
		 (unsigned long long)(b->first + b->n - 1));
	snprintf(h_ts, sizeof(h_ts), "X-Jitgate-Timestamp: %lld", (long long)ts);
	if (s->secret) {
		char sig[JG_WEBHOOK_SIG_LEN];
		if (jg_webhook_sign(s->secret, s->secret_len, ts, body, (size_t)(p - body), sig) !=
		    0) {
			free(body);
			return JG_ECRYPTO;
		}
		snprintf(h_sig, sizeof(h_sig), "X-Jitgate-Signature: %s", sig);
		headers[3] = h_sig;
	}
	struct jg_httpc_opts opts = {.ca_file = s->cfg->stream_ca_file,
				     .timeout_ms = (long)s->cfg->stream_timeout_ms,
				     .max_bytes = 65536,
				     .flags = JG_HTTPC_HTTPS_ONLY,
				     .content_type = "application/x-ndjson",
				     .headers = headers};
	rc = jg_httpc_request(s->cfg->stream_url, body, &opts, &reply);
	free(body);
	if (rc != 0)
		return JG_EIO;
	rc = reply.status >= 200 && reply.status < 300 ? 0 : JG_EIO;
	jg_httpc_reply_free(&reply);
	return rc;
}

/* ---- syslog over TLS ------------------------------------------------------------ */

/* A TCP connection within timeout_ms, then blocking with send/receive timeouts. */
static int
tcp_connect(const char *host, const char *port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int fd = -1;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		int ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
		if (!ok) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int err = 0;
			socklen_t elen = sizeof(err);
			ok = poll(&pfd, 1, timeout_ms) == 1 &&
			     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0;
		}
		fcntl(fd, F_SETFL, fl);
		if (!ok) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

static int
ssl_write_all(SSL *ssl, const char *buf, size_t len)
{
	while (len > 0) {
		size_t done = 0;
		if (SSL_write_ex(ssl, buf, len, &done) != 1)
			return JG_EIO;
		buf += done;
		len -= done;
	}
	return 0;
}

static int
send_syslog(struct jg_audit_stream *s, const struct batch *b)
{
	char host[256], port[8];
	const char *addr = s->cfg->stream_address, *colon = strrchr(addr, ':');
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1, rc = JG_EIO;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:6514 */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((fd = tcp_connect(host, port, (int)s->cfg->stream_timeout_ms)) < 0)
		return JG_EIO;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto out;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((s->cfg->stream_ca_file
		 ? SSL_CTX_load_verify_locations(ctx, s->cfg->stream_ca_file, NULL)
		 : SSL_CTX_set_default_verify_paths(ctx)) != 1)
		goto out;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto out;
	/* the receiver must be the one named: an IP address or a DNS name in its certificate */
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
		ERR_clear_error();
		if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
			goto out;
	}
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	for (size_t i = 0; i < b->n; i++) {
		char *frame;
		size_t flen;
		if (jg_audit_stream_syslog_frame(b->entries[i], b->lens[i], s->hostname, &frame,
						 &flen) != 0)
			goto out;
		int wrc = ssl_write_all(ssl, frame, flen);
		free(frame);
		if (wrc != 0)
			goto out;
	}
	/*
	 * The acknowledgement: our close_notify (and FIN) after the batch; the
	 * receiver's close_notify comes back only once it has read all of it.
	 */
	if (SSL_shutdown(ssl) < 0)
		goto out;
	shutdown(fd, SHUT_WR);
	char sink[256];
	size_t got;
	while (SSL_read_ex(ssl, sink, sizeof(sink), &got) == 1)
		; /* a receiver has nothing to say in RFC 5425; ignore it */
	if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN)
		rc = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}

/* ---- the thread ------------------------------------------------------------------- */

/*
 * One round: send the next batch (if any).  The next round comes at once
 * after an acknowledged batch, after IDLE_MS when there was nothing to
 * send, and after the backoff when the receiver did not acknowledge.
 */
static int64_t
stream_tick(void *arg)
{
	struct jg_audit_stream *s = arg;
	struct batch b;
	int64_t wait = IDLE_MS;

	if (!s->loaded)
		s->loaded = position_load(s) == 0;
	if (!s->loaded || batch_read(s, &b) != 0)
		return wait;
	if (b.n > 0) {
		int rc = strcmp(s->cfg->stream_type, "syslog") == 0 ? send_syslog(s, &b)
								    : send_webhook(s, &b);
		if (rc == 0 && position_store(s, b.first + b.n) == 0) {
			pthread_mutex_lock(&s->lock);
			s->next_seq = b.first + b.n;
			s->sent += b.n;
			pthread_mutex_unlock(&s->lock);
			s->attempts = 0;
			wait = 0;
		} else {
			uint32_t rnd = 0;
			(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
			wait = jg_backoff_ms(++s->attempts, s->cfg->stream_retry_base_ms,
					     s->cfg->stream_retry_max_ms, rnd);
			pthread_mutex_lock(&s->lock);
			s->failures++;
			pthread_mutex_unlock(&s->lock);
			json_t *f = json_pack("{s:s,s:I,s:I,s:i}", "stream", s->cfg->stream_type,
					      "from_seq", (json_int_t)b.first, "retry_in_ms",
					      (json_int_t)wait, "failures", s->attempts);
			jg_log(
			    s->attempts == 1 ? JG_LOG_WARN : JG_LOG_DEBUG,
			    "audit stream: the receiver did not acknowledge a batch; will resend "
			    "it",
			    f);
			json_decref(f);
		}
	}
	batch_clear(&b);
	return wait;
}

int
jg_audit_stream_new(struct jg_store *store, const struct jg_config *cfg,
		    struct jg_audit_stream **out, char *err, size_t errlen)
{
	struct jg_audit_stream *s;

	*out = NULL;
	if (cfg->stream_type == NULL)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return JG_ENOMEM;
	s->store = store;
	s->cfg = cfg;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return JG_ENOMEM;
	}
	int syslog = strcmp(cfg->stream_type, "syslog") == 0;
	snprintf(s->destination, sizeof(s->destination), "%s %s", cfg->stream_type,
		 syslog ? cfg->stream_address : cfg->stream_url);
	if (cfg->stream_hostname)
		snprintf(s->hostname, sizeof(s->hostname), "%s", cfg->stream_hostname);
	else /* https://host[:port] -> host */
		snprintf(s->hostname, sizeof(s->hostname), "%.*s",
			 (int)strcspn(cfg->public_url + 8, ":/"), cfg->public_url + 8);
	for (char *h = s->hostname; *h; h++)
		if (*h <= ' ' || *h >= 0x7f)
			*h = '-'; /* RFC 5424 HOSTNAME is PRINTUSASCII */
	if (cfg->stream_secret_file) {
		char e[512];
		if (jg_file_read(cfg->stream_secret_file, MAX_SECRET, true, &s->secret,
				 &s->secret_len, e, sizeof(e)) != 0) {
			snprintf(err, errlen, "audit_stream.secret_file: %s", e);
			jg_audit_stream_free(s);
			return JG_ECONFIG;
		}
		while (s->secret_len > 0 && (s->secret[s->secret_len - 1] == '\n' ||
					     s->secret[s->secret_len - 1] == '\r'))
			s->secret[--s->secret_len] = '\0';
	}
	*out = s;
	return 0;
}

int
jg_audit_stream_start(struct jg_audit_stream *s)
{
	if (s == NULL || s->thread != NULL)
		return 0;
	return jg_thread_start(&s->thread, "jg-audit-stream", 0, stream_tick, s);
}

void
jg_audit_stream_stop(struct jg_audit_stream *s)
{
	if (s == NULL)
		return;
	jg_thread_stop(s->thread);
	s->thread = NULL;
}

void
jg_audit_stream_free(struct jg_audit_stream *s)
{
	if (s == NULL)
		return;
	jg_audit_stream_stop(s);
	jg_file_free_secret(s->secret, s->secret_len);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

char *
jg_audit_stream_metrics(struct jg_audit_stream *s)
{
	char *out = NULL;
	if (s == NULL)
		return strdup("");
	pthread_mutex_lock(&s->lock);
	int n =
	    asprintf(&out,
		     "# HELP jitgate_audit_stream_next_seq The first audit entry the SIEM has not "
		     "acknowledged yet.\n# TYPE jitgate_audit_stream_next_seq gauge\n"
		     "jitgate_audit_stream_next_seq{type=\"%s\"} %llu\n"
		     "# HELP jitgate_audit_stream_entries_total Audit entries acknowledged by the "
		     "SIEM since start.\n# TYPE jitgate_audit_stream_entries_total counter\n"
		     "jitgate_audit_stream_entries_total{type=\"%s\"} %llu\n"
		     "# HELP jitgate_audit_stream_failures_total Batches the SIEM did not "
		     "acknowledge (each is resent).\n"
		     "# TYPE jitgate_audit_stream_failures_total counter\n"
		     "jitgate_audit_stream_failures_total{type=\"%s\"} %llu\n",
		     s->cfg->stream_type, (unsigned long long)s->next_seq, s->cfg->stream_type,
		     s->sent, s->cfg->stream_type, s->failures);
	pthread_mutex_unlock(&s->lock);
	return n < 0 ? NULL : out;
}
