/*
 * Configuration: one typed property table, a `key = value` file, command-line overrides.
 *
 * File format:
 *   - UTF-8 text (a leading byte-order mark is skipped), one `key = value` per line. The value
 *     is everything after the first '=', with whitespace around key and value trimmed. There is
 *     no quoting and no escaping.
 *   - A line whose first non-blank character is '#' is a comment; blank lines are ignored.
 *     A '#' anywhere else is part of the value, because librdkafka values may contain one, so
 *     there are no trailing comments.
 *   - Keys are those of prop_table plus `kafka.<librdkafka property>`.
 *   - A key may appear only once per file. A repeated key is an error naming both lines: a
 *     silently ignored earlier line is a setting that does nothing, which is how typos in a
 *     long file go unnoticed. Flags are the override mechanism: they are applied after the
 *     file, and among flags the last one wins.
 *   - Values must not contain control characters other than tab, so that config_dump() can
 *     always write a configuration that reads back to itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "collector.h"
#include "publish.h"
#include "redact.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "unknown"
#endif

#define TOPIC_NAME_MAX 249	/* Kafka's limit on a topic name */
#define NODE_NAME_MAX 253	/* DNS subdomain limit, which Kubernetes node names follow */
#define CONFIG_FILE_MAX (1 << 20)	/* a config file is a few lines; more is a wrong path */
#define KAFKA_PREFIX "kafka."

enum prop_type { PROP_STRING, PROP_INT, PROP_ENUM, PROP_LIST };

/*
 * Checks a string value and returns its stored form in *out (NULL = unset): 0, or -EINVAL
 * with the reason in why, or -ENOMEM.
 */
typedef int (*check_fn)(const char *value, const char *const *known, char **out, char *why,
			size_t why_size);

struct prop {
	const char *name;
	enum prop_type type;
	size_t offset;			/* into struct tapio_config */
	const char *def;		/* default in file syntax; NULL = none or computed */
	const char *def_text;		/* how --help shows a computed or empty default */
	int min, max;			/* PROP_INT */
	const char *const *choices;	/* PROP_ENUM: NULL-terminated, index = stored value */
	check_fn check;			/* PROP_STRING */
	bool empty_unsets;		/* PROP_STRING: "" is stored as NULL (e.g. embedded broker) */
	const char *desc;
};

static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

/* PROP_ENUM values are stored as int; log_level_names is indexed by enum log_level. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is stored as an int");
_Static_assert(LOG_ERROR == 0 && LOG_WARN == 1 && LOG_INFO == 2 && LOG_DEBUG == 3,
	       "log_level_names follows enum log_level");

static int check_brokers(const char *v, const char *const *known, char **out, char *why,
			 size_t why_size);
static int check_topic_prefix(const char *v, const char *const *known, char **out, char *why,
			      size_t why_size);
static int check_node_name(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size);
static int check_record_headers(const char *v, const char *const *known, char **out, char *why,
				size_t why_size)
{
	unsigned mask;
	int err;

	(void)known;
	*out = NULL;
	err = record_headers_parse(v, &mask, why, why_size);
	if (err || !*v)
		return err;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int check_registry_url(const char *v, const char *const *known, char **out, char *why,
			      size_t why_size);
static int check_record_headers(const char *v, const char *const *known, char **out, char *why,
				size_t why_size);
static int check_listen(const char *v, const char *const *known, char **out, char *why,
			size_t why_size);
static int check_dns_ports(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size);
static int check_dir_path(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size);
static int check_annotation_keys(const char *v, const char *const *known, char **out, char *why,
				 size_t why_size);
static int check_redact_args(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size);
static int check_kubelet_url(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size);

static int check_etcd_endpoints(const char *v, const char *const *known, char **out, char *why,
				size_t why_size);
static int check_etcd_file(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size);
static int check_etcd_prefix(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size);
static int check_etcd_excludes(const char *v, const char *const *known, char **out, char *why,
			       size_t why_size);

/* Indexed by enum spool_full_policy and enum spool_fsync_policy (producer/core/spool.h). */
static const char *const spool_full_names[] = { "drop_newest", "drop_oldest", NULL };
static const char *const spool_fsync_names[] = { "none", "segment", "interval", "always", NULL };
/* Indexed by enum kubeapi_pods_mode and enum kubeapi_events_mode (kubeapi_collector.h). */
static const char *const kubeapi_pods_names[] = { "node", "off", NULL };
static const char *const kubeapi_events_names[] = { "off", "node", "cluster", NULL };
/* kubelet_insecure_skip_verify: index = the stored value. */
static const char *const kubelet_bool_names[] = { "false", "true", NULL };

#define OFF(field) offsetof(struct tapio_config, field)

static const struct prop prop_table[] = {
	{ .name = "brokers", .type = PROP_STRING, .offset = OFF(brokers),
	  .def_text = "empty (embedded broker)", .check = check_brokers, .empty_unsets = true,
	  .desc = "Kafka bootstrap servers host:port[,host:port...]; empty = embedded broker" },
	{ .name = "topic_prefix", .type = PROP_STRING, .offset = OFF(topic_prefix), .def = "tapio.",
	  .check = check_topic_prefix,
	  .desc = "topic name = prefix + collector name; characters a-z A-Z 0-9 . _ -" },
	{ .name = "node_name", .type = PROP_STRING, .offset = OFF(node_name),
	  .def_text = "$NODE_NAME, else the host name", .check = check_node_name,
	  .desc = "this node's name, first part of message keys <node>/<cgroup id>" },
	{ .name = "collectors", .type = PROP_LIST, .offset = OFF(collectors),
	  .def_text = "every collector but etcd",
	  .desc = "comma-separated collectors to run" },
	{ .name = "log_level", .type = PROP_ENUM, .offset = OFF(log_level), .def = "info",
	  .choices = log_level_names,
	  .desc = "least severe level that is logged" },
	{ .name = "flush_timeout_ms", .type = PROP_INT, .offset = OFF(flush_timeout_ms),
	  .def = "10000", .min = 0, .max = 600000,
	  .desc = "how long shutdown waits to deliver queued messages, in ms" },
	{ .name = "stats_interval_s", .type = PROP_INT, .offset = OFF(stats_interval_s),
	  .def = "60", .min = 0, .max = 86400,
	  .desc = "how often counters are logged, in s; 0 = never" },
	{ .name = "ringbuf_kb", .type = PROP_INT, .offset = OFF(ringbuf_kb),
	  .def = "4096", .min = 4, .max = 1048576,
	  .desc = "size of each event collector's BPF ring buffer, in KiB; a power of two" },
	{ .name = "identity_grace_s", .type = PROP_INT, .offset = OFF(identity_grace_s),
	  .def = "60", .min = 1, .max = 86400,
	  .desc = "how long a removed cgroup stays resolvable (and in the metadata topic) before its tombstone, in s" },
	{ .name = "schema_registry_url", .type = PROP_STRING, .offset = OFF(schema_registry_url),
	  .def_text = "empty (no registry)", .check = check_registry_url, .empty_unsets = true,
	  .desc = "Confluent-compatible Schema Registry http(s)://host:port; set = Confluent framing, empty = single-object encoding" },
	{ .name = "record_headers", .type = PROP_STRING, .offset = OFF(record_headers),
	  .def_text = "empty (none)", .check = check_record_headers, .empty_unsets = true,
	  .desc = "Kafka headers every message carries: any of collector, node, schema_fingerprint, producer_version" },
	{ .name = "metrics_listen", .type = PROP_STRING, .offset = OFF(metrics_listen),
	  .def = "127.0.0.1:9464", .check = check_listen, .empty_unsets = true,
	  .desc = "host:port of /metrics, /healthz and /readyz ([v6]:port for IPv6, port 0 = any free one); empty = off" },
	{ .name = "dns_ports", .type = PROP_STRING, .offset = OFF(dns_ports), .def = "53",
	  .check = check_dns_ports,
	  .desc = "dns: UDP/TCP ports whose packets are DNS, as source or destination; comma-separated, at most 8" },
	{ .name = "dns_timeout_ms", .type = PROP_INT, .offset = OFF(dns_timeout_ms),
	  .def = "5000", .min = 100, .max = 600000,
	  .desc = "dns: a query with no response after this long is published as a timeout, in ms" },
	{ .name = "dns_pending_max", .type = PROP_INT, .offset = OFF(dns_pending_max),
	  .def = "4096", .min = 16, .max = 1048576,
	  .desc = "dns: queries awaiting a response, at most; beyond it the oldest is dropped and counted" },
	{ .name = "kubeapi_url", .type = PROP_STRING, .offset = OFF(kubeapi_url),
	  .def_text = "empty (in-cluster: KUBERNETES_SERVICE_HOST/PORT)",
	  .check = check_registry_url, .empty_unsets = true,
	  .desc = "kubeapi: the API server's http(s)://host:port; empty = the in-cluster address" },
	{ .name = "kubeapi_token_file", .type = PROP_STRING, .offset = OFF(kubeapi_token_file),
	  .def_text = "empty (the service account's token)", .check = check_dir_path,
	  .empty_unsets = true,
	  .desc = "kubeapi: bearer token file (absolute path), re-read when it rotates" },
	{ .name = "kubeapi_ca_file", .type = PROP_STRING, .offset = OFF(kubeapi_ca_file),
	  .def_text = "empty (the service account's CA)", .check = check_dir_path,
	  .empty_unsets = true,
	  .desc = "kubeapi: PEM CA bundle of the API server's certificate (absolute path)" },
	{ .name = "kubeapi_pods", .type = PROP_ENUM, .offset = OFF(kubeapi_pods), .def = "node",
	  .choices = kubeapi_pods_names,
	  .desc = "kubeapi: node = this node's pods; off = none (a cluster Events replica)" },
	{ .name = "kubeapi_events", .type = PROP_ENUM, .offset = OFF(kubeapi_events), .def = "node",
	  .choices = kubeapi_events_names,
	  .desc = "kubeapi: Events: off, node (about this Node), cluster (all; one replica)" },
	{ .name = "kubeapi_annotations", .type = PROP_STRING, .offset = OFF(kubeapi_annotations),
	  .def_text = "empty (none)", .check = check_annotation_keys, .empty_unsets = true,
	  .desc = "kubeapi: pod annotation keys to export (at most 64, comma-separated); no others" },
	{ .name = "kernel_redact_args", .type = PROP_STRING, .offset = OFF(kernel_redact_args),
	  .def = REDACT_DEFAULT, .check = check_redact_args, .empty_unsets = true,
	  .desc = "kernel: argv values replaced by " REDACT_TEXT " before encoding: flags (--name: "
		  "--name=VALUE and --name VALUE), KEY=VALUE and \"NAME: VALUE\" names (* and ? "
		  "globs, any case), user:password@ for URLs; comma-separated; empty = none" },
	{ .name = "kubelet_url", .type = PROP_STRING, .offset = OFF(kubelet_url),
	  .def_text = "https://$NODE_IP:10250 (NODE_IP: the downward API's status.hostIP); "
		      "neither set = not in a cluster", .check = check_kubelet_url,
	  .empty_unsets = true,
	  .desc = "kubelet: the node's kubelet, https://host:port; http://host:10255 = its "
		  "deprecated read-only port (no token sent)" },
	{ .name = "kubelet_token_file", .type = PROP_STRING, .offset = OFF(kubelet_token_file),
	  .def_text = "the service-account token", .check = check_dir_path, .empty_unsets = true,
	  .desc = "kubelet: bearer token file, read again when it rotates" },
	{ .name = "kubelet_ca_file", .type = PROP_STRING, .offset = OFF(kubelet_ca_file),
	  .def_text = "the service-account CA", .check = check_dir_path, .empty_unsets = true,
	  .desc = "kubelet: PEM CA bundle that signed the kubelet's serving certificate" },
	{ .name = "kubelet_insecure_skip_verify", .type = PROP_ENUM,
	  .offset = OFF(kubelet_insecure_skip_verify), .def = "false", .choices = kubelet_bool_names,
	  .desc = "kubelet: true = the kubelet's certificate is not verified (self-signed kubelet "
		  "certificates); logged at start, on /metrics" },
	{ .name = "kubelet_interval_s", .type = PROP_INT, .offset = OFF(kubelet_interval_s),
	  .def = "10", .min = 1, .max = 3600,
	  .desc = "kubelet: how often /pods and /stats/summary are read, in s" },
	{ .name = "kubelet_timeout_s", .type = PROP_INT, .offset = OFF(kubelet_timeout_s),
	  .def = "10", .min = 1, .max = 600,
	  .desc = "kubelet: a request unanswered after this long fails (SCRAPE_FAILED), in s" },
	{ .name = "kubelet_max_response_mb", .type = PROP_INT,
	  .offset = OFF(kubelet_max_response_mb), .def = "16", .min = 1, .max = 1024,
	  .desc = "kubelet: a response larger than this is refused (SCRAPE_FAILED, counted), in MiB" },
	{ .name = "spool_dir", .type = PROP_STRING, .offset = OFF(spool_dir),
	  .def_text = "empty (no spool)", .check = check_dir_path, .empty_unsets = true,
	  .desc = "directory of the disk spool that keeps records while Kafka cannot take them; empty = no spool" },
	{ .name = "state_dir", .type = PROP_STRING, .offset = OFF(state_dir),
	  .def_text = "<spool_dir>/state, or none without a spool", .check = check_dir_path,
	  .empty_unsets = true,
	  .desc = "directory of the checkpoints: what each HTTP source's records Kafka acknowledged reach" },
	{ .name = "spool_max_mb", .type = PROP_INT, .offset = OFF(spool_max_mb),
	  .def = "1024", .min = 1, .max = 1048576,
	  .desc = "spool: bound on its size on disk, in MiB" },
	{ .name = "spool_segment_mb", .type = PROP_INT, .offset = OFF(spool_segment_mb),
	  .def = "16", .min = 1, .max = 1024,
	  .desc = "spool: size of one segment file, in MiB (at most spool_max_mb)" },
	{ .name = "spool_full", .type = PROP_ENUM, .offset = OFF(spool_full), .def = "drop_oldest",
	  .choices = spool_full_names,
	  .desc = "spool: what goes when it is full (counted): the oldest segment or the new record" },
	{ .name = "spool_fsync", .type = PROP_ENUM, .offset = OFF(spool_fsync), .def = "interval",
	  .choices = spool_fsync_names,
	  .desc = "spool: when to fsync: none, when a segment is full, every spool_fsync_interval_ms, after every record" },
	{ .name = "spool_fsync_interval_ms", .type = PROP_INT, .offset = OFF(spool_fsync_interval_ms),
	  .def = "1000", .min = 10, .max = 60000,
	  .desc = "spool: fsync interval for spool_fsync = interval, in ms" },
	{ .name = "etcd_endpoints", .type = PROP_STRING, .offset = OFF(etcd_endpoints),
	  .def = "https://127.0.0.1:2379", .check = check_etcd_endpoints,
	  .desc = "etcd: the members' client URLs http(s)://host:port[,...], tried in turn "
		  "(the default is a kubeadm control plane's)" },
	{ .name = "etcd_ca_file", .type = PROP_STRING, .offset = OFF(etcd_ca_file),
	  .def_text = "empty (the system's CA store)", .check = check_etcd_file,
	  .empty_unsets = true,
	  .desc = "etcd: CA bundle (PEM) that signed etcd's server certificate; kubeadm: "
		  "/etc/kubernetes/pki/etcd/ca.crt" },
	{ .name = "etcd_cert_file", .type = PROP_STRING, .offset = OFF(etcd_cert_file),
	  .def_text = "empty (no client certificate)", .check = check_etcd_file,
	  .empty_unsets = true,
	  .desc = "etcd: client certificate (PEM) for etcd's --client-cert-auth; kubeadm: "
		  "/etc/kubernetes/pki/apiserver-etcd-client.crt" },
	{ .name = "etcd_key_file", .type = PROP_STRING, .offset = OFF(etcd_key_file),
	  .def_text = "empty (the key is in etcd_cert_file)", .check = check_etcd_file,
	  .empty_unsets = true,
	  .desc = "etcd: the client certificate's key (PEM); kubeadm: "
		  "/etc/kubernetes/pki/apiserver-etcd-client.key" },
	{ .name = "etcd_prefix", .type = PROP_STRING, .offset = OFF(etcd_prefix),
	  .def = "/registry/", .check = check_etcd_prefix,
	  .desc = "etcd: the keys watched, those starting with it (the API server's "
		  "--etcd-prefix, with a trailing /)" },
	{ .name = "etcd_exclude_prefixes", .type = PROP_STRING, .offset = OFF(etcd_exclude_prefixes),
	  .def_text = "empty (none)", .check = check_etcd_excludes, .empty_unsets = true,
	  .desc = "etcd: keys starting with any of these (comma-separated, each within "
		  "etcd_prefix) are not published, only counted" },
	{ .name = "etcd_idle_timeout_s", .type = PROP_INT, .offset = OFF(etcd_idle_timeout_s),
	  .def = "1260", .min = 10, .max = 86400,
	  .desc = "etcd: a watch that brings nothing for this long is opened again, in s; keep "
		  "it over twice etcd's --experimental-watch-progress-notify-interval (10 min)" },
};

#define PROP_COUNT (sizeof(prop_table) / sizeof(prop_table[0]))

static int fail(char *errstr, size_t errstr_size, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *errstr, size_t errstr_size, int ret, const char *fmt, ...)
{
	va_list ap;

	if (errstr && errstr_size) {
		va_start(ap, fmt);
		vsnprintf(errstr, errstr_size, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Not isspace(): the file format must not depend on the locale. '\n' separates lines. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Tabs are blanks; other control characters (line breaks above all) would break config_dump(). */
static bool is_control(char c)
{
	return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

/* malloc'd copy of s[0..n) without the blanks at either end, or NULL. */
static char *dup_trim(const char *s, size_t n)
{
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	return strndup(s, n);
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, len, k;
	unsigned int cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			len = 2, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4, cp = s[i] & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static const struct prop *prop_find(const char *name)
{
	size_t i;

	for (i = 0; i < PROP_COUNT; i++)
		if (!strcmp(prop_table[i].name, name))
			return &prop_table[i];
	return NULL;
}

static void *field(struct tapio_config *cfg, const struct prop *p)
{
	return (char *)cfg + p->offset;
}

static const void *cfield(const struct tapio_config *cfg, const struct prop *p)
{
	return (const char *)cfg + p->offset;
}

static void free_list(char **list)
{
	char **it;

	if (!list)
		return;
	for (it = list; *it; it++)
		free(*it);
	free(list);
}

static size_t longest_name(const char *const *names)
{
	size_t max = 0, len;

	for (; names && *names; names++) {
		len = strlen(*names);
		if (len > max)
			max = len;
	}
	return max;
}

static bool name_in(const char *const *names, const char *name, size_t len)
{
	for (; names && *names; names++)
		if (strlen(*names) == len && !strncmp(*names, name, len))
			return true;
	return false;
}

/* "a, b, c" into buf, for messages and --help. */
static void join_names(const char *const *names, const char *sep, char *buf, size_t size)
{
	size_t used = 0;
	int n;

	if (size)
		buf[0] = '\0';
	for (; names && *names && used < size; names++) {
		n = snprintf(buf + used, size - used, "%s%s", used ? sep : "", *names);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * Brokers are normalized to "a,b" with blanks around items dropped, so that "a:9092, b:9092"
 * works; an empty item or a blank inside one is a typo that librdkafka would only report at
 * connect time.
 */
static int check_brokers(const char *v, const char *const *known, char **out, char *why,
			 size_t why_size)
{
	const char *item = v, *end, *a, *b, *c;
	char *res, *w;

	(void)known;
	*out = NULL;
	if (!*v)
		return 0;
	res = malloc(strlen(v) + 1);
	if (!res)
		return -ENOMEM;
	w = res;
	for (;;) {
		end = strchrnul(item, ',');
		for (a = item; a < end && is_blank(*a); a++)
			;
		for (b = end; b > a && is_blank(b[-1]); b--)
			;
		if (a == b) {
			free(res);
			return fail(why, why_size, -EINVAL, "empty broker in the list");
		}
		for (c = a; c < b; c++) {
			if (is_blank(*c)) {
				free(res);
				return fail(why, why_size, -EINVAL, "broker \"%.*s\" contains a blank",
					    (int)(b - a), a);
			}
		}
		if (w != res)
			*w++ = ',';
		memcpy(w, a, (size_t)(b - a));
		w += b - a;
		if (!*end)
			break;
		item = end + 1;
	}
	*w = '\0';
	*out = res;
	return 0;
}

static int check_topic_prefix(const char *v, const char *const *known, char **out, char *why,
			      size_t why_size)
{
	size_t len = strlen(v), longest = longest_name(known);
	const char *c;

	*out = NULL;
	for (c = v; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    *c == '.' || *c == '_' || *c == '-')
			continue;
		if ((unsigned char)*c < 0x80)
			return fail(why, why_size, -EINVAL,
				    "'%c' is not allowed in a Kafka topic name (use a-z A-Z 0-9 . _ -)",
				    *c);
		return fail(why, why_size, -EINVAL,
			    "non-ASCII byte 0x%02x is not allowed in a Kafka topic name (use a-z A-Z 0-9 . _ -)",
			    (unsigned char)*c);
	}
	/* Checked against the longest known collector so the order of keys does not matter. */
	if (len + longest > TOPIC_NAME_MAX)
		return fail(why, why_size, -EINVAL,
			    "%zu characters plus the longest collector name (%zu) exceeds Kafka's %d-character topic name limit",
			    len, longest, TOPIC_NAME_MAX);
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* "host:port" or "[v6]:port" with a numeric host, as metrics_open() binds it; "" = off. */
static int check_listen(const char *v, const char *const *known, char **out, char *why,
			size_t why_size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *ai = NULL;
	const char *colon = strrchr(v, ':'), *host = v;
	char host_buf[64], *end;
	size_t host_len;
	long port;
	int err;

	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* off */
	if (!colon)
		return fail(why, why_size, -EINVAL, "want host:port");
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || errno || port < 0 || port > 65535)
		return fail(why, why_size, -EINVAL, "port must be 0..65535");
	host_len = (size_t)(colon - v);
	if (host_len >= 2 && v[0] == '[' && v[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len >= sizeof(host_buf))
		return fail(why, why_size, -EINVAL, "host too long");
	memcpy(host_buf, host, host_len);
	host_buf[host_len] = '\0';
	if (host_len) {
		err = getaddrinfo(host_buf, NULL, &hints, &ai);
		if (ai)
			freeaddrinfo(ai);
		if (err)
			return fail(why, why_size, -EINVAL,
				    "the host must be a numeric address (127.0.0.1, [::1], 0.0.0.0): %s",
				    gai_strerror(err));
	}
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int check_dir_path(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size)
{
	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* no spool */
	/* Relative paths would depend on the working directory of a daemon. Empty: none. */
	if (v[0] != '/')
		return fail(why, why_size, -EINVAL, "must be an absolute path");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* Parsed by the kernel collector's own parser, so what is accepted here is what it runs. */
static int check_redact_args(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size)
{
	struct redact_rules *r = NULL;
	int ret;

	(void)known;
	*out = NULL;
	ret = redact_parse(v, &r, why, why_size);
	if (ret || !r)
		return ret; /* "" = no redaction */
	*out = redact_normalize(r);
	redact_free(r);
	return *out ? 0 : -ENOMEM;
}

/* http(s)://host[:port][/prefix]; plain http only for the read-only port's own choice. */
static int check_kubelet_url(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size)
{
	const char *host = !strncmp(v, "https://", 8) ? v + 8 : !strncmp(v, "http://", 7) ? v + 7 :
			   NULL;

	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* https://$NODE_IP:10250 */
	if (!host)
		return fail(why, why_size, -EINVAL,
			    "must start with https:// (or http:// for the read-only port)");
	if (!*host || *host == '/' || strpbrk(v, " \t?#@"))
		return fail(why, why_size, -EINVAL,
			    "want https://host[:port][/path], without blanks, userinfo, query or fragment");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int check_registry_url(const char *v, const char *const *known, char **out, char *why,
			      size_t why_size)
{
	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* no registry */
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return fail(why, why_size, -EINVAL, "must start with http:// or https://");
	if (strpbrk(v, " \t?#"))
		return fail(why, why_size, -EINVAL, "must be a base URL without blanks, query or fragment");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int check_node_name(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size)
{
	size_t len = strlen(v);

	(void)known;
	*out = NULL;
	if (!len)
		return fail(why, why_size, -EINVAL, "must not be empty");
	if (!utf8_valid((const unsigned char *)v, len))
		return fail(why, why_size, -EINVAL, "not valid UTF-8");
	if (len > NODE_NAME_MAX)
		return fail(why, why_size, -EINVAL, "%zu bytes, more than %d", len, NODE_NAME_MAX);
	/* Message keys are "<node>/<cgroup id>": a '/' would make them ambiguous. */
	if (strchr(v, '/'))
		return fail(why, why_size, -EINVAL,
			    "must not contain '/' (it separates node and cgroup id in message keys)");
	if (strpbrk(v, " \t\r\v\f"))
		return fail(why, why_size, -EINVAL, "must not contain blanks");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* Matches DNS_PORTS_MAX in bpf/dns.h (the BPF program's filter array). */
#define DNS_PORTS_MAX 8

/* Comma-separated decimal ports 1..65535, blanks around items allowed, distinct, 1..8 of them;
 * stored normalized as "53,5353". */
static int check_dns_ports(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size)
{
	unsigned long ports[DNS_PORTS_MAX];
	const char *item = v, *end, *a, *b, *c;
	char *res;
	size_t n = 0, used = 0, i;

	(void)known;
	*out = NULL;
	for (;;) {
		unsigned long port = 0;

		end = strchrnul(item, ',');
		for (a = item; a < end && is_blank(*a); a++)
			;
		for (b = end; b > a && is_blank(b[-1]); b--)
			;
		if (a == b)
			return fail(why, why_size, -EINVAL, n || *end ? "empty item in the list" :
				    "at least one port is required");
		for (c = a; c < b; c++) {
			if (*c < '0' || *c > '9' || b - a > 5)
				return fail(why, why_size, -EINVAL, "\"%.*s\" is not a port number",
					    (int)(b - a), a);
			port = port * 10 + (unsigned long)(*c - '0');
		}
		if (port < 1 || port > 65535)
			return fail(why, why_size, -EINVAL, "port %lu is out of range 1..65535", port);
		for (i = 0; i < n; i++)
			if (ports[i] == port)
				return fail(why, why_size, -EINVAL, "port %lu is listed twice", port);
		if (n == DNS_PORTS_MAX)
			return fail(why, why_size, -EINVAL, "more than %d ports", DNS_PORTS_MAX);
		ports[n++] = port;
		if (!*end)
			break;
		item = end + 1;
	}
	res = malloc(n * 6 + 1);
	if (!res)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		used += (size_t)sprintf(res + used, "%s%lu", i ? "," : "", ports[i]);
	*out = res;
	return 0;
}

#define ANNOTATION_KEYS_MAX 64

/* A Kubernetes annotation key: [prefix/]name, prefix a DNS subdomain of at most 253 bytes, name
 * at most 63 bytes of [A-Za-z0-9._-] that begin and end alphanumeric. */
static bool annotation_key_valid(const char *k, size_t n)
{
	const char *slash = memchr(k, '/', n), *name = slash ? slash + 1 : k;
	size_t prefix = slash ? (size_t)(slash - k) : 0, name_len = n - (size_t)(name - k);

	if (slash && (prefix == 0 || prefix > 253))
		return false;
	for (size_t i = 0; i < prefix; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' ||
		      k[i] == '.'))
			return false;
	if (name_len == 0 || name_len > 63)
		return false;
	for (size_t i = 0; i < name_len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && ((c != '-' && c != '_' && c != '.') || i == 0 || i == name_len - 1))
			return false;
	}
	return true;
}

/* Comma-separated annotation keys, blanks around items allowed, distinct; stored as "a,b". */
static int check_annotation_keys(const char *v, const char *const *known, char **out, char *why,
				 size_t why_size)
{
	const char *item = v, *end, *a, *b, *seen[ANNOTATION_KEYS_MAX];
	size_t lens[ANNOTATION_KEYS_MAX], n = 0;
	char *res, *w;

	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* none */
	res = malloc(strlen(v) + 1);
	if (!res)
		return -ENOMEM;
	w = res;
	for (;;) {
		end = strchrnul(item, ',');
		for (a = item; a < end && is_blank(*a); a++)
			;
		for (b = end; b > a && is_blank(b[-1]); b--)
			;
		if (a == b || n == ANNOTATION_KEYS_MAX || !annotation_key_valid(a, (size_t)(b - a))) {
			free(res);
			if (a == b)
				return fail(why, why_size, -EINVAL, "empty item in the list");
			if (n == ANNOTATION_KEYS_MAX)
				return fail(why, why_size, -EINVAL, "more than %d keys",
					    ANNOTATION_KEYS_MAX);
			return fail(why, why_size, -EINVAL,
				    "\"%.*s\" is not an annotation key ([prefix/]name: a DNS "
				    "subdomain, then at most 63 of A-Z a-z 0-9 . _ - starting and "
				    "ending alphanumeric)", (int)(b - a), a);
		}
		for (size_t i = 0; i < n; i++) {
			if (lens[i] == (size_t)(b - a) && !memcmp(seen[i], a, lens[i])) {
				free(res);
				return fail(why, why_size, -EINVAL, "key \"%.*s\" is listed twice",
					    (int)(b - a), a);
			}
		}
		seen[n] = a;
		lens[n++] = (size_t)(b - a);
		if (w != res)
			*w++ = ',';
		memcpy(w, a, (size_t)(b - a));
		w += b - a;
		if (!*end)
			break;
		item = end + 1;
	}
	*w = '\0';
	*out = res;
	return 0;
}

/* etcd_endpoints and etcd_exclude_prefixes: lists of at most this many items. */
#define ETCD_ENDPOINTS_MAX 8
#define ETCD_EXCLUDES_MAX 32
/* Longest etcd_prefix or excluded prefix, in bytes (Kubernetes keys are far shorter). */
#define ETCD_PREFIX_MAX 1024

/*
 * A comma-separated list with blanks around items dropped, normalized to "a,b". Each item is
 * checked by item_ok (NULL = any); an empty item, a blank inside one, a repeat or more than
 * `max` items is refused.
 */
static int check_list(const char *v, size_t max, const char *what,
		      bool (*item_ok)(const char *item, size_t len, char *why, size_t why_size),
		      char **out, char *why, size_t why_size)
{
	const char *item = v, *end, *a, *b, *c, *prev;
	size_t n = 0;
	char *res, *w;

	*out = NULL;
	res = malloc(strlen(v) + 1);
	if (!res)
		return -ENOMEM;
	w = res;
	for (;;) {
		end = strchrnul(item, ',');
		for (a = item; a < end && is_blank(*a); a++)
			;
		for (b = end; b > a && is_blank(b[-1]); b--)
			;
		if (a == b)
			goto empty;
		for (c = a; c < b && !is_blank(*c); c++)
			;
		if (c < b) {
			fail(why, why_size, -EINVAL, "%s \"%.*s\" contains a blank", what,
			     (int)(b - a), a);
			goto bad;
		}
		if (item_ok && !item_ok(a, (size_t)(b - a), why, why_size))
			goto bad;
		/* Items so far are in res, separated by ','. */
		*w = '\0';
		for (prev = res; *prev; prev = *c ? c + 1 : c) {
			c = strchrnul(prev, ',');
			if ((size_t)(c - prev) == (size_t)(b - a) &&
			    !memcmp(prev, a, (size_t)(b - a))) {
				fail(why, why_size, -EINVAL, "%s \"%.*s\" is listed twice", what,
				     (int)(b - a), a);
				goto bad;
			}
		}
		if (++n > max) {
			fail(why, why_size, -EINVAL, "more than %zu items", max);
			goto bad;
		}
		if (w != res)
			*w++ = ',';
		memcpy(w, a, (size_t)(b - a));
		w += b - a;
		if (!*end)
			break;
		item = end + 1;
	}
	*w = '\0';
	*out = res;
	return 0;
empty:
	fail(why, why_size, -EINVAL, "empty item in the list");
bad:
	free(res);
	return -EINVAL;
}

/* http(s)://host[:port] with an optional trailing '/': etcd's gateway serves at the root. */
static bool etcd_endpoint_ok(const char *v, size_t len, char *why, size_t why_size)
{
	size_t scheme = len > 7 && !strncmp(v, "http://", 7) ? 7 :
			len > 8 && !strncmp(v, "https://", 8) ? 8 : 0;
	const char *host = v + scheme, *end = v + len;

	if (!scheme) {
		fail(why, why_size, -EINVAL, "\"%.*s\": want http://host:port or https://host:port",
		     (int)len, v);
		return false;
	}
	if (end > host && end[-1] == '/')
		end--;
	if (end == host || memchr(host, '/', (size_t)(end - host)) ||
	    memchr(host, '?', (size_t)(end - host)) || memchr(host, '#', (size_t)(end - host)) ||
	    memchr(host, '@', (size_t)(end - host))) {
		fail(why, why_size, -EINVAL,
		     "\"%.*s\": want scheme://host[:port] alone, without a path, query or user",
		     (int)len, v);
		return false;
	}
	return true;
}

static int check_etcd_endpoints(const char *v, const char *const *known, char **out, char *why,
				size_t why_size)
{
	(void)known;
	*out = NULL;
	if (!*v)
		return fail(why, why_size, -EINVAL, "at least one endpoint is required");
	return check_list(v, ETCD_ENDPOINTS_MAX, "endpoint", etcd_endpoint_ok, out, why, why_size);
}

static int check_etcd_file(const char *v, const char *const *known, char **out, char *why,
			   size_t why_size)
{
	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* unset */
	/* A relative path would depend on the working directory of a daemon. */
	if (v[0] != '/')
		return fail(why, why_size, -EINVAL, "must be an absolute path");
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static bool etcd_prefix_ok(const char *v, size_t len, char *why, size_t why_size)
{
	if (len > ETCD_PREFIX_MAX) {
		fail(why, why_size, -EINVAL, "a prefix of %zu bytes, more than %d", len,
		     ETCD_PREFIX_MAX);
		return false;
	}
	(void)v;
	return true;
}

static int check_etcd_prefix(const char *v, const char *const *known, char **out, char *why,
			     size_t why_size)
{
	(void)known;
	*out = NULL;
	/* An empty prefix would be no range at all in etcd's watch request. */
	if (!*v)
		return fail(why, why_size, -EINVAL, "must not be empty (\"/\" watches every key)");
	if (strchr(v, ','))
		return fail(why, why_size, -EINVAL, "one prefix only (no ',')");
	if (!etcd_prefix_ok(v, strlen(v), why, why_size))
		return -EINVAL;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int check_etcd_excludes(const char *v, const char *const *known, char **out, char *why,
			       size_t why_size)
{
	(void)known;
	*out = NULL;
	if (!*v)
		return 0; /* none */
	return check_list(v, ETCD_EXCLUDES_MAX, "prefix", etcd_prefix_ok, out, why, why_size);
}

/* Comma-separated, blanks around items allowed, each known, no repeats, at least one. */
static int parse_collectors(const char *v, const char *const *known, char ***out, char *why,
			    size_t why_size)
{
	const char *item = v, *end, *a, *b;
	char **list = NULL, known_text[256];
	size_t n = 0, i, cap = 1;
	int ret = 0;

	*out = NULL;
	for (a = v; *a; a++)
		cap += *a == ',';
	list = calloc(cap + 1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (;;) {
		end = strchrnul(item, ',');
		for (a = item; a < end && is_blank(*a); a++)
			;
		for (b = end; b > a && is_blank(b[-1]); b--)
			;
		if (a == b) {
			ret = fail(why, why_size, -EINVAL, n || *end ? "empty item in the list" :
				   "at least one collector is required");
			goto out;
		}
		if (!name_in(known, a, (size_t)(b - a))) {
			join_names(known, ", ", known_text, sizeof(known_text));
			ret = fail(why, why_size, -EINVAL, "unknown collector \"%.*s\" (known: %s)",
				   (int)(b - a), a, known_text);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (strlen(list[i]) == (size_t)(b - a) && !strncmp(list[i], a, (size_t)(b - a))) {
				ret = fail(why, why_size, -EINVAL, "collector \"%s\" is listed twice",
					   list[i]);
				goto out;
			}
		}
		list[n] = strndup(a, (size_t)(b - a));
		if (!list[n]) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
		if (!*end)
			break;
		item = end + 1;
	}
	*out = list;
	list = NULL;
out:
	free_list(list);
	return ret;
}

/* Decimal only: "0x10", "10ms", "" and out-of-range numbers are rejected, not truncated. */
static int parse_int(const struct prop *p, const char *v, int *out, char *why, size_t why_size)
{
	char *end;
	long n;

	if (!*v)
		return fail(why, why_size, -EINVAL, "not an integer");
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end || end == v || is_blank(*v))
		return fail(why, why_size, -EINVAL, "not an integer");
	if (errno == ERANGE || n < p->min || n > p->max)
		return fail(why, why_size, -EINVAL, "out of range %d..%d", p->min, p->max);
	*out = (int)n;
	return 0;
}

static int parse_enum(const struct prop *p, const char *v, int *out, char *why, size_t why_size)
{
	char choices[128];
	int i;

	for (i = 0; p->choices[i]; i++) {
		if (!strcmp(p->choices[i], v)) {
			*out = i;
			return 0;
		}
	}
	join_names(p->choices, ", ", choices, sizeof(choices));
	return fail(why, why_size, -EINVAL, "expected one of %s", choices);
}

static int set_prop(struct tapio_config *cfg, const struct prop *p, const char *value,
		    const char *origin, const char *const *known, char *errstr, size_t errstr_size)
{
	char why[512], *s;
	char **list;
	int ret, n = 0;

	why[0] = '\0';
	switch (p->type) {
	case PROP_STRING:
		ret = p->check(value, known, &s, why, sizeof(why));
		if (!ret) {
			free(*(char **)field(cfg, p));
			*(char **)field(cfg, p) = s;
		}
		break;
	case PROP_INT:
		ret = parse_int(p, value, &n, why, sizeof(why));
		if (!ret)
			*(int *)field(cfg, p) = n;
		break;
	case PROP_ENUM:
		ret = parse_enum(p, value, &n, why, sizeof(why));
		if (!ret)
			memcpy(field(cfg, p), &n, sizeof(n));
		break;
	case PROP_LIST:
		ret = parse_collectors(value, known, &list, why, sizeof(why));
		if (!ret) {
			free_list(*(char ***)field(cfg, p));
			*(char ***)field(cfg, p) = list;
		}
		break;
	default:
		ret = -EINVAL;
	}
	if (ret == -EINVAL)
		return fail(errstr, errstr_size, ret, "%s: bad value \"%s\" for %s: %s", origin, value,
			    p->name, why);
	if (ret)
		return fail(errstr, errstr_size, ret, "%s: %s: %s", origin, p->name, strerror(-ret));
	return 0;
}

/*
 * Checks the property on a scratch librdkafka configuration, so that a bad name or value is
 * reported now, with its origin and librdkafka's own message, instead of at rd_kafka_new().
 */
static int set_kafka(struct tapio_config *cfg, const char *name, const char *value,
		     const char *origin, char *errstr, size_t errstr_size)
{
	char why[512], *n = NULL, *v = NULL, *o = NULL;
	struct kafka_prop *kp;
	rd_kafka_conf_t *conf;
	rd_kafka_conf_res_t res;
	int i;

	if (!*name)
		return fail(errstr, errstr_size, -EINVAL,
			    "%s: missing librdkafka property name after \"" KAFKA_PREFIX "\"", origin);
	/* Two ways to set the brokers would leave one of them doing nothing. */
	if (!strcmp(name, "bootstrap.servers") || !strcmp(name, "metadata.broker.list"))
		return fail(errstr, errstr_size, -EINVAL,
			    "%s: " KAFKA_PREFIX "%s: set the brokers key (or --brokers) instead", origin,
			    name);
	conf = rd_kafka_conf_new();
	if (!conf)
		return fail(errstr, errstr_size, -ENOMEM, "%s: out of memory", origin);
	why[0] = '\0';
	res = rd_kafka_conf_set(conf, name, value, why, sizeof(why));
	rd_kafka_conf_destroy(conf);
	/* Some librdkafka messages end in a newline. */
	for (i = (int)strlen(why); i > 0 && (is_blank(why[i - 1]) || why[i - 1] == '\n'); i--)
		why[i - 1] = '\0';
	/* librdkafka names the value in some messages only (not for aliases such as acks). */
	if (res == RD_KAFKA_CONF_INVALID && !strstr(why, value))
		return fail(errstr, errstr_size, -EINVAL, "%s: " KAFKA_PREFIX "%s: %s (value \"%s\")",
			    origin, name, why, value);
	if (res != RD_KAFKA_CONF_OK)
		return fail(errstr, errstr_size, -EINVAL, "%s: " KAFKA_PREFIX "%s: %s", origin, name, why);

	v = strdup(value);
	o = strdup(origin);
	if (!v || !o)
		goto nomem;
	for (i = 0; i < cfg->kafka_count; i++) {
		if (!strcmp(cfg->kafka[i].name, name)) {
			/* A later setting (a flag after the file) replaces the earlier one. */
			free(cfg->kafka[i].value);
			free(cfg->kafka[i].origin);
			cfg->kafka[i].value = v;
			cfg->kafka[i].origin = o;
			return 0;
		}
	}
	kp = realloc(cfg->kafka, ((size_t)cfg->kafka_count + 1) * sizeof(*kp));
	if (!kp)
		goto nomem;
	cfg->kafka = kp;
	n = strdup(name);
	if (!n)
		goto nomem;
	kp[cfg->kafka_count++] = (struct kafka_prop){ .name = n, .value = v, .origin = o };
	return 0;
nomem:
	free(n);
	free(v);
	free(o);
	return fail(errstr, errstr_size, -ENOMEM, "%s: out of memory", origin);
}

/* A hint for the common mistakes: "topic-prefix" for topic_prefix, "acks" for kafka.acks. */
static void unknown_key_hint(const char *key, const char *value, char *hint, size_t size)
{
	rd_kafka_conf_t *conf;
	char *alt, *c, why[256];

	hint[0] = '\0';
	alt = strdup(key);
	if (alt) {
		for (c = alt; *c; c++)
			if (*c == '-')
				*c = '_';
		if (prop_find(alt))
			snprintf(hint, size, " (did you mean \"%s\"?)", alt);
		free(alt);
		if (hint[0])
			return;
	}
	conf = rd_kafka_conf_new();
	if (conf) {
		if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_UNKNOWN)
			snprintf(hint, size, " (librdkafka properties take the prefix: \"" KAFKA_PREFIX "%s\")",
				 key);
		rd_kafka_conf_destroy(conf);
	}
}

int config_set(struct tapio_config *cfg, const char *key, const char *value, const char *origin,
	       const char *const *known_collectors, char *errstr, size_t errstr_size)
{
	const struct prop *p;
	char *k = NULL, *v = NULL, *c, hint[160];
	int ret;

	if (!origin)
		origin = "config";
	if (!key || !value)
		return fail(errstr, errstr_size, -EINVAL, "%s: missing key or value", origin);
	k = dup_trim(key, strlen(key));
	v = dup_trim(value, strlen(value));
	if (!k || !v) {
		ret = fail(errstr, errstr_size, -ENOMEM, "%s: out of memory", origin);
		goto out;
	}
	/* Here, not only in the file parser: a flag or --set goes through the same checks. */
	if (!utf8_valid((const unsigned char *)k, strlen(k))) {
		ret = fail(errstr, errstr_size, -EINVAL, "%s: a key is not valid UTF-8", origin);
		goto out;
	}
	if (!utf8_valid((const unsigned char *)v, strlen(v))) {
		ret = fail(errstr, errstr_size, -EINVAL, "%s: the value for %s is not valid UTF-8",
			   origin, k);
		goto out;
	}
	for (c = v; *c && !is_control(*c); c++)
		;
	if (*c) {
		ret = fail(errstr, errstr_size, -EINVAL,
			   "%s: the value for %s contains a control character", origin, k);
		goto out;
	}
	if (!strncmp(k, KAFKA_PREFIX, strlen(KAFKA_PREFIX))) {
		ret = set_kafka(cfg, k + strlen(KAFKA_PREFIX), v, origin, errstr, errstr_size);
		goto out;
	}
	p = prop_find(k);
	if (!p) {
		unknown_key_hint(k, v, hint, sizeof(hint));
		ret = fail(errstr, errstr_size, -EINVAL, "%s: unknown key \"%s\"%s", origin, k, hint);
		goto out;
	}
	ret = set_prop(cfg, p, v, origin, known_collectors, errstr, errstr_size);
out:
	free(k);
	free(v);
	return ret;
}

struct seen_key {
	char *key;
	int line;
};

static int parse_line(struct tapio_config *cfg, const char *line, size_t len, const char *origin,
		      int lineno, struct seen_key **seen, size_t *nseen,
		      const char *const *known, char *errstr, size_t errstr_size)
{
	const char *s = line, *end = line + len, *eq;
	struct seen_key *grown;
	char *key = NULL, *value = NULL, *where = NULL;
	size_t i;
	int ret = 0;

	if (!utf8_valid((const unsigned char *)line, len))
		return fail(errstr, errstr_size, -EINVAL, "%s:%d: not valid UTF-8", origin, lineno);
	while (s < end && is_blank(*s))
		s++;
	if (s == end || *s == '#')
		return 0;
	eq = memchr(s, '=', (size_t)(end - s));
	if (!eq) {
		while (end > s && is_blank(end[-1]))
			end--;
		return fail(errstr, errstr_size, -EINVAL, "%s:%d: expected \"key = value\", got \"%.*s\"",
			    origin, lineno, (int)(end - s), s);
	}
	key = dup_trim(s, (size_t)(eq - s));
	value = dup_trim(eq + 1, (size_t)(end - eq - 1));
	if (!key || !value) {
		ret = fail(errstr, errstr_size, -ENOMEM, "%s:%d: out of memory", origin, lineno);
		goto out;
	}
	if (!*key) {
		ret = fail(errstr, errstr_size, -EINVAL, "%s:%d: missing key before '='", origin,
			   lineno);
		goto out;
	}
	for (i = 0; i < *nseen; i++) {
		if (!strcmp((*seen)[i].key, key)) {
			ret = fail(errstr, errstr_size, -EINVAL,
				   "%s:%d: key \"%s\" is already set at line %d (a key may appear once)",
				   origin, lineno, key, (*seen)[i].line);
			goto out;
		}
	}
	if (asprintf(&where, "%s:%d", origin, lineno) < 0) {
		where = NULL;
		ret = fail(errstr, errstr_size, -ENOMEM, "%s:%d: out of memory", origin, lineno);
		goto out;
	}
	ret = config_set(cfg, key, value, where, known, errstr, errstr_size);
	if (ret)
		goto out;
	grown = realloc(*seen, (*nseen + 1) * sizeof(**seen));
	if (!grown) {
		ret = fail(errstr, errstr_size, -ENOMEM, "%s:%d: out of memory", origin, lineno);
		goto out;
	}
	*seen = grown;
	grown[(*nseen)++] = (struct seen_key){ .key = key, .line = lineno };
	key = NULL;
out:
	free(key);
	free(value);
	free(where);
	return ret;
}

int config_parse_text(struct tapio_config *cfg, const char *text, const char *origin,
		      const char *const *known_collectors, char *errstr, size_t errstr_size)
{
	struct seen_key *seen = NULL;
	size_t nseen = 0, i;
	const char *p = text, *nl, *end;
	int lineno = 0, ret = 0;

	if (!origin)
		origin = "config";
	if (!text)
		return fail(errstr, errstr_size, -EINVAL, "%s: no text", origin);
	/* Some editors start UTF-8 files with a byte-order mark. */
	if (!strncmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (*p) {
		nl = strchr(p, '\n');
		end = nl ? nl : p + strlen(p);
		lineno++;
		ret = parse_line(cfg, p, (size_t)(end - p), origin, lineno, &seen, &nseen,
				 known_collectors, errstr, errstr_size);
		if (ret)
			goto out;
		p = nl ? nl + 1 : end;
	}
out:
	for (i = 0; i < nseen; i++)
		free(seen[i].key);
	free(seen);
	return ret;
}

void config_defaults(struct tapio_config *cfg)
{
	char host[HOST_NAME_MAX + 1];
	const struct prop *p;
	const char *env;
	size_t i;
	int n;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < PROP_COUNT; i++) {
		p = &prop_table[i];
		if (!p->def)
			continue;
		/* The defaults are literals in the table, so they parse; only strdup can fail. */
		switch (p->type) {
		case PROP_STRING:
			*(char **)field(cfg, p) = strdup(p->def);
			break;
		case PROP_INT:
			*(int *)field(cfg, p) = atoi(p->def);
			break;
		case PROP_ENUM:
			for (n = 0; p->choices[n] && strcmp(p->choices[n], p->def); n++)
				;
			memcpy(field(cfg, p), &n, sizeof(n));
			break;
		case PROP_LIST:
			break;
		}
	}
	/* collectors stays NULL: config_from_args() resolves it to every known collector. */
	env = getenv("NODE_NAME");
	if (env && *env) {
		cfg->node_name = strdup(env);
	} else if (!gethostname(host, sizeof(host))) {
		host[sizeof(host) - 1] = '\0';
		if (host[0])
			cfg->node_name = strdup(host);
	}
}

static void prop_hint(const struct prop *p, const char *const *known, char *buf, size_t size)
{
	char names[256];

	switch (p->type) {
	case PROP_STRING:
		snprintf(buf, size, "default: %s", p->def ? p->def : p->def_text);
		break;
	case PROP_INT:
		snprintf(buf, size, "integer %d..%d, default %s", p->min, p->max, p->def);
		break;
	case PROP_ENUM:
		join_names(p->choices, "|", names, sizeof(names));
		snprintf(buf, size, "%s, default %s", names, p->def);
		break;
	case PROP_LIST:
		if (known) {
			join_names(known, ",", names, sizeof(names));
			snprintf(buf, size, "from %s; default: all", names);
		} else {
			snprintf(buf, size, "default: %s", p->def_text);
		}
		break;
	}
}

static void dump_value(const struct tapio_config *cfg, const struct prop *p, FILE *out,
		       const char *prefix)
{
	const char *s;
	char *const *list;
	int n, i;

	fprintf(out, "%s%s =", prefix, p->name);
	switch (p->type) {
	case PROP_STRING:
		s = *(char *const *)cfield(cfg, p);
		if (s && *s)
			fprintf(out, " %s", s);
		break;
	case PROP_INT:
		fprintf(out, " %d", *(const int *)cfield(cfg, p));
		break;
	case PROP_ENUM:
		memcpy(&n, cfield(cfg, p), sizeof(n));
		for (i = 0; p->choices[i] && i != n; i++)
			;
		fprintf(out, " %s", p->choices[i] ? p->choices[i] : "?");
		break;
	case PROP_LIST:
		for (list = *(char **const *)cfield(cfg, p); *list; list++)
			fprintf(out, "%s%s", list == *(char **const *)cfield(cfg, p) ? " " : ",",
				*list);
		break;
	}
	fputc('\n', out);
}

void config_dump(const struct tapio_config *cfg, FILE *out)
{
	const struct prop *p;
	char hint[320];
	size_t i;
	int k;

	fprintf(out, "# tapio-producer %s effective configuration", TAPIO_VERSION);
	if (cfg->config_path)
		fprintf(out, " (%s, then flags)", cfg->config_path);
	fputc('\n', out);
	for (i = 0; i < PROP_COUNT; i++) {
		p = &prop_table[i];
		prop_hint(p, NULL, hint, sizeof(hint));
		fprintf(out, "\n# %s [%s]\n", p->desc, hint);
		/* Unset values that have no file syntax stay comments so the dump reads back. */
		if (p->type == PROP_LIST && !*(char **const *)cfield(cfg, p))
			fprintf(out, "# %s = (%s)\n", p->name, p->def_text);
		else if (p->offset == OFF(collectors) && cfg->collectors_default)
			/* A comment, so that reading the dump back keeps the default set (no
			 * collector named: those with nothing to connect to are skipped). */
			dump_value(cfg, p, out, "# ");
		else if (p->type == PROP_STRING && !p->empty_unsets &&
			 !*(char *const *)cfield(cfg, p))
			fprintf(out, "# %s = (not set)\n", p->name);
		else
			dump_value(cfg, p, out, "");
	}
	for (k = 0; k < cfg->kafka_count; k++)
		fprintf(out, "\n# librdkafka property, set at %s\n" KAFKA_PREFIX "%s = %s\n",
			cfg->kafka[k].origin, cfg->kafka[k].name, cfg->kafka[k].value);
}

const char *config_state_dir(const struct tapio_config *cfg, char *buf, size_t size)
{
	if (cfg->state_dir)
		return cfg->state_dir;
	if (!cfg->spool_dir || (size_t)snprintf(buf, size, "%s/state", cfg->spool_dir) >= size)
		return NULL;
	return buf;
}

bool config_has_collector(const struct tapio_config *cfg, const char *name)
{
	char **it;

	for (it = cfg->collectors; it && *it; it++)
		if (!strcmp(*it, name))
			return true;
	return false;
}

void config_free(struct tapio_config *cfg)
{
	int i;

	free(cfg->brokers);
	free(cfg->topic_prefix);
	free(cfg->node_name);
	free(cfg->schema_registry_url);
	free(cfg->record_headers);
	free(cfg->metrics_listen);
	free(cfg->spool_dir);
	free(cfg->state_dir);
	free(cfg->dns_ports);
	free(cfg->kubeapi_url);
	free(cfg->kubeapi_token_file);
	free(cfg->kubeapi_ca_file);
	free(cfg->kubeapi_annotations);
	free(cfg->kernel_redact_args);
	free(cfg->etcd_endpoints);
	free(cfg->etcd_ca_file);
	free(cfg->etcd_cert_file);
	free(cfg->etcd_key_file);
	free(cfg->etcd_prefix);
	free(cfg->etcd_exclude_prefixes);
	free(cfg->kubelet_url);
	free(cfg->kubelet_token_file);
	free(cfg->kubelet_ca_file);
	free_list(cfg->collectors);
	for (i = 0; i < cfg->kafka_count; i++) {
		free(cfg->kafka[i].name);
		free(cfg->kafka[i].value);
		free(cfg->kafka[i].origin);
	}
	free(cfg->kafka);
	free(cfg->config_path);
	memset(cfg, 0, sizeof(*cfg));
}

/* Command line. */

enum {
	OPT_BROKERS = 256,
	OPT_TOPIC_PREFIX,
	OPT_NODE_NAME,
	OPT_COLLECTORS,
	OPT_LOG_LEVEL,
	OPT_SET,
	OPT_DUMP,
	OPT_PROBE,
};

/* Flags that set one table key; --help shows that key's description. */
static const struct flag_key {
	int opt;
	const char *flag;
	const char *key;
	const char *arg;
} flag_keys[] = {
	{ OPT_BROKERS, "--brokers", "brokers", "LIST" },
	{ OPT_TOPIC_PREFIX, "--topic-prefix", "topic_prefix", "PREFIX" },
	{ OPT_NODE_NAME, "--node-name", "node_name", "NAME" },
	{ OPT_COLLECTORS, "--collectors", "collectors", "LIST" },
	{ OPT_LOG_LEVEL, "--log-level", "log_level", "LEVEL" },
};

#define FLAG_KEY_COUNT (sizeof(flag_keys) / sizeof(flag_keys[0]))

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "brokers", required_argument, NULL, OPT_BROKERS },
	{ "topic-prefix", required_argument, NULL, OPT_TOPIC_PREFIX },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "collectors", required_argument, NULL, OPT_COLLECTORS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "set", required_argument, NULL, OPT_SET },
	{ "dump-config", no_argument, NULL, OPT_DUMP },
	{ "probe", no_argument, NULL, OPT_PROBE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage_line(FILE *out, const char *left, const char *text)
{
	if (strlen(left) > 26)
		fprintf(out, "  %s\n  %-26s %s\n", left, "", text);
	else
		fprintf(out, "  %-26s %s\n", left, text);
}

static void usage(FILE *out, const char *const *known)
{
	const struct prop *p;
	char left[64], text[64], hint[320];
	size_t i;

	fputs("Usage: tapio-producer [OPTION]...\n"
	      "Publishes kernel events from eBPF collectors to Kafka, one Avro topic per collector.\n"
	      "\n"
	      "Options (they override the --config file wherever they appear; when a flag is\n"
	      "repeated, the last one wins):\n", out);
	usage_line(out, "-c, --config FILE", "read settings from FILE (format below)");
	for (i = 0; i < FLAG_KEY_COUNT; i++) {
		snprintf(left, sizeof(left), "    %s %s", flag_keys[i].flag, flag_keys[i].arg);
		snprintf(text, sizeof(text), "set the %s key (below)", flag_keys[i].key);
		usage_line(out, left, text);
	}
	usage_line(out, "    --set KEY=VALUE",
		   "set any key below, kafka.<property> included; repeatable");
	usage_line(out, "    --dump-config",
		   "print the effective configuration in the file format and exit");
	/* Taken out of argv by topics_take_args() (producer/core/topics.c) before this parser. */
	usage_line(out, "    --print-topics[=FORMAT]",
		   "print the topics of this configuration with their settings and exit;");
	usage_line(out, "", "FORMAT kafka-topics (a sh script, default) or strimzi");
	usage_line(out, "    --partitions N", "with --print-topics: partitions per topic (6)");
	usage_line(out, "    --replication-factor N", "with --print-topics: replicas per partition (3)");
	usage_line(out, "    --retention-hours N", "with --print-topics: retention in hours (168)");
	usage_line(out, "    --strimzi-cluster NAME", "with --print-topics=strimzi: its cluster label (my-cluster)");
	usage_line(out, "    --probe",
		   "try each collector's programs on this kernel, report what runs, and exit");
	usage_line(out, "-h, --help", "print this help and exit");
	usage_line(out, "-V, --version", "print the version and exit");
	fputs("\nConfiguration keys:\n", out);
	for (i = 0; i < PROP_COUNT; i++) {
		p = &prop_table[i];
		prop_hint(p, known, hint, sizeof(hint));
		fprintf(out, "  %-20s %s\n  %-20s [%s]\n", p->name, p->desc, "", hint);
	}
	fprintf(out, "  %-20s %s\n  %-20s %s\n", KAFKA_PREFIX "<property>",
		"any librdkafka property, passed through (e.g. kafka.acks = all);", "",
		"checked by librdkafka when read; bootstrap.servers is the brokers key");
	fputs("\nConfig file: UTF-8 text, one \"key = value\" per line. Whitespace around key and\n"
	      "value is trimmed; there is no quoting. A line starting with '#' is a comment ('#'\n"
	      "elsewhere is part of the value); blank lines are ignored. Each key may appear once.\n"
	      "\n"
	      "Exit status: 0 on success; 2 on a bad flag, unknown key, bad value or unreadable\n"
	      "config file (the message names the key and FILE:LINE or the flag).\n", out);
}

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFDIR:
		return "a directory";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	default:
		return "not a file";
	}
}

/* Reads the whole regular file; rejects NUL bytes, which would silently cut the text short. */
static int read_file(const char *path, char **text, char *errstr, size_t errstr_size)
{
	size_t len = 0, cap = 4096;
	char *buf = NULL, *grown, *nul;
	struct stat st;
	ssize_t n;
	int fd, ret = 0, line;

	*text = NULL;
	/* O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one for ever. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fail(errstr, errstr_size, -errno, "--config %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = fail(errstr, errstr_size, -errno, "--config %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = fail(errstr, errstr_size, -EINVAL, "--config %s: not a regular file (%s)", path,
			   file_kind(st.st_mode));
		goto out;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = fail(errstr, errstr_size, -ENOMEM, "--config %s: out of memory", path);
		goto out;
	}
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			grown = realloc(buf, cap);
			if (!grown) {
				ret = fail(errstr, errstr_size, -ENOMEM, "--config %s: out of memory", path);
				goto out;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = fail(errstr, errstr_size, -errno, "--config %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			ret = fail(errstr, errstr_size, -EFBIG, "--config %s: larger than %d bytes",
				   path, CONFIG_FILE_MAX);
			goto out;
		}
	}
	buf[len] = '\0';
	nul = memchr(buf, '\0', len);
	if (nul) {
		line = 1;
		for (grown = buf; grown < nul; grown++)
			line += *grown == '\n';
		ret = fail(errstr, errstr_size, -EINVAL, "%s:%d: contains a NUL byte (not a text file?)",
			   path, line);
		goto out;
	}
	*text = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

/* The default set: every known collector but those that run only when named (etcd). */
static int set_default_collectors(struct tapio_config *cfg, const char *const *known,
				  char *errstr, size_t errstr_size)
{
	size_t n = 0, i, used = 0;

	while (known && known[n])
		n++;
	if (!n)
		return fail(errstr, errstr_size, -EINVAL, "collectors: no collector is known");
	cfg->collectors = calloc(n + 1, sizeof(*cfg->collectors));
	if (!cfg->collectors)
		return fail(errstr, errstr_size, -ENOMEM, "out of memory");
	cfg->collectors_default = true;
	for (i = 0; i < n; i++) {
		const struct collector_ops *ops = collector_find(known[i]);

		if (ops && ops->not_default)
			continue;
		cfg->collectors[used] = strdup(known[i]);
		if (!cfg->collectors[used++])
			return fail(errstr, errstr_size, -ENOMEM, "out of memory");
	}
	return 0;
}

/* The node name default comes from outside; explicit settings were checked when set. */
static int check_default_node_name(struct tapio_config *cfg, char *errstr, size_t errstr_size)
{
	const char *env = getenv("NODE_NAME");
	const char *src = env && *env ? "environment variable NODE_NAME" : "host name";
	char why[256], *s;
	int ret;

	if (!cfg->node_name)
		return fail(errstr, errstr_size, -EINVAL,
			    "node_name: not set (NODE_NAME is empty and the host name is unavailable); use --node-name");
	ret = check_node_name(cfg->node_name, NULL, &s, why, sizeof(why));
	if (ret == -EINVAL)
		return fail(errstr, errstr_size, ret,
			    "%s: bad value \"%s\" for node_name: %s (set --node-name)", src,
			    cfg->node_name, why);
	if (ret)
		return fail(errstr, errstr_size, ret, "out of memory");
	free(s);
	return 0;
}

int config_validate(const struct tapio_config *cfg, char *errstr, size_t errstr_size)
{
	char warning[512], why[512];
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;
	int ret;

	if (cfg->spool_segment_mb > cfg->spool_max_mb)
		return fail(errstr, errstr_size, -EINVAL,
			    "spool_segment_mb (%d) must be at most spool_max_mb (%d)",
			    cfg->spool_segment_mb, cfg->spool_max_mb);
	/* The kernel wants a power of two of pages for a BPF ring buffer. */
	if (cfg->ringbuf_kb & (cfg->ringbuf_kb - 1) || cfg->ringbuf_kb < page_kb)
		return fail(errstr, errstr_size, -EINVAL,
			    "ringbuf_kb: %d is not a power of two of at least one page (%ld KiB)",
			    cfg->ringbuf_kb, page_kb);
	why[0] = '\0';
	ret = publisher_check_config(cfg, warning, sizeof(warning), why, sizeof(why));
	if (ret)
		return fail(errstr, errstr_size, ret, "kafka.* settings: %s", why);
	if (warning[0])
		log_warn("%s", warning);
	return 0;
}

int config_from_args(struct tapio_config *cfg, int argc, char **argv,
		     const char *const *known_collectors, FILE *out,
		     char *errstr, size_t errstr_size)
{
	struct { int opt; const char *arg; } *flags = NULL;
	const char *config_file = NULL, *arg, *eq;
	bool help = false, version = false, dump = false, probe = false;
	char *text = NULL, *key = NULL;
	int nflags = 0, c, i, ret = 0;
	size_t k;

	config_defaults(cfg);
	if (errstr && errstr_size)
		errstr[0] = '\0';
	if (!cfg->topic_prefix)
		return fail(errstr, errstr_size, -ENOMEM, "out of memory");
	flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
	if (!flags)
		return fail(errstr, errstr_size, -ENOMEM, "out of memory");

	/* Flags are collected first and applied after the file, so their position does not matter. */
	optind = 0;	/* full getopt reset, so the function can be called more than once */
	opterr = 0;	/* messages are ours, in errstr */
	while ((c = getopt_long(argc, argv, "+:c:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (config_file) {
				ret = fail(errstr, errstr_size, -EINVAL,
					   "--config given twice (\"%s\", \"%s\")", config_file, optarg);
				goto out;
			}
			config_file = optarg;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			version = true;
			break;
		case OPT_DUMP:
			dump = true;
			break;
		case OPT_PROBE:
			probe = true;
			break;
		case ':':
			arg = argv[optind - 1];
			if (!strncmp(arg, "--", 2))
				ret = fail(errstr, errstr_size, -EINVAL, "option \"%s\" needs a value",
					   arg);
			else
				ret = fail(errstr, errstr_size, -EINVAL, "option \"-%c\" needs a value",
					   optopt);
			goto out;
		case '?':
			arg = argv[optind - 1];
			if (!strncmp(arg, "--", 2) || !optopt)
				ret = fail(errstr, errstr_size, -EINVAL,
					   "unknown option \"%s\" (see --help)", arg);
			else
				ret = fail(errstr, errstr_size, -EINVAL,
					   "unknown option \"-%c\" (see --help)", optopt);
			goto out;
		default:
			flags[nflags].opt = c;
			flags[nflags].arg = optarg;
			nflags++;
			break;
		}
	}
	if (help) {
		usage(out, known_collectors);
		ret = 1;
		goto out;
	}
	if (version) {
		fprintf(out, "tapio-producer %s\n", TAPIO_VERSION);
		ret = 1;
		goto out;
	}
	if (optind < argc) {
		ret = fail(errstr, errstr_size, -EINVAL, "unexpected argument \"%s\" (see --help)",
			   argv[optind]);
		goto out;
	}

	if (config_file) {
		cfg->config_path = strdup(config_file);
		if (!cfg->config_path) {
			ret = fail(errstr, errstr_size, -ENOMEM, "out of memory");
			goto out;
		}
		ret = read_file(config_file, &text, errstr, errstr_size);
		if (ret)
			goto out;
		ret = config_parse_text(cfg, text, config_file, known_collectors, errstr,
					errstr_size);
		if (ret)
			goto out;
	}

	for (i = 0; i < nflags; i++) {
		if (flags[i].opt == OPT_SET) {
			eq = strchr(flags[i].arg, '=');
			if (!eq) {
				ret = fail(errstr, errstr_size, -EINVAL,
					   "--set \"%s\": expected KEY=VALUE", flags[i].arg);
				goto out;
			}
			free(key);
			key = strndup(flags[i].arg, (size_t)(eq - flags[i].arg));
			if (!key) {
				ret = fail(errstr, errstr_size, -ENOMEM, "out of memory");
				goto out;
			}
			ret = config_set(cfg, key, eq + 1, "--set", known_collectors, errstr,
					 errstr_size);
			if (ret)
				goto out;
			continue;
		}
		for (k = 0; k < FLAG_KEY_COUNT && flag_keys[k].opt != flags[i].opt; k++)
			;
		if (k == FLAG_KEY_COUNT) {
			ret = fail(errstr, errstr_size, -EINVAL, "internal error: option %d",
				   flags[i].opt);
			goto out;
		}
		ret = config_set(cfg, flag_keys[k].key, flags[i].arg, flag_keys[k].flag,
				 known_collectors, errstr, errstr_size);
		if (ret)
			goto out;
	}

	if (!cfg->collectors) {
		ret = set_default_collectors(cfg, known_collectors, errstr, errstr_size);
		if (ret)
			goto out;
	}
	ret = check_default_node_name(cfg, errstr, errstr_size);
	if (ret)
		goto out;
	/* Before the dump, too: it must never print a configuration the producer then refuses. */
	ret = config_validate(cfg, errstr, errstr_size);
	if (ret)
		goto out;
	if (dump) {
		config_dump(cfg, out);
		ret = 1;
	}
	cfg->probe = probe;
out:
	free(key);
	free(text);
	free(flags);
	return ret;
}
