/*
 * tokenize.h - full-text tokens by one set of rules for both engines.
 *
 * The rules are SQLite FTS5's `unicode61` tokenizer with remove_diacritics 1
 * (the tokenizer of every FTS5 table jitgate makes): a token is a run of
 * letters, digits and private-use characters (Unicode categories L*, N*,
 * Co), folded to lower case with diacritics removed; everything else
 * separates tokens.  So "Alice@Example.COM" is alice, example, com and
 * "Crème" is creme.  jitgate does not implement those rules: a tokenizer
 * here is SQLite's own, reached through the fts5_api of an in-memory SQLite
 * connection (SELECT fts5(?1) with sqlite3_bind_pointer, then
 * xFindTokenizer, xCreate and xTokenize).  The PostgreSQL telemetry search
 * stores and queries these tokens (telemetry_search.c), so it finds what the
 * SQLite engine's FTS5 index finds.
 *
 * Thread-safety: a tokenizer is used by one thread at a time (FTS5's
 * tokenizer keeps a folding buffer); make one per batch or query.
 */
#ifndef JITGATE_TOKENIZE_H
#define JITGATE_TOKENIZE_H

#include <stddef.h>

struct jg_tokenizer;

/*
 * Called for each token in order: its bytes (UTF-8, not NUL-terminated)
 * and length.  A non-zero return stops the run, which returns it.
 */
typedef int (*jg_token_fn)(void *ctx, const char *token, size_t len);

/* A new tokenizer (free with jg_tokenizer_free): 0, JG_ENOMEM or JG_ESTORE (no FTS5). */
int jg_tokenizer_new(struct jg_tokenizer **out);

/*
 * Runs fn over the tokens of text[0..len) (UTF-8), as FTS5 would index
 * them.  Returns 0, fn's non-zero return, or JG_ESTORE.
 */
int jg_tokenizer_run(struct jg_tokenizer *t, const char *text, size_t len, jg_token_fn fn,
		     void *ctx);

/* NULL: no-op. */
void jg_tokenizer_free(struct jg_tokenizer *t);

#endif
