#!/bin/sh
# Writes topics.yaml: the Strimzi KafkaTopic resources of every topic the node and the cluster
# producers publish to, made by `tapio-producer --print-topics=strimzi` from their tapio.conf.
# Usage (from anywhere): k8s/overlays/strimzi-topics/generate.sh [TAPIO_PRODUCER] > topics.yaml
# `make test` checks that the committed topics.yaml is what this prints.
set -eu
producer=${1:-build/tapio-producer}
cd "$(dirname "$0")/../../.."
node=k8s/components/node/tapio.conf
cluster=k8s/components/cluster/tapio.conf
# The default set is dumped as a comment ("# collectors = ..."), so that it reads back as such.
collectors() { "$producer" --config "$1" --dump-config | sed -n 's/^\(# \)\{0,1\}collectors = //p'; }
# The union of both sets, in order; both files have the same topic_prefix (checked by the tests).
all=$( (collectors "$node"; collectors "$cluster") | tr ',' '\n' | awk 'NF && !seen[$0]++' |
	paste -sd, -)
exec "$producer" --config "$node" --collectors "$all" --print-topics=strimzi \
	--partitions 12 --replication-factor 3 --retention-hours 168 --strimzi-cluster my-cluster
