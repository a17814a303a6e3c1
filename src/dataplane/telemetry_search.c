/*
 * telemetry_search.c - the words of a logs search, and the PostgreSQL form
 * of the search index: a record's search text as a tsvector literal, a
 * search as a tsquery literal.
 *
 * On SQLite the search text goes into FTS5 tables and a search becomes an
 * FTS5 query of quoted phrases (telemetry_logs.c).  PostgreSQL's own text
 * parsers split text otherwise (alice@example.com stays one token there,
 * three in FTS5), so on PostgreSQL jitgate tokenizes itself with FTS5's
 * tokenizer (tokenize.h) and hands the server finished tokens:
 *
 * - a record's text becomes 'tok':1,4 'tok2':2 ... - each distinct token
 *   once, with the positions (from 1) where it occurs, quoted and escaped,
 *   cast by the server (CAST(? AS tsvector)), which neither splits nor
 *   normalizes what it is given that way;
 * - a search word becomes the phrase of its tokens ('a' <-> 'b' <-> 'c':
 *   consecutive positions, as an FTS5 phrase), the words ANDed.  A word
 *   without tokens is left out, as FTS5 leaves out an empty phrase; a search
 *   of only such words matches nothing (*query NULL).
 *
 * What PostgreSQL cannot hold is left out the way the server itself would
 * (docs/dataplane.md, Search): positions past 16383 count as 16383, a
 * token keeps its first 256 positions, and a token of 2047 bytes or more is
 * not stored (a search word is at most JG_TELEMETRY_Q_MAX_BYTES, so none
 * could match it).  Those limits only change phrases that reach past them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/tokenize.h"
#include "telemetry_int.h"

#define MAX_POS	    16383 /* PostgreSQL's MAXENTRYPOS - 1 */
#define MAX_NUMPOS  256	  /* positions a lexeme keeps (MAXNUMPOS) */
#define MAX_LEXEME  2047  /* bytes; a longer lexeme is refused (MAXSTRLEN) */
#define MAX_QUERY_L 4096  /* bytes of a tsquery literal (a search is at most 256) */

bool
jg_telemetry_next_word(const char **p, const char **word, size_t *len)
{
	const char *s = *p;
	for (;;) {
		while (*s && isspace((unsigned char)*s))
			s++;
		if (*s == '\0') {
			*p = s;
			return false;
		}
		const char *w = s;
		bool useful = false;
		while (*s && !isspace((unsigned char)*s)) {
			useful |= isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80;
			s++;
		}
		if (useful) {
			*word = w;
			*len = (size_t)(s - w);
			*p = s;
			return true;
		}
	}
}

/* A growing string; on allocation failure it stays NULL and every add is a no-op. */
struct buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->s, cap);
		if (grown == NULL) {
			b->failed = true;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* 'lexeme' with ' doubled and \ escaped (the literal syntax of tsvector and tsquery). */
static void
buf_lexeme(struct buf *b, const char *tok, size_t n)
{
	buf_add(b, "'", 1);
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == '\'' || tok[i] == '\\')
			buf_add(b, tok[i] == '\'' ? "'" : "\\", 1);
		buf_add(b, tok + i, 1);
	}
	buf_add(b, "'", 1);
}

/* ---- tsvector ------------------------------------------------------------------- */

struct occurrence {
	size_t off, len; /* the token's bytes in the collector's arena */
	int pos;	 /* 1, 2, ... (capped at MAX_POS) */
};

struct collector {
	struct buf arena; /* every token's bytes, one after the other */
	struct occurrence *occ;
	size_t n, cap;
	int pos;
};

static int
collect(void *ctx, const char *tok, size_t len)
{
	struct collector *c = ctx;
	c->pos++; /* every token takes a position, stored or not */
	if (len >= MAX_LEXEME)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct occurrence *grown = realloc(c->occ, cap * sizeof(*grown));
		if (grown == NULL)
			return JG_ENOMEM;
		c->occ = grown;
		c->cap = cap;
	}
	c->occ[c->n++] = (struct occurrence){
	    .off = c->arena.len, .len = len, .pos = c->pos < MAX_POS ? c->pos : MAX_POS};
	buf_add(&c->arena, tok, len);
	return c->arena.failed ? JG_ENOMEM : 0;
}

/* By token bytes, then position (qsort_r; arena: the collector's token bytes). */
static int
occurrence_cmp(const void *pa, const void *pb, void *arena)
{
	const struct occurrence *a = pa, *b = pb;
	const char *bytes = arena;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(bytes + a->off, bytes + b->off, n);
	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return (a->pos > b->pos) - (a->pos < b->pos);
}

static bool
same_token(const struct collector *c, const struct occurrence *a, const struct occurrence *b)
{
	return a->len == b->len && memcmp(c->arena.s + a->off, c->arena.s + b->off, a->len) == 0;
}

int
jg_telemetry_tsvector(struct jg_tokenizer *t, const char *text, char **out)
{
	struct collector c = {.pos = 0};
	struct buf b = {0};
	int rc;

	*out = NULL;
	rc = jg_tokenizer_run(t, text, strlen(text), collect, &c);
	if (rc == 0 && c.arena.failed)
		rc = JG_ENOMEM;
	if (rc != 0)
		goto out;
	if (c.n > 0)
		qsort_r(c.occ, c.n, sizeof(*c.occ), occurrence_cmp, c.arena.s);
	buf_add(&b, "", 0); /* an empty text is the empty tsvector '' */
	for (size_t i = 0; i < c.n;) {
		size_t j = i, kept = 0;
		int last = 0;
		if (b.len > 0)
			buf_add(&b, " ", 1);
		buf_lexeme(&b, c.arena.s + c.occ[i].off, c.occ[i].len);
		for (; j < c.n && same_token(&c, &c.occ[i], &c.occ[j]); j++) {
			if (c.occ[j].pos == last || kept == MAX_NUMPOS)
				continue; /* positions capped alike are one; the first 256 stay */
			char num[16];
			int w =
			    snprintf(num, sizeof(num), "%c%d", kept == 0 ? ':' : ',', c.occ[j].pos);
			buf_add(&b, num, (size_t)w);
			last = c.occ[j].pos;
			kept++;
		}
		i = j;
	}
	if (b.failed) {
		rc = JG_ENOMEM;
		goto out;
	}
	*out = b.s;
	b.s = NULL;
out:
	free(b.s);
	free(c.arena.s);
	free(c.occ);
	return rc;
}

/* ---- tsquery -------------------------------------------------------------------- */

struct phrase {
	struct buf *b;
	size_t tokens;
};

static int
phrase_token(void *ctx, const char *tok, size_t len)
{
	struct phrase *p = ctx;
	if (p->tokens++ > 0)
		buf_add(p->b, " <-> ", 5);
	buf_lexeme(p->b, tok, len);
	return p->b->failed ? JG_ENOMEM : 0;
}

int
jg_telemetry_tsquery(struct jg_tokenizer *t, const char *q, char **out)
{
	struct buf b = {0};
	const char *p = q, *word;
	size_t len, phrases = 0;
	int rc = 0;

	*out = NULL;
	while (rc == 0 && jg_telemetry_next_word(&p, &word, &len)) {
		struct buf ph = {0};
		struct phrase ctx = {.b = &ph};
		rc = jg_tokenizer_run(t, word, len, phrase_token, &ctx);
		if (rc == 0 && ph.failed)
			rc = JG_ENOMEM;
		if (rc == 0 && ctx.tokens > 0) {
			/* a word without tokens is no phrase (FTS5 leaves an empty phrase out) */
			if (phrases++ > 0)
				buf_add(&b, " & ", 3);
			buf_add(&b, "(", 1);
			buf_add(&b, ph.s, ph.len);
			buf_add(&b, ")", 1);
		}
		free(ph.s);
	}
	if (rc == 0 && (b.failed || b.len > MAX_QUERY_L))
		rc = b.failed ? JG_ENOMEM : JG_EINVAL;
	if (rc == 0 && phrases > 0) {
		*out = b.s;
		b.s = NULL;
	}
	free(b.s);
	return rc;
}
