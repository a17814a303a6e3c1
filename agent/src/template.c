/*
 * template.c - a log probe's message (docs/agents.md, "Probe kinds"): the
 * template's text with each {path} replaced by the value it names, the
 * value cut to the probe's limits like a captured one and named in the
 * event's "truncated" when cut.  jitgate checks templates at deploy
 * (src/dataplane/probe_template.c, the same grammar); the agent checks
 * again before installing, since it renders what it is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TEMPLATE_MAX   512
#define PATH_MAX_BYTES 100
#define FIELDS_MAX     16
#define MISSING	       "<missing>"

static bool
path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

/* The length of the placeholder's path at p (just past its '{'), or 0 when it is not one. */
static size_t
placeholder(const char *p)
{
	size_t n = 0;

	while (path_char(p[n]))
		n++;
	if (p[n] != '}' || n == 0 || n > PATH_MAX_BYTES || p[0] == '.' || p[n - 1] == '.' ||
	    memmem(p, n, "..", 2) != NULL)
		return 0;
	return n;
}

bool
jga_template_valid(const char *t)
{
	size_t len = strlen(t), fields = 0;

	if (len == 0 || len > TEMPLATE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '}') {
			if (t[i + 1] != '}')
				return false;
			i++;
		} else if (t[i] == '{') {
			if (t[i + 1] == '{') {
				i++;
				continue;
			}
			size_t n = placeholder(t + i + 1);
			if (n == 0 || ++fields > FIELDS_MAX)
				return false;
			i += n + 1;
		}
	}
	return fields > 0;
}

/* n cut back to a UTF-8 character boundary of s. */
static size_t
utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/*
 * Appends the value at path (args' member, or the return value under
 * "return"), cut to l; names it in cut when cut.  false when out of memory.
 */
static bool
put_value(FILE *o, const char *path, const json_t *args, const json_t *ret,
	  const struct jga_limits *l, json_t *cut)
{
	char root[PATH_MAX_BYTES + 8];
	const json_t *v;

	if (strcmp(path, "return") == 0) {
		v = ret;
		snprintf(root, sizeof(root), "return");
	} else if (strncmp(path, "return.", 7) == 0) {
		v = ret ? jga_resolve(ret, path + 7) : NULL;
		snprintf(root, sizeof(root), "%s", path);
	} else {
		v = args ? jga_resolve(args, path) : NULL;
		snprintf(root, sizeof(root), "args.%s", path);
	}
	if (v == NULL)
		return fputs(MISSING, o) >= 0;
	json_t *c = jga_capture(v, root, 1, l, cut);
	if (c == NULL)
		return false;
	bool ok;
	if (json_is_string(c)) {
		ok = fwrite(json_string_value(c), 1, json_string_length(c), o) ==
		     json_string_length(c);
	} else {
		char *text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
		size_t n = text ? strlen(text) : 0;
		/* a container's text within max_string_bytes too */
		if (text != NULL && n > (size_t)l->max_string_bytes) {
			n = utf8_cut(text, (size_t)l->max_string_bytes);
			if (json_array_append_new(cut, json_string(root)) != 0) {
				free(text);
				json_decref(c);
				return false;
			}
		}
		ok = text != NULL && fwrite(text, 1, n, o) == n;
		free(text);
	}
	json_decref(c);
	return ok;
}

json_t *
jga_template_render(const char *t, const json_t *args, const json_t *ret,
		    const struct jga_limits *l, json_t *cut)
{
	char *buf = NULL;
	size_t blen = 0, len = strlen(t);
	FILE *o = open_memstream(&buf, &blen);
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < len; i++) {
		if ((t[i] == '{' || t[i] == '}') && t[i + 1] == t[i]) {
			ok = fputc(t[i], o) != EOF;
			i++;
			continue;
		}
		size_t n = t[i] == '{' ? placeholder(t + i + 1) : 0;
		if (n == 0) {
			ok = fputc(t[i], o) != EOF; /* checked at install: never a stray brace */
			continue;
		}
		char path[PATH_MAX_BYTES + 1];
		memcpy(path, t + i + 1, n);
		path[n] = '\0';
		ok = put_value(o, path, args, ret, l, cut);
		i += n + 1;
	}
	if (o != NULL && fclose(o) != 0)
		ok = false;
	json_t *msg = ok ? json_stringn(buf, blen) : NULL;
	free(buf);
	return msg;
}
