/*
 * audit_archive_verify.c - `jitgate audit verify DIR`: an archive directory
 * (audit.archive_dir, audit_archive.c) checked offline with trusted keys
 * only, as an export is.
 *
 * The newest checkpoint (DIR/checkpoint) must be signed by one of the keys;
 * then every entry it covers is read from the bundles in order and fed to
 * the same chain check as an export (form, order, links, tree), each leaf
 * hash compared with its level-0 tile, each completed subtree of level 8L
 * with its hash in the level-L tile, and each archived checkpoint
 * (DIR/checkpoints/) - signed, of the same origin - with the root of the
 * entries up to its size.  Then every other file under tile/ must be a
 * canonical tile name whose bytes are a prefix of the verified tile (an
 * older checkpoint's partial tile); one beyond the newest checkpoint (left
 * by an interrupted push) is counted as unverified and named in the
 * summary.  So every byte a tlog-tiles reader of the archive would get
 * under the newest checkpoint is tied to the entries and to a signature.
 * Memory stays bounded: one bundle and one tile per level at a time, and
 * the archived checkpoints' sizes and roots.  Only regular files and
 * directories are read: a symbolic link or anything else is an error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jitgate/audit.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/merkle.h"
#include "jitgate/signed_note.h"
#include "jitgate/tile_path.h"

#define LEVELS 8 /* tile levels a 64-bit size can have */
/* what jg_file_write_atomic() leaves behind when interrupted: "<name>.tmp.<pid>" */
#define INTERRUPTED ".tmp."

/* Whether path is a regular file (not a link, a FIFO, a device). */
static bool
regular_file(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct archived_cp {
	uint64_t size;
	uint8_t root[JG_MERKLE_HASH_LEN];
};

struct walk {
	const char *dir;
	uint64_t size; /* the newest checkpoint's: what the archive must hold */
	struct {
		bool have;
		uint64_t index;
		uint8_t *bytes;
	} tiles[LEVELS]; /* the tile of each level the walk is in (levels >= 1) */
	struct jg_chain_fault *fault;
	/* what check_node found (the chain's own message would blame a stored node) */
	struct jg_chain_fault node_fault;
	bool node_failed;
	jg_audit_entry_fn each; /* sees each entry once verified (NULL: none) */
	void *each_ctx;
};

/* The width of tile index of level in a tree of size (0: none). */
static unsigned
width_of(uint64_t size, int level, uint64_t index)
{
	uint64_t span = 1;
	for (int i = 0; i < level; i++)
		span *= JG_TILE_WIDTH;
	uint64_t hashes = size / span;
	if (index < hashes / JG_TILE_WIDTH)
		return JG_TILE_WIDTH;
	return index == hashes / JG_TILE_WIDTH ? (unsigned)(hashes % JG_TILE_WIDTH) : 0;
}

/* Reads the archived tile t: exactly want bytes (0: any number, a bundle). */
static int
read_tile(struct walk *w, const struct jg_tile *t, size_t want, uint8_t **bytes, size_t *len)
{
	char name[JG_TILE_PATH_MAX], path[4096], err[256];

	*bytes = NULL;
	if (jg_tile_path_format(t, name, sizeof(name)) != 0)
		return jg_chain_fault_set(w->fault, UINT64_MAX, "a tile beyond any tree");
	snprintf(path, sizeof(path), "%s/tile/%s", w->dir, name);
	if (!regular_file(path))
		return jg_chain_fault_set(w->fault, UINT64_MAX,
					  "the archive lacks tile/%s (or it is not a regular file)",
					  name);
	if (jg_file_read(path, want ? want + 1 : (size_t)t->width * (2 + JG_AUDIT_MAX_ENTRY), false,
			 (char **)bytes, len, err, sizeof(err)) != 0)
		return jg_chain_fault_set(w->fault, UINT64_MAX, "the archive lacks tile/%s: %s",
					  name, err);
	if (want && *len != want) {
		free(*bytes);
		*bytes = NULL;
		return jg_chain_fault_set(w->fault, UINT64_MAX, "tile/%s holds %zu bytes, not %zu",
					  name, *len, want);
	}
	return 0;
}

static int check_node_in(struct walk *w, const struct jg_merkle_node *node);

/* jg_chain_feed's node callback: a subtree of level 8L is hash of a level-L tile. */
static int
check_node(void *ctx, const struct jg_merkle_node *node)
{
	struct walk *w = ctx;
	struct jg_chain_fault *outer = w->fault;
	int rc;

	w->fault = &w->node_fault;
	rc = check_node_in(w, node);
	w->fault = outer;
	w->node_failed = rc != 0;
	return rc;
}

static int
check_node_in(struct walk *w, const struct jg_merkle_node *node)
{
	int level = (int)node->level / 8;

	if (node->level % 8 != 0 || level == 0 || level >= LEVELS)
		return 0;
	uint64_t index = node->index / JG_TILE_WIDTH;
	if (!w->tiles[level].have || w->tiles[level].index != index) {
		struct jg_tile t = {level, index, width_of(w->size, level, index)};
		uint8_t *bytes;
		size_t len;
		if (t.width == 0)
			return 0; /* a subtree beyond the newest checkpoint: no tile holds it */
		int rc = read_tile(w, &t, (size_t)t.width * JG_MERKLE_HASH_LEN, &bytes, &len);
		if (rc != 0)
			return rc;
		free(w->tiles[level].bytes);
		w->tiles[level].bytes = bytes;
		w->tiles[level].index = index;
		w->tiles[level].have = true;
	}
	if (w->tiles[level].bytes == NULL)
		return JG_ENOMEM;
	if (memcmp(w->tiles[level].bytes + JG_MERKLE_HASH_LEN * (node->index % JG_TILE_WIDTH),
		   node->hash, JG_MERKLE_HASH_LEN) != 0) {
		char name[JG_TILE_PATH_MAX];
		struct jg_tile t = {level, index, width_of(w->size, level, index)};
		(void)jg_tile_path_format(&t, name, sizeof(name));
		return jg_chain_fault_set(
		    w->fault, UINT64_MAX,
		    "tile/%s: hash %u is not the root of the archived entries under it", name,
		    (unsigned)(node->index % JG_TILE_WIDTH));
	}
	return 0;
}

/* A note signed by one of verifiers, as a checkpoint of origin (NULL: any): 0 or JG_EVERIFY. */
static int
open_note(const char *text, size_t len, const struct jg_audit_verifiers *verifiers,
	  const char *origin, struct jg_checkpoint *cp)
{
	struct jg_signed_note *note = NULL;
	bool ok = false;

	if (jg_signed_note_parse(text, len, &note) != 0)
		return JG_EVERIFY;
	for (int i = 0; i < verifiers->n && !ok; i++)
		ok = jg_signed_note_verify(note, &verifiers->v[i]) == 0;
	if (ok && jg_signed_note_checkpoint_parse(note->text, note->text_len, cp) != 0)
		ok = false;
	if (ok && origin != NULL && strcmp(cp->origin, origin) != 0)
		ok = false;
	jg_signed_note_free(note);
	return ok ? 0 : JG_EVERIFY;
}

static int
by_size(const void *x, const void *y)
{
	const struct archived_cp *a = x, *b = y;
	return a->size < b->size ? -1 : a->size > b->size;
}

/* Every DIR/checkpoints/<20 digits>.note, opened, sorted by size, each at most newest->size. */
static int
read_checkpoints(const char *dir, const struct jg_audit_verifiers *verifiers,
		 const struct jg_checkpoint *newest, struct archived_cp **out, size_t *n,
		 struct jg_chain_fault *fault)
{
	char pdir[4096], path[4400], err[256], *text;
	struct archived_cp *cps = NULL;
	size_t cap = 0, len;
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	*out = NULL;
	*n = 0;
	snprintf(pdir, sizeof(pdir), "%s/checkpoints", dir);
	if ((dp = opendir(pdir)) == NULL)
		return jg_chain_fault_set(fault, UINT64_MAX, "the archive has no checkpoints/: %s",
					  strerror(errno));
	while (rc == 0 && (d = readdir(dp)) != NULL) {
		struct jg_checkpoint cp;
		if (d->d_name[0] == '.' || strstr(d->d_name, INTERRUPTED) != NULL)
			continue; /* an interrupted write: its rename never happened */
		if (strlen(d->d_name) != 25 || strcmp(d->d_name + 20, ".note") != 0 ||
		    strspn(d->d_name, "0123456789") != 20) {
			rc = jg_chain_fault_set(fault, UINT64_MAX,
						"checkpoints/%.64s: not <size in 20 digits>.note",
						d->d_name);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", pdir, d->d_name);
		if (!regular_file(path)) {
			rc = jg_chain_fault_set(fault, UINT64_MAX,
						"checkpoints/%s is not a regular file", d->d_name);
			break;
		}
		if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &text, &len, err, sizeof(err)) !=
		    0) {
			rc = jg_chain_fault_set(fault, UINT64_MAX, "checkpoints/%s: %s", d->d_name,
						err);
			break;
		}
		rc = open_note(text, len, verifiers, newest->origin, &cp);
		free(text);
		if (rc != 0 || cp.size != strtoull(d->d_name, NULL, 10) || cp.size > newest->size) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "checkpoints/%s is not a checkpoint of this log of "
			    "its size, signed by a key given, at most the newest",
			    d->d_name);
			break;
		}
		if (*n == cap) {
			size_t grown = cap ? cap * 2 : 64;
			struct archived_cp *p = grown < SIZE_MAX / sizeof(*cps)
						    ? realloc(cps, grown * sizeof(*cps))
						    : NULL;
			if (p == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			cps = p;
			cap = grown;
		}
		cps[*n].size = cp.size;
		memcpy(cps[*n].root, cp.root, JG_MERKLE_HASH_LEN);
		(*n)++;
	}
	closedir(dp);
	if (rc != 0) {
		free(cps);
		*n = 0;
		return rc;
	}
	if (*n > 1)
		qsort(cps, *n, sizeof(*cps), by_size);
	*out = cps;
	return 0;
}

/* Splits bundle (len bytes) into exactly count entries; JG_EVERIFY otherwise. */
static int
split_bundle(const uint8_t *bundle, size_t len, unsigned count, const char **bufs, size_t *lens)
{
	size_t at = 0;
	for (unsigned i = 0; i < count; i++) {
		if (at + 2 > len)
			return JG_EVERIFY;
		lens[i] = (size_t)bundle[at] << 8 | bundle[at + 1];
		bufs[i] = (const char *)bundle + at + 2;
		at += 2 + lens[i];
		if (at > len)
			return JG_EVERIFY;
	}
	return at == len ? 0 : JG_EVERIFY;
}

/*
 * Feeds bundle n's entries (count of them), stopping at each archived
 * checkpoint's size to compare its root; *next is the first checkpoint not
 * yet reached.
 */
static int
feed_bundle(struct walk *w, struct jg_chain *chain, uint64_t n, unsigned count,
	    const struct archived_cp *cps, size_t ncps, size_t *next, uint8_t *leaves)
{
	const char *bufs[JG_TILE_WIDTH];
	size_t lens[JG_TILE_WIDTH];
	uint8_t *bundle = NULL, *tile0 = NULL;
	size_t blen = 0, tlen = 0;
	int rc;

	struct jg_tile t = {JG_TILE_ENTRIES, n, count};
	if ((rc = read_tile(w, &t, 0, &bundle, &blen)) != 0)
		return rc;
	if (bundle == NULL)
		return JG_ENOMEM;
	if (split_bundle(bundle, blen, count, bufs, lens) != 0) {
		free(bundle);
		return jg_chain_fault_set(w->fault, n * JG_TILE_WIDTH,
					  "the bundle of entries %llu.. does not hold %u entries "
					  "with 16-bit lengths and nothing else",
					  (unsigned long long)n * JG_TILE_WIDTH, count);
	}
	for (unsigned i = 0; rc == 0 && i < count;) {
		/* up to the next archived checkpoint's size, or the bundle's end */
		unsigned k = count - i;
		while (*next < ncps && cps[*next].size <= chain->next_seq)
			(*next)++; /* a checkpoint of size 0, or several of one size */
		if (*next < ncps && cps[*next].size - chain->next_seq < k)
			k = (unsigned)(cps[*next].size - chain->next_seq);
		rc = jg_chain_feed(chain, bufs + i, lens + i, k, check_node, w,
				   leaves + (size_t)i * JG_MERKLE_HASH_LEN, w->fault);
		if (rc != 0 && w->node_failed)
			*w->fault = w->node_fault; /* the tile is at fault, not the entries */
		for (unsigned e = i; rc == 0 && w->each != NULL && e < i + k; e++)
			rc = w->each(w->each_ctx, chain->next_seq - k + (e - i), bufs[e], lens[e]);
		i += k;
		while (rc == 0 && *next < ncps && cps[*next].size == chain->next_seq) {
			uint8_t root[JG_MERKLE_HASH_LEN];
			if ((rc = jg_merkle_frontier_root(&chain->tree, root)) == 0 &&
			    memcmp(root, cps[*next].root, JG_MERKLE_HASH_LEN) != 0)
				rc = jg_chain_fault_set(
				    w->fault, UINT64_MAX,
				    "checkpoints/%020llu.note: its root is not the root of the "
				    "archived entries",
				    (unsigned long long)cps[*next].size);
			(*next)++;
		}
	}
	if (rc == 0) {
		t.level = 0;
		rc = read_tile(w, &t, (size_t)count * JG_MERKLE_HASH_LEN, &tile0, &tlen);
		if (rc == 0 && tile0 == NULL)
			rc = JG_ENOMEM;
	}
	for (unsigned i = 0; rc == 0 && i < count; i++)
		if (memcmp(tile0 + (size_t)i * JG_MERKLE_HASH_LEN,
			   leaves + (size_t)i * JG_MERKLE_HASH_LEN, JG_MERKLE_HASH_LEN) != 0)
			rc = jg_chain_fault_set(
			    w->fault, n * JG_TILE_WIDTH + i,
			    "the level-0 tile does not hold the entry's leaf hash");
	free(tile0);
	free(bundle);
	return rc;
}

/*
 * The other files under tile/ (walk_tiles): older partial tiles must be
 * prefixes of the verified ones; what lies beyond the newest checkpoint is
 * counted, not trusted.
 */
struct extra {
	struct walk *w;
	unsigned long unverified;
	int depth;
};

/* Whether file (len bytes) is the first t->width hashes or entries of the verified tile of t. */
static int
check_prefix(struct walk *w, const struct jg_tile *t, unsigned verified, const uint8_t *file,
	     size_t len, const char *rel)
{
	struct jg_tile v = *t;
	uint8_t *full = NULL;
	size_t flen = 0;
	const char *bufs[JG_TILE_WIDTH];
	size_t lens[JG_TILE_WIDTH];
	int rc;

	v.width = verified;
	if ((rc = read_tile(w, &v, t->level == JG_TILE_ENTRIES ? 0 : (size_t)verified * 32, &full,
			    &flen)) != 0)
		return rc;
	bool ok = full != NULL && file != NULL && len <= flen && memcmp(full, file, len) == 0 &&
		  (t->level == JG_TILE_ENTRIES ? split_bundle(file, len, t->width, bufs, lens) == 0
					       : len == (size_t)t->width * JG_MERKLE_HASH_LEN);
	free(full);
	return ok ? 0
		  : jg_chain_fault_set(w->fault, UINT64_MAX,
				       "%s is not a prefix of the tile the entries make", rel);
}

/* One file under tile/: rel is its path in the archive ("tile/0/000.p/3"). */
static int
check_extra(struct extra *x, const char *rel)
{
	struct walk *w = x->w;
	char path[4096], err[256];
	uint8_t *bytes = NULL;
	struct jg_tile t;
	size_t len;
	int rc;

	if (strstr(rel, INTERRUPTED) != NULL) {
		x->unverified++; /* an interrupted write */
		return 0;
	}
	if (jg_tile_path_parse(rel + 5, &t) != 0)
		return jg_chain_fault_set(w->fault, UINT64_MAX, "%.200s is not a tile name", rel);
	int level = t.level == JG_TILE_ENTRIES ? 0 : t.level;
	unsigned verified = t.level < LEVELS ? width_of(w->size, level, t.index) : 0;
	if (t.width == verified)
		return 0; /* read and checked by the walk */
	if (verified == 0 || t.width > verified) {
		x->unverified++; /* beyond the newest checkpoint: an interrupted push */
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s/%s", w->dir, rel) >= (int)sizeof(path))
		return jg_chain_fault_set(w->fault, UINT64_MAX, "%.200s: path too long", rel);
	if (jg_file_read(path, (size_t)t.width * (2 + JG_AUDIT_MAX_ENTRY), false, (char **)&bytes,
			 &len, err, sizeof(err)) != 0)
		return jg_chain_fault_set(w->fault, UINT64_MAX, "%s: %s", rel, err);
	rc = check_prefix(w, &t, verified, bytes, len, rel);
	free(bytes);
	return rc;
}

/* Every file under rel (a directory of the archive), depth first; links and the like refused. */
static int
walk_tiles(struct extra *x, const char *rel)
{
	char path[4096], sub[4096];
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int rc = 0;

	if (++x->depth > 16)
		return jg_chain_fault_set(x->w->fault, UINT64_MAX, "%.200s: too deep", rel);
	snprintf(path, sizeof(path), "%s/%s", x->w->dir, rel);
	if ((dp = opendir(path)) == NULL)
		return jg_chain_fault_set(x->w->fault, UINT64_MAX, "%.200s: %s", rel,
					  strerror(errno));
	while (rc == 0 && (d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", rel, d->d_name) >= (int)sizeof(sub) ||
		    snprintf(path, sizeof(path), "%s/%s", x->w->dir, sub) >= (int)sizeof(path) ||
		    lstat(path, &st) != 0) {
			rc = jg_chain_fault_set(x->w->fault, UINT64_MAX, "%.200s: unreadable", sub);
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk_tiles(x, sub);
		} else if (S_ISREG(st.st_mode)) {
			rc = check_extra(x, sub);
		} else {
			rc = jg_chain_fault_set(x->w->fault, UINT64_MAX,
						"%.200s is not a regular file or directory", sub);
		}
	}
	closedir(dp);
	x->depth--;
	return rc;
}

int
jg_audit_verify_archive(const char *dir, const struct jg_audit_verifiers *verifiers, int threads,
			char *summary, size_t summary_len, struct jg_chain_fault *fault)
{
	return jg_audit_verify_archive_each(dir, verifiers, threads, summary, summary_len, fault,
					    NULL, NULL);
}

int
jg_audit_verify_archive_each(const char *dir, const struct jg_audit_verifiers *verifiers,
			     int threads, char *summary, size_t summary_len,
			     struct jg_chain_fault *fault, jg_audit_entry_fn each, void *ctx)
{
	char path[4096], err[256], *text = NULL;
	struct archived_cp *cps = NULL;
	struct jg_checkpoint newest;
	struct walk w = {.dir = dir, .fault = fault, .each = each, .each_ctx = ctx};
	struct jg_chain chain;
	uint8_t leaves[JG_TILE_WIDTH * JG_MERKLE_HASH_LEN], root[JG_MERKLE_HASH_LEN];
	size_t len, ncps = 0, next = 0;
	int rc;

	memset(fault, 0, sizeof(*fault));
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &text, &len, err, sizeof(err)) != 0)
		return jg_chain_fault_set(fault, UINT64_MAX, "the archive has no checkpoint: %s",
					  err);
	rc = open_note(text, len, verifiers, NULL, &newest);
	free(text);
	if (rc != 0)
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "the archive's checkpoint is not validly signed by a "
					  "key given");
	if ((rc = read_checkpoints(dir, verifiers, &newest, &cps, &ncps, fault)) != 0)
		return rc;
	if (ncps == 0 || cps[ncps - 1].size != newest.size) {
		free(cps);
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "checkpoints/ lacks the newest checkpoint (size %llu)",
					  (unsigned long long)newest.size);
	}
	w.size = newest.size;
	/* a checkpoint of the empty log has the empty tree's root */
	for (; rc == 0 && next < ncps && cps[next].size == 0; next++)
		if ((rc = jg_merkle_empty_root(root)) == 0 &&
		    memcmp(root, cps[next].root, JG_MERKLE_HASH_LEN) != 0)
			rc = jg_chain_fault_set(fault, UINT64_MAX,
						"checkpoints/%020d.note: not the empty tree's root",
						0);
	jg_chain_init(&chain, threads);
	for (uint64_t n = 0; rc == 0 && n * JG_TILE_WIDTH < newest.size; n++)
		rc = feed_bundle(&w, &chain, n, width_of(newest.size, 0, n), cps, ncps, &next,
				 leaves);
	if (rc == 0 && (rc = jg_merkle_frontier_root(&chain.tree, root)) == 0 &&
	    (chain.next_seq != newest.size || memcmp(root, newest.root, JG_MERKLE_HASH_LEN) != 0))
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"the archived entries do not make the newest checkpoint's "
					"root");
	struct extra x = {.w = &w};
	if (rc == 0 && newest.size > 0)
		rc = walk_tiles(&x, "tile");
	char beyond[80] = "";
	if (x.unverified > 0)
		snprintf(beyond, sizeof(beyond), " (%lu files beyond it not verified)",
			 x.unverified);
	if (rc == 0 &&
	    snprintf(summary, summary_len,
		     "archive %s: entries 0..%llu, their tiles and %zu checkpoints verified "
		     "against the signed checkpoint of size %llu%s",
		     dir, (unsigned long long)(newest.size ? newest.size - 1 : 0), ncps,
		     (unsigned long long)newest.size, beyond) < 0)
		summary[0] = '\0';
	for (int i = 0; i < LEVELS; i++)
		free(w.tiles[i].bytes);
	free(cps);
	return rc;
}
