/*
 * A burst of puts into etcd through its JSON gateway, as fast as etcd accepts them: `concurrency`
 * requests in flight on keep-alive connections (libcurl multi), keys <prefix><i>, values of
 * `value_bytes` bytes. Prints key=value lines: puts acknowledged, failed ones, the wall time and
 * the rate etcd accepted them at.
 *
 *   etcdburst URL COUNT [CONCURRENCY] [VALUE_BYTES] [KEY_PREFIX]
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONCURRENCY 256

struct slot {
	CURL *easy;
	char body[65536];
	long n;
};

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64(const unsigned char *in, size_t n, char *out)
{
	char *o = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	return (size_t)(o - out);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct slot slots[MAX_CONCURRENCY];
	static char value64[43700], key[256], key64[400];
	static unsigned char value[32768];
	long count, conc, value_bytes, next = 0, done = 0, failed = 0;
	const char *prefix;
	char url[512];
	CURLM *multi;
	double t0, t1;
	int running;

	if (argc < 3) {
		fprintf(stderr, "usage: %s URL COUNT [CONCURRENCY] [VALUE_BYTES] [KEY_PREFIX]\n",
			argv[0]);
		return 2;
	}
	count = atol(argv[2]);
	conc = argc > 3 ? atol(argv[3]) : 32;
	value_bytes = argc > 4 ? atol(argv[4]) : 1024;
	prefix = argc > 5 ? argv[5] : "/registry/bench/";
	if (count < 1 || conc < 1 || conc > MAX_CONCURRENCY || value_bytes < 0 ||
	    value_bytes > (long)sizeof(value)) {
		fprintf(stderr, "etcdburst: bad arguments\n");
		return 2;
	}
	snprintf(url, sizeof(url), "%s/v3/kv/put", argv[1]);
	memset(value, 'v', (size_t)value_bytes);
	b64(value, (size_t)value_bytes, value64);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conc);
	t0 = now_s();
	for (long i = 0; i < conc && next < count; i++) {
		slots[i].easy = curl_easy_init();
		curl_easy_setopt(slots[i].easy, CURLOPT_URL, url);
		curl_easy_setopt(slots[i].easy, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
		slots[i].n = -1;
	}
	do {
		CURLMsg *msg;
		int left;

		for (long i = 0; i < conc; i++) {
			struct slot *s = &slots[i];
			int len;

			if (!s->easy || s->n >= 0 || next >= count)
				continue;
			s->n = next++;
			snprintf(key, sizeof(key), "%s%ld", prefix, s->n);
			b64((const unsigned char *)key, strlen(key), key64);
			len = snprintf(s->body, sizeof(s->body),
				       "{\"key\":\"%s\",\"value\":\"%s\"}", key64, value64);
			curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
			curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)len);
			curl_multi_add_handle(multi, s->easy);
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct slot *s;
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result == CURLE_OK && status == 200)
				done++;
			else
				failed++;
			curl_multi_remove_handle(multi, s->easy);
			s->n = -1;
		}
		if (done + failed < count)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (done + failed < count);
	t1 = now_s();
	printf("puts=%ld\nfailed=%ld\nseconds=%.3f\nrate=%.0f\n", done, failed, t1 - t0,
	       done / (t1 - t0));
	for (long i = 0; i < conc; i++)
		if (slots[i].easy)
			curl_easy_cleanup(slots[i].easy);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
