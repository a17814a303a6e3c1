/*
 * yamldoc.h - YAML files (configuration, policies) as jansson trees.
 *
 * libyaml parses; this module turns its events into the same jansson tree a
 * JSON body becomes, and keeps a map from each value's path ("tls.cert_file",
 * "rules[2].approval.count") to its line, so validators can name the line of
 * a bad value.  Plain scalars become integers, booleans or null when they
 * look like one (YAML 1.2 core schema); quoted scalars stay strings.
 * Refused: aliases and anchors (no entity expansion), tags, duplicate keys,
 * non-scalar keys, nesting deeper than 32, more than one document, and
 * files larger than the caller's cap.
 */
#ifndef JITGATE_YAMLDOC_H
#define JITGATE_YAMLDOC_H

#include <stddef.h>

#include <jansson.h>

struct jg_yamldoc {
	json_t *root;  /* the document; an empty file is an empty object */
	json_t *lines; /* object: path -> line (integer, 1-based) */
};

/*
 * Parses len bytes of buf.  name is used in error messages.  On failure
 * writes "name:line: reason" to err and returns JG_EPARSE or JG_ETOOBIG.
 * On success *out is the caller's, freed with jg_yamldoc_free().
 */
int jg_yamldoc_parse(const char *buf, size_t len, const char *name, struct jg_yamldoc **out,
		     char *err, size_t errlen);

/* Reads path (at most max_bytes) then parses it as above. */
int jg_yamldoc_load(const char *path, size_t max_bytes, struct jg_yamldoc **out, char *err,
		    size_t errlen);

/* The 1-based line of the value at path, or 0 when unknown. */
int jg_yamldoc_line(const struct jg_yamldoc *doc, const char *path);

void jg_yamldoc_free(struct jg_yamldoc *doc);

#endif
