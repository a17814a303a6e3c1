/*
 * probe_template.h - the message template of a log probe (docs/agents.md,
 * "Probe kinds"): text with placeholders such as "charge {amount} for
 * {customer.id}", rendered by the agent on each captured call.  jitgate
 * only checks a template and bounds what an agent may send for it; the
 * reference agent renders it (agent/src/template.c).
 *
 * Grammar: "{{" and "}}" stand for a literal brace; "{path}" is a
 * placeholder, path one to JG_PROBE_TEMPLATE_PATH_MAX bytes of dotted
 * segments of letters, digits and '_' (a segment of digits is an array
 * index).  The first segment names an argument, as a condition's field
 * does, except "return", which names the return value.  Any other brace is
 * an error.
 */
#ifndef JITGATE_PROBE_TEMPLATE_H
#define JITGATE_PROBE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JG_PROBE_TEMPLATE_MAX	     512 /* bytes of a template */
#define JG_PROBE_TEMPLATE_FIELDS_MAX 16	 /* placeholders in one */
#define JG_PROBE_TEMPLATE_PATH_MAX   100 /* bytes of a placeholder's path */

struct jg_probe_template {
	size_t text_bytes; /* of the text around the placeholders, each "{{" or "}}" one byte */
	size_t nfields;
	char fields[JG_PROBE_TEMPLATE_FIELDS_MAX][JG_PROBE_TEMPLATE_PATH_MAX + 1];
};

/*
 * Whether the n bytes at p are a placeholder's path as above (a metric
 * probe's field follows the same rule, probe_metric.h).
 */
bool jg_probe_template_path_valid(const char *p, size_t n);

/*
 * Checks template (NUL-terminated UTF-8) and lists its placeholders' paths
 * in *out, in order.  0, or JG_EINVAL with why (a sentence) when it is
 * empty, longer than JG_PROBE_TEMPLATE_MAX, has no placeholder, more than
 * JG_PROBE_TEMPLATE_FIELDS_MAX, a bad path or a stray brace.
 */
int jg_probe_template_parse(const char *template, struct jg_probe_template *out, char *why,
			    size_t whylen);

/*
 * What an agent writes for a placeholder whose value is not a string (a
 * number, true, false, null, "<missing>", "<object>", "<array>"): at most
 * this many bytes, whatever max_string_bytes says.
 */
#define JG_PROBE_TEMPLATE_SCALAR_MAX 32

/*
 * The longest message an agent may render from a parsed template when each
 * string is cut to max_string_bytes: its text, and for each placeholder
 * max_string_bytes or JG_PROBE_TEMPLATE_SCALAR_MAX, whichever is more.
 */
size_t jg_probe_template_message_max(const struct jg_probe_template *t, int64_t max_string_bytes);

#endif
