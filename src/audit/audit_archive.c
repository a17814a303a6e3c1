/*
 * audit_archive.c - audit.archive_dir: the log kept as files in the
 * C2SP tlog-tiles layout, so that it outlives the database and can be
 * served by any static web server (docs/audit-format.md, "The archive").
 *
 *   <dir>/tile/<L>/<N>[.p/<W>]        hash tiles
 *   <dir>/tile/entries/<N>[.p/<W>]    entry bundles
 *   <dir>/checkpoints/<size>.note     every checkpoint, size in 20 digits
 *   <dir>/checkpoint                  the newest of them
 *
 * The archive is one more off-host sink of the checkpoint leader
 * (audit_checkpoint.c): each checkpoint, oldest first, adds the full tiles
 * and bundles that filled since the archive's newest checkpoint and the
 * partial ones of its own size, then its note, then `checkpoint` - so the
 * newest checkpoint never names a tile the directory lacks.  A file is
 * written once (temporary file, fsync, rename); one that exists must hold
 * the same bytes, else the archive holds another history and nothing is
 * overwritten.  The partial versions of a tile stay until its full tile is
 * written and named by `checkpoint` (the spec: partial tiles of every
 * checkpoint's size are served until the full one is there); their bytes
 * are a prefix of the full tile's, so nothing is lost when they go.
 *
 * Nothing is followed: a path component or file that is a symbolic link,
 * or not what it should be (a directory, a regular file), is an error.
 *
 * Each tile is read in a read transaction of its own: no store connection
 * is held while files are written and fsynced.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/log.h"
#include "jitgate/signed_note.h"

#define FILE_MODE 0640 /* the entries hold identities: the operator chooses who reads them */
#define DIR_MODE  0750

static void
log_mismatch(const char *path, const char *why)
{
	json_t *f = json_pack("{s:s}", "path", path);
	jg_log(JG_LOG_ERROR, why, f);
	json_decref(f);
}

/* Creates the directories above rel in dir ("tile/0/x001/067" -> tile, tile/0, tile/0/x001). */
static int
make_parents(const char *dir, const char *rel)
{
	char path[4096];

	for (const char *p = strchr(rel, '/'); p != NULL; p = strchr(p + 1, '/')) {
		int n = snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(p - rel), rel);
		if (n < 0 || (size_t)n >= sizeof(path))
			return JG_EIO;
		struct stat st;
		if (mkdir(path, DIR_MODE) != 0 &&
		    (errno != EEXIST || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
			return JG_EIO;
	}
	return 0;
}

/*
 * dir/rel holds data: written when absent; when present it must hold the
 * same bytes (JG_EVERIFY, logged, nothing overwritten).
 */
static int
put_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[4096], err[256], *old = NULL;
	size_t old_len = 0;
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path))
		return JG_EIO;
	if (make_parents(dir, rel) != 0)
		return JG_EIO;
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return JG_EIO;
		return jg_file_write_atomic(path, data, len, FILE_MODE);
	}
	int same = S_ISREG(st.st_mode) && (uint64_t)st.st_size == len &&
		   jg_file_read(path, len, false, &old, &old_len, err, sizeof(err)) == 0 &&
		   old_len == len && memcmp(old, data, len) == 0;
	free(old);
	if (same)
		return 0;
	log_mismatch(path, "audit: the archive holds another version of this file: the log or "
			   "the archive may have been rewritten; nothing was overwritten");
	return JG_EVERIFY;
}

/* Removes the partial versions of full tile t ("<name>.p/<W>") and their directory. */
static void
drop_partials(const char *dir, const struct jg_tile *t)
{
	char name[JG_TILE_PATH_MAX], pdir[4096], path[4400];
	struct dirent *d;
	struct stat st;
	DIR *dp;

	if (jg_tile_path_format(t, name, sizeof(name)) != 0 ||
	    snprintf(pdir, sizeof(pdir), "%s/tile/%s.p", dir, name) >= (int)sizeof(pdir) ||
	    lstat(pdir, &st) != 0 || !S_ISDIR(st.st_mode) || (dp = opendir(pdir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		char *end;
		unsigned long w = strtoul(d->d_name, &end, 10);
		if (d->d_name[0] < '1' || d->d_name[0] > '9' || *end != '\0' || w >= JG_TILE_WIDTH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, d->d_name);
		(void)unlink(path);
	}
	closedir(dp);
	(void)rmdir(pdir);
}

/* Reads tile t from the store and puts it in the archive. */
static int
archive_tile(struct jg_audit *a, const struct jg_tile *t)
{
	char name[JG_TILE_PATH_MAX], rel[JG_TILE_PATH_MAX + 8];
	struct jg_store_conn *conn;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc;

	if (jg_tile_path_format(t, name, sizeof(name)) != 0)
		return JG_EINVAL;
	snprintf(rel, sizeof(rel), "tile/%s", name);
	if (jg_store_acquire(a->store, &conn) != 0)
		return JG_ESTORE;
	if ((rc = jg_store_begin_read(conn)) == 0)
		rc = jg_audit_tile_read_on(conn, t, &bytes, &len);
	jg_store_rollback(conn);
	jg_store_release(a->store, conn);
	if (rc == 0)
		rc = put_file(a->archive_dir, rel, bytes, len);
	free(bytes);
	return rc;
}

/* A hash tile and, at level 0, the bundle beside it. */
static int
archive_pair(struct jg_audit *a, int level, uint64_t index, unsigned width)
{
	struct jg_tile t = {level, index, width};
	int rc = archive_tile(a, &t);
	if (rc == 0 && level == 0) {
		t.level = JG_TILE_ENTRIES;
		rc = archive_tile(a, &t);
	}
	return rc;
}

/*
 * The size of the archive's newest checkpoint (0 when it has none).  It
 * must be one of this log's checkpoints, byte for byte: an archive of
 * another log, or of a history this log no longer has, is refused.
 */
static int
archived_size(struct jg_audit *a, uint64_t *size)
{
	char path[4096], err[256], *text = NULL, *ours = NULL;
	struct jg_signed_note *note = NULL;
	struct jg_checkpoint cp;
	struct jg_store_conn *conn;
	size_t len;
	int rc;

	*size = 0;
	snprintf(path, sizeof(path), "%s/checkpoint", a->archive_dir);
	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &text, &len, err, sizeof(err)) != 0)
		return access(path, F_OK) == 0 ? JG_EIO : 0;
	rc = jg_signed_note_parse(text, len, &note) == 0 &&
		     jg_signed_note_checkpoint_parse(note->text, note->text_len, &cp) == 0
		 ? 0
		 : JG_EVERIFY;
	jg_signed_note_free(note);
	if (rc == 0 && jg_store_acquire(a->store, &conn) == 0) {
		rc = jg_audit_checkpoint_note_on(conn, cp.size, &ours);
		jg_store_release(a->store, conn);
		if (rc == JG_ENOTFOUND || (rc == 0 && strcmp(ours, text) != 0))
			rc = JG_EVERIFY;
	} else if (rc == 0) {
		rc = JG_ESTORE;
	}
	if (rc == JG_EVERIFY)
		log_mismatch(path, "audit: the archive's newest checkpoint is not one of this "
				   "log's: another log's archive, or the log was rewritten; "
				   "nothing is archived");
	if (rc == 0)
		*size = cp.size;
	free(ours);
	free(text);
	return rc;
}

int
jg_audit_archive_push(struct jg_audit *a, uint64_t size, const char *note)
{
	char rel[64];
	uint64_t prev;
	int rc;

	if ((rc = archived_size(a, &prev)) != 0)
		return rc;
	/*
	 * Level by level: the full tiles whose end is in (prev, size], then
	 * the partial one of size.  A level exists while 256^level <= size.
	 */
	uint64_t span = 1; /* 256^level: entries under one hash of the level */
	for (int level = 0; rc == 0 && prev < size && span <= size; level++) {
		uint64_t full = size / span / JG_TILE_WIDTH; /* full tiles at this level */
		for (uint64_t n = prev / span / JG_TILE_WIDTH; rc == 0 && n < full; n++)
			rc = archive_pair(a, level, n, JG_TILE_WIDTH);
		unsigned width = (unsigned)(size / span % JG_TILE_WIDTH);
		if (rc == 0 && width > 0)
			rc = archive_pair(a, level, full, width);
		if (span > UINT64_MAX / JG_TILE_WIDTH)
			break;
		span *= JG_TILE_WIDTH;
	}
	snprintf(rel, sizeof(rel), "checkpoints/%020llu.note", (unsigned long long)size);
	if (rc == 0)
		rc = put_file(a->archive_dir, rel, note, strlen(note));
	if (rc != 0 || size <= prev)
		return rc;
	char path[4096];
	snprintf(path, sizeof(path), "%s/checkpoint", a->archive_dir);
	if ((rc = jg_file_write_atomic(path, note, strlen(note), FILE_MODE)) != 0)
		return rc;
	/* now that `checkpoint` names them: the partial versions of the tiles that filled */
	span = 1;
	for (int level = 0; span <= size; level++) {
		uint64_t full = size / span / JG_TILE_WIDTH;
		for (uint64_t n = prev / span / JG_TILE_WIDTH; n < full; n++) {
			drop_partials(a->archive_dir, &(struct jg_tile){level, n, JG_TILE_WIDTH});
			if (level == 0)
				drop_partials(a->archive_dir,
					      &(struct jg_tile){JG_TILE_ENTRIES, n, JG_TILE_WIDTH});
		}
		if (span > UINT64_MAX / JG_TILE_WIDTH)
			break;
		span *= JG_TILE_WIDTH;
	}
	return 0;
}
