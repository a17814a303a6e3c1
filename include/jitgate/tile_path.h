/*
 * tile_path.h - the resource names of a tiled transparency log (C2SP
 * tlog-tiles): "<L>/<N>[.p/<W>]" for a tile of hashes and
 * "entries/<N>[.p/<W>]" for an entry bundle, relative to "<prefix>/tile/".
 *
 * The audit log is served (api_tiles.c) and archived (audit.archive_dir) in
 * this layout, so one parser and one formatter keep the two the same.  Only
 * the canonical spelling of a name is accepted - the one the formatter
 * writes - so one tile never has two names (caches, archives).
 */
#ifndef JITGATE_TILE_PATH_H
#define JITGATE_TILE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JG_TILE_ENTRIES	  (-1) /* the level of an entry bundle */
#define JG_TILE_WIDTH	  256  /* hashes in a full tile, entries in a full bundle */
#define JG_TILE_MAX_LEVEL 63   /* the spec's highest level */
#define JG_TILE_PATH_MAX  64   /* bytes of the longest name, its NUL included */

struct jg_tile {
	int level;	/* 0..JG_TILE_MAX_LEVEL, or JG_TILE_ENTRIES */
	uint64_t index; /* N: the tile's place within its level */
	unsigned width; /* 1..JG_TILE_WIDTH; JG_TILE_WIDTH is a full tile (no ".p/<W>") */
};

/*
 * Parses name ("0/x001/x234/067.p/12", "entries/000") into *t.  0, or
 * JG_EINVAL when it is not a canonical tile name: a level out of range or
 * with leading zeroes, an index not in 3-digit groups with 'x' before all but
 * the last, or with a leading "x000" group, a width not 1..255, anything
 * else after it.
 */
int jg_tile_path_parse(const char *name, struct jg_tile *t);

/* Writes t's canonical name into out (cap bytes, JG_TILE_PATH_MAX is enough); 0 or JG_EINVAL. */
int jg_tile_path_format(const struct jg_tile *t, char *out, size_t cap);

/*
 * The number of entries a tree must hold for t to exist: (index * 256 +
 * width) * 256^level (level 0 for a bundle) in *size.  false when that is
 * beyond 2^64 - 1 (no log holds such a tile).
 */
bool jg_tile_needs(const struct jg_tile *t, uint64_t *size);

#endif
