/*
 * The HTTP client: one curl easy handle driven through a multi handle, so that the wait for the
 * socket also watches an eventfd that http_client_stop() makes readable: a stop ends the request
 * at once, without polling a flag on a timer.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "0.0.0"
#endif

/* Bytes of a non-2xx body kept for the error string (a Kubernetes Status names the reason). */
#define ERROR_BODY_KEEP 200
/* First size of a whole-body buffer; it doubles up to max_response_bytes. */
#define BODY_FIRST_CAP 16384
#define AUTH_PREFIX "Authorization: Bearer "
/* Longest wait for the socket between two checks of the idle timeout. */
#define POLL_MAX_MS 1000

struct http_client {
	char label[HTTP_LABEL_MAX];
	char *base_url; /* as configured, without a trailing '/' */
	char *log_url;  /* the same without userinfo */
	char *ca_file, *cert_file, *key_file, *token_file;
	bool insecure;
	uint32_t connect_timeout_ms, idle_timeout_ms, request_timeout_ms, max_depth;
	uint64_t max_response_bytes, max_value_bytes;

	CURLM *multi; /* owns the connection cache */
	CURL *easy;
	/* This attempt's TLS handshake carried a CertificateRequest (set by OpenSSL's message
	 * callback, on this thread, inside curl_multi_perform). */
	bool tls_cert_requested;
	int stop_fd;  /* eventfd, readable from http_client_stop() on */
	bool stop;    /* atomic */

	/* "Authorization: Bearer <token>", zeroed before it is freed; NULL until read. */
	char *auth_header;
	int64_t token_read_ms;
	bool token_stale; /* a 401 came: read the file before the next request */

	struct backoff backoff;
	uint64_t rng;
	bool streamed; /* a stream request was made: the next ones are reconnects */

	/* Logging once per change of state. */
	bool failing;
	enum http_outcome fail_outcome;
	long fail_status;
	uint64_t failures;

	/* Counters: written by the worker, read by the event loop (atomics). */
	uint64_t n_requests[HTTP_OUTCOME_MAX];
	uint64_t n_reconnects, n_bytes, last_success_s;
	uint64_t n_stream_errors[JSON_STREAM_ERROR_MAX];
	uint64_t n_stream_invalid;
};

/* One request in flight. */
struct transfer {
	struct http_client *c;
	const struct http_request *req;
	struct http_result *res;
	char errbuf[CURL_ERROR_SIZE];
	long status;          /* from the end of the headers */
	bool status_ok;       /* 2xx */
	bool too_large, stopped, idle, cancelled, no_memory, warned_skip;
	int64_t last_byte_ms; /* monotonic; the idle timeout counts from here */
	char *body;           /* whole mode */
	size_t len, cap;
	char error_body[ERROR_BODY_KEEP + 1];
	size_t error_body_len;
	struct json_stream js; /* stream mode */
};

static const char *const outcome_names[HTTP_OUTCOME_MAX] = {
	[HTTP_OUTCOME_OK] = "ok",
	[HTTP_OUTCOME_HTTP_4XX] = "http_4xx",
	[HTTP_OUTCOME_HTTP_5XX] = "http_5xx",
	[HTTP_OUTCOME_HTTP_OTHER] = "http_other",
	[HTTP_OUTCOME_TRANSPORT] = "transport",
	[HTTP_OUTCOME_TLS] = "tls",
	[HTTP_OUTCOME_TIMEOUT] = "timeout",
	[HTTP_OUTCOME_TOO_LARGE] = "too_large",
	[HTTP_OUTCOME_JSON] = "json",
	[HTTP_OUTCOME_CANCELLED] = "cancelled",
	[HTTP_OUTCOME_SETUP] = "setup",
};

const char *http_outcome_name(enum http_outcome outcome)
{
	return (unsigned)outcome < HTTP_OUTCOME_MAX ? outcome_names[outcome] : "?";
}

static void __attribute__((format(printf, 2, 3)))
set_error(struct http_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

static void mark_success(struct http_client *c)
{
	__atomic_store_n(&c->last_success_s, (uint64_t)time(NULL), __ATOMIC_RELAXED);
}

/* xorshift64*: the backoff's jitter needs spread, not secrecy. */
static uint32_t next_random(struct http_client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_client_config_defaults(struct http_client_config *cfg)
{
	*cfg = (struct http_client_config){
		.connect_timeout_ms = HTTP_CONNECT_TIMEOUT_MS,
		.idle_timeout_ms = HTTP_IDLE_TIMEOUT_MS,
		.request_timeout_ms = HTTP_REQUEST_TIMEOUT_MS,
		.max_response_bytes = HTTP_MAX_RESPONSE_BYTES,
		.max_value_bytes = HTTP_MAX_VALUE_BYTES,
		.max_depth = HTTP_MAX_DEPTH,
	};
}

static bool is_set(const char *s)
{
	return s && s[0];
}

/* strdup of a set string; *dst stays NULL for an unset one. false when out of memory. */
static bool copy_opt(char **dst, const char *src)
{
	*dst = is_set(src) ? strdup(src) : NULL;
	return *dst || !is_set(src);
}

/* url without "user:password@" in its authority. */
static char *strip_userinfo(const char *url)
{
	const char *host = strstr(url, "://"), *end, *at = NULL;
	char *out;

	if (!host)
		return strdup(url);
	host += 3;
	end = host + strcspn(host, "/?#");
	for (const char *p = host; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return strdup(url);
	out = malloc(strlen(url) + 1);
	if (!out)
		return NULL;
	memcpy(out, url, (size_t)(host - url));
	strcpy(out + (host - url), at + 1);
	return out;
}

/* http(s)://host[:port][/prefix], without blanks. */
static bool valid_base_url(const char *url)
{
	const char *host = !is_set(url) ? NULL : strncmp(url, "http://", 7) == 0 ? url + 7 :
			   strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;

	return host && host[0] && host[0] != '/' && !strpbrk(url, " \t\r\n");
}

/* The base URL without its trailing '/' into *base, the same without userinfo into *log.
 * 0 or -ENOMEM (both NULL then). */
static int copy_urls(const char *url, char **base, char **log)
{
	size_t len;

	*log = NULL;
	*base = strdup(url);
	if (!*base)
		return -ENOMEM;
	len = strlen(*base);
	while (len > 0 && (*base)[len - 1] == '/' && (*base)[len - 2] != '/')
		(*base)[--len] = '\0';
	*log = strip_userinfo(*base);
	if (!*log) {
		free(*base);
		*base = NULL;
		return -ENOMEM;
	}
	return 0;
}

static bool valid_label(const char *label)
{
	size_t len = is_set(label) ? strlen(label) : 0;

	if (len == 0 || len >= HTTP_LABEL_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", label[i]))
			return false;
	return true;
}

int http_client_open(const struct http_client_config *cfg, struct http_client **out,
		     char *errstr, size_t errstr_size)
{
	struct http_client *c = NULL;
	const char *url = cfg->base_url;
	int err = -EINVAL;

	*out = NULL;
	if (!valid_label(cfg->label)) {
		snprintf(errstr, errstr_size, "http client label \"%s\": want 1 to %d of "
			 "[a-z0-9_-]", cfg->label ? cfg->label : "", HTTP_LABEL_MAX - 1);
		goto fail;
	}
	if (!valid_base_url(url)) {
		snprintf(errstr, errstr_size, "%s: url \"%s\": want http://host[:port][/path] or "
			 "https://...", cfg->label, url ? url : "");
		goto fail;
	}
	if (cfg->connect_timeout_ms == 0 || cfg->request_timeout_ms == 0 ||
	    cfg->max_response_bytes == 0 || cfg->max_value_bytes == 0 || cfg->max_depth == 0) {
		snprintf(errstr, errstr_size,
			 "%s: connect_timeout_ms, request_timeout_ms, max_response_bytes, "
			 "max_value_bytes and max_depth must be at least 1", cfg->label);
		goto fail;
	}
	if (is_set(cfg->key_file) && !is_set(cfg->cert_file)) {
		snprintf(errstr, errstr_size, "%s: key file \"%s\" without a certificate file",
			 cfg->label, cfg->key_file);
		goto fail;
	}
	pthread_once(&curl_once, curl_init);
	err = -ENOMEM;
	if (curl_init_result != CURLE_OK) {
		snprintf(errstr, errstr_size, "%s: curl_global_init: %s", cfg->label,
			 curl_easy_strerror(curl_init_result));
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->stop_fd = -1;
	snprintf(c->label, sizeof(c->label), "%s", cfg->label);
	if (copy_urls(url, &c->base_url, &c->log_url) ||
	    !copy_opt(&c->ca_file, cfg->ca_file) ||
	    !copy_opt(&c->cert_file, cfg->cert_file) || !copy_opt(&c->key_file, cfg->key_file) ||
	    !copy_opt(&c->token_file, cfg->token_file))
		goto nomem;
	c->insecure = cfg->insecure_skip_verify;
	c->connect_timeout_ms = cfg->connect_timeout_ms;
	c->idle_timeout_ms = cfg->idle_timeout_ms;
	c->request_timeout_ms = cfg->request_timeout_ms;
	c->max_response_bytes = cfg->max_response_bytes;
	c->max_value_bytes = cfg->max_value_bytes;
	c->max_depth = cfg->max_depth;
	backoff_init(&c->backoff);
	if (getrandom(&c->rng, sizeof(c->rng), GRND_NONBLOCK) != sizeof(c->rng))
		c->rng = (uint64_t)clock_ms(CLOCK_MONOTONIC) ^ (uint64_t)getpid() << 32;
	c->rng |= 1;
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->stop_fd < 0) {
		err = -errno;
		snprintf(errstr, errstr_size, "%s: eventfd: %s", c->label, strerror(errno));
		goto fail;
	}
	c->multi = curl_multi_init();
	c->easy = curl_easy_init();
	if (!c->multi || !c->easy)
		goto nomem;
	if (c->insecure && strncmp(url, "https://", 8) == 0)
		log_warn("%s: TLS verification is off for %s (insecure_skip_verify): the server is "
			 "not authenticated", c->label, c->log_url);
	if (c->token_file && strncmp(url, "http://", 7) == 0)
		log_warn("%s: %s is plain HTTP: the bearer token is sent unencrypted", c->label,
			 c->log_url);
	*out = c;
	return 0;
nomem:
	snprintf(errstr, errstr_size, "%s: out of memory", cfg->label);
fail:
	http_client_close(c);
	return err;
}

static void free_auth_header(struct http_client *c)
{
	if (!c->auth_header)
		return;
	explicit_bzero(c->auth_header, strlen(c->auth_header));
	free(c->auth_header);
	c->auth_header = NULL;
}

/* Reads the token file into c->auth_header. Returns 1 when the token changed, 0 when it is the
 * same, -errno with `why` set (never quoting the file's content). */
static int load_token(struct http_client *c, char *why, size_t why_size)
{
	char buf[HTTP_TOKEN_MAX + 1], *header = NULL;
	const char *problem = NULL;
	size_t len = 0, start = 0, prefix_len = strlen(AUTH_PREFIX);
	ssize_t n = 0;
	int fd, err = 0;

	fd = open(c->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0) {
		err = -errno;
		goto out;
	}
	err = -EINVAL;
	if (len == sizeof(buf)) {
		problem = "larger than the 16 KiB a token may have";
		goto out;
	}
	while (len > start && buf[len - 1] && strchr(" \t\r\n", buf[len - 1]))
		len--;
	while (start < len && buf[start] && strchr(" \t", buf[start]))
		start++;
	if (start == len) {
		problem = "empty";
		goto out;
	}
	/* Only visible ASCII goes into a header line. */
	for (size_t i = start; i < len; i++) {
		if (buf[i] < 0x21 || buf[i] > 0x7e) {
			problem = "holds a byte that cannot be in a token";
			goto out;
		}
	}
	err = -ENOMEM;
	header = malloc(prefix_len + len - start + 1);
	if (!header)
		goto out;
	memcpy(header, AUTH_PREFIX, prefix_len);
	memcpy(header + prefix_len, buf + start, len - start);
	header[prefix_len + len - start] = '\0';
	err = !c->auth_header || strcmp(c->auth_header, header) != 0;
	free_auth_header(c);
	c->auth_header = header;
	c->token_read_ms = clock_ms(CLOCK_MONOTONIC);
	c->token_stale = false;
out:
	if (err < 0)
		snprintf(why, why_size, "token file %s: %s", c->token_file,
			 problem ? problem : strerror(-err));
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return err;
}

/* Keeps the network's bytes printable for an error string. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = ' ';
}

static enum http_outcome classify_curl(CURLcode code, const char *errbuf)
{
	switch (code) {
	case CURLE_OK:
		return HTTP_OUTCOME_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_OUTCOME_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_OUTCOME_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return HTTP_OUTCOME_TLS;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 servers refuse a client certificate after the handshake: curl sees the
		 * alert on its first read. */
		return strstr(errbuf, "alert") || strstr(errbuf, "SSL routines") ?
			HTTP_OUTCOME_TLS : HTTP_OUTCOME_TRANSPORT;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return HTTP_OUTCOME_SETUP;
	default:
		return HTTP_OUTCOME_TRANSPORT;
	}
}

/* OpenSSL reports every TLS protocol message of this client's connections here. */
static void on_tls_message(int write_p, int version, int content_type, const void *buf,
			   size_t len, SSL *ssl, void *arg)
{
	struct http_client *c = arg;
	const unsigned char *b = buf;

	(void)version;
	(void)ssl;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    b[0] == SSL3_MT_CERTIFICATE_REQUEST)
		c->tls_cert_requested = true;
}

/* A new TLS connection: watch its handshake. The callback's argument is the client, which
 * outlives every connection of its multi handle. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *client)
{
	(void)easy;
	SSL_CTX_set_msg_callback(ssl_ctx, on_tls_message);
	SSL_CTX_set_msg_callback_arg(ssl_ctx, client);
	return CURLE_OK;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;

	t->last_byte_ms = clock_ms(CLOCK_MONOTONIC);
	/* The blank line ends a header block (interim 1xx blocks too). */
	if (n <= 2 && (data[0] == '\r' || data[0] == '\n')) {
		curl_easy_getinfo(t->c->easy, CURLINFO_RESPONSE_CODE, &t->status);
		t->status_ok = t->status >= 200 && t->status < 300;
		if (t->status_ok) {
			backoff_success(&t->c->backoff, t->last_byte_ms);
			mark_success(t->c);
			if (t->req->on_open)
				t->req->on_open(t->req->ctx);
		}
	}
	return n;
}

static void on_stream_error(void *ctx, enum json_stream_error err)
{
	struct transfer *t = ctx;

	counter_add(&t->c->n_stream_errors[err], 1);
	if (!t->warned_skip)
		log_warn("%s: %s%s: a value of the stream skipped: %s (further ones in this "
			 "response are only counted)", t->c->label, t->c->log_url, t->req->path,
			 json_stream_error_name(err));
	t->warned_skip = true;
}

static bool is_stream(const struct http_request *req)
{
	return req->on_value || req->on_raw;
}

static int on_stream_value(void *ctx, const char *value, size_t len)
{
	struct transfer *t = ctx;
	json_error_t jerr;
	json_t *v;
	int rc;

	if (t->req->on_raw) {
		t->res->values++;
		mark_success(t->c);
		return t->req->on_raw(t->req->ctx, value, len);
	}
	v = json_loadb(value, len, JSON_DECODE_ANY, &jerr);
	if (!v) {
		counter_add(&t->c->n_stream_invalid, 1);
		/* The position only: jansson's text can quote the value. */
		if (!t->warned_skip)
			log_warn("%s: %s%s: a value of the stream skipped: not valid JSON at "
				 "line %d column %d (further ones in this response are only "
				 "counted)", t->c->label, t->c->log_url, t->req->path, jerr.line,
				 jerr.column);
		t->warned_skip = true;
		return 0;
	}
	t->res->values++;
	mark_success(t->c);
	rc = t->req->on_value(t->req->ctx, v);
	json_decref(v);
	return rc;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	struct http_client *c = t->c;
	size_t n = size * nmemb;
	int rc;

	t->last_byte_ms = clock_ms(CLOCK_MONOTONIC);
	t->res->bytes += n;
	counter_add(&c->n_bytes, n);
	if (!t->status_ok) {
		size_t keep = ERROR_BODY_KEEP - t->error_body_len;

		if (keep > n)
			keep = n;
		memcpy(t->error_body + t->error_body_len, data, keep);
		t->error_body_len += keep;
		t->error_body[t->error_body_len] = '\0';
		if (t->res->bytes > c->max_response_bytes) {
			t->too_large = true;
			return 0;
		}
		return n;
	}
	if (is_stream(t->req)) {
		rc = json_stream_feed(&t->js, data, n);
		if (rc) {
			t->res->stop_code = rc;
			t->stopped = true;
			return 0;
		}
		return n;
	}
	if (t->len + n > c->max_response_bytes) {
		t->too_large = true;
		return 0;
	}
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : BODY_FIRST_CAP;
		char *body;

		if (cap > c->max_response_bytes)
			cap = c->max_response_bytes;
		if (cap < t->len + n)
			cap = t->len + n;
		body = realloc(t->body, cap);
		if (!body) {
			t->no_memory = true;
			return 0;
		}
		t->body = body;
		t->cap = cap;
	}
	memcpy(t->body + t->len, data, n);
	t->len += n;
	return n;
}

static bool add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *next = curl_slist_append(*list, line);

	if (next)
		*list = next;
	return next != NULL;
}

/* Sets the options of one attempt. The headers list is the caller's to free, even on failure. */
static int setup(struct transfer *t, const char *url, struct curl_slist **headers)
{
	struct http_client *c = t->c;
	const struct http_request *req = t->req;
	uint32_t timeout_ms = req->timeout_ms;
	CURL *e = c->easy;
	CURLcode rc = CURLE_OK;

	curl_easy_reset(e);
	/* "Expect:" turns off curl's 100-continue round trip for POST bodies. */
	if (!add_header(headers, "Accept: application/json") || !add_header(headers, "Expect:") ||
	    (req->method == HTTP_POST && !add_header(headers, "Content-Type: application/json")) ||
	    (c->auth_header && !add_header(headers, c->auth_header)))
		return -ENOMEM;
	if (!is_stream(req) && timeout_ms == 0)
		timeout_ms = c->request_timeout_ms;
#define SET(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, t->errbuf);
	SET(CURLOPT_USERAGENT, "tapio/" TAPIO_VERSION);
	SET(CURLOPT_HTTPHEADER, *headers);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 10L);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, t);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, t);
	if (!is_stream(req))
		SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_bytes);
	if (req->method == HTTP_POST) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
	}
	if (c->ca_file) {
		SET(CURLOPT_CAINFO, c->ca_file);
		SET(CURLOPT_CAPATH, NULL); /* the configured CA alone, as Kubernetes clients do */
	}
	/* Read the CA file again at each new connection: it may be rotated. */
	SET(CURLOPT_CA_CACHE_TIMEOUT, 0L);
	if (c->cert_file)
		SET(CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		SET(CURLOPT_SSLKEY, c->key_file);
	if (c->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
#undef SET
	/* Only to tell a refused client certificate from a network failure: not fatal when
	 * libcurl's TLS library is not OpenSSL. */
	if (rc == CURLE_OK && curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK)
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c);
	if (rc != CURLE_OK) {
		set_error(t->res, "curl option: %s", curl_easy_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* Drives the transfer until it ends, is stopped, or stays silent past the idle timeout. */
static CURLcode perform(struct transfer *t)
{
	struct http_client *c = t->c;
	struct curl_waitfd stop = { .fd = c->stop_fd, .events = CURL_WAIT_POLLIN };
	CURLcode code = CURLE_OK;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left;

	mc = curl_multi_add_handle(c->multi, c->easy);
	if (mc != CURLM_OK) {
		snprintf(t->errbuf, sizeof(t->errbuf), "%s", curl_multi_strerror(mc));
		return CURLE_FAILED_INIT;
	}
	for (;;) {
		int64_t wait_ms = POLL_MAX_MS;

		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK || !running)
			break;
		if (http_client_stopped(c)) {
			t->cancelled = true;
			break;
		}
		if (c->idle_timeout_ms) {
			int64_t quiet = clock_ms(CLOCK_MONOTONIC) - t->last_byte_ms;

			if (quiet >= c->idle_timeout_ms) {
				t->idle = true;
				break;
			}
			if (c->idle_timeout_ms - quiet < wait_ms)
				wait_ms = c->idle_timeout_ms - quiet;
		}
		mc = curl_multi_poll(c->multi, &stop, 1, (int)wait_ms, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK) {
		snprintf(t->errbuf, sizeof(t->errbuf), "%s", curl_multi_strerror(mc));
		code = CURLE_FAILED_INIT;
	}
	while ((msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			code = msg->data.result;
	curl_multi_remove_handle(c->multi, c->easy);
	return code;
}

/* The jansson message without the "near '...'" that can quote the input. */
static void json_failure(struct http_result *res, const json_error_t *jerr)
{
	char text[JSON_ERROR_TEXT_LENGTH], *near;

	snprintf(text, sizeof(text), "%s", jerr->text);
	near = strstr(text, " near ");
	if (near)
		*near = '\0';
	set_error(res, "invalid JSON at line %d column %d: %s", jerr->line, jerr->column, text);
}

/* Turns what happened into res->outcome and res->error. */
static void conclude(struct transfer *t, CURLcode code)
{
	struct http_client *c = t->c;
	struct http_result *res = t->res;
	curl_off_t retry_after = 0;
	json_error_t jerr;

	if (t->status == 0)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &t->status);
	res->status = t->status;
	if ((t->status == 429 || t->status == 503) &&
	    curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
	    retry_after > 0)
		res->retry_after_s = retry_after > UINT32_MAX ? UINT32_MAX : (uint32_t)retry_after;
	if (t->cancelled) {
		res->outcome = HTTP_OUTCOME_CANCELLED;
		set_error(res, "cancelled");
	} else if (t->idle) {
		res->outcome = HTTP_OUTCOME_TIMEOUT;
		set_error(res, "no byte received for %" PRIu32 " ms (idle timeout)",
			  c->idle_timeout_ms);
	} else if (t->too_large || code == CURLE_FILESIZE_EXCEEDED) {
		res->outcome = HTTP_OUTCOME_TOO_LARGE;
		set_error(res, "response over %" PRIu64 " bytes refused%s", c->max_response_bytes,
			  t->too_large ? "" : " (Content-Length)");
	} else if (t->no_memory) {
		res->outcome = HTTP_OUTCOME_SETUP;
		set_error(res, "out of memory for a %zu-byte body", t->len);
	} else if (t->stopped) {
		res->outcome = HTTP_OUTCOME_OK;
	} else if (code != CURLE_OK) {
		res->outcome = classify_curl(code, t->errbuf);
		set_error(res, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
		/* A TLS 1.3 server checks the client certificate after the handshake and hangs up;
		 * its alert often loses the race with the reset. The CertificateRequest tells. */
		if (res->outcome == HTTP_OUTCOME_TRANSPORT && c->tls_cert_requested &&
		    t->status == 0) {
			size_t len = strlen(res->error);

			res->outcome = HTTP_OUTCOME_TLS;
			snprintf(res->error + len, sizeof(res->error) - len,
				 " (the server asked for a client certificate: %s)", c->cert_file ?
				 "it may have refused the one configured" : "none is configured");
		}
		printable(res->error);
	} else if (!t->status_ok) {
		res->outcome = t->status >= 500 ? HTTP_OUTCOME_HTTP_5XX :
			       t->status >= 400 ? HTTP_OUTCOME_HTTP_4XX : HTTP_OUTCOME_HTTP_OTHER;
		set_error(res, "HTTP %ld%s%s", t->status, t->error_body_len ? ": " : "",
			  t->error_body);
		printable(res->error);
	} else if (is_stream(t->req)) {
		res->outcome = HTTP_OUTCOME_OK;
	} else if (t->req->raw_body) {
		char *raw = realloc(t->body, t->len + 1);

		if (raw) {
			raw[t->len] = '\0';
			res->raw = raw;
			res->raw_len = t->len;
			t->body = NULL;
			res->outcome = HTTP_OUTCOME_OK;
		} else {
			res->outcome = HTTP_OUTCOME_SETUP;
			set_error(res, "out of memory for a %zu-byte body", t->len);
		}
	} else {
		res->body = json_loadb(t->body ? t->body : "", t->len, JSON_DECODE_ANY, &jerr);
		res->outcome = res->body ? HTTP_OUTCOME_OK : HTTP_OUTCOME_JSON;
		if (!res->body)
			json_failure(res, &jerr);
	}
	/* A stream that ended inside a value: count it (the values before it were handed over). */
	if (is_stream(t->req) && t->status_ok && !t->cancelled && !t->stopped) {
		int rc = json_stream_finish(&t->js);

		if (rc) {
			res->stop_code = rc;
			t->stopped = true;
		}
	}
}

/* Logs a change of state: the first failure, another kind of failure, a recovery. */
static void log_change(struct http_client *c, const struct http_request *req,
		       const struct http_result *res)
{
	const char *method = req->method == HTTP_POST ? "POST" : "GET";

	if (res->outcome == HTTP_OUTCOME_CANCELLED)
		return;
	if (res->outcome == HTTP_OUTCOME_OK) {
		if (c->failing)
			log_info("%s: %s %s%s: recovered after %" PRIu64 " failed request%s",
				 c->label, method, c->log_url, req->path, c->failures,
				 c->failures == 1 ? "" : "s");
		c->failing = false;
		c->failures = 0;
		return;
	}
	c->failures++;
	if (c->failing && c->fail_outcome == res->outcome && c->fail_status == res->status)
		return;
	log_warn("%s: %s %s%s: %s: %s (logged again when the failure changes or ends)", c->label,
		 method, c->log_url, req->path, http_outcome_name(res->outcome), res->error);
	c->failing = true;
	c->fail_outcome = res->outcome;
	c->fail_status = res->status;
}

/* A server could echo the token in an error body: never let it reach a log line. */
static void scrub_token(const struct http_client *c, char *error)
{
	const char *token = c->auth_header ? c->auth_header + strlen(AUTH_PREFIX) : NULL;
	size_t len = token ? strlen(token) : 0;

	for (char *p = error; len && (p = strstr(p, token)); p += len)
		memset(p, '*', len);
}

/* One attempt: 0, or -errno when it could not be made (outcome SETUP or CANCELLED). */
static int attempt(struct http_client *c, const struct http_request *req, const char *url,
		   struct http_result *res)
{
	struct transfer t = { .c = c, .req = req, .res = res };
	struct curl_slist *headers = NULL;
	int64_t start = clock_ms(CLOCK_MONOTONIC);
	CURLcode code;
	int err = 0;

	*res = (struct http_result){ 0 };
	c->tls_cert_requested = false;
	if (http_client_stopped(c)) {
		res->outcome = HTTP_OUTCOME_CANCELLED;
		set_error(res, "cancelled");
		return -ECANCELED;
	}
	if (c->token_file && (!c->auth_header || c->token_stale ||
			      start - c->token_read_ms >= HTTP_TOKEN_MAX_AGE_MS)) {
		err = load_token(c, res->error, sizeof(res->error));
		if (err < 0) {
			res->outcome = HTTP_OUTCOME_SETUP;
			goto out;
		}
		err = 0;
	}
	if (is_stream(req)) {
		json_stream_init(&t.js, c->max_value_bytes, c->max_depth, on_stream_value,
				 on_stream_error, &t);
		if (c->streamed)
			counter_add(&c->n_reconnects, 1);
		c->streamed = true;
	}
	t.last_byte_ms = start;
	err = setup(&t, url, &headers);
	if (err < 0) {
		res->outcome = HTTP_OUTCOME_SETUP;
		if (!res->error[0])
			set_error(res, "out of memory");
		goto out;
	}
	code = perform(&t);
	conclude(&t, code);
	if (res->outcome == HTTP_OUTCOME_CANCELLED)
		err = -ECANCELED;
	if (res->outcome == HTTP_OUTCOME_OK)
		mark_success(c);
	if (res->status == 401 && c->token_file)
		c->token_stale = true;
out:
	scrub_token(c, res->error);
	res->duration_ms = (uint64_t)(clock_ms(CLOCK_MONOTONIC) - start);
	if (res->outcome != HTTP_OUTCOME_CANCELLED)
		counter_add(&c->n_requests[res->outcome], 1);
	for (struct curl_slist *h = headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data)); /* the token's copy */
	curl_slist_free_all(headers);
	json_stream_free(&t.js);
	free(t.body);
	return err;
}

int http_client_request(struct http_client *c, const struct http_request *req,
			struct http_result *res)
{
	char *url = NULL, why[HTTP_ERROR_MAX];
	int err;

	if (!req->path || req->path[0] != '/') {
		*res = (struct http_result){ .outcome = HTTP_OUTCOME_SETUP };
		set_error(res, "request path must start with '/'");
		return -EINVAL;
	}
	if (asprintf(&url, "%s%s", c->base_url, req->path) < 0) {
		*res = (struct http_result){ .outcome = HTTP_OUTCOME_SETUP };
		set_error(res, "out of memory");
		return -ENOMEM;
	}
	err = attempt(c, req, url, res);
	/* A 401 with a token file: a rotated token may be waiting there. Read it now, and ask
	 * again at once if it changed. */
	if (err == 0 && res->status == 401 && c->token_file &&
	    load_token(c, why, sizeof(why)) == 1) {
		log_info("%s: %s%s: 401 Unauthorized, the token file holds a new token: retrying",
			 c->label, c->log_url, req->path);
		err = attempt(c, req, url, res);
	}
	log_change(c, req, res);
	free(url);
	return err;
}

uint32_t http_client_backoff_delay(struct http_client *c, const struct http_result *res)
{
	uint32_t retry_after = res->status == 429 || res->status == 503 ? res->retry_after_s : 0;

	return backoff_failure(&c->backoff, clock_ms(CLOCK_MONOTONIC), next_random(c), retry_after);
}

int http_client_sleep(struct http_client *c, uint32_t ms)
{
	int64_t deadline = clock_ms(CLOCK_MONOTONIC) + ms;
	struct pollfd pfd = { .fd = c->stop_fd, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);

		if (http_client_stopped(c))
			return -ECANCELED;
		if (left <= 0)
			return 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
	}
}

void http_client_stop(struct http_client *c)
{
	uint64_t one = 1;

	__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
	/* The eventfd stays readable: every later wait ends at once. */
	if (write(c->stop_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("%s: stop: eventfd write: %s", c->label, strerror(errno));
}

bool http_client_stopped(const struct http_client *c)
{
	return __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
}

const char *http_client_url(const struct http_client *c)
{
	return c->log_url;
}

int http_client_set_url(struct http_client *c, const char *url, char *errstr, size_t errstr_size)
{
	char *base, *log;

	if (!valid_base_url(url)) {
		snprintf(errstr, errstr_size, "%s: url \"%s\": want http://host[:port][/path] or "
			 "https://...", c->label, url ? url : "");
		return -EINVAL;
	}
	if (copy_urls(url, &base, &log)) {
		snprintf(errstr, errstr_size, "%s: out of memory", c->label);
		return -ENOMEM;
	}
	free(c->base_url);
	free(c->log_url);
	c->base_url = base;
	c->log_url = log;
	return 0;
}

void http_client_stats(const struct http_client *c, struct http_client_stats *out)
{
	for (int i = 0; i < HTTP_OUTCOME_MAX; i++)
		out->requests[i] = counter_load(&c->n_requests[i]);
	for (int i = 0; i < JSON_STREAM_ERROR_MAX; i++)
		out->stream_errors[i] = counter_load(&c->n_stream_errors[i]);
	out->reconnects = counter_load(&c->n_reconnects);
	out->bytes = counter_load(&c->n_bytes);
	out->last_success_s = counter_load(&c->last_success_s);
	out->stream_invalid = counter_load(&c->n_stream_invalid);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{collector="<label>"[,key="value"]} n. Labels and values are ours: [a-z0-9_-]. */
static void sample(FILE *out, const char *name, const struct http_client *c, const char *key,
		   const char *value, uint64_t n)
{
	fprintf(out, "%s{collector=\"%s\"", name, c->label);
	if (key)
		fprintf(out, ",%s=\"%s\"", key, value);
	fprintf(out, "} %" PRIu64 "\n", n);
}

void http_client_render_metrics(struct http_client *const *clients, size_t n, FILE *out)
{
	struct http_client_stats *st = calloc(n ? n : 1, sizeof(*st));
	const char *name;

	if (!st)
		return;
	for (size_t i = 0; i < n; i++)
		if (clients[i])
			http_client_stats(clients[i], &st[i]);
#define EACH for (size_t i = 0; i < n; i++) if (clients[i])
	name = "tapio_http_requests_total";
	family(out, name, "counter", "HTTP requests of the collector, by outcome (every attempt).");
	EACH for (int o = 0; o < HTTP_OUTCOME_MAX; o++)
		if (o != HTTP_OUTCOME_CANCELLED) /* a shutdown, not the server's doing */
			sample(out, name, clients[i], "outcome", outcome_names[o],
			       st[i].requests[o]);
	name = "tapio_http_reconnects_total";
	family(out, name, "counter",
	       "Streaming requests (watches) started again after the collector's first.");
	EACH sample(out, name, clients[i], NULL, NULL, st[i].reconnects);
	name = "tapio_http_received_bytes_total";
	family(out, name, "counter", "Response body bytes received.");
	EACH sample(out, name, clients[i], NULL, NULL, st[i].bytes);
	name = "tapio_http_last_success_timestamp_seconds";
	family(out, name, "gauge",
	       "Unix time of the last successful request or streamed value; 0 = never.");
	EACH sample(out, name, clients[i], NULL, NULL, st[i].last_success_s);
	name = "tapio_http_stream_values_skipped_total";
	family(out, name, "counter", "Values of a streamed response skipped, by reason.");
	EACH {
		for (int r = 0; r < JSON_STREAM_ERROR_MAX; r++)
			sample(out, name, clients[i], "reason", json_stream_error_name(r),
			       st[i].stream_errors[r]);
		sample(out, name, clients[i], "reason", "invalid_json", st[i].stream_invalid);
	}
	name = "tapio_http_insecure_skip_verify";
	family(out, name, "gauge", "1 when the server's TLS certificate is not verified.");
	EACH sample(out, name, clients[i], NULL, NULL, clients[i]->insecure);
#undef EACH
	free(st);
}

void http_client_close(struct http_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	free_auth_header(c);
	free(c->base_url);
	free(c->log_url);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->token_file);
	free(c);
}
