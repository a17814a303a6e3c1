/*
 * fuzz_tile_path.c - the tile names a reader sends to GET
 * <prefix>/tile/... (tile_path.c), the part of a tile request that is parsed
 * before any store read.
 *
 * Beyond memory safety: a name is accepted only in its canonical spelling
 * (formatting what was parsed gives the input back byte for byte), an
 * accepted tile has a level in 0..63 or is a bundle and a width in 1..256,
 * and the size it needs is a tile's end: (index * 256 + width) * 256^level.
 */
#include "fuzz_common.h"
#include "jitgate/error.h"
#include "jitgate/tile_path.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[128], again[JG_TILE_PATH_MAX];
	struct jg_tile t;
	uint64_t need;

	if (size >= sizeof(name))
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	if (jg_tile_path_parse(name, &t) != 0)
		return 0;
	if (t.level < JG_TILE_ENTRIES || t.level > JG_TILE_MAX_LEVEL || t.width < 1 ||
	    t.width > JG_TILE_WIDTH)
		abort();
	if (jg_tile_path_format(&t, again, sizeof(again)) != 0 || strcmp(again, name) != 0)
		abort();
	if (jg_tile_needs(&t, &need)) {
		uint64_t span = 1;
		for (int i = 0; i < (t.level > 0 ? t.level : 0); i++)
			span *= JG_TILE_WIDTH;
		if (need % span != 0 || need / span != t.index * JG_TILE_WIDTH + t.width)
			abort();
	}
	return 0;
}
