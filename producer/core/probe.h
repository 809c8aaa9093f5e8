/*
 * tapio-producer --probe: what the collectors can do on this kernel, without publishing anything.
 *
 * Every BPF program of the collectors asked for (and of the metadata collector, which always runs)
 * is loaded on its own from the object embedded in the producer, then attached and detached, and
 * reported as attached, missing (its hook is not in this kernel; the collector leaves it out) or
 * failed (the verifier or libbpf refused it, or it did not attach; the collector, which loads its
 * programs together, cannot start), with the reason: the verifier's first error line, the
 * missing tracepoint or symbol. The user-space sources (rtnetlink) are checked too. Then, per
 * collector, what it publishes on this kernel and what it does not.
 *
 * It reads nothing of the collectors' own code: a static table in probe.c says which programs each
 * object has, which record kinds each makes possible, and which the collector can run without.
 */
#ifndef TAPIO_PROBE_H
#define TAPIO_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Writes the report to `out`. Needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN). Returns the exit
 * status: 0 when every collector in cfg->collectors and the metadata collector can run (some
 * perhaps without some record kinds), 1 otherwise. */
int probe_run(const struct tapio_config *cfg, FILE *out);

/* Checks the static table against the embedded objects (no kernel needed): 0 when every program
 * of every object is in the table and every program of the table is in its object; -ENOENT
 * with the first mismatch named in errstr otherwise. */
int probe_table_check(char *errstr, size_t errstr_size);

#endif /* TAPIO_PROBE_H */
