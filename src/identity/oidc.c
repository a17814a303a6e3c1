/*
 * oidc.c - OpenID Connect: discovery, the provider's keys, token checks.
 *
 * Keys: a small table of the provider's signing keys by kid, each with its
 * own liboauth2 `jwk` verifier.  A token naming a kid not in the table may
 * trigger one refetch of the JWKS, but only when the last fetch started at
 * least jwks_min_refresh seconds ago; the fetch itself runs outside the
 * lock, and the timestamp is taken before it, so a flood of bad tokens
 * costs the provider at most one request per interval and costs jitgate's
 * threads no waiting.  A failed fetch keeps the keys already known.  Keys
 * that vanish from the JWKS stop verifying; their entries are reference
 * counted so a verification in progress is never cut short.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <oauth2/cfg.h>
#include <oauth2/log.h>
#include <oauth2/mem.h>
#include <oauth2/oauth2.h>
#include <oauth2/util.h>
#include <openssl/crypto.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/log.h"
#include "jitgate/oidc.h"
#include "jitgate/secret.h"

#define MAX_KEYS      64
#define MAX_DISCOVERY (64 * 1024)
#define MAX_JWKS      (256 * 1024)
#define MAX_CLAIM     255

struct key {
	char kid[129];
	char kty[8];
	char alg[16]; /* the JWK's own alg, or "" */
	oauth2_cfg_token_verify_t *verify;
	int active; /* in the latest JWKS */
	int refs;   /* verifications using it right now */
};

struct jg_oidc {
	char *issuer, *client_id, *client_secret, *audience, *groups_claim, *scopes, *ca_file;
	char **allowed_clients; /* NULL-terminated: azp/client_id of accepted access tokens */
	size_t secret_len;
	int64_t min_refresh, leeway;
	oauth2_log_t *olog;

	pthread_mutex_t lock;
	char *authorization_endpoint, *token_endpoint, *jwks_uri;
	struct key *keys[MAX_KEYS];
	int nkeys;
	int64_t last_fetch; /* monotonic milliseconds when the last fetch started; 0 = never */
	int ever_had_keys;
	uint64_t fetches;
};

static int64_t
mono_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* milliseconds, not seconds: with whole seconds two fetches a millisecond apart, on either
	 * side of a second's turn, were "a second apart" */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1; /* never 0: 0 is "never" */
}

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

/* liboauth2 logs every bad signature as a warning: keep it to debug. */
static void
olog_sink(oauth2_log_sink_t *sink, const char *filename, unsigned long line, const char *function,
	  oauth2_log_level_t level, const char *msg)
{
	(void)sink;
	(void)filename;
	(void)line;
	(void)function;
	(void)level;
	if (!jg_log_enabled(JG_LOG_DEBUG))
		return;
	json_t *f = json_pack("{s:s}", "source", "liboauth2");
	jg_log(JG_LOG_DEBUG, msg, f);
	json_decref(f);
}

int
jg_oidc_new(const struct jg_config *cfg, struct jg_oidc **out, char *err, size_t errlen)
{
	struct jg_oidc *o;

	*out = NULL;
	if (cfg->oidc_issuer == NULL) {
		snprintf(err, errlen, "no 'oidc' section in the configuration");
		return JG_ENOTFOUND;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return JG_ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	o->issuer = strdup(cfg->oidc_issuer);
	o->client_id = strdup(cfg->oidc_client_id);
	o->audience = strdup(cfg->oidc_audience);
	o->groups_claim = strdup(cfg->oidc_groups_claim);
	o->scopes = strdup(cfg->oidc_scopes);
	o->ca_file = cfg->oidc_ca_file ? strdup(cfg->oidc_ca_file) : NULL;
	o->min_refresh = cfg->oidc_jwks_min_refresh;
	o->leeway = cfg->oidc_leeway;
	size_t nclients = 0;
	while (cfg->oidc_allowed_clients && cfg->oidc_allowed_clients[nclients])
		nclients++;
	if (nclients == 0) {
		snprintf(err, errlen, "'oidc.allowed_clients' names no client");
		jg_oidc_free(o);
		return JG_ECONFIG;
	}
	if ((o->allowed_clients = calloc(nclients + 1, sizeof(char *))) == NULL) {
		jg_oidc_free(o);
		return JG_ENOMEM;
	}
	for (size_t i = 0; i < nclients; i++) {
		if ((o->allowed_clients[i] = strdup(cfg->oidc_allowed_clients[i])) == NULL) {
			jg_oidc_free(o);
			return JG_ENOMEM;
		}
	}
	if (cfg->oidc_client_secret_file) {
		size_t len;
		if (jg_file_read(cfg->oidc_client_secret_file, 4096, true, &o->client_secret, &len,
				 err, errlen) != 0) {
			jg_oidc_free(o);
			return JG_ECONFIG;
		}
		while (len > 0 &&
		       (o->client_secret[len - 1] == '\n' || o->client_secret[len - 1] == '\r'))
			o->client_secret[--len] = '\0';
		o->secret_len = len;
	}
	oauth2_log_sink_t *sink = oauth2_log_sink_create(OAUTH2_LOG_ERROR, olog_sink, NULL);
	o->olog = sink ? oauth2_log_init(OAUTH2_LOG_ERROR, sink) : NULL;
	if (!o->issuer || !o->client_id || !o->audience || !o->groups_claim || !o->scopes ||
	    !o->olog) {
		jg_oidc_free(o);
		return JG_ENOMEM;
	}
	*out = o;
	return 0;
}

static void
key_free(struct key *k)
{
	if (k == NULL)
		return;
	oauth2_cfg_token_verify_free(NULL, k->verify);
	free(k);
}

void
jg_oidc_free(struct jg_oidc *o)
{
	if (o == NULL)
		return;
	for (int i = 0; i < o->nkeys; i++)
		key_free(o->keys[i]);
	free(o->issuer);
	free(o->client_id);
	for (size_t i = 0; o->allowed_clients && o->allowed_clients[i]; i++)
		free(o->allowed_clients[i]);
	free(o->allowed_clients);
	jg_file_free_secret(o->client_secret, o->secret_len);
	free(o->audience);
	free(o->groups_claim);
	free(o->scopes);
	free(o->ca_file);
	free(o->authorization_endpoint);
	free(o->token_endpoint);
	free(o->jwks_uri);
	if (o->olog)
		oauth2_log_free(o->olog);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

uint64_t
jg_oidc_jwks_fetches(struct jg_oidc *o)
{
	pthread_mutex_lock(&o->lock);
	uint64_t n = o->fetches;
	pthread_mutex_unlock(&o->lock);
	return n;
}

static int
get_json(struct jg_oidc *o, const char *url, size_t max, json_t **out)
{
	struct jg_httpc_opts opts = {.ca_file = o->ca_file,
				     .timeout_ms = 5000,
				     .max_bytes = max,
				     .accept = "application/json"};
	struct jg_httpc_reply reply;
	int rc = jg_httpc_request(url, NULL, &opts, &reply);

	*out = NULL;
	if (rc != 0)
		return JG_EUNAVAIL;
	if (reply.status == 200)
		*out = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, NULL);
	jg_httpc_reply_free(&reply);
	if (json_is_object(*out)) /* false for NULL too */
		return 0;
	json_decref(*out);
	*out = NULL;
	return JG_EPARSE;
}

/*
 * Where discovery may send jitgate (and the browser): an https issuer's
 * endpoints must be https (the keys may live on another host, as with the
 * large providers); a plain-http issuer - allowed on loopback only, for
 * development - must keep them on its own origin.  So a provider's document
 * cannot point jitgate's fetches at plain-http or internal addresses.
 */
static bool
endpoint_allowed(const char *issuer, const char *url)
{
	if (strncmp(issuer, "https://", 8) == 0)
		return strncmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/';
	const char *path = strchr(issuer + 7, '/'); /* the origin is "http://host:port" */
	size_t n = path ? (size_t)(path - issuer) : strlen(issuer);
	return strncmp(url, issuer, n) == 0 && url[n] == '/';
}

/* Discovery; the document's issuer must be ours exactly (OpenID Discovery 4.3). */
static int
discover(struct jg_oidc *o)
{
	char url[2048];
	json_t *doc = NULL;
	int rc;

	snprintf(url, sizeof(url), "%s/.well-known/openid-configuration", o->issuer);
	if ((rc = get_json(o, url, MAX_DISCOVERY, &doc)) != 0)
		return rc;
	const char *iss = json_string_value(json_object_get(doc, "issuer"));
	const char *authz = json_string_value(json_object_get(doc, "authorization_endpoint"));
	const char *token = json_string_value(json_object_get(doc, "token_endpoint"));
	const char *jwks = json_string_value(json_object_get(doc, "jwks_uri"));
	if (iss == NULL || strcmp(iss, o->issuer) != 0 || !authz || !token || !jwks) {
		json_decref(doc);
		jg_log(JG_LOG_ERROR, "oidc: the discovery document does not match the issuer",
		       NULL);
		return JG_EPARSE;
	}
	if (!endpoint_allowed(o->issuer, authz) || !endpoint_allowed(o->issuer, token) ||
	    !endpoint_allowed(o->issuer, jwks)) {
		json_decref(doc);
		jg_log(
		    JG_LOG_ERROR,
		    "oidc: the discovery document names an endpoint that is not https (or, for a "
		    "loopback http issuer, not on the issuer's own origin); refused",
		    NULL);
		return JG_EPARSE;
	}
	pthread_mutex_lock(&o->lock);
	free(o->authorization_endpoint);
	free(o->token_endpoint);
	free(o->jwks_uri);
	o->authorization_endpoint = strdup(authz);
	o->token_endpoint = strdup(token);
	o->jwks_uri = strdup(jwks);
	pthread_mutex_unlock(&o->lock);
	json_decref(doc);
	return 0;
}

static struct key *
key_from_jwk(struct jg_oidc *o, json_t *jwk)
{
	const char *kid = json_string_value(json_object_get(jwk, "kid"));
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	struct key *k;

	if (kid == NULL || strlen(kid) > 128 || kty == NULL || (use && strcmp(use, "sig") != 0))
		return NULL;
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0 && strcmp(kty, "OKP") != 0)
		return NULL; /* never "oct": no shared secrets from a JWKS */
	if (json_object_get(jwk, "d") != NULL)
		return NULL; /* a private key published by mistake: do not use */
	/*
	 * The key's numbers are base64url strings; cjose (which liboauth2 hands
	 * the JWK to) aborts the process on a misplaced '=' instead of failing,
	 * so a key whose numbers are not strict base64url (codec.h) is skipped.
	 */
	static const char *const b64_members[] = {"x", "y", "n", "e", "k"};
	for (size_t i = 0; i < sizeof(b64_members) / sizeof(b64_members[0]); i++) {
		json_t *m = json_object_get(jwk, b64_members[i]);
		if (m != NULL && (!json_is_string(m) ||
				  !jg_b64url_valid(json_string_value(m), json_string_length(m))))
			return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	snprintf(k->kty, sizeof(k->kty), "%s", kty);
	snprintf(k->alg, sizeof(k->alg), "%s", alg ? alg : "");
	char *text = json_dumps(jwk, JSON_COMPACT);
	/*
	 * exp and iat are checked by jitgate, with oidc.leeway_seconds (liboauth2 checks exp with
	 * no leeway at all, and its iat default rejects tokens older than 10 s).
	 */
	char *msg = text ? oauth2_cfg_token_verify_add_options(o->olog, &k->verify, "jwk", text,
							       "verify.exp=skip&verify.iat=skip")
			 : strdup("out of memory");
	free(text);
	if (msg != NULL) {
		oauth2_mem_free(msg);
		key_free(k);
		return NULL;
	}
	k->active = 1;
	return k;
}

/* Merges the keys of a JWKS document (borrowed) into the table. */
static int
merge_jwks(struct jg_oidc *o, json_t *jwks)
{
	json_t *list = json_object_get(jwks, "keys");
	if (!json_is_array(list))
		return JG_EPARSE;
	struct key *fresh[MAX_KEYS];
	int nfresh = 0;
	size_t i;
	json_t *jwk;
	json_array_foreach(list, i, jwk)
	{
		if (nfresh == MAX_KEYS)
			break;
		struct key *k = key_from_jwk(o, jwk);
		if (k)
			fresh[nfresh++] = k;
	}

	pthread_mutex_lock(&o->lock);
	/* Keys gone from the JWKS stop verifying; unused ones are dropped. */
	for (int a = 0; a < o->nkeys; a++)
		o->keys[a]->active = 0;
	for (int f = 0; f < nfresh; f++) {
		int found = 0;
		for (int a = 0; a < o->nkeys; a++) {
			if (strcmp(o->keys[a]->kid, fresh[f]->kid) == 0) {
				o->keys[a]->active = 1;
				found = 1;
			}
		}
		if (found || o->nkeys == MAX_KEYS) {
			key_free(fresh[f]);
			continue;
		}
		o->keys[o->nkeys++] = fresh[f];
	}
	for (int a = 0; a < o->nkeys;) {
		if (!o->keys[a]->active && o->keys[a]->refs == 0) {
			key_free(o->keys[a]);
			o->keys[a] = o->keys[--o->nkeys];
			continue;
		}
		a++;
	}
	if (nfresh > 0)
		o->ever_had_keys = 1;
	pthread_mutex_unlock(&o->lock);
	return 0;
}

/* Fetches the JWKS (discovering first if needed) and merges it into the table. */
static int
fetch_keys(struct jg_oidc *o)
{
	json_t *jwks = NULL;
	char *uri = NULL;
	int rc;

	pthread_mutex_lock(&o->lock);
	o->fetches++;
	uri = o->jwks_uri ? strdup(o->jwks_uri) : NULL;
	pthread_mutex_unlock(&o->lock);
	if (uri == NULL) {
		if ((rc = discover(o)) != 0)
			return rc;
		pthread_mutex_lock(&o->lock);
		uri = strdup(o->jwks_uri);
		pthread_mutex_unlock(&o->lock);
	}
	rc = get_json(o, uri, MAX_JWKS, &jwks);
	free(uri);
	if (rc != 0)
		return rc;
	rc = merge_jwks(o, jwks);
	json_decref(jwks);
	return rc;
}

int
jg_oidc_set_jwks(struct jg_oidc *o, const char *jwks, size_t len)
{
	if (len > MAX_JWKS)
		return JG_EPARSE;
	json_t *doc = json_loadb(jwks, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return JG_EPARSE;
	}
	pthread_mutex_lock(&o->lock);
	o->last_fetch = mono_now_ms(); /* as if fetched now: no refetch within min_refresh */
	pthread_mutex_unlock(&o->lock);
	int rc = merge_jwks(o, doc);
	json_decref(doc);
	return rc;
}

int
jg_oidc_refresh(struct jg_oidc *o)
{
	pthread_mutex_lock(&o->lock);
	o->last_fetch = mono_now_ms();
	pthread_mutex_unlock(&o->lock);
	int rc = fetch_keys(o);
	if (rc != 0) {
		json_t *f = json_pack("{s:s}", "issuer", o->issuer);
		jg_log(JG_LOG_WARN, "oidc: cannot fetch the provider's keys; will retry", f);
		json_decref(f);
	}
	return rc;
}

static struct key *
find_active(struct jg_oidc *o, const char *kid)
{
	for (int i = 0; i < o->nkeys; i++)
		if (o->keys[i]->active && strcmp(o->keys[i]->kid, kid) == 0)
			return o->keys[i];
	return NULL;
}

/*
 * The key for kid, with a reference taken (release with key_release()).
 * An unknown kid refetches the JWKS when the interval allows.
 */
static struct key *
key_acquire(struct jg_oidc *o, const char *kid, int *unavailable)
{
	struct key *k;
	int fetch = 0;

	*unavailable = 0;
	pthread_mutex_lock(&o->lock);
	k = find_active(o, kid);
	if (k == NULL &&
	    (o->last_fetch == 0 || mono_now_ms() - o->last_fetch >= o->min_refresh * 1000)) {
		o->last_fetch = mono_now_ms(); /* before fetching: others will not fetch too */
		fetch = 1;
	}
	if (k)
		k->refs++;
	pthread_mutex_unlock(&o->lock);
	if (k || !fetch) {
		if (!k) {
			pthread_mutex_lock(&o->lock);
			*unavailable = !o->ever_had_keys;
			pthread_mutex_unlock(&o->lock);
		}
		return k;
	}
	int rc = fetch_keys(o);
	pthread_mutex_lock(&o->lock);
	k = find_active(o, kid);
	if (k)
		k->refs++;
	*unavailable = k == NULL && rc != 0 && !o->ever_had_keys;
	pthread_mutex_unlock(&o->lock);
	return k;
}

static void
key_release(struct jg_oidc *o, struct key *k)
{
	pthread_mutex_lock(&o->lock);
	k->refs--;
	pthread_mutex_unlock(&o->lock);
}

/* ---- tokens ------------------------------------------------------------------ */

enum token_kind { ACCESS_TOKEN, ID_TOKEN };

/* The key type an algorithm needs, or NULL for algorithms jitgate refuses. */
static const char *
kty_for_alg(const char *alg)
{
	static const struct {
		const char *alg, *kty;
	} allowed[] = {
	    {"RS256", "RSA"}, {"RS384", "RSA"}, {"RS512", "RSA"}, {"PS256", "RSA"},
	    {"PS384", "RSA"}, {"PS512", "RSA"}, {"ES256", "EC"},  {"ES384", "EC"},
	    {"ES512", "EC"},  {"EdDSA", "OKP"},
	};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(alg, allowed[i].alg) == 0) /* exact: "none", "HS256", "rs256" fail */
			return allowed[i].kty;
	return NULL;
}

/* Whether every '.'-separated part of token is strict base64url (codec.h). */
static bool
jws_text(const char *token)
{
	for (const char *p = token;; p++) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (!jg_b64url_valid(p, len))
			return false;
		if (dot == NULL)
			return true;
		p = dot;
	}
}

/*
 * Part index (0: header, 1: claims) of a compact JWS, decoded and parsed
 * as one JSON object with duplicate keys refused, in any object at any
 * depth: the bytes that were signed mean one thing, whichever parser reads
 * them (liboauth2 parses them too, and its parser keeps one of the values).
 * NULL with *duplicate set when a key repeats.
 */
static json_t *
jwt_part(const char *token, int index, int *duplicate)
{
	const char *start = token, *end;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_error_t jerr;

	*duplicate = 0;
	for (int i = 0; i < index; i++) {
		if ((start = strchr(start, '.')) == NULL)
			return NULL;
		start++;
	}
	if ((end = strchr(start, '.')) == NULL || end == start)
		return NULL;
	/* bounded: the whole token is at most JG_OIDC_MAX_TOKEN bytes */
	size_t cap = JG_B64URL_DECODED_LEN((size_t)(end - start));
	if ((raw = malloc(cap + 1)) == NULL ||
	    jg_b64url_decode(start, (size_t)(end - start), raw, cap + 1, &raw_len) != 0) {
		free(raw);
		return NULL;
	}
	json_t *v = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (v == NULL && json_error_code(&jerr) == json_error_duplicate_key)
		*duplicate = 1;
	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static int
verify_signature(struct jg_oidc *o, const char *token, enum token_kind kind, json_t **payload,
		 char *why, size_t whylen)
{
	json_t *hdr, *claims = NULL, *lib_payload = NULL;
	struct key *k;
	int unavailable = 0, duplicate = 0, rc;

	*payload = NULL;
	if (strlen(token) > JG_OIDC_MAX_TOKEN)
		return jg_errf(why, whylen, JG_EDENIED, "the token is longer than %d bytes",
			       JG_OIDC_MAX_TOKEN);
	/*
	 * A compact JWS is strict base64url parts and dots, never padding:
	 * refused before any decoding, since cjose's decoder (inside liboauth2)
	 * aborts the process on a misplaced '=' ("a=") instead of failing.
	 */
	if (!jws_text(token))
		return jg_errf(why, whylen, JG_EDENIED, "the token is not a JWT");
	if ((hdr = jwt_part(token, 0, &duplicate)) == NULL)
		return duplicate ? jg_errf(why, whylen, JG_EDENIED,
					   "the token's header repeats a key (duplicate)")
				 : jg_errf(why, whylen, JG_EDENIED, "the token is not a JWT");
	/* the claims as jitgate reads them, checked before any key is looked up or fetched */
	if ((claims = jwt_part(token, 1, &duplicate)) == NULL) {
		rc = duplicate ? jg_errf(why, whylen, JG_EDENIED,
					 "the token's claims repeat a key (duplicate)")
			       : jg_errf(why, whylen, JG_EDENIED, "the token is not a JWT");
		goto out;
	}
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	const char *typ = json_string_value(json_object_get(hdr, "typ"));
	const char *need_kty = alg ? kty_for_alg(alg) : NULL;
	if (need_kty == NULL) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token's algorithm is not accepted");
		goto out;
	}
	if (kid == NULL || *kid == '\0' || strlen(kid) > 128) {
		rc = jg_errf(why, whylen, JG_EDENIED, "the token names no key (kid)");
		goto out;
	}
	if (kind == ACCESS_TOKEN && (typ == NULL || (strcasecmp(typ, "at+jwt") != 0 &&
						     strcasecmp(typ, "application/at+jwt") != 0))) {
		rc = jg_errf(why, whylen, JG_EDENIED, "not an access token (typ must be at+jwt)");
		goto out;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "critical header parameters are not supported");
		goto out;
	}
	if ((k = key_acquire(o, kid, &unavailable)) == NULL) {
		rc = unavailable ? JG_EUNAVAIL
				 : jg_errf(why, whylen, JG_EDENIED,
					   "the token is signed by a key the provider does "
					   "not publish");
		if (rc == JG_EUNAVAIL)
			snprintf(why, whylen, "the identity provider's keys cannot be fetched");
		goto out;
	}
	if (strcmp(k->kty, need_kty) != 0 || (k->alg[0] != '\0' && strcmp(k->alg, alg) != 0)) {
		key_release(o, k);
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "the token's algorithm does not match its key");
		goto out;
	}
	bool ok = oauth2_token_verify(o->olog, NULL, k->verify, token, &lib_payload);
	key_release(o, k);
	/* liboauth2's reading of the claims is dropped: jitgate's strict one is what was checked */
	json_decref(lib_payload);
	if (!ok) {
		rc = jg_errf(why, whylen, JG_EDENIED,
			     "the token's signature does not verify or it has expired");
		goto out;
	}
	*payload = claims;
	claims = NULL; /* transferred */
	rc = 0;
out:
	json_decref(claims);
	json_decref(hdr);
	return rc;
}

static int
audience_has(json_t *aud, const char *want, size_t *count)
{
	*count = 0;
	if (json_is_string(aud)) {
		*count = 1;
		return strcmp(json_string_value(aud), want) == 0;
	}
	if (!json_is_array(aud))
		return 0;
	size_t i;
	json_t *v;
	int found = 0;
	json_array_foreach(aud, i, v)
	{
		(*count)++;
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			found = 1;
	}
	return found;
}

static int
copy_claim(json_t *payload, const char *name, char *out, size_t outlen, int required)
{
	json_t *v = json_object_get(payload, name);
	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return required ? -1 : 0;
	if (!json_is_string(v) || json_string_length(v) >= outlen ||
	    json_string_length(v) > MAX_CLAIM ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return (required && out[0] == '\0') ? -1 : 0;
}

/* Whether v is a string naming one of oidc.allowed_clients exactly. */
static int
client_allowed(const struct jg_oidc *o, json_t *v)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return 0;
	for (size_t i = 0; o->allowed_clients[i]; i++)
		if (strcmp(o->allowed_clients[i], json_string_value(v)) == 0)
			return 1;
	return 0;
}

/* The claims every token must pass; then the identity. */
static int
check_claims(struct jg_oidc *o, json_t *p, const char *want_aud, enum token_kind kind,
	     const char *nonce, struct jg_identity *id, char *why, size_t whylen)
{
	int64_t now = wall_now();
	json_t *v;
	size_t naud;

	if (!json_is_string(json_object_get(p, "iss")) ||
	    strcmp(json_string_value(json_object_get(p, "iss")), o->issuer) != 0)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token was not issued by the configured provider");
	if (!audience_has(json_object_get(p, "aud"), want_aud, &naud))
		return jg_errf(why, whylen, JG_EDENIED, "the token is not meant for jitgate (aud)");
	v = json_object_get(p, "exp");
	if (!json_is_integer(v) || json_integer_value(v) + o->leeway <= now)
		return jg_errf(why, whylen, JG_EDENIED, "the token has expired");
	int64_t exp = json_integer_value(v);
	v = json_object_get(p, "nbf");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) - o->leeway > now))
		return jg_errf(why, whylen, JG_EDENIED, "the token is not valid yet (nbf)");
	v = json_object_get(p, "iat");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) - o->leeway > now))
		return jg_errf(why, whylen, JG_EDENIED, "the token was issued in the future (iat)");
	if (kind == ACCESS_TOKEN) {
		/* a token the provider issued to another application is not for jitgate's API */
		json_t *azp = json_object_get(p, "azp"), *cid = json_object_get(p, "client_id");
		if (azp == NULL && cid == NULL)
			return jg_errf(why, whylen, JG_EDENIED,
				       "the token names no client (azp or client_id)");
		if ((azp != NULL && !client_allowed(o, azp)) ||
		    (cid != NULL && !client_allowed(o, cid)))
			return jg_errf(why, whylen, JG_EDENIED,
				       "the token was issued to a client jitgate does not accept "
				       "(azp/client_id)");
	}
	if (kind == ID_TOKEN) {
		const char *azp = json_string_value(json_object_get(p, "azp"));
		if (json_object_get(p, "azp") != NULL &&
		    (azp == NULL || strcmp(azp, o->client_id) != 0))
			return jg_errf(why, whylen, JG_EDENIED,
				       "the ID token was issued to another client (azp)");
		if (naud > 1 && azp == NULL)
			return jg_errf(why, whylen, JG_EDENIED,
				       "the ID token has several audiences and no azp");
		const char *got = json_string_value(json_object_get(p, "nonce"));
		if (!jg_secret_equal(got, nonce))
			return jg_errf(why, whylen, JG_EDENIED,
				       "the ID token's nonce does not match this login");
	}
	jg_identity_clear(id);
	if (copy_claim(p, "sub", id->sub, sizeof(id->sub), 1) != 0)
		return jg_errf(why, whylen, JG_EDENIED, "the token has no usable subject (sub)");
	if (copy_claim(p, "email", id->email, sizeof(id->email), 0) != 0 ||
	    copy_claim(p, "name", id->name, sizeof(id->name), 0) != 0)
		return jg_errf(why, whylen, JG_EDENIED,
			       "the token's email or name claim is malformed");
	v = json_object_get(p, o->groups_claim);
	if (v != NULL && !json_is_array(v))
		return jg_errf(why, whylen, JG_EDENIED, "the token's %s claim is not a list",
			       o->groups_claim);
	size_t i;
	json_t *g;
	json_array_foreach(v, i, g)
	{
		if (!json_is_string(g) || json_string_length(g) == 0 ||
		    json_string_length(g) > MAX_CLAIM || id->ngroups == JG_IDENTITY_MAX_GROUPS) {
			jg_identity_clear(id);
			return jg_errf(why, whylen, JG_EDENIED, "the token's %s claim is malformed",
				       o->groups_claim);
		}
		if ((id->groups[id->ngroups] = strdup(json_string_value(g))) == NULL) {
			jg_identity_clear(id);
			return JG_ENOMEM;
		}
		id->ngroups++;
	}
	id->expires = exp;
	v = json_object_get(p, "iat");
	id->issued_at = v != NULL ? json_integer_value(v) : 0; /* an integer: checked above */
	snprintf(id->via, sizeof(id->via), "%s", kind == ACCESS_TOKEN ? "bearer" : "session");
	return 0;
}

int
jg_oidc_verify_access_token(struct jg_oidc *o, const char *token, struct jg_identity *id, char *why,
			    size_t whylen)
{
	json_t *payload = NULL;
	int rc = verify_signature(o, token, ACCESS_TOKEN, &payload, why, whylen);
	if (rc == 0)
		rc = check_claims(o, payload, o->audience, ACCESS_TOKEN, NULL, id, why, whylen);
	json_decref(payload);
	return rc;
}

int
jg_oidc_verify_id_token(struct jg_oidc *o, const char *token, const char *nonce,
			struct jg_identity *id, char *why, size_t whylen)
{
	json_t *payload = NULL;
	int rc = verify_signature(o, token, ID_TOKEN, &payload, why, whylen);
	if (rc == 0)
		rc = check_claims(o, payload, o->client_id, ID_TOKEN, nonce, id, why, whylen);
	json_decref(payload);
	return rc;
}

/* ---- the authorization code flow ------------------------------------------- */

static int
ensure_discovered(struct jg_oidc *o)
{
	pthread_mutex_lock(&o->lock);
	int have = o->token_endpoint != NULL;
	pthread_mutex_unlock(&o->lock);
	return have ? 0 : discover(o);
}

int
jg_oidc_authorization_url(struct jg_oidc *o, const char *redirect_uri, const char *state,
			  const char *nonce, const char *code_challenge, char **url)
{
	char *e_client = NULL, *e_redirect = NULL, *e_scope = NULL;

	*url = NULL;
	/* fetched again for every login (they are rare): a provider that is down gets the
	 * user jitgate's 503 page now, not the browser's connection error later */
	if (discover(o) != 0)
		return JG_EUNAVAIL;
	e_client = jg_httpc_escape(o->client_id);
	e_redirect = jg_httpc_escape(redirect_uri);
	e_scope = jg_httpc_escape(o->scopes);
	pthread_mutex_lock(&o->lock);
	if (e_client && e_redirect && e_scope &&
	    asprintf(
		url,
		"%s%cresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=%s&nonce=%s"
		"&code_challenge=%s&code_challenge_method=S256",
		o->authorization_endpoint, strchr(o->authorization_endpoint, '?') ? '&' : '?',
		e_client, e_redirect, e_scope, state, nonce, code_challenge) < 0)
		*url = NULL;
	pthread_mutex_unlock(&o->lock);
	free(e_client);
	free(e_redirect);
	free(e_scope);
	return *url ? 0 : JG_ENOMEM;
}

int
jg_oidc_redeem_code(struct jg_oidc *o, const char *code, const char *redirect_uri,
		    const char *code_verifier, char **id_token, char *why, size_t whylen)
{
	char *body = NULL, *e_code = jg_httpc_escape(code),
	     *e_redirect = jg_httpc_escape(redirect_uri),
	     *e_verifier = jg_httpc_escape(code_verifier),
	     *e_client = jg_httpc_escape(o->client_id), *endpoint = NULL;
	struct jg_httpc_reply reply = {0};
	json_t *doc = NULL;
	int rc = JG_ENOMEM;

	*id_token = NULL;
	if (ensure_discovered(o) != 0) {
		rc = JG_EUNAVAIL;
		goto out;
	}
	pthread_mutex_lock(&o->lock);
	endpoint = strdup(o->token_endpoint);
	pthread_mutex_unlock(&o->lock);
	rc = JG_ENOMEM;
	if (!e_code || !e_redirect || !e_verifier || !e_client || !endpoint ||
	    asprintf(&body,
		     "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s%s%s",
		     e_code, e_redirect, e_verifier,
		     o->client_secret ? "" : "&client_id=", o->client_secret ? "" : e_client) < 0) {
		body = NULL;
		goto out;
	}
	struct jg_httpc_opts opts = {.ca_file = o->ca_file,
				     .timeout_ms = 5000,
				     .max_bytes = 65536,
				     .accept = "application/json",
				     .basic_user = o->client_secret ? o->client_id : NULL,
				     .basic_password = o->client_secret};
	if (jg_httpc_request(endpoint, body, &opts, &reply) != 0) {
		snprintf(why, whylen, "the identity provider cannot be reached");
		rc = JG_EUNAVAIL;
		goto out;
	}
	doc = json_loadb(reply.body, reply.len, 0, NULL);
	const char *tok = json_string_value(json_object_get(doc, "id_token"));
	if (reply.status != 200 || tok == NULL) {
		const char *e = json_string_value(json_object_get(doc, "error"));
		rc = reply.status >= 500
			 ? JG_EUNAVAIL
			 : jg_errf(why, whylen, JG_EDENIED,
				   "the identity provider refused the code (%s)",
				   e ? (strcmp(e, "invalid_grant") == 0 ? "invalid_grant" : "error")
				     : "no ID token");
		goto out;
	}
	*id_token = strdup(tok);
	rc = *id_token ? 0 : JG_ENOMEM;
out:
	if (body)
		OPENSSL_cleanse(body, strlen(body));
	free(body);
	free(e_code);
	free(e_redirect);
	free(e_verifier);
	free(e_client);
	free(endpoint);
	json_decref(doc);
	jg_httpc_reply_free(&reply);
	return rc;
}

/* ---- identities -------------------------------------------------------------- */

void
jg_identity_clear(struct jg_identity *id)
{
	for (size_t i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	memset(id, 0, sizeof(*id));
}

json_t *
jg_identity_to_json(const struct jg_identity *id)
{
	json_t *groups = json_array();
	for (size_t i = 0; groups && i < id->ngroups; i++)
		json_array_append_new(groups, json_string(id->groups[i]));
	return json_pack("{s:s,s:s?,s:s?,s:o,s:s,s:I}", "sub", id->sub, "email",
			 id->email[0] ? id->email : NULL, "name", id->name[0] ? id->name : NULL,
			 "groups", groups, "authenticated_via", id->via, "expires_at",
			 (json_int_t)id->expires);
}

int
jg_identity_in_groups(const struct jg_identity *id, char *const *groups)
{
	return jg_config_groups_match(groups, (const char *const *)id->groups, id->ngroups);
}

const char *
jg_oidc_issuer(const struct jg_oidc *o)
{
	return o->issuer;
}
