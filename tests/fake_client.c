/* See fake_client.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fake_client.h"

struct text {
	char *data;
	size_t len;
};

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct text *t = arg;
	size_t n = size * nmemb;

	t->data = realloc(t->data, t->len + n + 1);
	ck_assert_ptr_nonnull(t->data);
	memcpy(t->data + t->len, ptr, n);
	t->len += n;
	t->data[t->len] = '\0';
	return n;
}

char *
fake_client_http(const char *url_root, const char *method, const char *path,
                 const char *body, long *status)
{
	struct text t = { NULL, 0 };
	char url[1024];
	CURL *c = curl_easy_init();
	CURLcode cc;

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof(url), "%s%s", url_root, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(c);
	ck_assert_msg(cc == CURLE_OK, "%s %s: %s", method, url,
	              curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	return t.data != NULL ? t.data : strdup("");
}
