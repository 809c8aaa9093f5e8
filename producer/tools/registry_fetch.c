/* Schema Registry: a schema by its id (see registry_fetch.h). */
#include "registry_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A schema is a few KiB; an answer larger than this is refused. */
#define MAX_ANSWER (4u << 20)

struct answer {
	char *body;
	size_t len;
	bool too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;
	char *p;

	if (a->too_large || a->len + n > MAX_ANSWER) {
		a->too_large = true;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (!(p = realloc(a->body, a->len + n + 1)))
		return 0;
	memcpy(p + a->len, data, n);
	a->body = p;
	a->len += n;
	a->body[a->len] = '\0';
	return n;
}

int registry_fetch_schema(const char *url, int32_t id, long timeout_ms, char **schema,
			  char *errstr, size_t errstr_size)
{
	struct answer a = { 0 };
	size_t url_len = strlen(url);
	const char *text, *type;
	char endpoint[2048];
	json_t *j = NULL;
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int err = -EIO;

	while (url_len > 0 && url[url_len - 1] == '/')
		url_len--;
	snprintf(endpoint, sizeof(endpoint), "%.*s/schemas/ids/%" PRId32, (int)url_len, url, id);
	if (!(curl = curl_easy_init())) {
		snprintf(errstr, errstr_size, "schema registry: out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(curl, CURLOPT_URL, endpoint);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		snprintf(errstr, errstr_size, "schema registry %s: %s", endpoint,
			 a.too_large ? "answer larger than 4 MiB" : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	j = a.body ? json_loads(a.body, 0, NULL) : NULL;
	if (status != 200) {
		const char *message = json_string_value(json_object_get(j, "message"));

		err = status == 404 ? -ENOENT : -EIO;
		snprintf(errstr, errstr_size, "schema registry %s: HTTP %ld: %.200s", endpoint, status,
			 message ? message : a.body ? a.body : "");
		goto out;
	}
	err = -EINVAL;
	type = json_string_value(json_object_get(j, "schemaType"));
	if (type && strcmp(type, "AVRO")) {
		snprintf(errstr, errstr_size, "schema registry %s: schema %" PRId32 " is %.20s, not "
			 "Avro", endpoint, id, type);
		goto out;
	}
	if (!(text = json_string_value(json_object_get(j, "schema")))) {
		snprintf(errstr, errstr_size, "schema registry %s: no \"schema\" in the answer: "
			 "%.200s", endpoint, a.body ? a.body : "");
		goto out;
	}
	if (!(*schema = strdup(text))) {
		err = -ENOMEM;
		snprintf(errstr, errstr_size, "schema registry: out of memory");
		goto out;
	}
	err = 0;
out:
	json_decref(j);
	free(a.body);
	curl_easy_cleanup(curl);
	return err;
}
