/*
 * test_audit_tiles.c - the audit log as C2SP tlog-tiles (tile_path.h,
 * audit_tiles.c) against a real SQLite store.
 *
 * What a reader relies on: a tile name has one spelling, the canonical one;
 * the tiles hold exactly the hashes the spec defines (level-0 tiles the leaf
 * hashes of the entries in the bundle beside them, each higher tile the
 * roots of full tiles below) so that the checkpoint's root can be recomputed
 * from them; every tile the checkpoint's size calls for exists, partial ones
 * with the spec's widths, and nothing beyond what a checkpoint covers is
 * served; entries up to 65,535 bytes, the most a bundle's 16-bit length can
 * say, are written and bundled, and a longer one is refused.
 *
 * The archive (audit.archive_dir): after a checkpoint the directory holds
 * the same bytes as the tiles served, in the tlog-tiles layout, with the
 * checkpoints; narrower partial tiles go once a wider one is there; `audit
 * verify DIR` (jg_audit_verify_archive) accepts it and names what was
 * changed in a copy - an entry, a tile hash, a missing tile, a checkpoint
 * signed by another key; an archive of another log is never written over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/keys.h"
#include "jitgate/merkle.h"
#include "jitgate/migrate.h"
#include "jitgate/signed_note.h"
#include "jitgate/store.h"
#include "jitgate/tile_path.h"
#include "audit_fill.h"
#include "unit_fs.h"

#define ORIGIN "jitgate.test/audit"
#define SIZE   70000 /* the spec's example: every kind of tile, three levels */

/* ---- names -------------------------------------------------------------------- */

static void
test_tile_names_parse_and_format_canonically(void **state)
{
	static const struct {
		const char *name;
		int level;
		uint64_t index;
		unsigned width;
	} good[] = {
	    {"0/000", 0, 0, 256},
	    {"0/x001/x234/067", 0, 1234067, 256},
	    {"1/273.p/112", 1, 273, 112},
	    {"63/999", 63, 999, 256},
	    {"entries/x001/000.p/1", JG_TILE_ENTRIES, 1000, 1},
	    {"2/000.p/255", 2, 0, 255},
	    {"0/x018/x446/x744/x073/x709/x551/615", 0, UINT64_MAX, 256},
	};
	static const char *const bad[] = {
	    "",
	    "0",
	    "0/",
	    "0/00",
	    "0/0000",
	    "00/000",
	    "01/000",
	    "64/000",
	    "-1/000",
	    "0/x000/067",
	    "0/001/067",
	    "0/x1/067",
	    "0/067.p/0",
	    "0/067.p/256",
	    "0/067.p/07",
	    "0/067.p/",
	    "0/067/",
	    "0/067.q/1",
	    "entries/",
	    "entries/0",
	    "entry/000",
	    "0/067 ",
	    "0/x018/x446/x744/x073/x709/x551/616",
	    "x/000",
	    "0/067.p/1/2",
	    "1/+01",
	    "0/x001/x002/x003/x004/x005/x006/x007/008",
	};
	struct jg_tile t;
	char out[JG_TILE_PATH_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (jg_tile_path_parse(good[i].name, &t) != 0)
			fail_msg("'%s' refused", good[i].name);
		assert_int_equal(t.level, good[i].level);
		assert_true(t.index == good[i].index);
		assert_int_equal(t.width, good[i].width);
		assert_int_equal(jg_tile_path_format(&t, out, sizeof(out)), 0);
		assert_string_equal(out, good[i].name);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jg_tile_path_parse(bad[i], &t) != JG_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	/* the formatter refuses what no name spells, and a buffer too small */
	t = (struct jg_tile){.level = 64, .index = 0, .width = 256};
	assert_int_equal(jg_tile_path_format(&t, out, sizeof(out)), JG_EINVAL);
	t = (struct jg_tile){.level = 0, .index = 0, .width = 0};
	assert_int_equal(jg_tile_path_format(&t, out, sizeof(out)), JG_EINVAL);
	t = (struct jg_tile){.level = 0, .index = 1234067, .width = 256};
	assert_int_equal(jg_tile_path_format(&t, out, 10), JG_EINVAL);
}

static void
test_tile_needs_the_spec_sizes(void **state)
{
	uint64_t size;
	(void)state;

	assert_true(jg_tile_needs(&(struct jg_tile){0, 273, 112}, &size));
	assert_true(size == 273 * 256 + 112);
	assert_true(jg_tile_needs(&(struct jg_tile){1, 0, 256}, &size));
	assert_true(size == 65536);
	assert_true(jg_tile_needs(&(struct jg_tile){1, 1, 17}, &size));
	assert_true(size == (256 + 17) * 256);
	assert_true(jg_tile_needs(&(struct jg_tile){JG_TILE_ENTRIES, 2, 256}, &size));
	assert_true(size == 3 * 256);
	/* beyond 2^64 entries: no log holds it */
	assert_false(jg_tile_needs(&(struct jg_tile){8, 0, 1}, &size));
	assert_false(jg_tile_needs(&(struct jg_tile){0, UINT64_MAX / 256, 256}, &size));
	assert_true(jg_tile_needs(&(struct jg_tile){7, 0, 255}, &size));
	assert_true(size == 255ULL << 56);
}

/* ---- a log --------------------------------------------------------------------- */

struct fixture {
	char root[64];
	char keys[128];
	char db[128];
	char archive[128];
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_audit_verifiers vs;
};

/* Appends n entries through the writer's bulk path. */
static void
fill(struct fixture *f, int n)
{
	unit_audit_fill(f->audit, n);
}

static int
open_log(void **state, bool archive)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct jg_audit_config cfg = {
	    .origin = ORIGIN,
	    .checkpoint_entries = 100000000, /* no automatic checkpoints: tests make their own */
	    .checkpoint_seconds = 3600,
	    .verify_threads = 2,
	};
	char err[512] = "";

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/jg-tiles-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->db, sizeof(f->db), "%s/test.db", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	snprintf(f->archive, sizeof(f->archive), "%s/archive", f->root);
	if (archive) {
		assert_int_equal(mkdir(f->archive, 0700), 0);
		cfg.archive_dir = f->archive;
	}
	if (jg_store_open(f->db, &f->store, err, sizeof(err)) != 0 ||
	    jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0 ||
	    jg_keys_generate(f->keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(f->store, f->keys, &cfg, &f->audit, err, sizeof(err)) != 0 ||
	    jg_audit_verifiers_load(f->keys, ORIGIN, &f->vs, err, sizeof(err)) != 0)
		fail_msg("setup: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return open_log(state, false);
}

static int
setup_archive(void **state)
{
	return open_log(state, true);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_store_close(f->store);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/* Tile t as served; fails the test unless it is there with want bytes (0: any). */
static uint8_t *
tile(struct fixture *f, int level, uint64_t index, unsigned width, size_t want, size_t *len)
{
	struct jg_tile t = {level, index, width};
	uint8_t *bytes = NULL;
	size_t n = 0;

	int rc = jg_audit_tile_read(f->audit, &t, &bytes, &n);
	if (rc != 0)
		fail_msg("tile %d/%llu.p/%u: %s", level, (unsigned long long)index, width,
			 jg_strerror(rc));
	if (want != 0)
		assert_int_equal(n, want);
	if (len != NULL)
		*len = n;
	return bytes;
}

static void
assert_absent(struct fixture *f, int level, uint64_t index, unsigned width)
{
	struct jg_tile t = {level, index, width};
	uint8_t *bytes = NULL;
	size_t n = 0;

	if (jg_audit_tile_read(f->audit, &t, &bytes, &n) != JG_ENOTFOUND)
		fail_msg("tile %d/%llu.p/%u served", level, (unsigned long long)index, width);
	assert_null(bytes);
}

/* The checkpoint the tiles start from: its size and root, its signature checked. */
static void
served_checkpoint(struct fixture *f, uint64_t *size, uint8_t root[32])
{
	struct jg_signed_note *note = NULL;
	struct jg_checkpoint cp;
	char *text = NULL;
	int ok = 0;

	assert_int_equal(jg_audit_tiles_checkpoint(f->audit, &text, size), 0);
	assert_int_equal(jg_signed_note_parse(text, strlen(text), &note), 0);
	for (int i = 0; i < f->vs.n; i++)
		ok |= jg_signed_note_verify(note, &f->vs.v[i]) == 0;
	assert_true(ok);
	assert_int_equal(jg_signed_note_checkpoint_parse(note->text, note->text_len, &cp), 0);
	assert_string_equal(cp.origin, ORIGIN);
	assert_true(cp.size == *size);
	memcpy(root, cp.root, 32);
	jg_signed_note_free(note);
	free(text);
}

static void
test_tiles_hold_the_spec_hashes_and_prove_the_root(void **state)
{
	struct fixture *f = *state;
	uint8_t root[32], leaves_root[32];
	uint64_t size;
	size_t len;

	fill(f, SIZE);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	assert_true(size == SIZE);
	served_checkpoint(f, &size, root);

	/* level 0: every full tile, then the partial one of width 112 (70,000 = 273 * 256 + 112) */
	uint8_t *leaves = malloc((size_t)SIZE * 32);
	assert_non_null(leaves);
	for (uint64_t n = 0; n <= 273; n++) {
		unsigned w = n < 273 ? 256 : 112;
		uint8_t *hashes = tile(f, 0, n, w, (size_t)w * 32, NULL);
		uint8_t *bundle = tile(f, JG_TILE_ENTRIES, n, w, 0, &len);
		/* each bundled entry hashes to the tile's hash at its place */
		size_t at = 0;
		for (unsigned i = 0; i < w; i++) {
			uint8_t h[32];
			assert_true(at + 2 <= len);
			size_t elen = (size_t)bundle[at] << 8 | bundle[at + 1];
			assert_true(at + 2 + elen <= len);
			assert_int_equal(jg_merkle_leaf_hash(bundle + at + 2, elen, h), 0);
			assert_memory_equal(h, hashes + 32 * i, 32);
			at += 2 + elen;
		}
		assert_int_equal(at, len);
		memcpy(leaves + (size_t)n * 256 * 32, hashes, (size_t)w * 32);
		free(hashes);
		free(bundle);
	}
	/* the leaves the tiles hold make the signed root */
	assert_int_equal(jg_merkle_root_from_leaves(leaves, SIZE, leaves_root), 0);
	assert_memory_equal(leaves_root, root, 32);

	/* level 1: tile 0 is full, each hash the root of a full level-0 tile; then width 17 */
	uint8_t *l1 = tile(f, 1, 0, 256, 256 * 32, NULL);
	for (int i = 0; i < 256; i++) {
		uint8_t sub[32];
		assert_int_equal(
		    jg_merkle_root_from_leaves(leaves + (size_t)i * 256 * 32, 256, sub), 0);
		assert_memory_equal(sub, l1 + 32 * i, 32);
	}
	free(l1);
	uint8_t *l1p = tile(f, 1, 1, 17, 17 * 32, NULL);
	for (int i = 0; i < 17; i++) {
		uint8_t sub[32];
		assert_int_equal(
		    jg_merkle_root_from_leaves(leaves + (size_t)(256 + i) * 256 * 32, 256, sub), 0);
		assert_memory_equal(sub, l1p + 32 * i, 32);
	}
	free(l1p);
	/* level 2: width 1, the root of the first 65,536 entries */
	uint8_t *l2 = tile(f, 2, 0, 1, 32, NULL);
	uint8_t first[32];
	assert_int_equal(jg_merkle_root_from_leaves(leaves, 65536, first), 0);
	assert_memory_equal(first, l2, 32);
	free(l2);
	free(leaves);

	/* what the size does not call for is not served */
	assert_absent(f, 0, 273, 113);
	assert_absent(f, 0, 273, 256);
	assert_absent(f, JG_TILE_ENTRIES, 273, 113);
	assert_absent(f, 1, 1, 18);
	assert_absent(f, 1, 1, 256);
	assert_absent(f, 2, 0, 2);
	assert_absent(f, 3, 0, 1);
	assert_absent(f, 7, 0, 1);
	assert_absent(f, 63, 0, 1);
	/* a smaller width of a tile that exists is a prefix of it (an older checkpoint's) */
	uint8_t *full = tile(f, 0, 0, 256, 0, NULL), *part = tile(f, 0, 0, 3, 96, NULL);
	assert_memory_equal(full, part, 96);
	free(full);
	free(part);
}

/* Entries appended after the newest checkpoint are not served until one covers them. */
static void
test_tiles_wait_for_a_checkpoint(void **state)
{
	struct fixture *f = *state;
	uint8_t root[32];
	uint64_t size;
	char *note = NULL;

	/* no checkpoint yet: nothing is served */
	assert_int_equal(jg_audit_tiles_checkpoint(f->audit, &note, &size), JG_ENOTFOUND);
	assert_null(note);
	fill(f, 300);
	assert_absent(f, 0, 0, 1);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	free(tile(f, 0, 0, 256, 256 * 32, NULL));
	free(tile(f, 0, 1, 44, 44 * 32, NULL));
	fill(f, 100);
	assert_absent(f, 0, 1, 45);
	assert_absent(f, JG_TILE_ENTRIES, 1, 144);
	served_checkpoint(f, &size, root);
	assert_true(size == 300);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	free(tile(f, 0, 1, 144, 144 * 32, NULL));
	free(tile(f, JG_TILE_ENTRIES, 1, 144, 0, NULL));
	served_checkpoint(f, &size, root);
	assert_true(size == 400);
}

/*
 * A bundle says each entry's length in 16 bits: an entry of 65,535 bytes is
 * written and bundled whole, one of 65,536 is refused by the writer.
 */
static void
test_entries_up_to_65535_bytes_are_written_and_bundled(void **state)
{
	struct fixture *f = *state;
	uint64_t size;
	size_t len;

	fill(f, 10);
	/* an entry with a 60,000-byte field, to learn the frame's size at this seq and ts */
	char *pad = malloc(65536);
	assert_non_null(pad);
	memset(pad, 'a', 65535);
	pad[60000] = '\0';
	json_t *data = json_pack("{s:s}", "pad", pad);
	assert_int_equal(jg_audit_append(f->audit, "test.big", "tester", data, NULL), 0);
	json_decref(data);
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	uint8_t *bundle = tile(f, JG_TILE_ENTRIES, 0, 11, 0, &len);
	size_t at = 0;
	for (int i = 0; i < 10; i++)
		at += 2 + ((size_t)bundle[at] << 8 | bundle[at + 1]);
	size_t frame = ((size_t)bundle[at] << 8 | bundle[at + 1]) - 60000;
	free(bundle);

	/* the same frame (seq and ts have as many digits) around the largest pad that fits */
	memset(pad, 'a', 65535);
	pad[65535 - frame] = '\0';
	data = json_pack("{s:s}", "pad", pad);
	assert_int_equal(jg_audit_append(f->audit, "test.big", "tester", data, NULL), 0);
	json_decref(data);
	memset(pad, 'a', 65535);
	pad[65536 - frame] = '\0';
	data = json_pack("{s:s}", "pad", pad);
	assert_int_equal(jg_audit_append(f->audit, "test.big", "tester", data, NULL), JG_ETOOBIG);
	json_decref(data);
	free(pad);

	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	assert_true(size == 12);
	bundle = tile(f, JG_TILE_ENTRIES, 0, 12, 0, &len);
	at = 0;
	for (int i = 0; i < 11; i++)
		at += 2 + ((size_t)bundle[at] << 8 | bundle[at + 1]);
	assert_int_equal(bundle[at], 0xff);
	assert_int_equal(bundle[at + 1], 0xff);
	assert_int_equal(len, at + 2 + 65535);
	free(bundle);
	/* and the whole log still verifies (the verifier's limit is the writer's) */
	struct jg_chain_fault fault;
	assert_int_equal(jg_audit_verify_store(f->store, &f->vs, 2, &size, &fault), 0);
	assert_true(size == 12);
}

/* ---- the archive ---------------------------------------------------------------- */

/* The bytes of dir/rel, or NULL when there is no such file. */
static char *
slurp(const char *dir, const char *rel, size_t *len)
{
	char path[512], err[256], *buf = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (jg_file_read(path, 32u << 20, false, &buf, len, err, sizeof(err)) != 0)
		return NULL;
	return buf;
}

/* Makes a checkpoint and waits (up to 20 s) for the leader to archive it. */
static uint64_t
checkpoint_archived(struct fixture *f)
{
	char *note = NULL, *archived = NULL;
	uint64_t size;
	size_t len;

	assert_int_equal(jg_audit_checkpoint(f->audit, &note, &size), 0);
	for (int i = 0; i < 200; i++) {
		archived = slurp(f->archive, "checkpoint", &len);
		if (archived != NULL && strcmp(archived, note) == 0)
			break;
		free(archived);
		archived = NULL;
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
	if (archived == NULL)
		fail_msg("checkpoint %llu not archived in 20 s", (unsigned long long)size);
	free(archived);
	free(note);
	return size;
}

/* The archived file of tile t holds exactly what is served for it. */
static void
assert_archived(struct fixture *f, int level, uint64_t index, unsigned width)
{
	struct jg_tile t = {level, index, width};
	char name[JG_TILE_PATH_MAX], rel[JG_TILE_PATH_MAX + 8];
	size_t len, flen;

	assert_int_equal(jg_tile_path_format(&t, name, sizeof(name)), 0);
	snprintf(rel, sizeof(rel), "tile/%s", name);
	uint8_t *served = tile(f, level, index, width, 0, &len);
	char *file = slurp(f->archive, rel, &flen);
	if (file == NULL)
		fail_msg("%s is not in the archive", rel);
	assert_int_equal(flen, len);
	assert_memory_equal(file, served, len);
	free(file);
	free(served);
}

static void
assert_not_archived(struct fixture *f, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->archive, rel);
	/*
	 * The leader drops a tile's partial versions only after `checkpoint`
	 * names its full one (audit_archive.c), so right after checkpoint_archived()
	 * they may still be there for a moment: wait (up to 20 s) for them to go.
	 */
	for (int i = 0; i < 200 && access(path, F_OK) == 0; i++)
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	if (access(path, F_OK) == 0)
		fail_msg("%s is in the archive", rel);
}

static int
verify_archive(const char *dir, const struct jg_audit_verifiers *vs, struct jg_chain_fault *fault)
{
	char summary[512];
	return jg_audit_verify_archive(dir, vs, 2, summary, sizeof(summary), fault);
}

static void
test_archive_holds_the_tiles_and_verifies(void **state)
{
	struct fixture *f = *state;
	struct jg_chain_fault fault;

	fill(f, SIZE);
	assert_true(checkpoint_archived(f) == SIZE);
	/* the spec's example: every kind of tile, as served */
	assert_archived(f, 0, 0, 256);
	assert_archived(f, 0, 272, 256);
	assert_archived(f, 0, 273, 112);
	assert_archived(f, JG_TILE_ENTRIES, 0, 256);
	assert_archived(f, JG_TILE_ENTRIES, 273, 112);
	assert_archived(f, 1, 0, 256);
	assert_archived(f, 1, 1, 17);
	assert_archived(f, 2, 0, 1);
	if (verify_archive(f->archive, &f->vs, &fault) != 0)
		fail_msg("archive refused: %s", fault.why);

	/*
	 * The log grows: a full tile replaces the partial ones it covers; a
	 * partial tile without its full one stays (an older checkpoint names it).
	 */
	fill(f, 300);
	assert_true(checkpoint_archived(f) == SIZE + 300);
	assert_archived(f, 0, 273, 256);
	assert_archived(f, JG_TILE_ENTRIES, 273, 256);
	assert_archived(f, 0, 274, 156);
	assert_archived(f, 1, 1, 18);
	assert_not_archived(f, "tile/0/273.p/112");
	assert_not_archived(f, "tile/entries/273.p/112");
	assert_archived(f, 1, 1, 17);
	assert_archived(f, 2, 0, 1); /* unchanged: the same file */
	size_t len;
	char *cp = slurp(f->archive, "checkpoints/00000000000000070000.note", &len);
	assert_non_null(cp);
	free(cp);
	if (verify_archive(f->archive, &f->vs, &fault) != 0)
		fail_msg("archive refused: %s", fault.why);
}

/* nftw's walk copying the tree under copy_from into copy_to (no shell, no links followed). */
static const char *copy_from, *copy_to;

static int
copy_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char to[512], err[256], *buf = NULL;
	size_t len;
	(void)ftw;

	snprintf(to, sizeof(to), "%s%s", copy_to, path + strlen(copy_from));
	if (type == FTW_D)
		return mkdir(to, 0700);
	if (type != FTW_F ||
	    jg_file_read(path, (size_t)st->st_size + 1, false, &buf, &len, err, sizeof(err)) != 0)
		return -1;
	int rc = jg_file_write_atomic(to, buf, len, 0600);
	free(buf);
	return rc;
}

/* Copies the archive of f to dir. */
static void
copy_archive(struct fixture *f, const char *dir)
{
	copy_from = f->archive;
	copy_to = dir;
	assert_int_equal(nftw(f->archive, copy_entry, 16, FTW_PHYS), 0);
}

/* Flips one byte at offset of dir/rel. */
static void
flip(const char *dir, const char *rel, size_t offset)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, (long)offset, SEEK_SET), 0);
	int c = fgetc(fp);
	assert_true(c != EOF);
	assert_int_equal(fseek(fp, (long)offset, SEEK_SET), 0);
	assert_int_equal(fputc(c ^ 0x01, fp), c ^ 0x01);
	assert_int_equal(fclose(fp), 0);
}

static void
test_archive_verify_names_what_was_changed(void **state)
{
	struct fixture *f = *state;
	struct jg_chain_fault fault;
	char copy[160], err[256];
	int n = 0;

	fill(f, 600); /* two full bundles, a partial one; level-1 tile of width 2 */
	checkpoint_archived(f);
	fill(f, 10);
	checkpoint_archived(f);
	if (verify_archive(f->archive, &f->vs, &fault) != 0)
		fail_msg("archive refused: %s", fault.why);

	/* a byte of entry 0's ts (in the first bundle): named by its seq */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	size_t len;
	char *bundle = slurp(copy, "tile/entries/000", &len);
	assert_non_null(bundle);
	const char *ts = memmem(bundle, len, "\"ts\":", 5);
	assert_non_null(ts);
	size_t at = (size_t)(ts - bundle) + 6;
	free(bundle);
	flip(copy, "tile/entries/000", at);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_true(fault.seq == 0);

	/* a hash of the level-1 tile */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	flip(copy, "tile/1/000.p/2", 40);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	if (strstr(fault.why, "tile/1/000.p/2") == NULL)
		fail_msg("%s", fault.why);

	/* a hash of a level-0 tile, with its bundle intact */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	flip(copy, "tile/0/001", 32 * 7);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_true(fault.seq == 256 + 7);

	/* a tile missing */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	char gone[200];
	snprintf(gone, sizeof(gone), "%s/tile/0/001", copy);
	assert_int_equal(unlink(gone), 0);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "lacks tile/0/001"));

	/* an older checkpoint's note edited (its signature no longer holds) */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	flip(copy, "checkpoints/00000000000000000600.note", 30);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "checkpoints/00000000000000000600.note"));

	/* a file the walk does not need, with other bytes than the tile's prefix */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	char extra[200];
	snprintf(extra, sizeof(extra), "%s/tile/0/000.p", copy);
	assert_int_equal(mkdir(extra, 0700), 0);
	snprintf(extra, sizeof(extra), "%s/tile/0/000.p/3", copy);
	assert_int_equal(jg_file_write_atomic(extra, "junk", 4, 0600), 0);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "tile/0/000.p/3 is not a prefix"));
	/* ... while the true prefix is accepted, and a tile beyond the checkpoint only counted */
	uint8_t *prefix = tile(f, 0, 0, 3, 96, NULL);
	assert_int_equal(unlink(extra), 0);
	assert_int_equal(jg_file_write_atomic(extra, prefix, 96, 0600), 0);
	free(prefix);
	snprintf(extra, sizeof(extra), "%s/tile/5", copy);
	assert_int_equal(mkdir(extra, 0700), 0);
	snprintf(extra, sizeof(extra), "%s/tile/5/000", copy);
	assert_int_equal(jg_file_write_atomic(extra, "junk", 4, 0600), 0);
	char summary[512];
	assert_int_equal(jg_audit_verify_archive(copy, &f->vs, 2, summary, sizeof(summary), &fault),
			 0);
	assert_non_null(strstr(summary, "(1 files beyond it not verified)"));
	/* a name no tile has, and a symbolic link, are refused */
	snprintf(extra, sizeof(extra), "%s/tile/0/0001", copy);
	assert_int_equal(jg_file_write_atomic(extra, "junk", 4, 0600), 0);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "tile/0/0001 is not a tile name"));
	assert_int_equal(unlink(extra), 0);
	assert_int_equal(symlink("/etc/passwd", extra), 0);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "not a regular file"));

	/* a checkpoint of size 0 signed by the log's key with a root that is not the empty tree's
	 */
	snprintf(copy, sizeof(copy), "%s/c%d", f->root, n++);
	copy_archive(f, copy);
	struct jg_keyring *ring = NULL;
	char *body = NULL, *forged = NULL;
	size_t blen, flen;
	uint8_t bogus[32] = {1};
	if (jg_keys_load(f->keys, JG_KEY_CHECKPOINT, &ring, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(jg_signed_note_checkpoint_body(ORIGIN, 0, bogus, &body, &blen), 0);
	assert_int_equal(
	    jg_signed_note_sign(body, blen, ORIGIN, jg_keyring_active(ring)->pkey, &forged, &flen),
	    0);
	snprintf(extra, sizeof(extra), "%s/checkpoints/00000000000000000000.note", copy);
	assert_int_equal(jg_file_write_atomic(extra, forged, flen, 0600), 0);
	assert_int_equal(verify_archive(copy, &f->vs, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "not the empty tree's root"));
	free(body);
	free(forged);
	jg_keyring_free(ring);

	/* keys of another log: the checkpoint does not verify */
	struct jg_audit_verifiers other;
	char keys[160];
	snprintf(keys, sizeof(keys), "%s/other-keys", f->root);
	if (jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_verifiers_load(keys, ORIGIN, &other, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(verify_archive(f->archive, &other, &fault), JG_EVERIFY);
	assert_non_null(strstr(fault.why, "not validly signed"));
}

/* A missing archive directory stops the start (it would only show as failed pushes). */
static void
test_archive_dir_must_exist(void **state)
{
	struct fixture *f = *state;
	struct jg_audit_config cfg = {.origin = ORIGIN, .archive_dir = "/nonexistent/archive"};
	struct jg_audit *a = NULL;
	char err[512] = "";

	assert_int_equal(jg_audit_open(f->store, f->keys, &cfg, &a, err, sizeof(err)), JG_ECONFIG);
	assert_null(a);
	assert_non_null(strstr(err, "audit.archive_dir /nonexistent/archive is not a directory"));
}

/* An archive directory that holds another log's checkpoint is left as it is. */
static void
test_archive_of_another_log_is_not_written_over(void **state)
{
	struct fixture *f = *state;
	char path[256], *before, *after;
	size_t blen, alen;
	int64_t oldest = 0;

	fill(f, 10);
	checkpoint_archived(f);
	/* the archive now claims a checkpoint this log never made (another log's, same origin) */
	before = slurp(f->archive, "checkpoint", &blen);
	assert_non_null(before);
	before[strlen(ORIGIN) + 1] = '9'; /* the size line: 10 -> 90 */
	snprintf(path, sizeof(path), "%s/checkpoint", f->archive);
	assert_int_equal(jg_file_write_atomic(path, before, blen, 0640), 0);
	fill(f, 5);
	uint64_t size;
	assert_int_equal(jg_audit_checkpoint(f->audit, NULL, &size), 0);
	/* three rounds of the leader later: not archived, still owed, the file untouched */
	sleep(3);
	assert_int_equal(jg_audit_oldest_unpushed(f->store, JG_AUDIT_SINK_ARCHIVE, &oldest), 0);
	assert_true(oldest > 0);
	after = slurp(f->archive, "checkpoint", &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_not_archived(f, "checkpoints/00000000000000000015.note");
	free(before);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tile_names_parse_and_format_canonically),
	    cmocka_unit_test(test_tile_needs_the_spec_sizes),
	    cmocka_unit_test_setup_teardown(test_tiles_hold_the_spec_hashes_and_prove_the_root,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tiles_wait_for_a_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entries_up_to_65535_bytes_are_written_and_bundled,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_archive_holds_the_tiles_and_verifies,
					    setup_archive, teardown),
	    cmocka_unit_test_setup_teardown(test_archive_verify_names_what_was_changed,
					    setup_archive, teardown),
	    cmocka_unit_test_setup_teardown(test_archive_of_another_log_is_not_written_over,
					    setup_archive, teardown),
	    cmocka_unit_test_setup_teardown(test_archive_dir_must_exist, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
