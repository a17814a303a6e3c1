/*
 * template.c - a log probe's message (docs/agents.md, "Probe kinds"): the
 * template's text with each {path} replaced by the value it names: a
 * string cut to max_string_bytes like a captured one (and named in the
 * event's "truncated" when cut), a number, true, false or null as JSON, an
 * object or array only named ("<object>", "<array>").  jitgate checks templates at deploy
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
#define OBJECT	       "<object>"
#define ARRAY	       "<array>"

static bool
path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

bool
jga_path_valid(const char *p, size_t n)
{
	if (n == 0 || n > PATH_MAX_BYTES || p[0] == '.' || p[n - 1] == '.' ||
	    memmem(p, n, "..", 2) != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!path_char(p[i]))
			return false;
	return true;
}

/* The length of the placeholder's path at p (just past its '{'), or 0 when it is not one. */
static size_t
placeholder(const char *p)
{
	size_t n = 0;

	while (path_char(p[n]))
		n++;
	return p[n] == '}' && jga_path_valid(p, n) ? n : 0;
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
	/*
	 * A container is named, never written out: its members' keys would sit
	 * inside a string where jitgate's redaction by key cannot see them
	 * ({customer} printing "ssn":...), and a placeholder that names a member
	 * is checked against the personal-data rule at deploy.
	 */
	if (json_is_object(v))
		return fputs(OBJECT, o) >= 0;
	if (json_is_array(v))
		return fputs(ARRAY, o) >= 0;
	json_t *c = jga_capture(v, root, 1, l, cut);
	if (c == NULL)
		return false;
	bool ok;
	if (json_is_string(c)) {
		ok = fwrite(json_string_value(c), 1, json_string_length(c), o) ==
		     json_string_length(c);
	} else { /* a number, true, false or null: short, never cut */
		char *text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
		ok = text != NULL && fputs(text, o) >= 0;
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
