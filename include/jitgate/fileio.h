/*
 * fileio.h - reading whole files with a size cap, and secret files safely.
 *
 * Secrets (TLS keys, signing keys) are read with O_NOFOLLOW and refused when
 * they are not regular files or are readable by group or others, like ssh
 * does for private keys.  The caller wipes and frees a secret with
 * jg_file_free_secret().
 */
#ifndef JITGATE_FILEIO_H
#define JITGATE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Reads all of path (at most max_bytes) into *buf (NUL-terminated, the
 * caller frees) and *len.  When secret is true the file must not be a
 * symlink nor accessible to group or others.  On failure writes a reason
 * naming path to err and returns JG_EIO, JG_ETOOBIG or JG_EDENIED.
 */
int jg_file_read(const char *path, size_t max_bytes, bool secret, char **buf, size_t *len,
		 char *err, size_t errlen);

/* Wipes and frees a buffer from jg_file_read(); NULL is a no-op. */
void jg_file_free_secret(char *buf, size_t len);

/*
 * Writes data to path atomically (temporary file, fsync, rename, fsync of
 * the directory) with the given mode.  Returns 0 or JG_EIO.
 */
int jg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
