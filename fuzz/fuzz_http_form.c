/*
 * fuzz_http_form.c - urlencoded form bodies (POST /auth/logout carries its
 * CSRF token this way): jg_http_form_field in server.c, which uses
 * liboauth2's form parser.
 *
 * Beyond memory safety: a field is either found and fits (NUL-terminated,
 * shorter than the buffer, well-formed UTF-8), too big (JG_ETOOBIG, buffer
 * emptied), not UTF-8 (JG_EINVAL, buffer emptied) or absent (JG_ENOTFOUND,
 * buffer emptied); never a partial copy.
 */
#include "fuzz_common.h"
#include "jitgate/canon.h"
#include "jitgate/error.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"csrf", "return_to", "", "a b"};
	char *copy = fuzz_cstr(data, size);
	struct jg_http_request req = {
	    .method = "POST", .path = "/auth/logout", .body = size ? copy : NULL, .body_len = size};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char out[64];
		memset(out, 'x', sizeof(out));
		int rc = jg_http_form_field(&req, names[i], out, sizeof(out));
		if (rc == 0)
			FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL &&
				   jg_utf8_valid(out, strlen(out)));
		else
			FUZZ_CHECK((rc == JG_ENOTFOUND || rc == JG_ETOOBIG || rc == JG_EINVAL) &&
				   out[0] == '\0');
	}
	free(copy);
	return 0;
}
