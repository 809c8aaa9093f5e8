/* Argument redaction (producer/collectors/kernel/redact.c) with the default rules and others, and
 * through the kernel collector's encoder: the secret never reaches the encoded record. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector.h"
#include "kernel.h"
#include "kernel_collector.h"
#include "pipeline.h"
#include "redact.h"

/* argv given as "a|b|c" (| for the NUL between arguments), redacted, back in that notation. */
static char *redact_bars(const struct redact_rules *r, const char *bars, unsigned *count)
{
	size_t len = strlen(bars), n;
	char *in = strdup(bars), *out = malloc(REDACT_OUT_MAX(len) + 1);

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < len; i++)
		if (in[i] == '|')
			in[i] = '\0';
	*count = 0;
	n = redact_args(r, in, len, out, REDACT_OUT_MAX(len), count);
	assert_true(n <= REDACT_OUT_MAX(len));
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = '|';
	out[n] = '\0';
	free(in);
	return out;
}

static void expect(const struct redact_rules *r, const char *in, const char *want, unsigned count)
{
	unsigned got_count;
	char *got = redact_bars(r, in, &got_count);

	if (strcmp(got, want) || got_count != count)
		fail_msg("\"%s\" -> \"%s\" (%u), want \"%s\" (%u)", in, got, got_count, want, count);
	free(got);
}

static struct redact_rules *rules(const char *spec)
{
	struct redact_rules *r = NULL;
	char why[256] = "";

	if (redact_parse(spec, &r, why, sizeof(why)))
		fail_msg("\"%s\": %s", spec, why);
	assert_non_null(r);
	return r;
}

#define R REDACT_TEXT

static void test_default_rules(void **state)
{
	struct redact_rules *r = rules(REDACT_DEFAULT);

	(void)state;
	/* --flag=value and --flag value. */
	expect(r, "mysql|--password=hunter2|-h|db|", "mysql|--password=" R "|-h|db|", 1);
	expect(r, "mysql|--password|hunter2|-h|db|", "mysql|--password|" R "|-h|db|", 1);
	expect(r, "tool|--api-key|k-123|--token=t|", "tool|--api-key|" R "|--token=" R "|", 2);
	expect(r, "vault|login|--client-secret=s3|", "vault|login|--client-secret=" R "|", 1);
	expect(r, "openssl|enc|-pass|pass:abc|-in|x|", "openssl|enc|-pass|" R "|-in|x|", 1);
	expect(r, "keytool|-storepass|changeit|-keypass|k|",
	       "keytool|-storepass|" R "|-keypass|" R "|", 2);
	expect(r, "x|--PASSWORD=Upper|", "x|--PASSWORD=" R "|", 1);
	/* A secret flag where a value was expected: each takes its own. */
	expect(r, "x|--token|--password|p|", "x|--token|--password|" R "|", 1);
	/* KEY=VALUE shapes, anywhere in an argument. */
	expect(r, "env|AWS_SECRET_ACCESS_KEY=abc/def|aws|s3|ls|",
	       "env|AWS_SECRET_ACCESS_KEY=" R "|aws|s3|ls|", 1);
	expect(r, "env|PGPASSWORD=pw|psql|", "env|PGPASSWORD=" R "|psql|", 1);
	expect(r, "app|--db-password=pw|-Djavax.net.ssl.keyStorePassword=ks|",
	       "app|--db-password=" R "|-Djavax.net.ssl.keyStorePassword=" R "|", 2);
	expect(r, "kubectl|create|secret|generic|s|--from-literal=password=abc|",
	       "kubectl|create|secret|generic|s|--from-literal=password=" R "|", 1);
	expect(r, "psql|host=db password=abc sslmode=require|", "psql|host=db password=" R "|", 1);
	expect(r, "sh|-c|export GITHUB_TOKEN=ghp_x; make|", "sh|-c|export GITHUB_TOKEN=" R "|", 1);
	/* Headers and URLs. */
	expect(r, "curl|-H|Authorization: Bearer abc.def|https://h/|",
	       "curl|-H|Authorization: " R "|https://h/|", 1);
	expect(r, "curl|-H|X-Api-Key:k1|", "curl|-H|X-Api-Key:" R "|", 1);
	expect(r, "git|clone|https://user:ghp_abc@github.com/o/r.git|",
	       "git|clone|https://user:" R "@github.com/o/r.git|", 1);
	expect(r, "curl|https://h/x?token=t&y=1|", "curl|https://h/x?token=" R "|", 1);
	expect(r, "psql|postgres://u:pw@db:5432/x?password=p2|",
	       "psql|postgres://u:" R "@db:5432/x?password=" R "|", 2);
	expect(r, "sh|-c|curl -u x ftp://a:b@h1/ http://c:d@h2 ok|",
	       "sh|-c|curl -u x ftp://a:" R "@h1/ http://c:" R "@h2 ok|", 2);
	/* Left alone: no secret-looking name, no userinfo, empty values, flags alike in shape. */
	expect(r, "mkdir|-p|/tmp/x|", "mkdir|-p|/tmp/x|", 0);
	expect(r, "ssh|-p|22|host|", "ssh|-p|22|host|", 0);
	expect(r, "docker|run|-p|8080:80|--rm|img|", "docker|run|-p|8080:80|--rm|img|", 0);
	expect(r, "ls|--color=auto|kafka:9092|http://h:8080/p|",
	       "ls|--color=auto|kafka:9092|http://h:8080/p|", 0);
	expect(r, "x|--password=|--token||y|", "x|--password=|--token||y|", 0);
	expect(r, "x|--password|", "x|--password|", 0);
	expect(r, "x|https://user@h/|", "x|https://user@h/|", 0);
	/* Deliberately broad: a name holding KEY is taken for a secret. */
	expect(r, "x|--key-file=/etc/k.pem|", "x|--key-file=" R "|", 1);
	redact_free(r);
}

/* The kernel's layout: the last argument has no NUL when argv was cut at 1 024 bytes. */
static void test_layout(void **state)
{
	struct redact_rules *r = rules(REDACT_DEFAULT);
	char out[REDACT_OUT_MAX(64)];
	unsigned n = 0;
	size_t len;

	(void)state;
	len = redact_args(r, "a\0--password=hun", 16, out, sizeof(out), &n);
	assert_int_equal(len, 2 + 11 + sizeof(R) - 1);
	assert_memory_equal(out, "a\0--password=" R, len);
	assert_int_equal(n, 1);
	/* Empty arguments stay, as arguments. */
	n = 0;
	len = redact_args(r, "\0\0x\0", 4, out, sizeof(out), &n);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "\0\0x\0", 4);
	/* No rules: a copy. */
	len = redact_args(NULL, "--password=p", 12, out, sizeof(out), &n);
	assert_int_equal(len, 12);
	assert_memory_equal(out, "--password=p", 12);
	/* A short buffer cuts the output, never overruns it. */
	memset(out, 'z', sizeof(out));
	len = redact_args(r, "--password=p\0", 13, out, 5, &n);
	assert_int_equal(len, 5);
	assert_int_equal(out[5], 'z');
	redact_free(r);
}

static void test_other_rules(void **state)
{
	struct redact_rules *r = rules(" -p , db_*, --*-secret ");
	char *norm = redact_normalize(r);

	(void)state;
	assert_string_equal(norm, "-p, db_*, --*-secret");
	free(norm);
	expect(r, "mysql|-p|pw|-pSECRET|", "mysql|-p|" R "|-pSECRET|", 1); /* attached: not a flag */
	expect(r, "x|DB_URL=u|db_pass=p|dbx=1|", "x|DB_URL=" R "|db_pass=" R "|dbx=1|", 2);
	expect(r, "x|--app-secret|s|--password=p|", "x|--app-secret|" R "|--password=p|", 1);
	/* URLs only with user:password@. */
	expect(r, "git|https://u:p@h/|", "git|https://u:p@h/|", 0);
	redact_free(r);

	r = rules("user:password@");
	expect(r, "git|https://u:p@h/|--password=x|", "git|https://u:" R "@h/|--password=x|", 1);
	redact_free(r);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *spec, *why;
	} bad[] = {
		{ "--password,", "empty rule" },
		{ "a, ,b", "empty rule" },
		{ "--", "a flag needs a name" },
		{ "key=value", "cannot hold '='" },
	};
	struct redact_rules *r = (struct redact_rules *)1;
	char why[256], big[REDACT_RULE_MAX + 2], many[REDACT_RULES_MAX * 3 + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(redact_parse(bad[i].spec, &r, why, sizeof(why)), -EINVAL);
		assert_null(r);
		if (!strstr(why, bad[i].why))
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].spec, why, bad[i].why);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(redact_parse(big, &r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "longer than"));
	many[0] = '\0';
	for (int i = 0; i <= REDACT_RULES_MAX; i++)
		strcat(many, i ? ",a" : "a");
	assert_int_equal(redact_parse(many, &r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "more than"));
	/* Empty: nothing to redact. */
	assert_int_equal(redact_parse("  ", &r, why, sizeof(why)), 0);
	assert_null(r);
}

/* Through the collector's encoder: the secret is not in the encoded bytes, REDACTED is. */
static void test_encoded_record(void **state)
{
	static const char args[] = "mysql\0--password=hunter2\0-uroot\0AWS_SECRET_ACCESS_KEY=s3cr3t";
	static struct kernel_exec e;
	uint8_t bytes[ENCODE_BUF_SIZE];
	struct avro_buf buf = { .data = bytes, .cap = sizeof(bytes) };
	int kind;
	char why[128];

	(void)state;
	e.hdr.type = TAPIO_REC_KERNEL_EXEC;
	e.hdr.version = KERNEL_EXEC_VERSION;
	e.hdr.size = (uint32_t)(KERNEL_EXEC_FIXED_SIZE + sizeof(args));
	memcpy(e.args, args, sizeof(args));
	e.args_len = sizeof(args);
	assert_int_equal(kernel_check(&e, e.hdr.size, &kind), DECODE_OK);

	assert_int_equal(kernel_set_redaction(REDACT_DEFAULT, why, sizeof(why)), 0);
	kernel_encode(&e, kind, &buf);
	assert_false(buf.overflow);
	assert_null(memmem(bytes, buf.len, "hunter2", 7));
	assert_null(memmem(bytes, buf.len, "s3cr3t", 6));
	assert_non_null(memmem(bytes, buf.len, "--password=" R, 21));
	assert_non_null(memmem(bytes, buf.len, "AWS_SECRET_ACCESS_KEY=" R, 32));
	assert_non_null(memmem(bytes, buf.len, "-uroot", 6));

	/* Off: argv as it was. */
	assert_int_equal(kernel_set_redaction("", why, sizeof(why)), 0);
	buf.len = 0;
	kernel_encode(&e, kind, &buf);
	assert_non_null(memmem(bytes, buf.len, "hunter2", 7));
	assert_int_equal(kernel_set_redaction("--x,", why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_other_rules),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_encoded_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
