/*
 * Argument redaction for exec records: the values of secret-looking arguments are replaced before
 * the record is encoded, so neither Kafka nor the spool ever holds them.
 *
 * A spec (the kernel_redact_args key) is a comma-separated list of rules, blanks around each
 * ignored, case-insensitive, `*` matching any run of characters and `?` one:
 *   -NAME, --NAME    a flag, with any number of leading dashes: "--NAME=VALUE" becomes
 *                    "--NAME=[REDACTED]", and after "--NAME" alone the next argument becomes
 *                    "[REDACTED]".
 *   NAME             the key of a KEY=VALUE anywhere in an argument (its leading dashes
 *                    dropped): everything after that '=' is replaced ("AWS_SECRET_ACCESS_KEY=x",
 *                    "--db-password=x", "--from-literal=password=x", "host=h password=x",
 *                    "https://h/?token=x"); and the name of an HTTP header argument
 *                    "NAME: VALUE" (curl -H), whose value is replaced.
 *   user:password@   the password of every URL "scheme://user:password@host" in an argument.
 * An empty value (nothing after the '=') is left as it is.
 *
 * Ownership: redact_parse() returns rules the caller frees with redact_free(). redact_args()
 * writes only into the caller's buffer. Thread-safe for concurrent readers of the same rules.
 */
#ifndef TAPIO_REDACT_H
#define TAPIO_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define REDACT_TEXT "[REDACTED]"

/* On by default (README, "Configuration", repeats it). */
#define REDACT_DEFAULT                                                                      \
	"--password, --passwd, --pass, --token, --secret, --api-key, --apikey, "            \
	"--client-secret, --access-key, --secret-key, --auth-token, --storepass, "          \
	"--keypass, --passin, --passout, "                                                  \
	"*PASSWORD*, *PASSWD*, *SECRET*, *TOKEN*, *KEY*, *CREDENTIAL*, *AUTHORIZATION*, "  \
	"user:password@"

#define REDACT_RULES_MAX 64
#define REDACT_RULE_MAX 128 /* bytes of one rule */

/* The output redact_args() may need for `len` bytes of argv: every replacement turns at least
 * one byte into REDACT_TEXT, at most one per argument and one per 7-byte "://a:b@". */
#define REDACT_OUT_MAX(len) ((len) * 12 + 1)

struct redact_rules;

/* Parses a spec. 0 with *out set (NULL for an empty spec: nothing is redacted), -EINVAL with the
 * reason in why (an empty rule, one too long, too many, a flag with no name), or -ENOMEM. */
int redact_parse(const char *spec, struct redact_rules **out, char *why, size_t why_size);

/* The spec normalized ("a, b, c"), malloc'd; NULL when out of memory. */
char *redact_normalize(const struct redact_rules *r);

void redact_free(struct redact_rules *r);

/*
 * Rewrites argv as the kernel keeps it (`len` bytes, NUL-separated, the last argument without
 * its NUL when the list was cut) into out, in the same layout. Returns the bytes written, at
 * most out_size (which should be REDACT_OUT_MAX(len); a smaller buffer cuts the output); adds
 * the values replaced to *redacted. NULL rules copy argv unchanged.
 */
size_t redact_args(const struct redact_rules *r, const char *args, size_t len, char *out,
		   size_t out_size, unsigned *redacted);

#endif /* TAPIO_REDACT_H */
