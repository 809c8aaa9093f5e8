/*
 * `tapio-producer --print-topics`: every Kafka topic a configuration publishes to, with the
 * settings it needs, as a kafka-topics.sh script or as Strimzi KafkaTopic resources. The list
 * comes from the configured collectors (cfg->collectors, which defaults to the collector table)
 * plus the metadata topic, which every producer publishes; names use the configured prefix. So
 * the topics created are exactly those the producer will write, from the same file.
 *
 * Ownership: struct topics_options holds no memory of its own; strimzi_cluster points into the
 * argv given to topics_take_args() and lives as long as it does.
 */
#ifndef TAPIO_TOPICS_H
#define TAPIO_TOPICS_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum topics_format {
	TOPICS_NONE = 0,    /* --print-topics was not given: run the producer */
	TOPICS_KAFKA_TOPICS, /* a POSIX sh script of kafka-topics.sh / kafka-configs.sh calls */
	TOPICS_STRIMZI,      /* KafkaTopic resources (kafka.strimzi.io/v1beta2) */
};

#define TOPICS_DEFAULT_PARTITIONS 6
#define TOPICS_DEFAULT_REPLICATION 3
#define TOPICS_DEFAULT_RETENTION_HOURS 168
#define TOPICS_DEFAULT_STRIMZI_CLUSTER "my-cluster"

struct topics_options {
	enum topics_format format;
	int partitions;              /* per topic, 1..100000 */
	int replication_factor;      /* 1..32; 3 or more also sets min.insync.replicas=2 */
	int retention_hours;         /* retention.ms of the delete-policy topics, 1..87600 */
	const char *strimzi_cluster; /* the strimzi.io/cluster label, a label value */
};

/*
 * Takes the topic flags out of argv, so that what remains goes to config_from_args() unchanged:
 *   --print-topics[=kafka-topics|strimzi]  (default kafka-topics)
 *   --partitions N, --replication-factor N, --retention-hours N, --strimzi-cluster NAME
 *   (each also as --flag=VALUE)
 * argv is compacted in place and *argc updated; argv[*argc] is NULL afterwards. Scanning stops at
 * "--". Fills *opt (defaults for what is not given; format TOPICS_NONE without --print-topics).
 * Returns 0, or -EINVAL with errstr naming the flag and the bad value (the caller exits 2); the
 * other flags without --print-topics are an error too, since they would do nothing.
 */
int topics_take_args(int *argc, char **argv, struct topics_options *opt, char *errstr,
		     size_t errstr_size);

/*
 * Writes every topic of cfg (cfg->collectors in order, then the metadata topic) with its
 * settings in opt->format: data topics cleanup.policy=delete with retention.ms, the metadata
 * topic cleanup.policy=compact (one current record per cgroup, removed by its tombstone).
 * Returns 0, or -EIO when writing to `out` failed.
 */
int topics_print(const struct tapio_config *cfg, const struct topics_options *opt, FILE *out);

/*
 * The Kubernetes object name for a topic: the topic name itself when it is a valid lowercase
 * RFC 1123 subdomain, otherwise its characters mapped to [a-z0-9-] plus "-" and 8 hex digits of
 * a hash of the topic name, so distinct topics keep distinct names. `out` holds at least 254.
 */
void topics_k8s_name(const char *topic, char *out, size_t size);

#endif /* TAPIO_TOPICS_H */
