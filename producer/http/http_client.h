/*
 * The HTTP client the HTTP collectors (kubeapi, kubelet, etcd) share: libcurl for HTTP/1.1 and
 * TLS, jansson for the JSON, json_stream for watch streams.
 *
 * One client talks to one server (base_url) for one collector (label). It makes one request at
 * a time and never retries on its own (except once after a 401 when the token file holds a new
 * token): the collector decides what a failure means (relist, publish SCRAPE_FAILED, ...) and
 * waits http_client_backoff_delay() with http_client_sleep().
 *
 *   TLS   verification on by default: ca_file (else the system store), optional client
 *         certificate and key; insecure_skip_verify is an explicit opt-in, logged at open. curl
 *         reads these files itself, at each new connection.
 *   Token token_file is read at the first request, again when it is a minute old, and at once
 *         after a 401 (projected service-account tokens rotate). The token is sent only in the
 *         Authorization header: never logged, never in an error string or a metric.
 *   Sizes a whole body over max_response_bytes is refused (HTTP_OUTCOME_TOO_LARGE): the
 *         transfer is aborted as the limit is passed (or at once, from Content-Length). In a
 *         stream, one value over max_value_bytes or deeper than max_depth is skipped and
 *         counted; the stream goes on.
 *   Time  connect_timeout_ms for the connection (TCP + TLS); idle_timeout_ms cuts a response
 *         that delivers no byte for that long (watches included); request_timeout_ms bounds a
 *         whole-body request.
 *   Logs  one line per change of state: the first failure, a failure of another kind or status,
 *         and "recovered" after failures; each with the URL (userinfo stripped, never a token).
 *
 * Threading: a client is NOT thread-safe. One thread (the collector's worker) makes its
 * requests and sleeps. Exceptions, safe from any thread while the client is open:
 * http_client_stop() (the event loop at shutdown), http_client_stats() and
 * http_client_render_metrics() (counters are atomics). http_client_close() only after the
 * worker has returned.
 *
 * Connections are kept alive between requests (HTTP/1.1, redirects not followed, proxies from
 * the usual environment variables as curl reads them).
 *
 * Ownership: http_client_open() copies every string of the config (the config may be freed
 * after it returns) and returns a client that http_client_close() frees. Results own nothing
 * except `body`, which the caller releases with json_decref().
 */
#ifndef TAPIO_HTTP_CLIENT_H
#define TAPIO_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "json_stream.h"

#define HTTP_CONNECT_TIMEOUT_MS 10000
#define HTTP_IDLE_TIMEOUT_MS 300000
#define HTTP_REQUEST_TIMEOUT_MS 60000
#define HTTP_MAX_RESPONSE_BYTES (64u << 20)
#define HTTP_MAX_VALUE_BYTES (8u << 20)
#define HTTP_MAX_DEPTH 64
/* A token file older than this is read again before the next request. */
#define HTTP_TOKEN_MAX_AGE_MS 60000
/* Bytes of a token file at most (service-account tokens are about 1 KiB). */
#define HTTP_TOKEN_MAX 16384
#define HTTP_LABEL_MAX 32
#define HTTP_ERROR_MAX 320

/*
 * What a collector configures (its config keys fill these). Strings are borrowed: NULL or ""
 * means unset. http_client_config_defaults() sets the numbers to the defaults above.
 */
struct http_client_config {
	const char *label;          /* collector name: logs and the metrics' collector label;
				     * [a-z0-9_-], 1 to HTTP_LABEL_MAX - 1 bytes */
	const char *base_url;       /* http(s)://host[:port][/prefix]; request paths are appended */
	const char *ca_file;        /* PEM CA bundle; unset = the system store */
	const char *cert_file;      /* PEM client certificate (mutual TLS) */
	const char *key_file;       /* its key; unset = in cert_file */
	const char *token_file;     /* bearer token, re-read as described above */
	bool insecure_skip_verify;  /* no verification of the server's certificate or name */
	uint32_t connect_timeout_ms; /* >= 1 */
	uint32_t idle_timeout_ms;    /* 0 = none */
	uint32_t request_timeout_ms; /* whole-body requests; >= 1 */
	uint64_t max_response_bytes; /* a whole body, >= 1 */
	uint64_t max_value_bytes;    /* one value of a stream, >= 1 */
	uint32_t max_depth;          /* nesting of one value of a stream, >= 1 */
};

enum http_method { HTTP_GET, HTTP_POST };

/* Stream mode: a complete value of the response, borrowed (json_incref() to keep it). Return 0
 * to go on; any other value ends the request at once, and is put in http_result.stop_code. */
typedef int (*http_value_fn)(void *ctx, json_t *value);

/* Stream mode, unparsed: a complete value's `len` bytes (not NUL-terminated, valid during the
 * call), for a collector with a parser of its own, which counts what does not parse. Returns
 * as http_value_fn. */
typedef int (*http_raw_fn)(void *ctx, const char *value, size_t len);

struct http_request {
	enum http_method method;
	const char *path;      /* appended to base_url: "/api/v1/pods?watch=1&..." (borrowed) */
	const char *body;      /* POST body, sent as application/json (borrowed); NULL = none */
	size_t body_len;
	/* NULL: whole mode, the body is one JSON value returned in http_result.body.
	 * Set: stream mode, each top-level value is handed to on_value as it completes. */
	http_value_fn on_value;
	/* Instead of on_value: stream mode, each value's bytes handed over unparsed. */
	http_raw_fn on_raw;
	/* Stream mode, optional: the response's headers arrived with a 2xx status (a watch is
	 * open, though it may say nothing for minutes). */
	void (*on_open)(void *ctx);
	/* Whole mode: the body is not parsed but handed over in http_result.raw. */
	bool raw_body;
	void *ctx;
	/* Total time allowed: 0 = request_timeout_ms in whole mode, no limit in stream mode (the
	 * idle timeout still applies). */
	uint32_t timeout_ms;
};

enum http_outcome {
	HTTP_OUTCOME_OK = 0,    /* a 2xx response, read to its end (or stopped by on_value) */
	HTTP_OUTCOME_HTTP_4XX,  /* the server answered 4xx: see status */
	HTTP_OUTCOME_HTTP_5XX,
	HTTP_OUTCOME_HTTP_OTHER, /* 1xx or 3xx (redirects are not followed) */
	HTTP_OUTCOME_TRANSPORT, /* resolve, connect, send, receive, a cut response */
	HTTP_OUTCOME_TLS,       /* handshake, certificate verification, client certificate */
	HTTP_OUTCOME_TIMEOUT,   /* connect, total or idle timeout */
	HTTP_OUTCOME_TOO_LARGE, /* the whole body exceeded max_response_bytes */
	HTTP_OUTCOME_JSON,      /* the whole body is not one JSON value */
	HTTP_OUTCOME_CANCELLED, /* http_client_stop() */
	HTTP_OUTCOME_SETUP,     /* on our side: token file unreadable, no memory, curl refused */
	HTTP_OUTCOME_MAX
};

struct http_result {
	enum http_outcome outcome;
	long status;            /* HTTP status, 0 when none arrived */
	json_t *body;           /* whole mode with HTTP_OUTCOME_OK: owned by the caller */
	char *raw;              /* whole mode with raw_body and HTTP_OUTCOME_OK: the body's raw_len
				 * bytes and a NUL, owned by the caller (free()) */
	size_t raw_len;
	int stop_code;          /* stream mode: what on_value returned to stop, else 0 */
	uint32_t retry_after_s; /* Retry-After of a 429 or 503 (seconds or HTTP date), else 0 */
	uint64_t bytes;         /* body bytes received */
	uint64_t values;        /* stream mode: values handed to on_value or on_raw */
	uint64_t duration_ms;
	char error[HTTP_ERROR_MAX]; /* why it failed, for humans ("" when OK); never the token */
};

/* Counters, read with atomic loads (any thread). */
struct http_client_stats {
	uint64_t requests[HTTP_OUTCOME_MAX]; /* by outcome, every attempt; cancelled ones (a
					      * shutdown) are not counted */
	uint64_t reconnects;                 /* stream requests after this client's first one */
	uint64_t bytes;                      /* body bytes received */
	uint64_t last_success_s;             /* unix time of the last OK request or streamed
					      * value; 0 = never */
	uint64_t stream_errors[JSON_STREAM_ERROR_MAX]; /* stream values skipped, by reason */
	uint64_t stream_invalid;             /* stream values that are not valid JSON */
};

struct http_client;

/* "ok", "http_4xx", ... for metrics and logs. */
const char *http_outcome_name(enum http_outcome outcome);

/* The defaults; every string unset. */
void http_client_config_defaults(struct http_client_config *cfg);

/* Checks the config and prepares a client (no connection yet); any thread (libcurl's global
 * set-up runs once). 0 with *out set, or -EINVAL (errstr names the field and value) / -ENOMEM /
 * -errno, with *out NULL. Logs a warning for insecure_skip_verify and for a token over http://. */
int http_client_open(const struct http_client_config *cfg, struct http_client **out,
		     char *errstr, size_t errstr_size);

/*
 * One request, waiting until it ends. Returns 0 when the response was read (whatever the
 * outcome: see res->outcome), -ECANCELED after http_client_stop() (outcome CANCELLED), or
 * another -errno with outcome SETUP. In stream mode on_value runs on this thread before this
 * returns; values of a non-2xx response are not handed over (res->error quotes its start).
 */
int http_client_request(struct http_client *c, const struct http_request *req,
			struct http_result *res);

/* How long to wait after the failed request `res` (jittered exponential backoff, Retry-After
 * honoured on 429/503, see backoff.h); advances the backoff. */
uint32_t http_client_backoff_delay(struct http_client *c, const struct http_result *res);

/* Waits ms milliseconds. 0, or -ECANCELED at once when the client is (or gets) stopped. */
int http_client_sleep(struct http_client *c, uint32_t ms);

/* From any thread: cancels the request in flight and any sleep at once (their waits also watch
 * an eventfd this makes readable; only a host name being resolved is waited for, as curl joins
 * its resolver thread); every later request or sleep returns -ECANCELED. Cannot be undone. */
void http_client_stop(struct http_client *c);

bool http_client_stopped(const struct http_client *c);

/* base_url without userinfo, as it appears in logs. */
const char *http_client_url(const struct http_client *c);

/* Worker, between requests: the next requests go to `url` (checked as base_url is at open; a
 * collector with several servers of one service, such as etcd's members, fails over with it).
 * Counters, backoff and TLS settings stay. 0, or -EINVAL / -ENOMEM with errstr set and the URL
 * unchanged. */
int http_client_set_url(struct http_client *c, const char *url, char *errstr, size_t errstr_size);

void http_client_stats(const struct http_client *c, struct http_client_stats *out);

/* Prometheus text for n clients: each family's HELP and TYPE once, then one sample per client
 * (collector="<label>"). Any thread; clients may be NULL (skipped). */
void http_client_render_metrics(struct http_client *const *clients, size_t n, FILE *out);

/* Frees the client (NULL is fine). Not while another thread uses it. */
void http_client_close(struct http_client *c);

#endif /* TAPIO_HTTP_CLIENT_H */
