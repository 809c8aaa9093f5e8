/* verifier_log_error(): the reason picked out of verifier logs of the shapes the kernel matrix
 * met (5.10, 6.1, 6.18), and of truncated, empty and odd ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "verifier_log.h"

static void expect_reason(const char *log, const char *want)
{
	char why[256];

	memset(why, 'x', sizeof(why));
	assert_true(verifier_log_error(log, strlen(log) + 1, why, sizeof(why)));
	assert_string_equal(why, want);
}

/* libbpf rewrites the instruction it could not relocate; the reason is its explanation. */
static void test_core_relocation(void **state)
{
	(void)state;
	expect_reason("reg type unsupported for arg#0 function handle_mark_victim#25\n"
		      "0: R1=ctx(off=0,imm=0) R10=fp0\n"
		      "; int BPF_PROG(handle_mark_victim, struct task_struct *victim, uid_t uid)\n"
		      "0: (79) r7 = *(u64 *)(r1 +0)\n"
		      "57: (85) call bpf_probe_read_kernel#113\n"
		      "58: <invalid CO-RE relocation>\n"
		      "failed to resolve CO-RE relocation <byte_sz> [370] struct mm_struct.rss_stat "
		      "(0:0:42 @ offset 824)\n"
		      "processed 104 insns (limit 1000000) max_states_per_insn 0 total_states 6\n",
		      "failed to resolve CO-RE relocation <byte_sz> [370] struct mm_struct.rss_stat "
		      "(0:0:42 @ offset 824)");
}

/* A helper the kernel does not have (bpf_get_current_task_btf on 5.10). */
static void test_unknown_helper(void **state)
{
	(void)state;
	expect_reason("0: R1=ctx(id=0,off=0,imm=0) R10=fp0\n"
		      "; struct task_struct *current = (void *)bpf_get_current_task_btf();\n"
		      "0: (85) call unknown#158\n"
		      "invalid func unknown#158\n"
		      "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0\n",
		      "invalid func unknown#158");
}

/* The register state printed before the error, indented (5.10), is not the error. */
static void test_state_before_error(void **state)
{
	(void)state;
	expect_reason("351: (85) call bpf_skb_load_bytes#26\n"
		      " R0=mem(id=0,ref_obj_id=5,off=0,imm=0) R1_w=ctx(id=0,off=0,imm=0) "
		      "R4_w=inv(id=9,umax_value=512,var_off=(0x0; 0x3ff))\n"
		      "R4 invalid zero-sized read\n"
		      "processed 412 insns (limit 1000000) max_states_per_insn 4\n",
		      "R4 invalid zero-sized read");
	expect_reason("100: (85) call bpf_skb_load_bytes#26\n"
		      "invalid access to memory, mem_size=584 off=72 size=0\n"
		      "R3 min value is outside of the allowed memory range\n"
		      "processed 380 insns\n",
		      "invalid access to memory, mem_size=584 off=72 size=0");
}

/* Refused before any instruction was walked: the first telling line anywhere. */
static void test_no_instructions(void **state)
{
	(void)state;
	expect_reason("number of funcs in func_info doesn't match number of subprogs\n"
		      "processed 0 insns (limit 1000000)\n",
		      "number of funcs in func_info doesn't match number of subprogs");
	expect_reason("BPF_STX uses reserved fields", "BPF_STX uses reserved fields");
}

static void test_nothing_telling(void **state)
{
	char why[64] = "unchanged";

	(void)state;
	assert_false(verifier_log_error("", 1, why, sizeof(why)));
	assert_string_equal(why, "");
	assert_false(verifier_log_error("0: (b7) r0 = 0\n1: (95) exit\n\nprocessed 2 insns\n", 40,
					why, sizeof(why)));
	assert_false(verifier_log_error("anything", 8, why, 0));
}

/* A long line is cut to the buffer; control bytes become blanks; the length is respected. */
static void test_bounds(void **state)
{
	char log[600], why[32];

	(void)state;
	memset(log, 'e', sizeof(log));
	log[0] = '\t';
	log[5] = '\r';
	assert_true(verifier_log_error(log, sizeof(log), why, sizeof(why)));
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_string_equal(why, "eeee eeeeeeeeeeeeeeeeeeeeeeeeee");
	/* Not NUL-terminated: only `len` bytes are read. */
	assert_true(verifier_log_error("12: (85) call x\nR1 type=scalar expected=fp", 30, why,
				       sizeof(why)));
	assert_string_equal(why, "R1 type=scalar");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_relocation),
		cmocka_unit_test(test_unknown_helper),
		cmocka_unit_test(test_state_before_error),
		cmocka_unit_test(test_no_instructions),
		cmocka_unit_test(test_nothing_telling),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
