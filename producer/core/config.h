/*
 * Configuration: one typed property table, a `key = value` file, command-line overrides.
 *
 * Ownership: struct tapio_config owns every string and list in it; config_free() releases them.
 * Functions that fail leave a message in errstr naming the source ("FILE:LINE", or "--flag"),
 * the key and the bad value, and return -EINVAL (or -ENOMEM / -errno of a failed read).
 */
#ifndef TAPIO_CONFIG_H
#define TAPIO_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "log.h"

/* A `kafka.<property> = value` pass-through, applied verbatim to librdkafka. */
struct kafka_prop {
	char *name;   /* without the "kafka." prefix */
	char *value;
	char *origin; /* "FILE:LINE" or "--set" / flag name, for error messages */
};

struct tapio_config {
	char *brokers;        /* bootstrap servers; NULL = start the embedded broker */
	char *topic_prefix;   /* default "tapio." */
	char *node_name;      /* default $NODE_NAME, else the host name */
	char **collectors;    /* NULL-terminated, validated against the known names */
	bool collectors_default; /* `collectors` was not set: the default set, none named */
	enum log_level log_level;
	int flush_timeout_ms; /* bound on the shutdown flush */
	int stats_interval_s; /* counters logged every N s; 0 = never */
	int identity_grace_s; /* removed cgroups stay resolvable this long */
	int ringbuf_kb;       /* per event collector; a power of two (checked by pipeline_open) */
	char *schema_registry_url; /* NULL = Avro single-object encoding */
	char *record_headers;      /* header names, comma-separated; NULL = none */
	char *metrics_listen;      /* NULL = no metrics endpoint */
	char *spool_dir;           /* NULL = no disk spool */
	char *state_dir;           /* NULL = <spool_dir>/state (config_state_dir) */
	int spool_max_mb;
	int spool_segment_mb;
	int spool_full;            /* enum spool_full_policy */
	int spool_fsync;           /* enum spool_fsync_policy */
	int spool_fsync_interval_ms;
	char *dns_ports;      /* dns: "53[,port...]", validated: 1..65535, distinct, at most 8 */
	int dns_timeout_ms;   /* dns: a query with no response after this is published as a timeout */
	int dns_pending_max;  /* dns: queries awaiting a response, at most; the oldest is evicted */
	/* kubeapi (producer/collectors/kubeapi) */
	char *kubeapi_url;         /* NULL = in-cluster: KUBERNETES_SERVICE_HOST/PORT */
	char *kubeapi_token_file;  /* NULL = the service account's token */
	char *kubeapi_ca_file;     /* NULL = the service account's CA */
	int kubeapi_pods;          /* enum kubeapi_pods_mode: node, off */
	int kubeapi_events;        /* enum kubeapi_events_mode: off, node, cluster */
	char *kubeapi_annotations; /* annotation keys to export, "a,b" (validated); NULL = none */
	char *kernel_redact_args; /* kernel: argv redaction rules (redact.h), normalized; NULL = none */
	/* etcd: the collector that watches etcd's JSON gateway (producer/collectors/etcd). */
	char *etcd_endpoints;        /* "url[,url...]": http(s)://host:port, normalized, at most 8 */
	char *etcd_ca_file;          /* NULL = the system's CA store */
	char *etcd_cert_file;        /* client certificate; NULL = none */
	char *etcd_key_file;         /* its key; NULL = in etcd_cert_file */
	char *etcd_prefix;           /* keys watched: those starting with it */
	char *etcd_exclude_prefixes; /* "p[,p...]" not published; NULL = none */
	int etcd_idle_timeout_s;     /* a watch silent this long is opened again */
	/* kubelet: where the node's kubelet is and how it is polled (producer/collectors/kubelet) */
	char *kubelet_url;        /* NULL = https://$NODE_IP:10250 */
	char *kubelet_token_file; /* NULL = the service-account token */
	char *kubelet_ca_file;    /* NULL = the service-account CA */
	int kubelet_insecure_skip_verify; /* 0 or 1 (an enum: false, true) */
	int kubelet_interval_s;
	int kubelet_timeout_s;
	int kubelet_max_response_mb;
	struct kafka_prop *kafka;
	int kafka_count;
	char *config_path;    /* file that was read, or NULL */
	bool probe;           /* --probe: report what each collector can do here, then exit */
};

/*
 * Fills *cfg from defaults, then the file named by --config (if any), then the other flags, in
 * that order, so flags win. `known_collectors` is a NULL-terminated list of valid collector
 * names. Returns:
 *   0        ready to run (cfg->probe set: --probe was given, run the probe instead)
 *   1        --help, --version or --dump-config was handled (output written to `out`); exit 0
 *   -EINVAL  bad flag, key or value: errstr says which; the caller exits with status 2
 * *cfg must be released with config_free() whatever the result.
 */
int config_from_args(struct tapio_config *cfg, int argc, char **argv,
		     const char *const *known_collectors, FILE *out,
		     char *errstr, size_t errstr_size);

/*
 * Checks what no single key can: spool_segment_mb <= spool_max_mb, ringbuf_kb a power of two of
 * pages, and the kafka.* properties together with the producer's defaults, as librdkafka will
 * take them (publisher_check_config()). Logs a warning when they weaken the delivery guarantee.
 * Messages name the keys. 0 or -EINVAL. config_from_args() calls it before --dump-config.
 */
int config_validate(const struct tapio_config *cfg, char *errstr, size_t errstr_size);

/* Parses `key = value` lines from `text` (named `origin` in messages) into cfg. */
int config_parse_text(struct tapio_config *cfg, const char *text, const char *origin,
		      const char *const *known_collectors, char *errstr, size_t errstr_size);

/* Sets one key (`kafka.*` included) from `value`; `origin` is used in messages. */
int config_set(struct tapio_config *cfg, const char *key, const char *value, const char *origin,
	       const char *const *known_collectors, char *errstr, size_t errstr_size);

void config_defaults(struct tapio_config *cfg);

/* Writes the effective configuration in the file format, so it can be read back. */
void config_dump(const struct tapio_config *cfg, FILE *out);

bool config_has_collector(const struct tapio_config *cfg, const char *name);

/* Where checkpoints go: state_dir, else <spool_dir>/state (written into buf), else NULL (none:
 * HTTP collectors start from a fresh list at every start). */
const char *config_state_dir(const struct tapio_config *cfg, char *buf, size_t size);

void config_free(struct tapio_config *cfg);

#endif /* TAPIO_CONFIG_H */
