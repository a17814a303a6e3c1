/*
 * cli_login.c - `jitgate login`: a token for curl through the device
 * authorization grant (RFC 8628).
 *
 *   jitgate login --issuer URL --client-id ID [--audience URL] [--ca-file F] [-o FILE]
 *
 * Discovers the provider, asks for a device code, prints the user code and
 * where to enter it, polls the token endpoint at the interval the provider
 * asks for (5 s when it says nothing, RFC 8628 3.5), and writes the access
 * token to ~/.config/jitgate/token (mode 0600; directory 0700).  The token
 * is never printed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "jitgate/cli.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"

static int
post_form(const char *url, const char *body, const char *ca_file, long *status, json_t **doc)
{
	struct jg_httpc_opts opts = {.ca_file = ca_file,
				     .timeout_ms = 10000,
				     .max_bytes = 65536,
				     .accept = "application/json"};
	struct jg_httpc_reply reply;
	int rc = jg_httpc_request(url, body, &opts, &reply);
	*doc = NULL;
	if (rc != 0)
		return rc;
	*status = reply.status;
	*doc = json_loadb(reply.body, reply.len, 0, NULL);
	if (reply.body)
		OPENSSL_cleanse(reply.body, reply.len);
	jg_httpc_reply_free(&reply);
	return *doc ? 0 : JG_EPARSE;
}

static int
allowed_url(const char *u)
{
	return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://127.0.0.1:", 17) == 0 ||
	       strncmp(u, "http://localhost:", 17) == 0;
}

static int
save_token(const char *path, const char *token)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		/* ~/.config may not exist yet */
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", dir);
		char *p2 = strrchr(parent, '/');
		if (p2 && p2 != parent) {
			*p2 = '\0';
			mkdir(parent, 0700);
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return JG_EIO;
	}
	return jg_file_write_atomic(path, token, strlen(token), 0600);
}

int
jg_cmd_login(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"issuer", required_argument, NULL, 'i'},	{"client-id", required_argument, NULL, 'c'},
	    {"audience", required_argument, NULL, 'a'}, {"ca-file", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},	{NULL, 0, NULL, 0},
	};
	const char *issuer = NULL, *client_id = NULL, *audience = NULL, *ca_file = NULL,
		   *output = NULL;
	char path[4096], url[2048], *body = NULL, *e_client = NULL, *e_aud = NULL;
	json_t *disco = NULL, *dev = NULL, *tok = NULL;
	struct jg_httpc_reply reply = {0};
	long status = 0;
	int ch, rc = JG_EXIT_RUNTIME;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i': issuer = optarg; break;
		case 'c': client_id = optarg; break;
		case 'a': audience = optarg; break;
		case 'f': ca_file = optarg; break;
		case 'o': output = optarg; break;
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (issuer == NULL || client_id == NULL || optind != argc) {
		fprintf(stderr, "usage: jitgate login --issuer URL --client-id ID [--audience URL] "
				"[--ca-file FILE] [-o FILE]\n");
		return JG_EXIT_USAGE;
	}
	if (!allowed_url(issuer)) {
		fprintf(stderr,
			"jitgate login: the issuer must be https:// (http:// only on loopback)\n");
		return JG_EXIT_USAGE;
	}
	if (output == NULL) {
		const char *home = getenv("HOME");
		if (home == NULL || *home == '\0') {
			fprintf(stderr, "jitgate login: HOME is not set; use -o FILE\n");
			return JG_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "%s/.config/jitgate/token", home);
		output = path;
	}

	snprintf(url, sizeof(url), "%s/.well-known/openid-configuration", issuer);
	struct jg_httpc_opts gopts = {.ca_file = ca_file, .timeout_ms = 10000, .max_bytes = 65536};
	if (jg_httpc_request(url, NULL, &gopts, &reply) != 0 || reply.status != 200 ||
	    (disco = json_loadb(reply.body, reply.len, 0, NULL)) == NULL) {
		fprintf(stderr, "jitgate login: cannot read %s\n", url);
		goto out;
	}
	const char *iss = json_string_value(json_object_get(disco, "issuer"));
	const char *dev_ep =
	    json_string_value(json_object_get(disco, "device_authorization_endpoint"));
	const char *tok_ep = json_string_value(json_object_get(disco, "token_endpoint"));
	if (iss == NULL || strcmp(iss, issuer) != 0 || dev_ep == NULL || tok_ep == NULL ||
	    !allowed_url(dev_ep) || !allowed_url(tok_ep)) {
		fprintf(stderr,
			"jitgate login: the provider does not offer the device flow (or its "
			"issuer differs)\n");
		goto out;
	}
	e_client = jg_httpc_escape(client_id);
	e_aud = audience ? jg_httpc_escape(audience) : NULL;
	if (e_client == NULL ||
	    asprintf(&body, "client_id=%s&scope=openid%%20profile%%20email%s%s", e_client,
		     e_aud ? "&resource=" : "", e_aud ? e_aud : "") < 0) {
		body = NULL;
		goto out;
	}
	if (post_form(dev_ep, body, ca_file, &status, &dev) != 0 || status != 200) {
		fprintf(stderr,
			"jitgate login: the provider refused the device authorization request\n");
		goto out;
	}
	const char *device_code = json_string_value(json_object_get(dev, "device_code"));
	const char *user_code = json_string_value(json_object_get(dev, "user_code"));
	const char *verify_uri = json_string_value(json_object_get(dev, "verification_uri"));
	const char *verify_full =
	    json_string_value(json_object_get(dev, "verification_uri_complete"));
	json_int_t interval = json_integer_value(json_object_get(dev, "interval"));
	json_int_t expires_in = json_integer_value(json_object_get(dev, "expires_in"));
	if (device_code == NULL || user_code == NULL || verify_uri == NULL) {
		fprintf(stderr, "jitgate login: the device authorization reply is incomplete\n");
		goto out;
	}
	if (interval < 1)
		interval = 5;
	if (expires_in < 1 || expires_in > 3600)
		expires_in = 600;
	/* shown now, before the polling starts; a code nobody can see cannot be entered */
	if (printf("To sign in, open %s\nand enter the code: %s\n",
		   verify_full ? verify_full : verify_uri, user_code) < 0 ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "jitgate login: cannot show the sign-in code on stdout\n");
		goto out;
	}

	free(body);
	char *e_device = jg_httpc_escape(device_code);
	if (e_device == NULL ||
	    asprintf(&body,
		     "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Adevice_code"
		     "&device_code=%s&client_id=%s",
		     e_device, e_client) < 0)
		body = NULL;
	free(e_device);
	if (body == NULL)
		goto out;
	time_t until = time(NULL) + (time_t)expires_in;
	while (time(NULL) < until) {
		sleep((unsigned)interval);
		json_decref(tok);
		if (post_form(tok_ep, body, ca_file, &status, &tok) != 0)
			continue; /* the provider may be back at the next poll */
		const char *access = json_string_value(json_object_get(tok, "access_token"));
		const char *error = json_string_value(json_object_get(tok, "error"));
		if (status == 200 && access != NULL) {
			if (save_token(output, access) != 0) {
				fprintf(stderr, "jitgate login: cannot write %s\n", output);
				goto out;
			}
			printf("Signed in. The access token is in %s (mode 0600).\n"
			       "Use it with: curl -H \"Authorization: Bearer $(cat %s)\" ...\n",
			       output, output);
			rc = JG_EXIT_OK;
			goto out;
		}
		if (error && strcmp(error, "authorization_pending") == 0)
			continue;
		if (error && strcmp(error, "slow_down") == 0) {
			interval += 5;
			continue;
		}
		fprintf(stderr, "jitgate login: sign-in failed (%s)\n", error ? error : "no token");
		goto out;
	}
	fprintf(stderr, "jitgate login: the code expired before sign-in finished\n");
out:
	if (tok) {
		json_t *a = json_object_get(tok, "access_token");
		if (json_is_string(a))
			OPENSSL_cleanse((char *)json_string_value(a), json_string_length(a));
	}
	json_decref(tok);
	json_decref(dev);
	json_decref(disco);
	jg_httpc_reply_free(&reply);
	free(body);
	free(e_client);
	free(e_aud);
	return rc;
}
