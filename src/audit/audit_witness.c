/*
 * audit_witness.c - checkpoints cosigned by witnesses (docs/witness.md):
 * the leader of "audit-checkpoints" pushes the newest checkpoint to each
 * configured witness with the C2SP tlog-witness add-checkpoint call, checks
 * the cosignature it gets back against that witness's key and stores it in
 * audit_cosignatures (this module owns the table); readers get a
 * checkpoint's cosignature lines to append to its note.
 *
 * Only the newest checkpoint is pushed, with a consistency proof from the
 * size the witness holds: the witness does not need the ones in between.
 * What it holds is learnt from this log's own records (the largest size it
 * cosigned here) or, when it disagrees, from its 409 answer, after which the
 * push is made once more from that size.  A 409 naming a size this log
 * cannot extend to its newest checkpoint (larger than it, or the same size
 * with another root), or a 422 (the proof does not verify against what the
 * witness holds), means the witness saw another history: that is logged as
 * an error - the witness refusing is the point of having one.
 *
 * On PostgreSQL a checkpoint is pushed only once the synchronous standby is
 * known to hold it, as for the off-host sinks (audit_checkpoint.c): a
 * witness that cosigned a checkpoint the promoted standby lacks would hold
 * a fork of the log.  No store connection is held while a witness answers.
 * Failures back off per witness (1 s doubling to 60 s) and are logged when
 * the outcome changes, not every round.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_int.h"
#include "jitgate/error.h"
#include "jitgate/httpc.h"
#include "jitgate/log.h"
#include "jitgate/parse.h"

#define OUTCOME_NO_ANSWER (-1)
#define BACKOFF_MIN_MS	  1000
#define BACKOFF_MAX_MS	  60000

static const char sql_insert[] =
    "INSERT INTO audit_cosignatures (size, witness, key_id, line, cosigned_at, stored_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size, witness, key_id) DO NOTHING";
static const char sql_held[] =
    "SELECT max(size) FROM audit_cosignatures WHERE witness = ? AND key_id = ?";
static const char sql_has[] =
    "SELECT 1 FROM audit_cosignatures WHERE size = ? AND witness = ? AND key_id = ?";
static const char sql_lines[] =
    "SELECT line FROM audit_cosignatures WHERE size = ? ORDER BY witness, key_id";
static const char sql_keys_of[] = "SELECT witness, key_id FROM audit_cosignatures WHERE size = ?";
static const char sql_recent[] =
    "SELECT size, witness, key_id FROM audit_cosignatures ORDER BY size DESC LIMIT ?";

#define PUBLISHED_SCAN 4096 /* cosignature rows read to find the newest published checkpoint */

int
jg_audit_witnesses_init(struct jg_audit *a, const struct jg_audit_config *cfg, char *err,
			size_t errlen)
{
	if (cfg->n_witnesses > JG_AUDIT_MAX_WITNESSES || cfg->witnesses_min < 0 ||
	    (size_t)cfg->witnesses_min > cfg->n_witnesses) {
		snprintf(err, errlen, "audit.witnesses: at most %d, and min no more than listed",
			 JG_AUDIT_MAX_WITNESSES);
		return JG_ECONFIG;
	}
	for (size_t i = 0; i < cfg->n_witnesses; i++) {
		struct audit_witness *w = &a->witnesses[i];
		const struct jg_witness_cfg *c = &cfg->witnesses[i];
		if (jg_signed_note_cosigner_parse(c->key, &w->key) != 0) {
			snprintf(err, errlen,
				 "audit.witnesses.servers[%zu].key: not a witness's verifier key "
				 "\"<name>+<id>+<base64(0x04 || key)>\" (jitgate witness keygen "
				 "prints it)",
				 i);
			return JG_ECONFIG;
		}
		for (size_t k = 0; k < i; k++)
			if ((a->witnesses[k].key.key_id == w->key.key_id &&
			     strcmp(a->witnesses[k].key.name, w->key.name) == 0) ||
			    memcmp(a->witnesses[k].key.pub, w->key.pub, sizeof(w->key.pub)) == 0) {
				snprintf(
				    err, errlen,
				    "audit.witnesses.servers[%zu]: the same witness key twice (one "
				    "key under two names would count twice)",
				    i);
				return JG_ECONFIG;
			}
		/*
		 * A line under a checkpoint key's name and key ID would make every
		 * note that carries it fail the log's own verification (a key that
		 * claims to be the log's must verify): such a key is refused.
		 */
		for (int k = 0; k < a->verifiers.n; k++)
			if (a->verifiers.v[k].key_id == w->key.key_id &&
			    strcmp(a->verifiers.v[k].name, w->key.name) == 0) {
				snprintf(
				    err, errlen,
				    "audit.witnesses.servers[%zu].key: same name and key ID as a "
				    "checkpoint key",
				    i);
				return JG_ECONFIG;
			}
		if (asprintf(&w->url, "%s/add-checkpoint", c->url) < 0) {
			w->url = NULL;
			return JG_ENOMEM;
		}
		if (c->ca_file != NULL && (w->ca_file = strdup(c->ca_file)) == NULL)
			return JG_ENOMEM;
		w->held = -1;
		w->cosigned = -1;
		a->n_witnesses = i + 1;
	}
	a->witnesses_min = cfg->witnesses_min;
	return 0;
}

void
jg_audit_witnesses_free(struct jg_audit *a)
{
	for (size_t i = 0; i < a->n_witnesses; i++) {
		free(a->witnesses[i].url);
		free(a->witnesses[i].ca_file);
	}
	a->n_witnesses = 0;
}

/* ---- the table ------------------------------------------------------------- */

/* 1 when w's cosignature of size is stored, 0 when not, < 0 on failure. */
static int
stored(struct jg_store_conn *conn, const struct audit_witness *w, uint64_t size)
{
	struct jg_stmt *st;
	int rc;

	if (jg_stmt_prepare(conn, sql_has, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	jg_stmt_bind_text(st, 2, w->key.name);
	jg_stmt_bind_int64(st, 3, w->key.key_id);
	rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW ? 1 : rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

/* The largest size w cosigned for this log, as recorded (0 when none). */
static int
recorded_held(struct jg_store_conn *conn, const struct audit_witness *w, uint64_t *size)
{
	struct jg_stmt *st;
	int rc;

	*size = 0;
	if (jg_stmt_prepare(conn, sql_held, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, w->key.name);
	jg_stmt_bind_int64(st, 2, w->key.key_id);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW && !jg_stmt_column_is_null(st, 0))
		*size = (uint64_t)jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return rc == JG_STMT_ROW || rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

static int
store_cosignature(struct jg_audit *a, const struct audit_witness *w, uint64_t size,
		  const char *line, uint64_t cosigned_at)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc;

	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if (jg_stmt_prepare(conn, sql_insert, &st) != 0) {
		jg_store_release(a->store, conn);
		return JG_ESTORE;
	}
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	jg_stmt_bind_text(st, 2, w->key.name);
	jg_stmt_bind_int64(st, 3, w->key.key_id);
	jg_stmt_bind_text(st, 4, line);
	jg_stmt_bind_int64(st, 5, (int64_t)cosigned_at);
	jg_stmt_bind_int64(st, 6, jg_audit_now_ms());
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	jg_store_release(a->store, conn);
	return rc;
}

int
jg_audit_cosignature_lines_on(struct jg_store_conn *conn, uint64_t size, char **lines, size_t *len,
			      int *count)
{
	struct jg_stmt *st;
	size_t cap = 0;
	int rc;

	*lines = NULL;
	*len = 0;
	*count = 0;
	if (jg_stmt_prepare(conn, sql_lines, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *l = jg_stmt_column_text(st, 0);
		if (l == NULL)
			continue; /* NOT NULL in the schema */
		size_t n = strlen(l);
		if (*len + n + 1 > cap) {
			size_t want = (*len + n + 1) * 2;
			char *p = realloc(*lines, want);
			if (p == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			*lines = p;
			cap = want;
		}
		memcpy(*lines + *len, l, n);
		*len += n;
		(*lines)[*len] = '\0';
		(*count)++;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		free(*lines);
		*lines = NULL;
		*len = 0;
		*count = 0;
		return rc == JG_ENOMEM ? rc : JG_ESTORE;
	}
	return 0;
}

int
jg_audit_note_with_cosignatures_on(struct jg_store_conn *conn, uint64_t size, char **note,
				   int *count)
{
	char *lines = NULL, *both;
	size_t len = 0, nl = strlen(*note);
	int rc;

	if ((rc = jg_audit_cosignature_lines_on(conn, size, &lines, &len, count)) != 0)
		return rc;
	if (lines == NULL)
		return 0;
	if ((both = realloc(*note, nl + len + 1)) == NULL) {
		free(lines);
		return JG_ENOMEM;
	}
	memcpy(both + nl, lines, len + 1);
	*note = both;
	free(lines);
	return 0;
}

/* Whether (name, key_id) is one of the configured witnesses. */
static bool
configured(const struct jg_audit *a, const char *name, int64_t key_id)
{
	for (size_t i = 0; i < a->n_witnesses; i++)
		if (a->witnesses[i].key.key_id == key_id &&
		    strcmp(a->witnesses[i].key.name, name) == 0)
			return true;
	return false;
}

int
jg_audit_cosigned_count_on(const struct jg_audit *a, struct jg_store_conn *conn, uint64_t size,
			   int *count)
{
	struct jg_stmt *st;
	int rc;

	*count = 0;
	if (jg_stmt_prepare(conn, sql_keys_of, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, (int64_t)size);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *name = jg_stmt_column_text(st, 0);
		if (name != NULL && configured(a, name, jg_stmt_column_int64(st, 1)))
			(*count)++;
	}
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

int
jg_audit_published_size_on(const struct jg_audit *a, struct jg_store_conn *conn, uint64_t *size)
{
	uint64_t cur = UINT64_MAX;
	struct jg_stmt *st;
	int n = 0, rc;

	*size = 0;
	if (a->witnesses_min == 0) { /* every checkpoint is published */
		char *note = NULL;
		rc = jg_audit_latest_checkpoint_on(conn, &note, size, NULL);
		free(note);
		return rc;
	}
	/*
	 * The newest size with witnesses_min configured witnesses' rows, read
	 * from the newest rows down (bounded: PUBLISHED_SCAN rows, so a
	 * published checkpoint older than that many cosignatures is not found).
	 */
	if (jg_stmt_prepare(conn, sql_recent, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_int64(st, 1, PUBLISHED_SCAN);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		uint64_t sz = (uint64_t)jg_stmt_column_int64(st, 0);
		const char *name = jg_stmt_column_text(st, 1);
		if (sz != cur) {
			cur = sz;
			n = 0;
		}
		if (name != NULL && configured(a, name, jg_stmt_column_int64(st, 2)) &&
		    ++n == a->witnesses_min) {
			*size = sz;
			break;
		}
	}
	jg_stmt_finish(st);
	if (rc == JG_STMT_ROW)
		return 0;
	return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

/* ---- pushing --------------------------------------------------------------- */

static void
log_outcome(struct audit_witness *w, int outcome, enum jg_log_level level, const char *msg,
	    uint64_t size, int64_t held)
{
	if (w->last_outcome == outcome)
		return;
	w->last_outcome = outcome;
	json_t *f = json_pack("{s:s,s:s,s:I}", "witness", w->key.name, "url", w->url, "size",
			      (json_int_t)size);
	if (held >= 0)
		json_object_set_new(f, "witness_size", json_integer(held));
	if (outcome > 0)
		json_object_set_new(f, "status", json_integer(outcome));
	jg_log(level, msg, f);
	json_decref(f);
}

static void
back_off(struct audit_witness *w)
{
	w->backoff_ms = w->backoff_ms == 0 ? BACKOFF_MIN_MS : w->backoff_ms * 2;
	if (w->backoff_ms > BACKOFF_MAX_MS)
		w->backoff_ms = BACKOFF_MAX_MS;
	w->retry_at_ms = jg_audit_now_ms() + w->backoff_ms;
}

/*
 * The add-checkpoint body from the size w holds to the checkpoint note of
 * size: "old M", the proof in base64 lines, an empty line, the note.
 */
static int
build_request(struct jg_audit *a, uint64_t old, uint64_t size, const char *note, char **body)
{
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES];
	struct jg_store_conn *conn;
	size_t plen = 0, n, at;
	int rc;

	*body = NULL;
	if ((rc = jg_store_acquire(a->store, &conn)) != 0)
		return rc;
	rc = jg_store_begin_read(conn);
	if (rc == 0)
		rc = jg_merkle_consistency_proof(old, size, jg_audit_get_node, conn, proof,
						 sizeof(proof), &plen);
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	if (rc != 0)
		return rc;
	n = 32 + plen / 32 * 46 + 1 + strlen(note) + 1;
	if ((*body = malloc(n)) == NULL)
		return JG_ENOMEM;
	at = (size_t)snprintf(*body, n, "old %llu\n", (unsigned long long)old);
	for (size_t i = 0; i < plen; i += 32) {
		at += (size_t)EVP_EncodeBlock((unsigned char *)*body + at, proof + i, 32);
		(*body)[at++] = '\n';
	}
	(*body)[at++] = '\n';
	memcpy(*body + at, note, strlen(note) + 1);
	return 0;
}

/*
 * The witness's 200 body is one or more signature lines (tlog-witness):
 * lines of other keys are ignored, and the one under w's name and key ID
 * must verify with w's key over the note's text.  *line gets that line
 * (the caller frees), *t its time.  JG_EVERIFY when no such line verifies.
 */
static int
pick_line(const struct audit_witness *w, const char *note, const char *body, size_t len,
	  char **line, uint64_t *t)
{
	size_t nl = strlen(note);
	int rc = JG_EVERIFY;

	*line = NULL;
	if (len == 0 || body[len - 1] != '\n' || memchr(body, '\0', len) != NULL)
		return JG_EVERIFY;
	for (const char *p = body; p < body + len && rc != 0;) {
		const char *end = (const char *)memchr(p, '\n', (size_t)(body + len - p)) + 1;
		size_t ll = (size_t)(end - p);
		struct jg_signed_note *parsed = NULL;
		char *both = malloc(nl + ll + 1);
		if (both == NULL)
			return JG_ENOMEM;
		memcpy(both, note, nl);
		memcpy(both + nl, p, ll);
		both[nl + ll] = '\0';
		/* the note and this line, which must be w's and verify with w's key */
		if (jg_signed_note_parse(both, nl + ll, &parsed) == 0 && parsed->n_sigs > 0 &&
		    parsed->sigs[parsed->n_sigs - 1].key_id == w->key.key_id &&
		    strcmp(parsed->sigs[parsed->n_sigs - 1].name, w->key.name) == 0 &&
		    jg_signed_note_verify_time(parsed, &w->key, t) == 0) {
			*line = strndup(p, ll);
			rc = *line ? 0 : JG_ENOMEM;
		}
		jg_signed_note_free(parsed);
		free(both);
		p = end;
	}
	return rc;
}

/* A 409's body: the size the witness holds, in decimal, and a newline (text/x.tlog.size). */
static bool
size_body(struct jg_httpc_reply *reply, uint64_t *size)
{
	if (reply->body == NULL || reply->len < 2 || reply->len > 21 ||
	    reply->body[reply->len - 1] != '\n')
		return false;
	reply->body[reply->len - 1] = '\0';
	return jg_parse_u64(reply->body, 0, (uint64_t)INT64_MAX, size) == 0;
}

enum push_result { PUSHED, RETRY_FROM, REFUSED };

/* One add-checkpoint call; on a 409 with a size the log can extend, *from is that size. */
static enum push_result
push_once(struct jg_audit *a, struct audit_witness *w, uint64_t size, const char *note,
	  uint64_t old, uint64_t *from)
{
	struct jg_httpc_opts opts = {.ca_file = w->ca_file,
				     .timeout_ms = 10000,
				     .max_bytes = 4096,
				     .flags = JG_HTTPC_HTTPS_ONLY,
				     .content_type = "text/plain; charset=utf-8"};
	struct jg_httpc_reply reply = {0};
	enum push_result res = REFUSED;
	char *body = NULL;
	uint64_t t = 0, theirs = 0;

	if (build_request(a, old, size, note, &body) != 0) {
		log_outcome(w, OUTCOME_NO_ANSWER, JG_LOG_WARN,
			    "audit: cannot read the proof for a witness; will retry", size, -1);
		return REFUSED;
	}
	int rc = jg_httpc_request(w->url, body, &opts, &reply);
	free(body);
	if (rc != 0) {
		log_outcome(w, OUTCOME_NO_ANSWER, JG_LOG_WARN,
			    "audit: a witness does not answer; will retry", size, -1);
		goto out;
	}
	if (reply.status == 200) {
		char *line = NULL;
		rc = pick_line(w, note, reply.body ? reply.body : "", reply.len, &line, &t);
		if (rc == 0 && (rc = store_cosignature(a, w, size, line, t)) == 0) {
			w->held = (int64_t)size;
			w->cosigned = (int64_t)size;
			w->backoff_ms = 0;
			log_outcome(w, 200, JG_LOG_INFO, "audit: a witness cosigned the checkpoint",
				    size, -1);
			res = PUSHED;
		} else if (rc == JG_EVERIFY) {
			log_outcome(w, 1, JG_LOG_ERROR,
				    "audit: a witness answered without a cosignature that verifies "
				    "with its key: not stored",
				    size, -1);
		} else {
			log_outcome(
			    w, 2, JG_LOG_WARN,
			    "audit: a witness's cosignature could not be stored; will retry", size,
			    -1);
		}
		free(line);
		goto out;
	}
	if (reply.status == 409 && size_body(&reply, &theirs)) {
		/*
		 * It holds another size of this log - or this very one (our 200 was
		 * lost, or someone else submitted it): prove from there, once.  A
		 * fork answers 409 again with the size just tried.
		 */
		if (theirs <= size && theirs != old) {
			*from = theirs;
			res = RETRY_FROM;
			goto out;
		}
		w->held = (int64_t)theirs;
		log_outcome(w, 409, JG_LOG_ERROR,
			    theirs > size
				? "audit: a witness holds a larger checkpoint than this "
				  "log's newest: the log may have been rolled back or forked"
				: "audit: a witness holds another root at this size: the log "
				  "may have been rewritten",
			    size, (int64_t)theirs);
		goto out;
	}
	log_outcome(w, (int)reply.status, reply.status == 422 ? JG_LOG_ERROR : JG_LOG_WARN,
		    reply.status == 422 ? "audit: a witness refused the consistency proof: the log "
					  "it saw is not a prefix of this one"
					: "audit: a witness refused the checkpoint; will retry",
		    size, w->held);
out:
	jg_httpc_reply_free(&reply);
	return res;
}

/* The newest checkpoint, if some witness still lacks its cosignature. */
static int
newest_unwitnessed(struct jg_audit *a, char **note, uint64_t *size, bool *any)
{
	struct jg_store_conn *conn;
	int rc;

	*any = false;
	if ((rc = jg_store_acquire(a->store, &conn)) != 0)
		return rc;
	rc = jg_audit_latest_checkpoint_on(conn, note, size, NULL);
	for (size_t i = 0; rc == 0 && i < a->n_witnesses; i++) {
		struct audit_witness *w = &a->witnesses[i];
		uint64_t held;
		if (w->cosigned == (int64_t)*size)
			continue;
		int has = stored(conn, w, *size);
		if (has < 0) {
			rc = has;
			break;
		}
		if (has) { /* another replica pushed it while it led */
			w->cosigned = (int64_t)*size;
			w->held = (int64_t)*size;
			continue;
		}
		if (w->held < 0) {
			if ((rc = recorded_held(conn, w, &held)) != 0)
				break;
			w->held = (int64_t)held;
		}
		*any = true;
	}
	jg_store_release(a->store, conn);
	if (rc != 0) {
		free(*note);
		*note = NULL;
	}
	return rc;
}

int64_t
jg_audit_witness_tick(void *arg)
{
	struct jg_audit *a = arg;

	if (__atomic_load_n(&a->cp_leading, __ATOMIC_ACQUIRE))
		jg_audit_push_witnesses(a);
	return 1000;
}

void
jg_audit_push_witnesses(struct jg_audit *a)
{
	uint64_t size = 0;
	char *note = NULL;
	bool any;

	if (a->n_witnesses == 0 || newest_unwitnessed(a, &note, &size, &any) != 0 || !any) {
		free(note);
		return;
	}
	/* PostgreSQL: only what the standby holds leaves the host (see the top of this file) */
	if (a->pg && jg_audit_run(a, jg_audit_probe_fn, NULL) != 0) {
		free(note);
		return;
	}
	int64_t now = jg_audit_now_ms();
	for (size_t i = 0; i < a->n_witnesses; i++) {
		struct audit_witness *w = &a->witnesses[i];
		uint64_t from = (uint64_t)(w->held < 0 ? 0 : w->held);
		if (w->cosigned == (int64_t)size || now < w->retry_at_ms)
			continue;
		if (from > size) {
			log_outcome(
			    w, 409, JG_LOG_ERROR,
			    "audit: a witness holds a larger checkpoint than this log's newest: "
			    "the log may have been rolled back or forked",
			    size, w->held);
			back_off(w);
			continue;
		}
		enum push_result r = push_once(a, w, size, note, from, &from);
		if (r == RETRY_FROM) {
			w->held = (int64_t)from;
			r = push_once(a, w, size, note, from, &from);
		}
		if (r != PUSHED)
			back_off(w);
	}
	free(note);
}
