/*
 * fileio.c - capped whole-file reads, secret-file checks, atomic writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "jitgate/error.h"
#include "jitgate/fileio.h"

int
jg_file_read(const char *path, size_t max_bytes, bool secret, char **buf, size_t *len, char *err,
	     size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int fd, rc = JG_EIO;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | (secret ? O_NOFOLLOW : 0));
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == ELOOP ? "secret file must not be a symlink" : strerror(errno));
		return JG_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "%s: secret file is accessible to group or others (mode %03o); "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		rc = JG_EDENIED;
		goto out;
	}
	if ((size_t)st.st_size > max_bytes) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max_bytes);
		rc = JG_ETOOBIG;
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		rc = JG_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read failed", path);
			goto out;
		}
		got += (size_t)n;
	}
	data[got] = '\0';
	*buf = data;
	*len = got;
	data = NULL;
	rc = 0;
out:
	if (data != NULL)
		jg_file_free_secret(data, (size_t)st.st_size);
	close(fd);
	return rc;
}

void
jg_file_free_secret(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

int
jg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char *tmp = NULL, *copy = NULL;
	int fd = -1, dfd = -1, rc = JG_EIO;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return JG_ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		goto out;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	copy = strdup(path);
	if (copy == NULL)
		goto out;
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && fsync(dfd) == 0)
		rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(copy);
	return rc;
}
