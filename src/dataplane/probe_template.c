/*
 * probe_template.c - checks a log probe's message template (see
 * probe_template.h).  Pure: no store, no clock.
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/probe_template.h"

bool
jg_probe_template_path_valid(const char *p, size_t n)
{
	bool seg_empty = true;

	if (n == 0 || n > JG_PROBE_TEMPLATE_PATH_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '.') {
			if (seg_empty)
				return false;
			seg_empty = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '_') {
			seg_empty = false;
		} else {
			return false;
		}
	}
	return !seg_empty;
}

int
jg_probe_template_parse(const char *template, struct jg_probe_template *out, char *why,
			size_t whylen)
{
	size_t len = strlen(template);

	out->nfields = 0;
	out->text_bytes = 0;
	if (len == 0 || len > JG_PROBE_TEMPLATE_MAX) {
		snprintf(why, whylen, "'template' must be 1 to %d bytes", JG_PROBE_TEMPLATE_MAX);
		return JG_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (template[i] == '}') {
			if (template[i + 1] != '}') {
				snprintf(
				    why, whylen,
				    "'template' has a '}' at byte %zu that closes nothing (write "
				    "'}}' for a brace)",
				    i);
				return JG_EINVAL;
			}
			i++;
			out->text_bytes++;
			continue;
		}
		if (template[i] != '{') {
			out->text_bytes++;
			continue;
		}
		if (template[i + 1] == '{') {
			i++;
			out->text_bytes++;
			continue;
		}
		const char *close = strchr(template + i + 1, '}');
		size_t n = close ? (size_t)(close - template - i - 1) : 0;
		if (close == NULL || !jg_probe_template_path_valid(template + i + 1, n)) {
			snprintf(why, whylen,
				 "'template' has a placeholder at byte %zu that is not {path}: a "
				 "dotted path of letters, digits and '_', at most %d bytes (write "
				 "'{{' for a brace)",
				 i, JG_PROBE_TEMPLATE_PATH_MAX);
			return JG_EINVAL;
		}
		if (out->nfields == JG_PROBE_TEMPLATE_FIELDS_MAX) {
			snprintf(why, whylen, "'template' has more than %d placeholders",
				 JG_PROBE_TEMPLATE_FIELDS_MAX);
			return JG_EINVAL;
		}
		memcpy(out->fields[out->nfields], template + i + 1, n);
		out->fields[out->nfields++][n] = '\0';
		i += n + 1;
	}
	if (out->nfields == 0) {
		snprintf(why, whylen,
			 "'template' has no placeholder: name what to log, as in 'charge {amount} "
			 "for {customer.id}'");
		return JG_EINVAL;
	}
	return 0;
}

size_t
jg_probe_template_message_max(const struct jg_probe_template *t, int64_t max_string_bytes)
{
	size_t each = max_string_bytes > JG_PROBE_TEMPLATE_SCALAR_MAX
			  ? (size_t)max_string_bytes
			  : JG_PROBE_TEMPLATE_SCALAR_MAX;
	return t->text_bytes + t->nfields * each;
}
