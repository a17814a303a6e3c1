/*
 * config.h - jitgate.yaml: parsed with libyaml (yamldoc), validated.
 *
 * Validation is table-driven: every key jitgate knows is listed once with
 * its type, range and default, so an unknown key, a wrong type, a value out
 * of range or a missing required value is refused with the file, line and
 * key named.  Relative paths are resolved against the directory of the
 * configuration file, so a service manager's working directory does not
 * matter.  Secrets are never in this file: it names files that hold them.
 */
#ifndef JITGATE_CONFIG_H
#define JITGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jitgate/log.h"

#define JG_CONFIG_MAX_BYTES (256 * 1024)

struct jg_limits {
	int64_t max_body_bytes;	    /* request body cap: 413 above it */
	int64_t max_header_bytes;   /* sum of header names and values: 431 above it */
	int64_t max_url_bytes;	    /* request target length: 414 above it */
	int64_t max_connections;    /* concurrent connections accepted */
	int64_t connection_timeout; /* seconds a connection may stay idle */
	int64_t request_timeout;    /* seconds to deliver a whole request (slow clients) */
	int64_t shutdown_grace;	    /* seconds in-flight requests get on SIGTERM */
	int64_t event_threads;	    /* event loops carrying the connections (0: one per CPU) */
	int64_t worker_threads;	    /* threads running the handlers that may block */
	/* abuse resistance (throttle.h): token buckets, 429 with Retry-After past them */
	int64_t max_connections_per_address; /* concurrent connections from one address */
	int64_t auth_failures_per_minute;    /* failed authentications refilled a minute ... */
	int64_t auth_failures_burst;	     /* ... up to this many, per address and per identity */
	int64_t requests_per_minute;	     /* POST /v1/requests per identity ... */
	int64_t requests_burst;
	int64_t requests_per_address_per_minute; /* ... and per client address */
	int64_t requests_address_burst;
	int64_t rate_table_entries; /* entries per bucket table (fixed memory) */
};

/* One notification sink (docs/notifications.md); lists are NULL-terminated, NULL = any. */
#define JG_NOTIFY_MAX_SINKS 16
struct jg_notify_sink_cfg {
	char *name;
	char *type; /* "webhook" or "slack" */
	char *url;
	char *secret_file; /* HMAC key (required for webhook) */
	char *ca_file;	   /* NULL: the system store */
	int64_t timeout_ms;
	int64_t max_attempts; /* 0: notifications.max_attempts */
	char **audiences; /* approvers, requester, security, operators; NULL: approvers+requester */
	char **policies;
	char **groups;
	char **events;
};

/* One witness jitgate pushes its checkpoints to (docs/witness.md); the key is checked by the audit
 * module. */
#define JG_AUDIT_MAX_WITNESSES 8
struct jg_witness_cfg {
	char *url;     /* https://...: the submission prefix; POSTs go to <url>/add-checkpoint */
	char *key;     /* the witness's cosigner verifier key "name+id+base64(0x04 || key)" */
	char *ca_file; /* NULL: the system store */
};

struct jg_config {
	/* a deprecated key was given: what to say at load (static text, NULL: nothing) */
	const char *warning;
	char *file;	   /* the configuration file as given */
	char *listen_host; /* numeric address, e.g. "127.0.0.1" or "::1" */
	uint16_t listen_port;
	char *public_url; /* https://host[:port], no trailing slash */
	char *tls_cert_file;
	char *tls_key_file;	      /* secret: 0600, not a symlink */
	char *database_url;	      /* as written */
	char *database_path;	      /* resolved SQLite file; NULL for PostgreSQL */
	char *database_password_file; /* PostgreSQL: the role's password (store.h) */
	/* PostgreSQL: the schema owner's connection, for `jitgate migrate` (as written) */
	char *database_owner_url;
	char *database_owner_password_file; /* default: database.password_file without owner_url */
	char *database_store;		    /* what jg_store_open() takes: the file or the URL */
	char *database_owner_store;	    /* the same for the owner (SQLite: the file again) */
	char *migrations_dir;
	char *policy_dir;
	char *key_dir;
	enum jg_log_level log_level;
	struct jg_limits limits;

	/* audit log (docs/audit-format.md, docs/operations.md) */
	char *audit_origin; /* default: public_url's host + "/audit" */
	int64_t audit_checkpoint_entries;
	int64_t audit_checkpoint_seconds;
	char *audit_sink_dir; /* NULL: no directory sink */
	char *audit_sink_url; /* NULL: no HTTPS sink */
	char *audit_sink_ca_file;
	char *audit_archive_dir; /* NULL: no archive (audit.archive_dir) */
	int64_t audit_verify_threads;
	int64_t audit_verify_budget;	/* the rolling verifier's share of one core, percent */
	int64_t audit_reverify_seconds; /* deprecated, ignored: 0 when not given */
	struct jg_witness_cfg audit_witnesses[JG_AUDIT_MAX_WITNESSES];
	size_t audit_nwitnesses;
	int64_t audit_witnesses_min; /* cosignatures that make a checkpoint published */

	/* OpenID Connect (docs/identity.md) */
	char *oidc_issuer;	       /* exact "iss"; discovery at <issuer>/.well-known/... */
	char *oidc_client_id;	       /* the browser-login client */
	char *oidc_client_secret_file; /* NULL: a public client (PKCE only) */
	char **oidc_allowed_clients; /* azp/client_id of accepted access tokens; NULL-terminated */
	char *oidc_audience;	     /* bearer tokens' "aud"; default public_url */
	char *oidc_groups_claim;     /* default "groups" */
	char *oidc_scopes;	     /* default "openid profile email" */
	char *oidc_ca_file;	     /* CA bundle for an https issuer (NULL: system) */
	int64_t oidc_jwks_min_refresh; /* seconds between key fetches for unknown kids */
	int64_t oidc_leeway;	       /* seconds of clock skew allowed on exp/nbf/iat */

	/* capability tokens */
	int64_t tokens_lifetime; /* seconds; never past the grant's end */

	/* access requests */
	int64_t requests_pending_expiry;    /* seconds a request may wait for its approvals */
	int64_t requests_refusals_recorded; /* refused actions recorded per identity and window */
	int64_t requests_refusals_window;   /* ... the window, in seconds */
	int64_t probes_event_retention;	    /* seconds a captured probe event is kept */
	int64_t probes_agent_poll;	    /* poll_seconds advised to agents; 3x: status fresh */
	char *requests_incident_pattern;    /* ERE for incident/ticket ids; NULL: the default */

	/* sessions and roles */
	int64_t auth_session_lifetime; /* seconds a browser session lives at most */
	int64_t auth_session_idle;     /* seconds without use before it ends */
	char **auth_auditor_groups;    /* NULL-terminated */
	char **auth_admin_groups;      /* NULL-terminated */

	/* notifications (docs/notifications.md) */
	struct jg_notify_sink_cfg *notify_sinks;
	size_t notify_nsinks;
	int64_t notify_retry_base_ms;  /* first retry delay; doubles per attempt */
	int64_t notify_retry_max_ms;   /* cap of the delay */
	int64_t notify_max_attempts;   /* then the notification is dead-lettered */
	int64_t notify_expiry_warning; /* seconds before a grant's end; 0: no warning */
	int64_t notify_review_overdue; /* seconds after a break-glass grant without review */
	int64_t reports_review_period; /* seconds between access reviews of a service */
	int64_t notify_alert_after; /* seconds a checkpoint may wait for a sink before an alert */
	int64_t notify_keep_delivered_days; /* delivered rows are deleted after this */

	/* the audit stream to a SIEM (docs/notifications.md) */
	char *stream_type;    /* NULL (none), "webhook" or "syslog" */
	char *stream_url;     /* webhook: https:// */
	char *stream_address; /* syslog: host:port (TLS) */
	char *stream_ca_file;
	char *stream_secret_file; /* webhook: optional HMAC key */
	char *stream_hostname;	  /* syslog HOSTNAME; default: public_url's host */
	int64_t stream_batch_size;
	int64_t stream_timeout_ms;
	int64_t stream_retry_base_ms;
	int64_t stream_retry_max_ms;
	/* the debug data plane (docs/dataplane.md) */
	char *telemetry_url;  /* telemetry.database as written; NULL: the default file */
	char *telemetry_path; /* the SQLite file (default telemetry.db beside a SQLite state
				 database); NULL when telemetry is on PostgreSQL */
	char *telemetry_password_file; /* PostgreSQL: the serving role's password (store.h) */
	char *telemetry_owner_url;     /* PostgreSQL: the schema owner's, for migrate */
	char *telemetry_owner_password_file;
	char *telemetry_store;		     /* what jg_store_open() takes: the file or the URL */
	char *telemetry_owner_store;	     /* the same for the owner (SQLite: the file again) */
	int64_t telemetry_logs_retention;    /* seconds a stored log record is kept */
	int64_t telemetry_traces_retention;  /* seconds a stored span is kept */
	int64_t telemetry_metrics_retention; /* seconds a stored data point is kept */
	/* keys whose values are withheld whole without read-pii (NULL-terminated;
	   the built-in list when not configured) */
	char **redaction_sensitive_fields;
};

/* True when groups (n of them) intersect the NULL-terminated list. */
int jg_config_groups_match(char *const *list, const char *const *groups, size_t n);

/*
 * Loads and validates path.  On failure writes "file:line: reason" to err
 * and returns JG_ECONFIG (or JG_EIO / JG_ETOOBIG).  *out is the caller's,
 * freed with jg_config_free().
 */
int jg_config_load(const char *path, struct jg_config **out, char *err, size_t errlen);

/*
 * A configuration holding only what the HTTPS server needs (listen
 * "ADDRESS:PORT", the TLS certificate and key files, the default limits),
 * for commands that serve HTTPS without being the broker (`jitgate witness
 * serve`).  Returns 0, JG_ECONFIG (err says why) or JG_ENOMEM.
 */
int jg_config_for_server(const char *listen, const char *cert_file, const char *key_file,
			 struct jg_config **out, char *err, size_t errlen);

/* Same, from a buffer; base_dir resolves relative paths. */
int jg_config_parse(const char *buf, size_t len, const char *name, const char *base_dir,
		    struct jg_config **out, char *err, size_t errlen);

void jg_config_free(struct jg_config *cfg);

#endif
