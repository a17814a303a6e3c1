/*
 * witness_config.h - the configuration file of `jitgate witness serve`
 * (docs/witness.md):
 *
 *   name: auditor.example/witness      # the cosigner's key name
 *   key_file: witness.key              # its signer key (a secret: 0600)
 *   state: witness.db                  # SQLite file of its own
 *   listen: 127.0.0.1:9443
 *   tls: {cert_file: cert.pem, key_file: key.pem}
 *   logs:
 *     - origin: jitgate.example/audit
 *       keys: ["jitgate.example/audit+1234abcd+AQ..."]
 *
 * Unknown keys are refused, every key is required, relative paths are
 * resolved against the file's directory.
 */
#ifndef JITGATE_WITNESS_CONFIG_H
#define JITGATE_WITNESS_CONFIG_H

#include <stddef.h>

#include "jitgate/witness.h"

struct jg_witness_config {
	char *name;
	char *key_file;
	char *state;
	char *listen;
	char *tls_cert_file;
	char *tls_key_file;
	struct jg_witness_log logs[JG_WITNESS_MAX_LOGS];
	size_t n_logs;
};

/* Reads and checks file.  Returns 0, JG_ECONFIG (err says where and why), JG_EIO or JG_ENOMEM. */
int jg_witness_config_load(const char *file, struct jg_witness_config **out, char *err,
			   size_t errlen);
void jg_witness_config_free(struct jg_witness_config *cfg);

#endif
