/* The --probe table against the BPF objects built into the producer: a program added to bpf/
 * without its row (or a row left behind) fails here, not on a user's node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "probe.h"

static void test_table_matches_objects(void **state)
{
	char err[256] = "";

	(void)state;
	if (probe_table_check(err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_matches_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
