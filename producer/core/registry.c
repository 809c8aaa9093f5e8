#include "registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The registry's answer, bounded: a schema id or an error object is a few hundred bytes. */
struct reply {
	char body[4096];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct reply *r = userdata;
	size_t n = size * nmemb, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, data, n < room ? n : room);
	r->len += n < room ? n : room;
	r->body[r->len] = '\0';
	return n;
}

int registry_register(const char *url, const char *subject, const char *schema_json,
		      long timeout_ms, int32_t *id, char *errstr, size_t errstr_size)
{
	struct curl_slist *headers = NULL;
	struct reply reply = { .len = 0 };
	json_t *request = NULL, *answer = NULL;
	char *body = NULL, endpoint[2048];
	size_t url_len = strlen(url);
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int err = -EIO;

	/* One '/' between the base URL and the path, however the URL ends. */
	while (url_len > 0 && url[url_len - 1] == '/')
		url_len--;
	snprintf(endpoint, sizeof(endpoint), "%.*s/subjects/%s/versions", (int)url_len, url, subject);

	curl = curl_easy_init();
	request = json_pack("{s:s}", "schema", schema_json);
	body = request ? json_dumps(request, JSON_COMPACT) : NULL;
	headers = curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
	if (!curl || !body || !headers) {
		err = -ENOMEM;
		snprintf(errstr, errstr_size, "schema registry: out of memory");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, endpoint);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		snprintf(errstr, errstr_size, "schema registry %s: %s", endpoint, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	answer = json_loads(reply.body, 0, NULL);
	if (status != 200) {
		const char *message = json_string_value(json_object_get(answer, "message"));

		/* Not a configuration error (exit 2): the registry's answer, exit 1 like any. */
		err = status == 409 || status == 422 ? -EPROTO : -EIO;
		snprintf(errstr, errstr_size, "schema registry %s: HTTP %ld: %s", endpoint, status,
			 message ? message : reply.body);
		goto out;
	}
	if (!json_is_integer(json_object_get(answer, "id")) ||
	    json_integer_value(json_object_get(answer, "id")) < 0 ||
	    json_integer_value(json_object_get(answer, "id")) > INT32_MAX) {
		snprintf(errstr, errstr_size, "schema registry %s: no schema id in the answer: %.200s",
			 endpoint, reply.body);
		goto out;
	}
	*id = (int32_t)json_integer_value(json_object_get(answer, "id"));
	err = 0;
out:
	json_decref(answer);
	json_decref(request);
	free(body);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	return err;
}
