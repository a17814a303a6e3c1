/*
 * codec.c - hex and base64url (see codec.h).
 *
 * Hex is a table lookup each way.  base64url goes through OpenSSL's
 * standard-alphabet EVP_EncodeBlock/EVP_DecodeBlock with the two character
 * swaps ('+' <-> '-', '/' <-> '_') and the padding added or taken off here;
 * the decoder's strictness (alphabet, length, canonical last group) is
 * checked on the text first, so no library decoder ever sees input it
 * might mishandle.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/codec.h"
#include "jitgate/error.h"

static const char hex_digits[] = "0123456789abcdef";

int
jg_hex_encode(const void *in, size_t n, char *out, size_t outlen)
{
	const uint8_t *p = in;

	if (outlen == 0)
		return JG_ETOOBIG;
	if (n > (outlen - 1) / 2) {
		out[0] = '\0';
		return JG_ETOOBIG;
	}
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[p[i] >> 4];
		out[2 * i + 1] = hex_digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

/* The value of a lower-case hex digit, or -1. */
static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
jg_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (s == NULL || n > SIZE_MAX / 2 || len != 2 * n)
		return JG_EPARSE;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return JG_EPARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool
jg_hex_lower(const char *s, size_t len, char *out)
{
	if (s == NULL || len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (nibble(c) < 0)
			return false;
		out[i] = c;
	}
	out[len] = '\0';
	return true;
}

void
jg_hex32(const uint8_t in[32], char out[65])
{
	(void)jg_hex_encode(in, 32, out, 65);
}

int
jg_unhex32(const char *in, uint8_t out[32])
{
	return in == NULL ? JG_EPARSE : jg_hex_decode(in, strlen(in), out, 32);
}

int
jg_b64url_encode(const void *in, size_t n, char *out, size_t outlen)
{
	size_t whole = n / 3 * 3, len = JG_B64URL_LEN(n);
	char last[5];

	if (n > JG_CODEC_MAX || outlen < len + 1) {
		if (outlen > 0)
			out[0] = '\0';
		return JG_ETOOBIG;
	}
	/* the whole groups straight into out (4 * n / 3 characters and a NUL) ... */
	if (whole > 0)
		EVP_EncodeBlock((unsigned char *)out, in, (int)whole);
	/* ... and the last 1 or 2 bytes through a group of its own, padding dropped */
	if (n > whole) {
		EVP_EncodeBlock((unsigned char *)last, (const unsigned char *)in + whole,
				(int)(n - whole));
		memcpy(out + whole / 3 * 4, last, n - whole + 1);
	}
	out[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return 0;
}

/* The 6-bit value of a base64url character, or -1. */
static int
sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

bool
jg_b64url_valid(const char *s, size_t len)
{
	if (s == NULL || len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (sextet(s[i]) < 0)
			return false;
	/* canonical: the bits of the last character that carry no byte are zero */
	if (len % 4 == 2)
		return (sextet(s[len - 1]) & 0x0f) == 0;
	if (len % 4 == 3)
		return (sextet(s[len - 1]) & 0x03) == 0;
	return true;
}

int
jg_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t padded, n;
	char *text;
	uint8_t *raw;
	int rc = 0;

	*outlen = 0;
	if (len > JG_CODEC_MAX)
		return JG_ETOOBIG;
	if (!jg_b64url_valid(s, len))
		return JG_EPARSE;
	n = JG_B64URL_DECODED_LEN(len);
	if (n > cap)
		return JG_ETOOBIG;
	if (len == 0)
		return 0;
	/* the standard alphabet with its padding, then EVP_DecodeBlock's whole groups */
	padded = (len + 3) / 4 * 4;
	if ((text = malloc(padded + padded / 4 * 3)) == NULL)
		return JG_ENOMEM;
	raw = (uint8_t *)text + padded;
	for (size_t i = 0; i < padded; i++) {
		if (i >= len)
			text[i] = '=';
		else if (s[i] == '-')
			text[i] = '+';
		else if (s[i] == '_')
			text[i] = '/';
		else
			text[i] = s[i];
	}
	if (EVP_DecodeBlock(raw, (const unsigned char *)text, (int)padded) != (int)(padded / 4 * 3))
		rc = JG_EPARSE;
	else
		memcpy(out, raw, n);
	OPENSSL_cleanse(text, padded + padded / 4 * 3); /* it may have held a secret */
	free(text);
	if (rc == 0)
		*outlen = n;
	return rc;
}
