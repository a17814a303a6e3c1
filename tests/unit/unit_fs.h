/*
 * unit_fs.h - removing a unit test's temporary directory, without a shell.
 *
 * Tests create their files under a mkdtemp(3) root and remove the whole tree
 * in their teardown.  nftw(3) walks it depth first (files before their
 * directory) without following symbolic links; any entry that cannot be
 * removed fails the test, as `rm -rf` through system(3) did, minus the
 * command processor and its quoting.  Include after <cmocka.h>.
 */
#ifndef JG_TESTS_UNIT_FS_H
#define JG_TESTS_UNIT_FS_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int
unit_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes the tree at path (a directory the test created); fails the test if any of it stays. */
static inline void
unit_rm_tree(const char *path)
{
	assert_int_equal(nftw(path, unit_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

#endif
