/*
 * httpc.c - libcurl for jitgate's few outbound calls (see httpc.h).
 *
 * One easy handle per call: the calls are rare (key refreshes, logins,
 * checkpoint pushes), so simplicity beats connection reuse here.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "jitgate/error.h"
#include "jitgate/httpc.h"

struct sink {
	char *data;
	size_t len, cap, max;
	int too_big;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (s->len + n > s->max) {
		s->too_big = 1;
		return 0; /* abort the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *grown = realloc(s->data, cap);
		if (grown == NULL)
			return 0;
		s->data = grown;
		s->cap = cap;
	}
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

int
jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
		 struct jg_httpc_reply *reply)
{
	struct jg_httpc_opts none = {0};
	struct sink sink = {0};
	struct curl_slist *headers = NULL;
	char line[256];
	CURL *curl;
	CURLcode cc;
	int rc;

	memset(reply, 0, sizeof(*reply));
	if (opts == NULL)
		opts = &none;
	sink.max = opts->max_bytes ? opts->max_bytes : (1u << 20);
	if ((curl = curl_easy_init()) == NULL)
		return JG_ENOMEM;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR,
			 (opts->flags & JG_HTTPC_HTTPS_ONLY) ? "https" : "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 opts->timeout_ms > 0 && opts->timeout_ms < 3000 ? opts->timeout_ms
									 : 3000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, opts->timeout_ms ? opts->timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "jitgate");
	if (opts->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, opts->ca_file);
	if (opts->accept) {
		snprintf(line, sizeof(line), "Accept: %s", opts->accept);
		headers = curl_slist_append(headers, line);
	}
	for (size_t i = 0; opts->headers && opts->headers[i]; i++)
		headers = curl_slist_append(headers, opts->headers[i]);
	if (body != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s",
			 opts->content_type ? opts->content_type
					    : "application/x-www-form-urlencoded");
		headers = curl_slist_append(headers, line);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	if (opts->basic_user) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, opts->basic_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD,
				 opts->basic_password ? opts->basic_password : "");
	}
	if (headers)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
		reply->body = sink.data ? sink.data : strdup("");
		reply->len = sink.len;
		sink.data = NULL;
		rc = reply->body ? 0 : JG_ENOMEM;
	} else {
		rc = sink.too_big ? JG_ETOOBIG : JG_EIO;
	}
	free(sink.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return rc;
}

void
jg_httpc_reply_free(struct jg_httpc_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
}

char *
jg_httpc_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *out = e ? strdup(e) : NULL;
	curl_free(e);
	return out;
}
