/*
 * The reason in a BPF verifier log: the line a person would quote. The log comes from the kernel
 * (the text differs across versions) or from libbpf, which rewrites the lines of instructions it
 * could not relocate ("failed to resolve CO-RE relocation ...").
 */
#ifndef TAPIO_VERIFIER_LOG_H
#define TAPIO_VERIFIER_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Reads `len` bytes of `log` (a NUL ends it earlier). True with `why` (`size` bytes, always
 * terminated) set to the first telling line after the last instruction the verifier walked, or
 * the first telling line anywhere when it walked none; false when there is no such line. */
bool verifier_log_error(const char *log, size_t len, char *why, size_t size);

#endif /* TAPIO_VERIFIER_LOG_H */
