/*
 * The HTTP client (producer/http/http_client.c) against a real local server
 * (tests/http_test_server.py: plain, TLS, TLS with client certificates, made with openssl at test
 * time), and the backoff (producer/http/backoff.c) exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "backoff.h"
#include "http_client.h"

#define SERVER "tests/http_test_server.py"
#define PYTHON "/usr/bin/python3"

struct server {
	pid_t pid;
	int stdin_fd; /* closing it ends the server */
	int port;
};

static char tmpdir[64];
static char client_token[128], server_token[128];
static struct server plain, tls, tls_client_auth;
static char plain_url[64], tls_url[64], mtls_url[64];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void path_in_tmp(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *f;

	/* Atomically, as the kubelet swaps a projected token. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static int run_wait(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts the server with extra arguments and reads "port=N" from it (10 s at most). */
static int start_server(struct server *s, const char *a1, const char *a2, const char *a3,
			const char *a4, const char *a5)
{
	char *argv[] = { PYTHON, SERVER, "serve", (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			 (char *)a5, NULL };
	int in[2], out[2];
	char line[64];
	size_t len = 0;
	int64_t deadline = now_ms() + 10000;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	s->pid = fork();
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(PYTHON, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->stdin_fd = in[1];
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		struct pollfd pfd = { .fd = out[0], .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			break;
		n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	close(out[0]);
	return sscanf(line, "port=%d", &s->port) == 1 ? 0 : -1;
}

static void stop_server(struct server *s)
{
	if (s->pid <= 0)
		return;
	close(s->stdin_fd);
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static int group_setup(void **state)
{
	char certs[96], server_token_path[96];
	char *make_certs[] = { PYTHON, SERVER, "certs", certs, NULL };

	(void)state;
	strcpy(tmpdir, "/tmp/tapio-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	path_in_tmp(certs, sizeof(certs), "certs");
	if (run_wait(make_certs) != 0) {
		fprintf(stderr, "making test certificates with openssl failed\n");
		return -1;
	}
	path_in_tmp(client_token, sizeof(client_token), "client-token");
	path_in_tmp(server_token, sizeof(server_token), "server-token");
	write_file(client_token, "token-A-5f1d2c\n");
	write_file(server_token, "token-A-5f1d2c\n");
	strcpy(server_token_path, server_token);
	if (start_server(&plain, "--token-file", server_token_path, NULL, NULL, NULL) ||
	    start_server(&tls, "--tls", certs, NULL, NULL, NULL) ||
	    start_server(&tls_client_auth, "--tls", certs, "--client-auth", NULL, NULL)) {
		fprintf(stderr, "starting %s failed\n", SERVER);
		return -1;
	}
	snprintf(plain_url, sizeof(plain_url), "http://127.0.0.1:%d", plain.port);
	snprintf(tls_url, sizeof(tls_url), "https://127.0.0.1:%d", tls.port);
	snprintf(mtls_url, sizeof(mtls_url), "https://127.0.0.1:%d", tls_client_auth.port);
	return 0;
}

static int group_teardown(void **state)
{
	char *rm[] = { "/bin/rm", "-rf", tmpdir, NULL };

	(void)state;
	stop_server(&plain);
	stop_server(&tls);
	stop_server(&tls_client_auth);
	run_wait(rm);
	return 0;
}

/* stderr into a file while requests run, so the log lines can be checked. */
static int saved_stderr = -1;
static char log_path[128];

static void capture_begin(void)
{
	int fd;

	path_in_tmp(log_path, sizeof(log_path), "log");
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved_stderr >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
}

/* Restores stderr and returns what was logged (malloc'd). */
static char *capture_end(void)
{
	FILE *f;
	char *text = calloc(1, 65536);

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	f = fopen(log_path, "r");
	assert_non_null(f);
	assert_non_null(text);
	fread(text, 1, 65535, f);
	fclose(f);
	return text;
}

/* After each test: a test that failed while stderr was captured gets it back, and what was
 * captured (cmocka's failure message included) is shown. */
static int restore_stderr(void **state)
{
	char *text;

	(void)state;
	if (saved_stderr < 0)
		return 0;
	text = capture_end();
	fputs(text, stderr);
	free(text);
	return 0;
}

static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void config_for(struct http_client_config *cfg, const char *label, const char *url)
{
	http_client_config_defaults(cfg);
	cfg->label = label;
	cfg->base_url = url;
}

static struct http_client *open_client(const struct http_client_config *cfg)
{
	struct http_client *c = NULL;
	char err[256];

	if (http_client_open(cfg, &c, err, sizeof(err)) != 0)
		fail_msg("http_client_open: %s", err);
	return c;
}

static int get(struct http_client *c, const char *path, struct http_result *res)
{
	struct http_request req = { .method = HTTP_GET, .path = path };

	return http_client_request(c, &req, res);
}

/* What a streamed request handed over. */
struct collected {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	json_t *values;  /* array */
	int stop_after;  /* return stop_code after this many values; 0 = never */
	int stop_code;
	bool done;       /* the request returned (cancel test) */
	int opened;      /* on_open calls */
};

static void collected_init(struct collected *col)
{
	*col = (struct collected){ .values = json_array() };
	pthread_mutex_init(&col->lock, NULL);
	pthread_cond_init(&col->changed, NULL);
}

static void collected_free(struct collected *col)
{
	json_decref(col->values);
	pthread_mutex_destroy(&col->lock);
	pthread_cond_destroy(&col->changed);
}

static int collect(void *ctx, json_t *value)
{
	struct collected *col = ctx;
	size_t n;

	pthread_mutex_lock(&col->lock);
	json_array_append(col->values, value);
	n = json_array_size(col->values);
	pthread_cond_broadcast(&col->changed);
	pthread_mutex_unlock(&col->lock);
	return col->stop_after && (int)n == col->stop_after ? col->stop_code : 0;
}

/* Waits (10 s at most) until pred(col) holds. */
static bool wait_for(struct collected *col, bool (*pred)(struct collected *))
{
	struct timespec deadline;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&col->lock);
	while (!(ok = pred(col)))
		if (pthread_cond_timedwait(&col->changed, &col->lock, &deadline) == ETIMEDOUT)
			break;
	ok = pred(col);
	pthread_mutex_unlock(&col->lock);
	return ok;
}

static void assert_json(const json_t *got, const char *want_text)
{
	json_error_t jerr;
	json_t *want = json_loads(want_text, 0, &jerr);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("got %s\nwant %s", g, want_text);
	}
	json_decref(want);
}

/* --- backoff --- */

static void test_backoff_doubles_to_max(void **state)
{
	static const uint32_t want[] = { 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000 };
	struct backoff b;

	(void)state;
	backoff_init(&b);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_failure(&b, (int64_t)i * 1000, 0, 0), want[i]);
	/* The jitter takes off up to 20 %: (0.8 × base, base]. */
	backoff_init(&b);
	assert_int_equal(backoff_failure(&b, 0, UINT32_MAX, 0), 800 - 159);
	assert_int_equal(backoff_failure(&b, 0, 1u << 31, 0), 1600 - 160);
	assert_int_equal(backoff_failure(&b, 0, 1u << 30, 0), 3200 - 160);
}

static void test_backoff_resets_after_two_healthy_minutes(void **state)
{
	struct backoff b;

	(void)state;
	backoff_init(&b);
	for (int i = 0; i < 5; i++)
		backoff_failure(&b, 0, 0, 0);
	assert_int_equal(b.base_ms, 25600);
	/* Healthy from 10 s (a second success does not move the start), failing 1 ms short of
	 * two minutes later: the base keeps growing. */
	backoff_success(&b, 10000);
	backoff_success(&b, 50000);
	assert_int_equal(backoff_failure(&b, 10000 + 119999, 0, 0), 25600);
	/* A failure cleared the healthy stretch: two minutes from the next success. */
	backoff_success(&b, 200000);
	assert_int_equal(backoff_failure(&b, 320000, 0, 0), 800);
	assert_int_equal(backoff_failure(&b, 320001, 0, 0), 1600);
	/* No success in between: no reset however long ago. */
	assert_int_equal(backoff_failure(&b, 10000000, 0, 0), 3200);
}

static void test_backoff_retry_after(void **state)
{
	struct backoff b;

	(void)state;
	backoff_init(&b);
	assert_int_equal(backoff_failure(&b, 0, 0, 7), 7000);      /* longer than 800 */
	assert_int_equal(backoff_failure(&b, 0, 0, 1), 1600);      /* shorter than the base */
	assert_int_equal(backoff_failure(&b, 0, 0, 86400), 300000); /* capped at 5 min */
	assert_int_equal(b.base_ms, 6400);                         /* the base advanced */
}

/* --- client --- */

static void test_open_refuses_bad_config(void **state)
{
	struct http_client_config cfg;
	struct http_client *c = (struct http_client *)1;
	char err[256];

	(void)state;
	config_for(&cfg, "Kube API", plain_url);
	assert_int_equal(http_client_open(&cfg, &c, err, sizeof(err)), -EINVAL);
	assert_null(c);
	assert_non_null(strstr(err, "label \"Kube API\""));
	config_for(&cfg, "kubeapi", "ftp://127.0.0.1/");
	assert_int_equal(http_client_open(&cfg, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "url \"ftp://127.0.0.1/\""));
	config_for(&cfg, "kubeapi", "https://");
	assert_int_equal(http_client_open(&cfg, &c, err, sizeof(err)), -EINVAL);
	config_for(&cfg, "etcd", tls_url);
	cfg.key_file = "/etc/kubernetes/pki/etcd/peer.key";
	assert_int_equal(http_client_open(&cfg, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key file \"/etc/kubernetes/pki/etcd/peer.key\""));
	config_for(&cfg, "kubelet", plain_url);
	cfg.max_response_bytes = 0;
	assert_int_equal(http_client_open(&cfg, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_response_bytes"));
}

static void test_plain_whole_body(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_client_stats st;

	(void)state;
	config_for(&cfg, "kubelet", plain_url);
	c = open_client(&cfg);
	assert_int_equal(get(c, "/json", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.error, "");
	assert_json(res.body, "{\"kind\":\"PodList\",\"items\":[{\"n\":1},{\"n\":2}],"
			      "\"metadata\":{\"resourceVersion\":\"100\"}}");
	/* What Python's json.dumps sent, byte for byte. */
	assert_int_equal(res.bytes, strlen("{\"kind\": \"PodList\", \"items\": "
					   "[{\"n\": 1}, {\"n\": 2}], \"metadata\": "
					   "{\"resourceVersion\": \"100\"}}"));
	json_decref(res.body);
	http_client_stats(c, &st);
	assert_int_equal(st.requests[HTTP_OUTCOME_OK], 1);
	assert_int_equal(st.bytes, res.bytes);
	assert_true(st.last_success_s >= (uint64_t)time(NULL) - 60);
	/* A body that is not JSON. */
	assert_int_equal(get(c, "/notjson", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_JSON);
	assert_null(res.body);
	assert_non_null(strstr(res.error, "invalid JSON"));
	http_client_close(c);
}

static void test_status_classes_and_log_once_per_change(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	char *log;

	(void)state;
	config_for(&cfg, "kubelet", plain_url);
	c = open_client(&cfg);
	capture_begin();
	for (int i = 0; i < 3; i++) {
		get(c, "/status/500", &res);
		assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_5XX);
	}
	get(c, "/status/404", &res);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_4XX);
	get(c, "/status/302", &res);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_OTHER);
	get(c, "/json", &res);
	log = capture_end();
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	json_decref(res.body);
	/* One line per change: 500, then 404, then 302, then the recovery. */
	assert_int_equal(count_lines_with(log, "kubelet: GET"), 4);
	assert_int_equal(count_lines_with(log, "/status/500: http_5xx: HTTP 500: "), 1);
	assert_non_null(strstr(log, "status 500 as asked"));
	assert_int_equal(count_lines_with(log, "/status/404: http_4xx: HTTP 404"), 1);
	assert_int_equal(count_lines_with(log, "/status/302: http_other: HTTP 302"), 1);
	assert_int_equal(count_lines_with(log, "/json: recovered after 5 failed requests"), 1);
	free(log);
	http_client_close(c);
}

static void test_connect_refused(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	char url[64], shown[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* A port that was free a moment ago: nothing listens there. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://user:secret@127.0.0.1:%d/", ntohs(sa.sin_port));
	config_for(&cfg, "etcd", url);
	c = open_client(&cfg);
	snprintf(shown, sizeof(shown), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	assert_string_equal(http_client_url(c), shown); /* no userinfo in logs */
	capture_begin();
	assert_int_equal(get(c, "/v3/kv/range", &res), 0);
	free(capture_end());
	assert_int_equal(res.outcome, HTTP_OUTCOME_TRANSPORT);
	assert_int_equal(res.status, 0);
	assert_true(res.error[0] != '\0');
	assert_null(strstr(res.error, "secret"));
	http_client_close(c);
}

/* The outcome of GET /json on the TLS server with this CA file (NULL: the system store). */
static enum http_outcome tls_get(const char *ca_file, bool insecure, struct http_result *res)
{
	struct http_client_config cfg;
	struct http_client *c;

	config_for(&cfg, "kubeapi", tls_url);
	cfg.ca_file = ca_file;
	cfg.insecure_skip_verify = insecure;
	capture_begin();
	c = open_client(&cfg);
	get(c, "/json", res);
	free(capture_end());
	json_decref(res->body);
	http_client_close(c);
	return res->outcome;
}

static void test_tls_verification(void **state)
{
	struct http_result res;
	char ca[128], other_ca[128];

	(void)state;
	path_in_tmp(ca, sizeof(ca), "certs/ca.pem");
	path_in_tmp(other_ca, sizeof(other_ca), "certs/other-ca.pem");
	assert_int_equal(tls_get(ca, false, &res), HTTP_OUTCOME_OK);
	assert_int_equal(res.status, 200);
	/* Another CA, or none (the system store): verification is on by default. */
	assert_int_equal(tls_get(other_ca, false, &res), HTTP_OUTCOME_TLS);
	assert_non_null(strstr(res.error, "certificate"));
	assert_int_equal(res.status, 0);
	assert_int_equal(tls_get(NULL, false, &res), HTTP_OUTCOME_TLS);
	/* The explicit opt-out. */
	assert_int_equal(tls_get(NULL, true, &res), HTTP_OUTCOME_OK);
}

static void test_client_certificate(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	char ca[128], cert[128], key[128];

	(void)state;
	path_in_tmp(ca, sizeof(ca), "certs/ca.pem");
	path_in_tmp(cert, sizeof(cert), "certs/client.pem");
	path_in_tmp(key, sizeof(key), "certs/client.key");
	config_for(&cfg, "etcd", mtls_url);
	cfg.ca_file = ca;
	c = open_client(&cfg);
	capture_begin();
	get(c, "/json", &res);
	free(capture_end());
	/* The alert, or (when it lost the race with the server's hang-up) our reading of the
	 * handshake, names the missing certificate. */
	assert_int_equal(res.outcome, HTTP_OUTCOME_TLS);
	assert_true(strstr(res.error, "alert certificate required") ||
		    strstr(res.error, "asked for a client certificate: none is configured"));
	http_client_close(c);
	cfg.cert_file = cert;
	cfg.key_file = key;
	c = open_client(&cfg);
	assert_int_equal(get(c, "/json", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	json_decref(res.body);
	http_client_close(c);
}

static void test_token_rotation(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_client_stats st;
	char *log, *metrics = NULL;
	size_t metrics_len;
	FILE *out;

	(void)state;
	config_for(&cfg, "kubeapi", plain_url);
	cfg.token_file = client_token;
	capture_begin();
	c = open_client(&cfg);
	assert_int_equal(get(c, "/auth", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	json_decref(res.body);
	/* Rotated: the old token gets a 401, the client reads the file at once and succeeds. */
	write_file(client_token, "token-B-91ac07\n");
	write_file(server_token, "token-B-91ac07\n");
	assert_int_equal(get(c, "/auth", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(res.status, 200);
	json_decref(res.body);
	http_client_stats(c, &st);
	assert_int_equal(st.requests[HTTP_OUTCOME_HTTP_4XX], 1);
	assert_int_equal(st.requests[HTTP_OUTCOME_OK], 2);
	/* Not read again within a minute without a 401: the cached token B is still sent. */
	write_file(client_token, "token-C-33e2b4\n");
	assert_int_equal(get(c, "/auth", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	json_decref(res.body);
	/* The server wants a token the file does not hold: B, then C after the re-read, fail. */
	write_file(server_token, "token-D-0d9f61\n");
	assert_int_equal(get(c, "/auth", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_4XX);
	assert_int_equal(res.status, 401);
	http_client_stats(c, &st);
	assert_int_equal(st.requests[HTTP_OUTCOME_HTTP_4XX], 3);
	/* An unreadable token file fails the request on our side. */
	unlink(client_token);
	assert_int_equal(get(c, "/auth", &res), -ENOENT);
	assert_int_equal(res.outcome, HTTP_OUTCOME_SETUP);
	assert_non_null(strstr(res.error, "client-token"));
	log = capture_end();
	assert_non_null(strstr(log, "new token: retrying"));
	out = open_memstream(&metrics, &metrics_len);
	http_client_render_metrics(&c, 1, out);
	fclose(out);
	/* The tokens appear in no log line, error string or metric. */
	for (const char *t = "ABCD"; *t; t++) {
		char marker[16];

		snprintf(marker, sizeof(marker), "token-%c", *t);
		assert_null(strstr(log, marker));
		assert_null(strstr(metrics, marker));
		assert_null(strstr(res.error, marker));
	}
	free(log);
	free(metrics);
	write_file(client_token, "token-A-5f1d2c\n");
	write_file(server_token, "token-A-5f1d2c\n");
	http_client_close(c);
}

static void test_retry_after(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;

	(void)state;
	config_for(&cfg, "kubeapi", plain_url);
	c = open_client(&cfg);
	capture_begin();
	assert_int_equal(get(c, "/retry-after", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_4XX);
	assert_int_equal(res.status, 429);
	assert_int_equal(res.retry_after_s, 7);
	assert_non_null(strstr(res.error, "slow down"));
	assert_int_equal(http_client_backoff_delay(c, &res), 7000);
	assert_int_equal(get(c, "/unavailable", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_5XX);
	assert_int_equal(res.retry_after_s, 3);
	assert_int_equal(http_client_backoff_delay(c, &res), 3000);
	/* No Retry-After: the jittered base (third failure: 3200). */
	assert_int_equal(get(c, "/status/500", &res), 0);
	assert_int_equal(res.retry_after_s, 0);
	free(capture_end());
	{
		uint32_t d = http_client_backoff_delay(c, &res);

		assert_true(d > 3200 * 8 / 10 && d <= 3200);
	}
	http_client_close(c);
}

static const char *const watch_events[] = {
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\","
	"\"namespace\":\"default\",\"resourceVersion\":\"101\",\"labels\":{\"app\":\"web\","
	"\"quote\":\"a\\\"}{b\"}},\"status\":{\"phase\":\"Pending\"}}}",
	"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\","
	"\"namespace\":\"default\",\"resourceVersion\":\"102\",\"annotations\":{\"note\":"
	"\"caf\\u00e9 \\u2603 [\\\\]\"}},\"status\":{\"phase\":\"Running\"}}}",
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"resourceVersion\":\"103\"}}}",
};

static void test_stream_split_across_chunks(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_client_stats st;
	struct collected col;
	struct http_request req = { .path = "/stream", .on_value = collect, .ctx = &col };

	(void)state;
	collected_init(&col);
	config_for(&cfg, "kubeapi", plain_url);
	c = open_client(&cfg);
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(res.values, 3);
	assert_null(res.body);
	assert_int_equal(json_array_size(col.values), 3);
	for (size_t i = 0; i < 3; i++)
		assert_json(json_array_get(col.values, i), watch_events[i]);
	http_client_stats(c, &st);
	assert_int_equal(st.reconnects, 0);
	/* The watch again: a reconnect. */
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.values, 3);
	http_client_stats(c, &st);
	assert_int_equal(st.reconnects, 1);
	assert_int_equal(st.requests[HTTP_OUTCOME_OK], 2);
	http_client_close(c);
	collected_free(&col);
}

/* Raw values: each watch event's bytes alone, whatever the chunks; parsed here, they are the
 * events. */
static int collect_raw(void *ctx, const char *value, size_t len)
{
	json_error_t jerr;
	json_t *v = json_loadb(value, len, 0, &jerr);
	int rc;

	assert_non_null(v);
	rc = collect(ctx, v);
	json_decref(v);
	return rc;
}

static void count_open(void *ctx)
{
	struct collected *col = ctx;

	col->opened++;
}

static void test_stream_raw_values(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct collected col;
	struct http_request req = { .path = "/stream", .on_raw = collect_raw,
				    .on_open = count_open, .ctx = &col };

	(void)state;
	collected_init(&col);
	config_for(&cfg, "kubeapi", plain_url);
	c = open_client(&cfg);
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(res.values, 3);
	assert_null(res.body);
	assert_null(res.raw);
	assert_int_equal(json_array_size(col.values), 3);
	for (size_t i = 0; i < 3; i++)
		assert_json(json_array_get(col.values, i), watch_events[i]);
	assert_int_equal(col.opened, 1);
	/* An error status opens nothing. */
	req.path = "/status/410";
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.status, 410);
	assert_int_equal(col.opened, 1);
	http_client_close(c);
	collected_free(&col);
}

/* A whole body handed over unparsed: the bytes the server sent, NUL-terminated. */
static void test_whole_body_raw(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_request req = { .path = "/json", .raw_body = true };
	const char *sent = "{\"kind\": \"PodList\", \"items\": [{\"n\": 1}, {\"n\": 2}], "
			   "\"metadata\": {\"resourceVersion\": \"100\"}}";

	(void)state;
	config_for(&cfg, "kubeapi", plain_url);
	c = open_client(&cfg);
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_null(res.body);
	assert_non_null(res.raw);
	assert_int_equal(res.raw_len, strlen(sent));
	assert_string_equal(res.raw, sent);
	free(res.raw);
	/* Not JSON is no concern of the client's in raw mode. */
	req.path = "/notjson";
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_non_null(res.raw);
	free(res.raw);
	/* An error status hands nothing over. */
	req.path = "/status/410";
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_HTTP_4XX);
	assert_int_equal(res.status, 410);
	assert_null(res.raw);
	http_client_close(c);
}

static void test_stream_callback_stops(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct collected col;
	struct http_request req = { .path = "/stream", .on_value = collect, .ctx = &col };

	(void)state;
	collected_init(&col);
	col.stop_after = 2;
	col.stop_code = 410;
	config_for(&cfg, "kubeapi", plain_url);
	c = open_client(&cfg);
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(res.stop_code, 410);
	assert_int_equal(res.values, 2);
	assert_int_equal(json_array_size(col.values), 2);
	http_client_close(c);
	collected_free(&col);
}

static void test_stream_hostile(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_client_stats st;
	struct collected col;
	struct http_request req = { .path = "/stream-hostile", .on_value = collect, .ctx = &col };
	char *log;

	(void)state;
	collected_init(&col);
	config_for(&cfg, "kubeapi", plain_url);
	cfg.max_value_bytes = 1024;
	c = open_client(&cfg);
	capture_begin();
	assert_int_equal(http_client_request(c, &req, &res), 0);
	log = capture_end();
	/* Values around the bad ones arrive; each bad one is counted; the cut ends the request. */
	assert_int_equal(res.outcome, HTTP_OUTCOME_TRANSPORT);
	assert_int_equal(json_array_size(col.values), 2);
	assert_json(json_array_get(col.values, 0), "{\"n\":1}");
	assert_json(json_array_get(col.values, 1), "{\"n\":2}");
	http_client_stats(c, &st);
	assert_int_equal(st.stream_errors[JSON_STREAM_TOO_LARGE], 1);
	assert_int_equal(st.stream_errors[JSON_STREAM_TRUNCATED], 1);
	assert_int_equal(st.stream_invalid, 1);
	assert_int_equal(count_lines_with(log, "a value of the stream skipped: too_large"), 1);
	assert_int_equal(count_lines_with(log, "skipped"), 1);
	free(log);
	http_client_close(c);
	collected_free(&col);
}

static void test_response_too_large(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct http_client_stats st;

	(void)state;
	config_for(&cfg, "kubelet", plain_url);
	cfg.max_response_bytes = 1 << 20;
	c = open_client(&cfg);
	capture_begin();
	assert_int_equal(get(c, "/big", &res), 0);
	free(capture_end());
	assert_int_equal(res.outcome, HTTP_OUTCOME_TOO_LARGE);
	assert_null(res.body);
	/* Stopped as the limit was passed: one write of curl past it at most, far from 64 MiB. */
	assert_true(res.bytes > (1 << 20));
	assert_true(res.bytes <= (1 << 20) + CURL_MAX_WRITE_SIZE);
	http_client_stats(c, &st);
	assert_int_equal(st.requests[HTTP_OUTCOME_TOO_LARGE], 1);
	assert_int_equal(st.bytes, res.bytes);
	/* A Content-Length over the limit is refused before any byte. */
	capture_begin();
	assert_int_equal(get(c, "/big-length", &res), 0);
	free(capture_end());
	assert_int_equal(res.outcome, HTTP_OUTCOME_TOO_LARGE);
	assert_int_equal(res.bytes, 0);
	assert_non_null(strstr(res.error, "Content-Length"));
	/* The client still works. */
	assert_int_equal(get(c, "/json", &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	json_decref(res.body);
	http_client_close(c);
}

static void test_idle_timeout(void **state)
{
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct collected col;
	struct http_request req = { .path = "/silent", .on_value = collect, .ctx = &col };

	(void)state;
	collected_init(&col);
	config_for(&cfg, "kubeapi", plain_url);
	cfg.idle_timeout_ms = 300;
	c = open_client(&cfg);
	capture_begin();
	assert_int_equal(http_client_request(c, &req, &res), 0);
	free(capture_end());
	assert_int_equal(res.outcome, HTTP_OUTCOME_TIMEOUT);
	assert_non_null(strstr(res.error, "idle"));
	assert_int_equal(res.values, 1);
	assert_json(json_array_get(col.values, 0), watch_events[0]);
	assert_true(res.duration_ms >= 300);
	assert_true(res.duration_ms < 30000); /* sanity: cut long before the server's 60 s */
	http_client_close(c);
	collected_free(&col);
}

struct stream_thread {
	struct http_client *c;
	struct collected *col;
	struct http_result res;
	int rc;
	int64_t returned_ms;
};

static void *run_stream(void *arg)
{
	struct stream_thread *t = arg;
	struct http_request req = { .path = "/silent", .on_value = collect, .ctx = t->col };

	t->rc = http_client_request(t->c, &req, &t->res);
	t->returned_ms = now_ms();
	pthread_mutex_lock(&t->col->lock);
	t->col->done = true;
	pthread_cond_broadcast(&t->col->changed);
	pthread_mutex_unlock(&t->col->lock);
	return NULL;
}

static bool has_a_value(struct collected *col)
{
	return json_array_size(col->values) >= 1;
}

static bool is_done(struct collected *col)
{
	return col->done;
}

static void test_stop_cancels_stream_and_sleep(void **state)
{
	struct http_client_config cfg;
	struct collected col;
	struct stream_thread t = { 0 };
	struct http_result res;
	struct http_client_stats st;
	pthread_t thread;
	int64_t stopped_ms;

	(void)state;
	collected_init(&col);
	config_for(&cfg, "kubeapi", plain_url);
	cfg.idle_timeout_ms = 0; /* only the stop can end it */
	t.c = open_client(&cfg);
	t.col = &col;
	assert_int_equal(pthread_create(&thread, NULL, run_stream, &t), 0);
	assert_true(wait_for(&col, has_a_value)); /* the watch is open and silent */
	stopped_ms = now_ms();
	http_client_stop(t.c);
	assert_true(wait_for(&col, is_done));
	pthread_join(thread, NULL);
	assert_int_equal(t.rc, -ECANCELED);
	assert_int_equal(t.res.outcome, HTTP_OUTCOME_CANCELLED);
	assert_true(t.returned_ms - stopped_ms < 5000); /* sanity bound, not a speed test */
	/* Stopped for good: no request, no wait, nothing counted. */
	assert_int_equal(get(t.c, "/json", &res), -ECANCELED);
	assert_int_equal(res.outcome, HTTP_OUTCOME_CANCELLED);
	assert_int_equal(http_client_sleep(t.c, 60000), -ECANCELED);
	http_client_stats(t.c, &st);
	assert_int_equal(st.requests[HTTP_OUTCOME_CANCELLED], 0);
	http_client_close(t.c);
	collected_free(&col);
}

struct sleep_thread {
	struct http_client *c;
	int rc;
	int64_t returned_ms;
};

static void *run_sleep(void *arg)
{
	struct sleep_thread *t = arg;

	t->rc = http_client_sleep(t->c, 60000);
	t->returned_ms = now_ms();
	return NULL;
}

static void test_stop_interrupts_backoff_sleep(void **state)
{
	struct http_client_config cfg;
	struct sleep_thread t = { 0 };
	pthread_t thread;
	int64_t stopped_ms;

	(void)state;
	config_for(&cfg, "kubelet", plain_url);
	t.c = open_client(&cfg);
	assert_int_equal(http_client_sleep(t.c, 20), 0);
	assert_int_equal(pthread_create(&thread, NULL, run_sleep, &t), 0);
	stopped_ms = now_ms();
	http_client_stop(t.c);
	pthread_join(thread, NULL);
	assert_int_equal(t.rc, -ECANCELED);
	assert_true(t.returned_ms - stopped_ms < 5000); /* of a 60 s sleep */
	http_client_close(t.c);
}

static void test_post_json_body(void **state)
{
	static const char body[] =
		"{\"key\":\"L3JlZ2lzdHJ5Lw==\",\"range_end\":\"L3JlZ2lzdHJ5MA==\"}";
	struct http_client_config cfg;
	struct http_client *c;
	struct http_result res;
	struct collected col;
	struct http_request req = { .method = HTTP_POST, .path = "/echo", .body = body,
				    .body_len = strlen(body) };

	(void)state;
	config_for(&cfg, "etcd", plain_url);
	c = open_client(&cfg);
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_json(res.body, "{\"method\":\"POST\",\"content_type\":\"application/json\","
			      "\"body\":{\"key\":\"L3JlZ2lzdHJ5Lw==\","
			      "\"range_end\":\"L3JlZ2lzdHJ5MA==\"}}");
	json_decref(res.body);
	/* A streamed POST, as etcd's /v3/watch: objects back to back, cut anywhere. */
	collected_init(&col);
	req.path = "/echo-stream";
	req.on_value = collect;
	req.ctx = &col;
	assert_int_equal(http_client_request(c, &req, &res), 0);
	assert_int_equal(res.outcome, HTTP_OUTCOME_OK);
	assert_int_equal(json_array_size(col.values), 2);
	assert_json(json_array_get(col.values, 0), body);
	assert_json(json_array_get(col.values, 1), body);
	collected_free(&col);
	http_client_close(c);
}

/* Every line a comment or a sample; each family's HELP and TYPE exactly once for two clients. */
static void test_metrics_render(void **state)
{
	struct http_client_config cfg;
	struct http_client *clients[3];
	struct http_result res;
	char *text = NULL, *line, *save = NULL;
	size_t len;
	regex_t sample;
	FILE *out;

	(void)state;
	config_for(&cfg, "kubeapi", plain_url);
	clients[0] = open_client(&cfg);
	clients[1] = NULL;
	config_for(&cfg, "kubelet", tls_url);
	cfg.insecure_skip_verify = true;
	capture_begin();
	clients[2] = open_client(&cfg);
	free(capture_end());
	get(clients[0], "/json", &res);
	json_decref(res.body);
	out = open_memstream(&text, &len);
	http_client_render_metrics(clients, 3, out);
	fclose(out);
	assert_non_null(strstr(text, "tapio_http_requests_total{collector=\"kubeapi\","
				     "outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(text, "tapio_http_requests_total{collector=\"kubelet\","
				     "outcome=\"ok\"} 0\n"));
	assert_null(strstr(text, "outcome=\"cancelled\""));
	assert_non_null(strstr(text, "tapio_http_insecure_skip_verify{collector=\"kubelet\"} 1\n"));
	assert_non_null(strstr(text, "tapio_http_insecure_skip_verify{collector=\"kubeapi\"} 0\n"));
	assert_non_null(strstr(text, "tapio_http_stream_values_skipped_total{collector=\"kubeapi\","
				     "reason=\"invalid_json\"} 0\n"));
	assert_non_null(strstr(text, "tapio_http_reconnects_total{collector=\"kubelet\"} 0\n"));
	assert_null(strstr(text, "tapio_http_received_bytes_total{collector=\"kubeapi\"} 0\n"));
	assert_non_null(strstr(text, "tapio_http_last_success_timestamp_seconds"
				     "{collector=\"kubelet\"} 0\n"));
	for (const char *f = "tapio_http_requests_total\0tapio_http_reconnects_total\0"
			     "tapio_http_received_bytes_total\0"
			     "tapio_http_last_success_timestamp_seconds\0"
			     "tapio_http_stream_values_skipped_total\0"
			     "tapio_http_insecure_skip_verify\0";
	     *f; f += strlen(f) + 1) {
		char help[96], type[96];

		snprintf(help, sizeof(help), "# HELP %s ", f);
		snprintf(type, sizeof(type), "# TYPE %s ", f);
		assert_int_equal(count_lines_with(text, help), 1);
		assert_int_equal(count_lines_with(text, type), 1);
	}
	assert_int_equal(regcomp(&sample, "^tapio_http_[a-z_]+\\{collector=\"[a-z]+\""
				 "(,[a-z]+=\"[a-z_0-9]+\")?\\} [0-9]+$",
				 REG_EXTENDED | REG_NOSUB), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#' && regexec(&sample, line, 0, NULL, 0) != 0)
			fail_msg("not an exposition sample: %s", line);
	regfree(&sample);
	free(text);
	http_client_close(clients[0]);
	http_client_close(clients[2]);
}

int main(void)
{
#define T(test) cmocka_unit_test_teardown(test, restore_stderr)
	const struct CMUnitTest tests[] = {
		T(test_backoff_doubles_to_max),
		T(test_backoff_resets_after_two_healthy_minutes),
		T(test_backoff_retry_after),
		T(test_open_refuses_bad_config),
		T(test_plain_whole_body),
		T(test_status_classes_and_log_once_per_change),
		T(test_connect_refused),
		T(test_tls_verification),
		T(test_client_certificate),
		T(test_token_rotation),
		T(test_retry_after),
		T(test_stream_split_across_chunks),
		T(test_stream_raw_values),
		T(test_whole_body_raw),
		T(test_stream_callback_stops),
		T(test_stream_hostile),
		T(test_response_too_large),
		T(test_idle_timeout),
		T(test_stop_cancels_stream_and_sleep),
		T(test_stop_interrupts_backoff_sleep),
		T(test_post_json_body),
		T(test_metrics_render),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
