/* Collector `kubeapi`: the mappers from the API server's JSON against golden bytes written by an
 * independent implementation (tests/golden/kubeapi.py, python3-avro) and read back by avro-c;
 * quantities, times and the tokenizer exactly; hostile objects skipped by reason; and the list
 * and watch state machine against canned responses. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avro_json.h"
#include "kubeapi_collector.h"
#include "log.h"
#include "pipeline.h"
#include "schema.h"

/* tests/golden/kubeapi.py */
static const uint8_t golden_pod_full[] = {
	0x04, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64, 0x33, 0x63,
	0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38, 0x2d, 0x38,
	0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33, 0x64, 0x32,
	0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x02, 0x0a, 0x34, 0x38, 0x32, 0x31,
	0x33, 0x08, 0x73, 0x68, 0x6f, 0x70, 0x10, 0x77, 0x65, 0x62, 0x2d, 0x37,
	0x64, 0x39, 0x63, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64, 0x33, 0x63,
	0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38, 0x2d, 0x38,
	0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33, 0x64, 0x32,
	0x65, 0x31, 0x66, 0x30, 0x04, 0x06, 0x61, 0x70, 0x70, 0x06, 0x77, 0x65,
	0x62, 0x08, 0x74, 0x69, 0x65, 0x72, 0x14, 0x66, 0x72, 0x6f, 0x6e, 0x74,
	0x26, 0x62, 0x61, 0x63, 0x6b, 0x00, 0x02, 0x1a, 0x74, 0x61, 0x70, 0x69,
	0x6f, 0x2e, 0x69, 0x6f, 0x2f, 0x74, 0x65, 0x61, 0x6d, 0x10, 0x70, 0x61,
	0x79, 0x6d, 0x65, 0x6e, 0x74, 0x73, 0x00, 0x02, 0x14, 0x52, 0x65, 0x70,
	0x6c, 0x69, 0x63, 0x61, 0x53, 0x65, 0x74, 0x10, 0x77, 0x65, 0x62, 0x2d,
	0x37, 0x64, 0x39, 0x63, 0x48, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31,
	0x31, 0x2d, 0x32, 0x32, 0x32, 0x32, 0x2d, 0x33, 0x33, 0x33, 0x33, 0x2d,
	0x34, 0x34, 0x34, 0x34, 0x2d, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35, 0x35,
	0x35, 0x35, 0x35, 0x35, 0x35, 0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x02, 0x0e, 0x52, 0x75, 0x6e, 0x6e, 0x69, 0x6e, 0x67, 0x00, 0x00,
	0x02, 0x12, 0x42, 0x75, 0x72, 0x73, 0x74, 0x61, 0x62, 0x6c, 0x65, 0x04,
	0x14, 0x31, 0x30, 0x2e, 0x32, 0x34, 0x34, 0x2e, 0x31, 0x2e, 0x37, 0x0e,
	0x66, 0x64, 0x30, 0x30, 0x3a, 0x3a, 0x37, 0x00, 0x02, 0x10, 0x31, 0x30,
	0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x35, 0x02, 0x06, 0x77, 0x65, 0x62, 0x02,
	0x08, 0x68, 0x69, 0x67, 0x68, 0x02, 0x80, 0xe4, 0xf5, 0xdc, 0xa7, 0x96,
	0xa2, 0x06, 0x02, 0x80, 0xed, 0xef, 0xdd, 0xa7, 0x96, 0xa2, 0x06, 0x02,
	0x80, 0x98, 0xac, 0xd2, 0xac, 0x96, 0xa2, 0x06, 0x04, 0x0a, 0x52, 0x65,
	0x61, 0x64, 0x79, 0x0a, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x02, 0x24, 0x43,
	0x6f, 0x6e, 0x74, 0x61, 0x69, 0x6e, 0x65, 0x72, 0x73, 0x4e, 0x6f, 0x74,
	0x52, 0x65, 0x61, 0x64, 0x79, 0x02, 0x52, 0x63, 0x6f, 0x6e, 0x74, 0x61,
	0x69, 0x6e, 0x65, 0x72, 0x73, 0x20, 0x77, 0x69, 0x74, 0x68, 0x20, 0x75,
	0x6e, 0x72, 0x65, 0x61, 0x64, 0x79, 0x20, 0x73, 0x74, 0x61, 0x74, 0x75,
	0x73, 0x3a, 0x20, 0x5b, 0x73, 0x69, 0x64, 0x65, 0x63, 0x61, 0x72, 0x5d,
	0x02, 0x80, 0x80, 0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x18, 0x50, 0x6f,
	0x64, 0x53, 0x63, 0x68, 0x65, 0x64, 0x75, 0x6c, 0x65, 0x64, 0x08, 0x54,
	0x72, 0x75, 0x65, 0x00, 0x00, 0x02, 0x80, 0xe4, 0xf5, 0xdc, 0xa7, 0x96,
	0xa2, 0x06, 0x00, 0x06, 0x08, 0x69, 0x6e, 0x69, 0x74, 0x04, 0x02, 0x80,
	0x01, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x02, 0x14, 0x63, 0x6f, 0x6e, 0x74, 0x61,
	0x69, 0x6e, 0x65, 0x72, 0x64, 0x02, 0x18, 0x62, 0x75, 0x73, 0x79, 0x62,
	0x6f, 0x78, 0x3a, 0x31, 0x2e, 0x33, 0x36, 0x02, 0xc2, 0x01, 0x64, 0x6f,
	0x63, 0x6b, 0x65, 0x72, 0x2e, 0x69, 0x6f, 0x2f, 0x6c, 0x69, 0x62, 0x72,
	0x61, 0x72, 0x79, 0x2f, 0x62, 0x75, 0x73, 0x79, 0x62, 0x6f, 0x78, 0x40,
	0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x3a, 0x62, 0x62, 0x62, 0x62, 0x62,
	0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62,
	0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62,
	0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62,
	0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62,
	0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x62, 0x01,
	0x02, 0x00, 0x00, 0x02, 0x06, 0x02, 0x12, 0x43, 0x6f, 0x6d, 0x70, 0x6c,
	0x65, 0x74, 0x65, 0x64, 0x00, 0x02, 0x80, 0xf6, 0xe9, 0xde, 0xa7, 0x96,
	0xa2, 0x06, 0x02, 0x80, 0xff, 0xe3, 0xdf, 0xa7, 0x96, 0xa2, 0x06, 0x02,
	0x00, 0x00, 0x02, 0x80, 0x01, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x06, 0x61, 0x70, 0x70, 0x02, 0x02, 0x80, 0x01, 0x65, 0x65,
	0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65,
	0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65,
	0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65,
	0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65,
	0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65,
	0x65, 0x65, 0x02, 0x14, 0x63, 0x6f, 0x6e, 0x74, 0x61, 0x69, 0x6e, 0x65,
	0x72, 0x64, 0x02, 0x38, 0x72, 0x65, 0x67, 0x69, 0x73, 0x74, 0x72, 0x79,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
	0x2f, 0x77, 0x65, 0x62, 0x3a, 0x32, 0x2e, 0x31, 0x02, 0xc0, 0x01, 0x72,
	0x65, 0x67, 0x69, 0x73, 0x74, 0x72, 0x79, 0x2e, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x2f, 0x77, 0x65, 0x62, 0x40,
	0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x3a, 0x64, 0x64, 0x64, 0x64, 0x64,
	0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64,
	0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64,
	0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64,
	0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64,
	0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x64, 0x01,
	0x02, 0x01, 0x02, 0x02, 0x04, 0x00, 0x00, 0x02, 0xc0, 0x84, 0xcf, 0x96,
	0xa8, 0x96, 0xa2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x06, 0x02, 0x12,
	0x4f, 0x4f, 0x4d, 0x4b, 0x69, 0x6c, 0x6c, 0x65, 0x64, 0x02, 0x1a, 0x6f,
	0x75, 0x74, 0x20, 0x6f, 0x66, 0x20, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79,
	0x02, 0x80, 0x88, 0xde, 0xe0, 0xa7, 0x96, 0xa2, 0x06, 0x02, 0x80, 0xf7,
	0x97, 0x95, 0xa8, 0x96, 0xa2, 0x06, 0x02, 0x92, 0x02, 0x02, 0x12, 0x02,
	0x80, 0x01, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
	0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
	0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
	0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
	0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
	0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x02, 0xf4, 0x03, 0x02, 0x80, 0x80,
	0x80, 0x80, 0x01, 0x02, 0xd0, 0x0f, 0x02, 0x80, 0x80, 0x80, 0x80, 0x08,
	0x0e, 0x73, 0x69, 0x64, 0x65, 0x63, 0x61, 0x72, 0x02, 0x02, 0x80, 0x01,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x02, 0x08, 0x63, 0x72, 0x69, 0x6f, 0x02, 0x14,
	0x65, 0x6e, 0x76, 0x6f, 0x79, 0x3a, 0x31, 0x2e, 0x32, 0x39, 0x00, 0x00,
	0x00, 0x06, 0x02, 0x02, 0x02, 0x20, 0x43, 0x72, 0x61, 0x73, 0x68, 0x4c,
	0x6f, 0x6f, 0x70, 0x42, 0x61, 0x63, 0x6b, 0x4f, 0x66, 0x66, 0x02, 0x60,
	0x62, 0x61, 0x63, 0x6b, 0x2d, 0x6f, 0x66, 0x66, 0x20, 0x31, 0x30, 0x73,
	0x20, 0x72, 0x65, 0x73, 0x74, 0x61, 0x72, 0x74, 0x69, 0x6e, 0x67, 0x20,
	0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x20, 0x63, 0x6f, 0x6e, 0x74, 0x61,
	0x69, 0x6e, 0x65, 0x72, 0x3d, 0x73, 0x69, 0x64, 0x65, 0x63, 0x61, 0x72,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x06, 0x02, 0x0a, 0x45, 0x72, 0x72,
	0x6f, 0x72, 0x00, 0x02, 0x80, 0x89, 0x8c, 0x97, 0xa8, 0x96, 0xa2, 0x06,
	0x02, 0x80, 0x92, 0x86, 0x98, 0xa8, 0x96, 0xa2, 0x06, 0x02, 0x02, 0x00,
	0x02, 0x80, 0x01, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x02, 0xc8, 0x01, 0x02, 0x80,
	0x84, 0xaf, 0x5f, 0x00, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00,
	0x00, 0x00, 0x00,
};
static const uint8_t golden_pod_pending[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x02, 0x48, 0x39, 0x61, 0x38, 0x62, 0x37, 0x63, 0x36, 0x64,
	0x2d, 0x35, 0x65, 0x34, 0x66, 0x2d, 0x34, 0x33, 0x32, 0x31, 0x2d, 0x38,
	0x37, 0x36, 0x35, 0x2d, 0x30, 0x66, 0x65, 0x64, 0x63, 0x62, 0x61, 0x39,
	0x38, 0x37, 0x36, 0x35, 0x00, 0x00, 0x02, 0x02, 0x37, 0x0e, 0x64, 0x65,
	0x66, 0x61, 0x75, 0x6c, 0x74, 0x0c, 0x6c, 0x6f, 0x6e, 0x65, 0x6c, 0x79,
	0x48, 0x39, 0x61, 0x38, 0x62, 0x37, 0x63, 0x36, 0x64, 0x2d, 0x35, 0x65,
	0x34, 0x66, 0x2d, 0x34, 0x33, 0x32, 0x31, 0x2d, 0x38, 0x37, 0x36, 0x35,
	0x2d, 0x30, 0x66, 0x65, 0x64, 0x63, 0x62, 0x61, 0x39, 0x38, 0x37, 0x36,
	0x35, 0x00, 0x00, 0x00, 0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61,
	0x02, 0x0e, 0x50, 0x65, 0x6e, 0x64, 0x69, 0x6e, 0x67, 0x00, 0x00, 0x02,
	0x14, 0x42, 0x65, 0x73, 0x74, 0x45, 0x66, 0x66, 0x6f, 0x72, 0x74, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x6d, 0x61, 0x69,
	0x6e, 0x02, 0x00, 0x00, 0x02, 0x0a, 0x6e, 0x67, 0x69, 0x6e, 0x78, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00,
};
static const uint8_t golden_event_series[] = {
	0x0e, 0xe2, 0xd4, 0xfc, 0x8d, 0xa9, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64, 0x33, 0x63,
	0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38, 0x2d, 0x38,
	0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33, 0x64, 0x32,
	0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x34, 0x38, 0x33,
	0x30, 0x30, 0x08, 0x73, 0x68, 0x6f, 0x70, 0x1a, 0x77, 0x65, 0x62, 0x2d,
	0x37, 0x64, 0x39, 0x63, 0x2e, 0x31, 0x37, 0x61, 0x31, 0x48, 0x32, 0x32,
	0x32, 0x32, 0x32, 0x32, 0x32, 0x32, 0x2d, 0x33, 0x33, 0x33, 0x33, 0x2d,
	0x34, 0x34, 0x34, 0x34, 0x2d, 0x35, 0x35, 0x35, 0x35, 0x2d, 0x36, 0x36,
	0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x36, 0x02, 0x06,
	0x50, 0x6f, 0x64, 0x02, 0x08, 0x73, 0x68, 0x6f, 0x70, 0x02, 0x10, 0x77,
	0x65, 0x62, 0x2d, 0x37, 0x64, 0x39, 0x63, 0x02, 0x48, 0x30, 0x66, 0x31,
	0x65, 0x32, 0x64, 0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36,
	0x39, 0x37, 0x38, 0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62,
	0x34, 0x63, 0x33, 0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x02, 0x30, 0x73,
	0x70, 0x65, 0x63, 0x2e, 0x63, 0x6f, 0x6e, 0x74, 0x61, 0x69, 0x6e, 0x65,
	0x72, 0x73, 0x7b, 0x73, 0x69, 0x64, 0x65, 0x63, 0x61, 0x72, 0x7d, 0x02,
	0x0e, 0x42, 0x61, 0x63, 0x6b, 0x4f, 0x66, 0x66, 0x02, 0x0e, 0x57, 0x61,
	0x72, 0x6e, 0x69, 0x6e, 0x67, 0x02, 0x14, 0x52, 0x65, 0x73, 0x74, 0x61,
	0x72, 0x74, 0x69, 0x6e, 0x67, 0x02, 0x58, 0x42, 0x61, 0x63, 0x6b, 0x2d,
	0x6f, 0x66, 0x66, 0x20, 0x72, 0x65, 0x73, 0x74, 0x61, 0x72, 0x74, 0x69,
	0x6e, 0x67, 0x20, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x20, 0x63, 0x6f,
	0x6e, 0x74, 0x61, 0x69, 0x6e, 0x65, 0x72, 0x20, 0x73, 0x69, 0x64, 0x65,
	0x63, 0x61, 0x72, 0x00, 0x02, 0x0e, 0x6b, 0x75, 0x62, 0x65, 0x6c, 0x65,
	0x74, 0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61, 0x02, 0x80, 0xb6,
	0x83, 0x9b, 0xa8, 0x96, 0xa2, 0x06, 0x08, 0x02, 0xe2, 0xd4, 0xfc, 0x8d,
	0xa9, 0x96, 0xa2, 0x06, 0x00, 0x00,
};
static const uint8_t golden_event_node[] = {
	0x10, 0x80, 0xb8, 0xc3, 0xe1, 0x9a, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x34, 0x38, 0x33, 0x30,
	0x31, 0x0e, 0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0x16, 0x6e, 0x6f,
	0x64, 0x65, 0x2d, 0x61, 0x2e, 0x31, 0x37, 0x61, 0x32, 0x48, 0x33, 0x33,
	0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x2d, 0x34, 0x34, 0x34, 0x34, 0x2d,
	0x35, 0x35, 0x35, 0x35, 0x2d, 0x36, 0x36, 0x36, 0x36, 0x2d, 0x37, 0x37,
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x02, 0x08,
	0x4e, 0x6f, 0x64, 0x65, 0x00, 0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61, 0x00, 0x02, 0x18,
	0x4e, 0x6f, 0x64, 0x65, 0x4e, 0x6f, 0x74, 0x52, 0x65, 0x61, 0x64, 0x79,
	0x02, 0x0c, 0x4e, 0x6f, 0x72, 0x6d, 0x61, 0x6c, 0x00, 0x02, 0x4e, 0x4e,
	0x6f, 0x64, 0x65, 0x20, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61, 0x20, 0x73,
	0x74, 0x61, 0x74, 0x75, 0x73, 0x20, 0x69, 0x73, 0x20, 0x6e, 0x6f, 0x77,
	0x3a, 0x20, 0x4e, 0x6f, 0x64, 0x65, 0x4e, 0x6f, 0x74, 0x52, 0x65, 0x61,
	0x64, 0x79, 0x00, 0x02, 0x0e, 0x6b, 0x75, 0x62, 0x65, 0x6c, 0x65, 0x74,
	0x02, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x61, 0x02, 0x80, 0xf0, 0xf4,
	0xac, 0x8d, 0x96, 0xa2, 0x06, 0x0a, 0x02, 0x80, 0xb8, 0xc3, 0xe1, 0x9a,
	0x96, 0xa2, 0x06, 0x00, 0x00,
};
static const uint8_t golden_resync_begin[] = {
	0x0a, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x04, 0x0a, 0x35,
	0x30, 0x30, 0x30, 0x30, 0x00, 0x00,
};
static const uint8_t golden_resync_end[] = {
	0x0c, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x02, 0x0a, 0x35,
	0x30, 0x30, 0x30, 0x31, 0x02, 0x06, 0x00,
};
static const uint8_t golden_skipped[] = {
	0x12, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0x00, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64, 0x33, 0x63,
	0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38, 0x2d, 0x38,
	0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33, 0x64, 0x32,
	0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x0c,
	0x02, 0x50, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x2e, 0x63, 0x6f, 0x6e,
	0x74, 0x61, 0x69, 0x6e, 0x65, 0x72, 0x53, 0x74, 0x61, 0x74, 0x75, 0x73,
	0x65, 0x73, 0x5b, 0x30, 0x5d, 0x2e, 0x72, 0x65, 0x73, 0x74, 0x61, 0x72,
	0x74, 0x43, 0x6f, 0x75, 0x6e, 0x74, 0x02, 0x10, 0x4d, 0x4f, 0x44, 0x49,
	0x46, 0x49, 0x45, 0x44, 0x02, 0x0a, 0x34, 0x38, 0x32, 0x31, 0x34, 0x02,
	0x08, 0x73, 0x68, 0x6f, 0x70, 0x02, 0x10, 0x77, 0x65, 0x62, 0x2d, 0x37,
	0x64, 0x39, 0x63, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64, 0x33,
	0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38, 0x2d,
	0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33, 0x64,
	0x32, 0x65, 0x31, 0x66, 0x30,
};

#define NOW 1764000000123456LL
#define POD_UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D64 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define E64 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

/* The fixtures of tests/golden/kubeapi.py, as the API server writes them (Go's escapes of & < >
 * included). Secrets that must never reach a record: hunter2, s3cr3t. */
static const char pod_full[] =
	"{\"metadata\":{\"name\":\"web-7d9c\",\"generateName\":\"web-\",\"namespace\":\"shop\","
	"\"uid\":\"" POD_UID "\",\"resourceVersion\":\"48213\","
	"\"creationTimestamp\":\"2025-11-24T15:59:00Z\","
	"\"deletionTimestamp\":\"2025-11-24T16:10:00Z\",\"deletionGracePeriodSeconds\":30,"
	"\"labels\":{\"app\":\"web\",\"tier\":\"front\\u0026back\"},"
	"\"annotations\":{\"tapio.io/team\":\"payments\","
	"\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"secret\\\":\\\"hunter2\\\"}\""
	"},"
	"\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"cfg\","
	"\"uid\":\"aaaa\"},{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-7d9c"
	"\","
	"\"uid\":\"11111111-2222-3333-4444-555555555555\",\"controller\":true,"
	"\"blockOwnerDeletion\":true}],"
	"\"managedFields\":[{\"manager\":\"kubelet\",\"operation\":\"Update\","
	"\"fieldsV1\":{\"f:status\":{}}}]},"
	"\"spec\":{\"nodeName\":\"node-a\",\"serviceAccountName\":\"web\","
	"\"priorityClassName\":\"high\","
	"\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox:1.36\","
	"\"env\":[{\"name\":\"TOKEN\",\"value\":\"s3cr3t\"}]}],"
	"\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/web:2.1\","
	"\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"128Mi\"},"
	"\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}},"
	"\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2\"}]},"
	"{\"name\":\"sidecar\",\"image\":\"envoy:1.29\",\"resources\":{\"requests\":{\"cpu\":\"0.1"
	"\","
	"\"memory\":\"1e8\"},\"limits\":{\"memory\":\"0.5Gi\"}}}]},"
	"\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False"
	"\","
	"\"reason\":\"ContainersNotReady\","
	"\"message\":\"containers with unready status: [sidecar]\","
	"\"lastTransitionTime\":\"2025-11-24T16:00:00Z\"},{\"type\":\"PodScheduled\","
	"\"status\":\"True\",\"lastProbeTime\":null,"
	"\"lastTransitionTime\":\"2025-11-24T15:59:00Z\"}],"
	"\"hostIP\":\"10.0.0.5\",\"podIP\":\"10.244.1.7\","
	"\"podIPs\":[{\"ip\":\"10.244.1.7\"},{\"ip\":\"fd00::7\"}],"
	"\"startTime\":\"2025-11-24T15:59:01Z\",\"qosClass\":\"Burstable\","
	"\"initContainerStatuses\":[{\"name\":\"init\",\"state\":{\"terminated\":{\"exitCode\":0,"
	"\"reason\":\"Completed\",\"startedAt\":\"2025-11-24T15:59:02Z\","
	"\"finishedAt\":\"2025-11-24T15:59:03Z\",\"containerID\":\"containerd://" A64 "\"}},"
	"\"lastState\":{},\"ready\":true,\"restartCount\":0,"
	"\"image\":\"docker.io/library/busybox:1.36\","
	"\"imageID\":\"docker.io/library/busybox@sha256:" B64 "\","
	"\"containerID\":\"containerd://" A64 "\",\"started\":false}],"
	"\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"running\":"
	"{\"startedAt\":\"2025-11-24T16:00:00.5Z\"}},\"lastState\":{\"terminated\":{\"exitCode\":1"
	"37,"
	"\"signal\":9,\"reason\":\"OOMKilled\",\"message\":\"out of memory\","
	"\"startedAt\":\"2025-11-24T15:59:04Z\",\"finishedAt\":\"2025-11-24T15:59:59Z\","
	"\"containerID\":\"containerd://" C64 "\"}},\"ready\":true,\"restartCount\":1,"
	"\"image\":\"registry.example.com/web:2.1\","
	"\"imageID\":\"registry.example.com/web@sha256:" D64 "\","
	"\"containerID\":\"containerd://" E64 "\",\"started\":true},"
	"{\"name\":\"sidecar\",\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\","
	"\"message\":\"back-off 10s restarting failed container=sidecar\"}},"
	"\"lastState\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\","
	"\"startedAt\":\"2025-11-24T16:00:01Z\",\"finishedAt\":\"2025-11-24T16:00:02Z\","
	"\"containerID\":\"cri-o://" F64 "\"}},\"ready\":false,\"restartCount\":3,"
	"\"image\":\"envoy:1.29\",\"imageID\":\"\",\"containerID\":\"cri-o://" F64 "\"}]}}";

static const char pod_pending[] =
	"{\"metadata\":{\"name\":\"lonely\",\"namespace\":\"default\","
	"\"uid\":\"9a8b7c6d-5e4f-4321-8765-0fedcba98765\",\"resourceVersion\":\"7\","
	"\"creationTimestamp\":null},"
	"\"spec\":{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"main\",\"image\":\"nginx\"}"
	"]},"
	"\"status\":{\"phase\":\"Pending\",\"qosClass\":\"BestEffort\"}}";

static const char event_series[] =
	"{\"kind\":\"Event\",\"apiVersion\":\"events.k8s.io/v1\",\"metadata\":{"
	"\"name\":\"web-7d9c.17a1\",\"namespace\":\"shop\","
	"\"uid\":\"22222222-3333-4444-5555-666666666666\",\"resourceVersion\":\"48300\","
	"\"creationTimestamp\":\"2025-11-24T16:00:05Z\"},"
	"\"eventTime\":\"2025-11-24T16:00:05.123456Z\",\"series\":{\"count\":4,"
	"\"lastObservedTime\":\"2025-11-24T16:02:05.654321Z\"},\"reportingController\":\"kubelet\","
	"\"reportingInstance\":\"node-a\",\"action\":\"Restarting\",\"reason\":\"BackOff\","
	"\"regarding\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-7d9c\","
	"\"uid\":\"" POD_UID "\",\"apiVersion\":\"v1\",\"resourceVersion\":\"48213\","
	"\"fieldPath\":\"spec.containers{sidecar}\"},"
	"\"note\":\"Back-off restarting failed container sidecar\",\"type\":\"Warning\","
	"\"deprecatedSource\":{},\"deprecatedFirstTimestamp\":null,"
	"\"deprecatedLastTimestamp\":null}";

static const char event_node[] =
	"{\"metadata\":{\"name\":\"node-a.17a2\",\"namespace\":\"default\","
	"\"uid\":\"33333333-4444-5555-6666-777777777777\",\"resourceVersion\":\"48301\","
	"\"creationTimestamp\":\"2025-11-24T15:00:00Z\"},\"eventTime\":null,"
	"\"reportingController\":\"kubelet\",\"reportingInstance\":\"node-a\","
	"\"reason\":\"NodeNotReady\",\"regarding\":{\"kind\":\"Node\",\"name\":\"node-a\","
	"\"uid\":\"node-a\",\"apiVersion\":\"v1\"},"
	"\"note\":\"Node node-a status is now: NodeNotReady\",\"type\":\"Normal\","
	"\"deprecatedSource\":{\"component\":\"kubelet\",\"host\":\"node-a\"},"
	"\"deprecatedFirstTimestamp\":\"2025-11-24T15:00:00Z\","
	"\"deprecatedLastTimestamp\":\"2025-11-24T15:30:00Z\",\"deprecatedCount\":5}";

static char *annotations[] = { "tapio.io/team", "not.present/key", NULL };
static const struct kubeapi_map_config map_cfg = { .node = "node-a", .annotations = annotations };

static uint8_t body_buf[KUBEAPI_BODY_MAX];
static uint8_t scratch_buf[KUBEAPI_SCRATCH_SIZE];

struct mapped {
	struct jtok_doc doc;
	struct kubeapi_record rec;
	struct kubeapi_skip skip;
	struct kubeapi_map_stats stats;
	enum kubeapi_skip_reason result;
};

static void map_text(struct mapped *m, const char *json, size_t len, bool pod,
		     enum kubeapi_kind kind)
{
	memset(m, 0, sizeof(*m));
	jtok_init(&m->doc, 1u << 20, 64);
	avro_buf_init(&m->rec.body, body_buf, sizeof(body_buf));
	assert_int_equal(jtok_parse(&m->doc, json, len), JTOK_OK);
	if (pod)
		m->result = kubeapi_map_pod(&m->doc, 0, kind, NOW, &map_cfg, scratch_buf, &m->rec,
					    &m->skip, &m->stats);
	else
		m->result = kubeapi_map_event(&m->doc, 0, kind, NOW, &m->rec, &m->skip,
					      &m->stats);
}

static void map_json(struct mapped *m, const char *json, bool pod, enum kubeapi_kind kind)
{
	map_text(m, json, strlen(json), pod, kind);
}

/* The record as the pipeline frames it: `kind` and the envelope, then the mapper's fields. */
static size_t full_record(const struct kubeapi_record *rec, uint8_t *out, size_t size)
{
	struct envelope env = {
		.event_time_us = rec->meta.event_time_us, .seq = 7, .run = 1764000000000000,
		.node = "node-a", .cgroup_id = rec->meta.cgroup_id, .pod_uid = rec->meta.pod_uid,
		.container_id = rec->meta.container_id,
	};
	struct avro_buf b;

	avro_buf_init(&b, out, size);
	avro_put_envelope(&b, rec->meta.kind, &env);
	avro_put_raw(&b, rec->body.data, rec->body.len);
	assert_false(b.overflow);
	return b.len;
}

static void assert_golden(const struct kubeapi_record *rec, const uint8_t *golden, size_t len)
{
	static uint8_t out[KUBEAPI_BODY_MAX + 1024];
	size_t n = full_record(rec, out, sizeof(out));

	assert_int_equal(n, len);
	assert_memory_equal(out, golden, len);
}

/* Decodes a record with avro-c (through tapio-tail's decoder): the schema and the bytes agree. */
static json_t *decode_avro_c(const struct kubeapi_record *rec)
{
	static uint8_t framed[KUBEAPI_BODY_MAX + 1024];
	const struct tapio_schema *schema = schema_find("kubeapi");
	struct avro_json_decoder *dec;
	uint64_t fingerprint;
	char errstr[256];
	json_t *out = NULL;
	size_t n;

	assert_non_null(schema);
	assert_int_equal(schema_fingerprint(schema->json, &fingerprint, errstr, sizeof(errstr)), 0);
	avro_single_object_header(fingerprint, framed);
	n = full_record(rec, framed + AVRO_SINGLE_OBJECT_HDR_LEN,
			sizeof(framed) - AVRO_SINGLE_OBJECT_HDR_LEN);
	assert_int_equal(avro_json_decoder_new(tapio_schemas, tapio_schema_count, &dec, errstr,
					       sizeof(errstr)), 0);
	assert_int_equal(avro_json_decode(dec, "tapio.kubeapi", framed,
					  n + AVRO_SINGLE_OBJECT_HDR_LEN, &out, NULL, errstr,
					  sizeof(errstr)), 0);
	avro_json_decoder_free(dec);
	return out;
}

static bool body_contains(const struct kubeapi_record *rec, const char *text)
{
	return memmem(rec->body.data, rec->body.len, text, strlen(text)) != NULL;
}

static void test_pod_matches_golden(void **state)
{
	struct mapped m;
	json_t *rec;

	(void)state;
	map_json(&m, pod_full, true, KUBEAPI_POD_MODIFIED);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_golden(&m.rec, golden_pod_full, sizeof(golden_pod_full));
	/* Keyed by the pod's UID, which the envelope carries; its resourceVersion handed back. */
	assert_int_equal(m.rec.key_len, strlen(POD_UID));
	assert_memory_equal(m.rec.key, POD_UID, m.rec.key_len);
	assert_string_equal(m.rec.meta.pod_uid, POD_UID);
	assert_string_equal(m.rec.resource_version, "48213");
	assert_int_equal(m.rec.meta.kind, KUBEAPI_POD_MODIFIED);
	/* Never exported: env values, an annotation not asked for, managedFields. */
	assert_false(body_contains(&m.rec, "hunter2"));
	assert_false(body_contains(&m.rec, "s3cr3t"));
	assert_false(body_contains(&m.rec, "last-applied"));
	assert_false(body_contains(&m.rec, "kubelet"));
	rec = decode_avro_c(&m.rec);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "pod"), "name")),
			    "web-7d9c");
	json_decref(rec);
	jtok_free(&m.doc);
}

static void test_pending_pod_matches_golden(void **state)
{
	struct mapped m;

	(void)state;
	map_json(&m, pod_pending, true, KUBEAPI_POD_ADDED);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_golden(&m.rec, golden_pod_pending, sizeof(golden_pod_pending));
	jtok_free(&m.doc);
}

static void test_events_match_golden(void **state)
{
	struct mapped m;
	json_t *rec;

	(void)state;
	map_json(&m, event_series, false, KUBEAPI_EVENT);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_golden(&m.rec, golden_event_series, sizeof(golden_event_series));
	/* Keyed by the regarding object: a pod's Events share its partition. */
	assert_int_equal(m.rec.key_len, strlen(POD_UID));
	assert_memory_equal(m.rec.key, POD_UID, m.rec.key_len);
	assert_string_equal(m.rec.resource_version, "48300");
	rec = decode_avro_c(&m.rec);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "event"),
							    "series_count")), 4);
	json_decref(rec);
	jtok_free(&m.doc);

	map_json(&m, event_node, false, KUBEAPI_EVENT_SNAPSHOT);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_golden(&m.rec, golden_event_node, sizeof(golden_event_node));
	assert_int_equal(m.rec.key_len, strlen("node-a"));
	assert_memory_equal(m.rec.key, "node-a", m.rec.key_len);
	assert_string_equal(m.rec.meta.pod_uid, "");
	jtok_free(&m.doc);
}

static void test_resync_and_skipped_match_golden(void **state)
{
	struct kubeapi_record rec;
	struct kubeapi_skip skip;
	struct mapped m;
	static const char bad[] =
		"{\"metadata\":{\"name\":\"web-7d9c\",\"namespace\":\"shop\","
		"\"uid\":\"" POD_UID "\","
		"\"resourceVersion\":\"48214\"},\"spec\":{\"containers\":[{\"name\":\"app\"}]},"
		"\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":\"three\"}]"
		"}}";

	(void)state;
	avro_buf_init(&rec.body, body_buf, sizeof(body_buf));
	kubeapi_map_resync(KUBEAPI_RESYNC_BEGIN, KUBEAPI_SOURCE_PODS, KUBEAPI_RESYNC_EXPIRED,
			   "50000",
			   -1, NOW, &map_cfg, &rec);
	assert_golden(&rec, golden_resync_begin, sizeof(golden_resync_begin));
	assert_int_equal(rec.key_len, strlen("node-a/pods"));
	assert_memory_equal(rec.key, "node-a/pods", rec.key_len);
	kubeapi_map_resync(KUBEAPI_RESYNC_END, KUBEAPI_SOURCE_EVENTS, KUBEAPI_RESYNC_START, "50001",
			   3, NOW, &map_cfg, &rec);
	assert_golden(&rec, golden_resync_end, sizeof(golden_resync_end));
	assert_memory_equal(rec.key, "node-a/events", rec.key_len);

	map_json(&m, bad, true, KUBEAPI_POD_MODIFIED);
	assert_int_equal(m.result, KUBEAPI_SKIP_WRONG_TYPE);
	skip = m.skip;
	snprintf(skip.watch_type, sizeof(skip.watch_type), "MODIFIED");
	kubeapi_map_skipped(KUBEAPI_SOURCE_PODS, &skip, NOW, &map_cfg, &rec);
	assert_golden(&rec, golden_skipped, sizeof(golden_skipped));
	assert_memory_equal(rec.key, POD_UID, rec.key_len);
	jtok_free(&m.doc);
}

/* A LOSS record (envelope, then the zero of every field) decodes with this schema. */
static void test_loss_record_decodes(void **state)
{
	const struct tapio_schema *schema = schema_find("kubeapi");
	struct kubeapi_record rec;
	char errstr[256];
	uint8_t *zero;
	size_t len;
	json_t *out;

	(void)state;
	assert_int_equal(schema_zero_fields(schema->json, ENVELOPE_FIELDS, &zero, &len, errstr,
					    sizeof(errstr)), 0);
	memset(&rec, 0, sizeof(rec));
	avro_buf_init(&rec.body, body_buf, sizeof(body_buf));
	avro_put_raw(&rec.body, zero, len);
	rec.meta.kind = schema_enum_index(schema->json, "kind", "LOSS");
	assert_int_equal(rec.meta.kind, KUBEAPI_LOSS);
	out = decode_avro_c(&rec);
	assert_true(json_is_null(json_object_get(out, "pod")));
	assert_true(json_is_null(json_object_get(out, "skipped")));
	json_decref(out);
	free(zero);
}

/* Quantities: every form Kubernetes accepts, exactly, rounded up as MilliValue()/Value(). */
static void test_quantities(void **state)
{
	static const struct {
		const char *text;
		int scale;
		int result;
		int64_t value;
	} cases[] = {
		{ "250m", 3, QUANTITY_OK, 250 },
		{ "1", 3, QUANTITY_OK, 1000 },
		{ "0.5", 3, QUANTITY_OK, 500 },
		{ ".5", 3, QUANTITY_OK, 500 },
		{ "1.", 3, QUANTITY_OK, 1000 },
		{ "0.1", 3, QUANTITY_OK, 100 },
		{ "1500m", 3, QUANTITY_OK, 1500 },
		{ "1.0001", 3, QUANTITY_OK, 1001 },       /* rounded up */
		{ "100n", 3, QUANTITY_OK, 1 },            /* rounded up */
		{ "1u", 3, QUANTITY_OK, 1 },
		{ "1000u", 3, QUANTITY_OK, 1 },
		{ "1001u", 3, QUANTITY_OK, 2 },
		{ "2k", 3, QUANTITY_OK, 2000000 },
		{ "128Mi", 0, QUANTITY_OK, 134217728 },
		{ "1536Mi", 0, QUANTITY_OK, 1610612736 },
		{ "1Gi", 0, QUANTITY_OK, 1073741824 },
		{ "1.5Gi", 0, QUANTITY_OK, 1610612736 },
		{ "0.5Gi", 0, QUANTITY_OK, 536870912 },
		{ "0.9Gi", 0, QUANTITY_OK, 966367642 },   /* 966367641.6, up */
		{ "1Ki", 0, QUANTITY_OK, 1024 },
		{ "1Ti", 0, QUANTITY_OK, 1099511627776 },
		{ "1Pi", 0, QUANTITY_OK, 1125899906842624 },
		{ "1Ei", 0, QUANTITY_OK, 1152921504606846976 },
		{ "7Ei", 0, QUANTITY_OK, 8070450532247928832 },
		{ "8Ei", 0, QUANTITY_OK, INT64_MAX },     /* Go caps binary values */
		{ "100Ei", 0, QUANTITY_OK, INT64_MAX },
		{ "8Ei", 3, QUANTITY_RANGE, 0 },
		{ "1k", 0, QUANTITY_OK, 1000 },
		{ "1M", 0, QUANTITY_OK, 1000000 },
		{ "500M", 0, QUANTITY_OK, 500000000 },
		{ "1G", 0, QUANTITY_OK, 1000000000 },
		{ "1T", 0, QUANTITY_OK, 1000000000000 },
		{ "1P", 0, QUANTITY_OK, 1000000000000000 },
		{ "1E", 0, QUANTITY_OK, 1000000000000000000 },
		{ "9E", 0, QUANTITY_OK, 9000000000000000000 },
		{ "10E", 0, QUANTITY_RANGE, 0 },
		{ "1e9", 0, QUANTITY_OK, 1000000000 },
		{ "1E9", 0, QUANTITY_OK, 1000000000 },
		{ "1e+9", 0, QUANTITY_OK, 1000000000 },
		{ "1.5e3", 0, QUANTITY_OK, 1500 },
		{ "12e-1", 0, QUANTITY_OK, 2 },           /* 1.2, up */
		{ "1e-3", 3, QUANTITY_OK, 1 },
		{ "1e-9", 0, QUANTITY_OK, 1 },
		{ "1e-2147483648", 0, QUANTITY_OK, 1 },   /* tiny, but not zero: up to 1 */
		{ "1e18", 0, QUANTITY_OK, 1000000000000000000 },
		{ "1e19", 0, QUANTITY_RANGE, 0 },
		{ "9223372036854775807", 0, QUANTITY_OK, INT64_MAX },
		{ "9223372036854775808", 0, QUANTITY_RANGE, 0 },
		{ "9223372036854775807", 3, QUANTITY_RANGE, 0 },
		{ "9223372036854775.807", 3, QUANTITY_OK, INT64_MAX },
		{ "0.000000000000000000000000000000000000000001", 3, QUANTITY_OK, 1 },
		{ "000012", 0, QUANTITY_OK, 12 },
		{ "0", 3, QUANTITY_OK, 0 },
		{ "0m", 3, QUANTITY_OK, 0 },
		{ "0.000", 0, QUANTITY_OK, 0 },
		{ "+5", 0, QUANTITY_OK, 5 },
		{ "-5", 0, QUANTITY_OK, -5 },
		{ "-0.5", 0, QUANTITY_OK, -1 },           /* away from zero, as Go's int64 path */
		{ "-1.5Gi", 0, QUANTITY_OK, -1610612736 },
		{ "-8Ei", 0, QUANTITY_OK, -INT64_MAX },
		{ "1.1Ki", 0, QUANTITY_OK, 1127 },        /* 1126.4, up */
		{ "3.333333333333333333333333333333333Mi", 0, QUANTITY_OK, 3495254 },
		{ "", 0, QUANTITY_INVALID, 0 },
		{ "abc", 0, QUANTITY_INVALID, 0 },
		{ "1K", 0, QUANTITY_INVALID, 0 },         /* k is lower case */
		{ "1ki", 0, QUANTITY_INVALID, 0 },
		{ "1 ", 0, QUANTITY_INVALID, 0 },
		{ " 1", 0, QUANTITY_INVALID, 0 },
		{ "1e", 0, QUANTITY_INVALID, 0 },
		{ "1e1.5", 0, QUANTITY_INVALID, 0 },
		{ "1.5.5", 0, QUANTITY_INVALID, 0 },
		{ "1Mi5", 0, QUANTITY_INVALID, 0 },
		{ "--1", 0, QUANTITY_INVALID, 0 },
		{ "1e99999999999999999999", 0, QUANTITY_INVALID, 0 }, /* beyond Go's ParseInt */
		{ "1e4294967296", 0, QUANTITY_OK, 1 },    /* Go's int32() of the exponent: 0 */
		{ "1m", 0, QUANTITY_OK, 1 },              /* Value() of 1m: up to 1 */
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = kubeapi_quantity(cases[i].text, strlen(cases[i].text), cases[i].scale, &v);

		if (r != cases[i].result || (r == QUANTITY_OK && v != cases[i].value))
			fail_msg("quantity \"%s\" scale %d: result %d value %" PRId64 ", want %d %"
				 PRId64, cases[i].text, cases[i].scale, r, v, cases[i].result,
				 cases[i].value);
	}
	/* Only len bytes are read: no NUL needed. */
	assert_int_equal(kubeapi_quantity("250mXXX", 4, 3, &v), QUANTITY_OK);
	assert_int_equal(v, 250);
}

/* Integers below 10^6 with every suffix: the exact product, checked against plain arithmetic. */
static void test_quantities_against_arithmetic(void **state)
{
	static const struct {
		const char *suffix;
		int64_t mul;
	} suffixes[] = {
		{ "", 1 }, { "k", 1000 }, { "M", 1000000 }, { "G", 1000000000 }, { "Ki", 1024 },
		{ "Mi", 1 << 20 }, { "Gi", 1 << 30 }, { "Ti", 1ll << 40 }, { "e3", 1000 },
		{ "e6", 1000000 },
	};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char text[64];
	int64_t v;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		int64_t n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = (int64_t)(x % 1000000);
		for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
			snprintf(text, sizeof(text), "%" PRId64 "%s", n, suffixes[s].suffix);
			assert_int_equal(kubeapi_quantity(text, strlen(text), 0, &v), QUANTITY_OK);
			assert_int_equal(v, n * suffixes[s].mul);
			/* n/1000 of the unit in millis is n times the unit. */
			snprintf(text, sizeof(text), "%" PRId64 ".%03" PRId64 "%s", n / 1000,
				 n % 1000,
				 suffixes[s].suffix);
			assert_int_equal(kubeapi_quantity(text, strlen(text), 3, &v), QUANTITY_OK);
			assert_int_equal(v, n * suffixes[s].mul);
		}
	}
}

static void test_times(void **state)
{
	int64_t us;

	(void)state;
	assert_true(kubeapi_parse_time("1970-01-01T00:00:00Z", 20, &us));
	assert_int_equal(us, 0);
	assert_true(kubeapi_parse_time("2025-11-24T16:00:00.123456Z", 27, &us));
	assert_int_equal(us, 1764000000123456);
	assert_true(kubeapi_parse_time("2025-11-24T16:00:00.5Z", 22, &us));
	assert_int_equal(us, 1764000000500000);
	assert_true(kubeapi_parse_time("2025-11-24T16:00:00.123456789Z", 30, &us));
	assert_int_equal(us, 1764000000123456); /* nanoseconds dropped */
	assert_true(kubeapi_parse_time("2025-11-24T18:00:00+02:00", 25, &us));
	assert_int_equal(us, 1764000000000000);
	assert_true(kubeapi_parse_time("2025-11-24T15:30:00-00:30", 25, &us));
	assert_int_equal(us, 1764000000000000);
	assert_true(kubeapi_parse_time("2024-02-29T00:00:00Z", 20, &us)); /* leap day */
	assert_int_equal(us, 1709164800000000);
	assert_true(kubeapi_parse_time("1969-12-31T23:59:59Z", 20, &us));
	assert_int_equal(us, -1000000);
	assert_false(kubeapi_parse_time("2023-02-29T00:00:00Z", 20, &us));
	assert_false(kubeapi_parse_time("2025-13-01T00:00:00Z", 20, &us));
	assert_false(kubeapi_parse_time("2025-11-24T24:00:00Z", 20, &us));
	assert_false(kubeapi_parse_time("2025-11-24T16:00:60Z", 20, &us));
	assert_false(kubeapi_parse_time("2025-11-24 16:00:00Z", 20, &us));
	assert_false(kubeapi_parse_time("2025-11-24T16:00:00", 19, &us));
	assert_false(kubeapi_parse_time("2025-11-24T16:00:00.Z", 21, &us));
	assert_false(kubeapi_parse_time("2025-11-24T16:00:00Zjunk", 24, &us));
	assert_false(kubeapi_parse_time("2025-11-24T16:00:00+2:00", 24, &us));
	assert_false(kubeapi_parse_time("", 0, &us));
}

static int parse_str(struct jtok_doc *d, const char *s)
{
	return jtok_parse(d, s, strlen(s));
}

static enum kubeapi_list_result scan_str(struct jtok_doc *d, const char *s,
					 struct kubeapi_list_info *info)
{
	return kubeapi_list_scan(d, s, strlen(s), info);
}

static void test_tokenizer(void **state)
{
	static const char *const valid[] = {
		"{}", "[]", "0", "-0", "1.5e+10", "\"\"", "true", "false", "null",
		" {\"a\" : [1, 2, {\"b\": null}] } ", "\"\\u00e9\\ud83d\\ude00\\n\\\\\\\"\\/\"",
		"[[[[[]]]]]", "{\"a\":{\"b\":{\"c\":[true,false]}}}",
	};
	static const char *const invalid[] = {
		"", "{", "}", "[1,]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "01", "1.", "1e", "-",
		"tru", "nul", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"a\tb\"", "[1 2]", "{1:2}",
		"{\"a\":1 \"b\":2}", "1 2", "\"a\"\"b\"", "[", "[\"a\",", "NaN", "'a'",
	};
	struct jtok_doc d;
	char out[64];
	bool cut;
	int64_t n;

	(void)state;
	jtok_init(&d, 1024, 8);
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (jtok_parse(&d, valid[i], strlen(valid[i])) != JTOK_OK)
			fail_msg("valid JSON refused: %s", valid[i]);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (jtok_parse(&d, invalid[i], strlen(invalid[i])) == JTOK_OK)
			fail_msg("invalid JSON accepted: %s", invalid[i]);
	/* Depth and token bounds. */
	assert_int_equal(parse_str(&d, "[[[[[[[[1]]]]]]]]"), JTOK_OK);
	assert_int_equal(parse_str(&d, "[[[[[[[[[1]]]]]]]]]"), JTOK_DEPTH);
	{
		static char big[4096];

		big[0] = '[';
		for (int i = 0; i < 1200; i++) {
			big[1 + 2 * i] = '0';
			big[2 + 2 * i] = ',';
		}
		big[2400] = ']';
		assert_int_equal(jtok_parse(&d, big, 2401), JTOK_TOO_MANY);
	}
	/* Navigation: members, siblings past nested values, escaped keys compared decoded. */
	assert_int_equal(parse_str(&d, "{\"a\":{\"x\":[1,2]},\"\\u0062\":-42,\"c\":\"\\u0026\"}"),
			 JTOK_OK);
	assert_int_equal(d.tok[jtok_get(&d, 0, "a")].type, JTOK_OBJECT);
	assert_true(jtok_int64(&d, jtok_get(&d, 0, "b"), &n));
	assert_int_equal(n, -42);
	jtok_decode(&d, jtok_get(&d, 0, "c"), out, sizeof(out), &cut);
	assert_string_equal(out, "&");
	assert_false(cut);
	assert_int_equal(jtok_get(&d, 0, "d"), -1);
	assert_int_equal(jtok_get(&d, jtok_get(&d, 0, "b"), "a"), -1); /* not an object */
	/* Decoding: surrogate pairs, lone surrogates and NUL replaced, cuts at a character. */
	assert_int_equal(parse_str(&d, "\"\\ud83d\\ude00 \\ud800 \\u0000 \\u00e9\""), JTOK_OK);
	jtok_decode(&d, 0, out, sizeof(out), &cut);
	assert_string_equal(out, "\xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd \xc3\xa9");
	jtok_decode(&d, 0, out, 3, &cut); /* room for 2 bytes: the emoji does not fit */
	assert_true(cut);
	assert_string_equal(out, "");
	assert_int_equal(parse_str(&d, "\"caf\xc3\xa9\""), JTOK_OK);
	jtok_decode(&d, 0, out, 5, &cut);
	assert_true(cut);
	assert_string_equal(out, "caf"); /* not half of the é */
	/* Integers: fractions, exponents and overflow are not. */
	assert_int_equal(parse_str(&d, "[9223372036854775807,-9223372036854775808,"
				    "9223372036854775808,1.0,1e2]"), JTOK_OK);
	assert_true(jtok_int64(&d, 1, &n));
	assert_int_equal(n, INT64_MAX);
	assert_true(jtok_int64(&d, 2, &n));
	assert_int_equal(n, INT64_MIN);
	assert_false(jtok_int64(&d, 3, &n));
	assert_false(jtok_int64(&d, 4, &n));
	assert_false(jtok_int64(&d, 5, &n));
	jtok_free(&d);
}

/* Hostile objects: skipped whole, with the field that made them so, never a crash. */
static void test_hostile_pods(void **state)
{
	static const struct {
		const char *json;
		enum kubeapi_skip_reason reason;
		const char *field;
	} cases[] = {
		{ "[]", KUBEAPI_SKIP_NOT_OBJECT, "" },
		{ "{}", KUBEAPI_SKIP_MISSING_FIELD, "metadata" },
		{ "{\"metadata\":[]}", KUBEAPI_SKIP_WRONG_TYPE, "metadata" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\"}}",
		  KUBEAPI_SKIP_MISSING_FIELD, "metadata.resourceVersion" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":5}}", KUBEAPI_SKIP_WRONG_TYPE, "metadata.resourceVersion" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1 2\"}}", KUBEAPI_SKIP_BAD_VALUE,
		  "metadata.resourceVersion" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\","
		  "\"uid\":\"" POD_UID POD_UID "\","
		  "\"resourceVersion\":\"1\"}}", KUBEAPI_SKIP_BAD_VALUE, "metadata.uid" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\",\"labels\":{\"a\":1}}}", KUBEAPI_SKIP_WRONG_TYPE,
		  "metadata.labels" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":{}}}",
		  KUBEAPI_SKIP_WRONG_TYPE,
		  "spec.containers" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"image\":\"x\"}]}}",
		  KUBEAPI_SKIP_MISSING_FIELD, "spec.containers[0].name" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"name\":\"c\","
		  "\"resources\":{\"limits\":{\"cpu\":2}}}]}}", KUBEAPI_SKIP_WRONG_TYPE,
		  "spec.containers[0].resources.limits.cpu" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
		  "\"status\":{\"containerStatuses\":[{\"name\":\"c\",\"restartCount\":1.5}]}}",
		  KUBEAPI_SKIP_WRONG_TYPE, "status.containerStatuses[0].restartCount" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
		  "\"status\":{\"containerStatuses\":[{\"name\":\"c\","
		  "\"restartCount\":4294967296}]}}",
		  KUBEAPI_SKIP_BAD_VALUE, "status.containerStatuses[0].restartCount" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
		  "\"status\":{\"containerStatuses\":[{\"name\":\"c\",\"state\":{\"terminated\":"
		  "{\"exitCode\":\"1\"}}}]}}", KUBEAPI_SKIP_WRONG_TYPE,
		  "status.containerStatuses[0].state.terminated.exitCode" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"status\":{\"conditions\":[{\"status\":\"True\"}]}}",
		  KUBEAPI_SKIP_MISSING_FIELD, "status.conditions[0].type" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\"},\"status\":{\"podIPs\":[\"10.0.0.1\"]}}",
		  KUBEAPI_SKIP_WRONG_TYPE, "status.podIPs[0]" },
		{ "{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\","
		  "\"resourceVersion\":\"1\",\"ownerReferences\":[{\"controller\":\"yes\"}]}}",
		  KUBEAPI_SKIP_WRONG_TYPE, "metadata.ownerReferences[0].controller" },
	};
	struct mapped m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		map_json(&m, cases[i].json, true, KUBEAPI_POD_ADDED);
		if (m.result != cases[i].reason || strcmp(m.skip.field, cases[i].field))
			fail_msg("%s: skipped %s at \"%s\", want %s at \"%s\"", cases[i].json,
				 kubeapi_skip_reason_name(m.result), m.skip.field,
				 kubeapi_skip_reason_name(cases[i].reason), cases[i].field);
		jtok_free(&m.doc);
	}
	/* What a SKIPPED record can say of the object. */
	map_json(&m, cases[4].json, true, KUBEAPI_POD_ADDED);
	assert_string_equal(m.skip.name, "a");
	assert_string_equal(m.skip.namespace, "b");
	assert_string_equal(m.skip.uid, "u");
	jtok_free(&m.doc);
}

/* Values that do not parse are null and counted; the record goes out. */
static void test_unparsable_values_are_null(void **state)
{
	static const char json[] =
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"u\",\"resourceVersion"
		"\":\"1\","
		"\"creationTimestamp\":\"yesterday\"},\"spec\":{\"containers\":[{\"name\":\"c\","
		"\"resources\":{\"requests\":{\"cpu\":\"lots\",\"memory\":\"100Ei\"},"
		"\"limits\":{\"cpu\":\"10E\"}}}]}}";
	struct mapped m;
	json_t *rec, *c;

	(void)state;
	map_json(&m, json, true, KUBEAPI_POD_ADDED);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_int_equal(m.stats.invalid_values[KUBEAPI_VALUE_TIME], 1);
	assert_int_equal(m.stats.invalid_values[KUBEAPI_VALUE_QUANTITY], 1);
	assert_int_equal(m.stats.invalid_values[KUBEAPI_VALUE_QUANTITY_RANGE], 1);
	rec = decode_avro_c(&m.rec);
	c = json_array_get(json_object_get(json_object_get(rec, "pod"), "containers"), 0);
	assert_true(json_is_null(json_object_get(json_object_get(c, "requests"), "cpu_millis")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "requests"),
							    "memory_bytes")), INT64_MAX);
	assert_true(json_is_null(json_object_get(json_object_get(c, "limits"), "cpu_millis")));
	assert_true(json_is_null(json_object_get(json_object_get(rec, "pod"), "creation_time")));
	json_decref(rec);
	jtok_free(&m.doc);
}

/* Huge objects: whole labels and containers up to 64 KiB, the rest left out and flagged. */
static void test_huge_pod_is_cut_whole(void **state)
{
	size_t cap = 4 << 20, n = 0;
	char *json = malloc(cap);
	struct mapped m;
	json_t *rec, *pod;
	int labels = 5000, containers = 3000;

	(void)state;
	n += (size_t)snprintf(json + n, cap - n, "{\"metadata\":{\"name\":\"big\","
			      "\"namespace\":\"b\","
			      "\"uid\":\"u\",\"resourceVersion\":\"1\",\"labels\":{");
	for (int i = 0; i < labels; i++)
		n += (size_t)snprintf(json + n, cap - n, "%s\"label-%05d\":\"%0200d\"",
				      i ? "," : "",
				      i, i);
	n += (size_t)snprintf(json + n, cap - n, "}},\"spec\":{\"containers\":[");
	for (int i = 0; i < containers; i++)
		n += (size_t)snprintf(json + n, cap - n,
				      "%s{\"name\":\"c%d\",\"image\":\"%0500d\"}",
				      i ? "," : "", i, i);
	n += (size_t)snprintf(json + n, cap - n, "]},\"status\":{\"message\":\"");
	for (int i = 0; i < 5000; i++)
		json[n++] = 'x';
	n += (size_t)snprintf(json + n, cap - n, "\"}}");
	assert_true(n < cap);
	map_text(&m, json, n, true, KUBEAPI_POD_ADDED);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	assert_true(m.rec.body.len <= KUBEAPI_BODY_MAX);
	assert_int_equal(m.stats.truncated, 1);
	rec = decode_avro_c(&m.rec);
	pod = json_object_get(rec, "pod");
	assert_true(json_is_true(json_object_get(pod, "truncated")));
	assert_true(json_object_size(json_object_get(pod, "labels")) > 10);
	assert_true(json_object_size(json_object_get(pod, "labels")) < (size_t)labels);
	assert_true(json_array_size(json_object_get(pod, "containers")) > 10);
	assert_true(json_array_size(json_object_get(pod, "containers")) < (size_t)containers);
	assert_int_equal(strlen(json_string_value(json_object_get(pod, "message"))),
			 KUBEAPI_TEXT_MAX);
	json_decref(rec);
	jtok_free(&m.doc);
	free(json);
}

static void test_long_note_is_cut_and_flagged(void **state)
{
	char json[4096];
	struct mapped m;
	json_t *rec, *ev;
	int n;

	(void)state;
	n = snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"e\",\"namespace\":\"n\","
		     "\"uid\":\"u\",\"resourceVersion\":\"9\"},\"note\":\"");
	for (int i = 0; i < 2000; i++)
		json[n++] = (char)('a' + i % 26);
	n += snprintf(json + n, sizeof(json) - (size_t)n, "\"}");
	map_text(&m, json, (size_t)n, false, KUBEAPI_EVENT);
	assert_int_equal(m.result, KUBEAPI_SKIP_NONE);
	rec = decode_avro_c(&m.rec);
	ev = json_object_get(rec, "event");
	assert_int_equal(strlen(json_string_value(json_object_get(ev, "note"))), KUBEAPI_TEXT_MAX);
	assert_true(json_is_true(json_object_get(ev, "note_truncated")));
	assert_int_equal(json_integer_value(json_object_get(ev, "series_count")), 1);
	/* No time at all: the record's time is when it was received. */
	assert_int_equal(m.rec.meta.event_time_us, NOW);
	json_decref(rec);
	jtok_free(&m.doc);
}

/* Watch events: the parts, and what is wrong with the others. */
static void test_watch_events(void **state)
{
	struct jtok_doc d;
	enum kubeapi_watch_type type;
	struct kubeapi_skip skip;
	char rv[HANDOFF_POSITION_MAX];
	bool too_large;
	int obj;

	(void)state;
	jtok_init(&d, 1024, 64);
	assert_int_equal(parse_str(&d, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
				    "\"metadata\":{\"resourceVersion\":\"12345\"}}}"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_NONE);
	assert_int_equal(type, KUBEAPI_WATCH_BOOKMARK);
	assert_true(kubeapi_object_rv(&d, obj, rv, sizeof(rv)));
	assert_string_equal(rv, "12345");
	assert_int_equal(parse_str(&d, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
				    "\"code\":410,\"reason\":\"Expired\"}}"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_NONE);
	assert_int_equal(type, KUBEAPI_WATCH_ERROR);
	assert_int_equal(kubeapi_status_code(&d, obj, &too_large), 410);
	assert_false(too_large);
	{
		static const char s[] = "{\"type\":\"ERROR\",\"object\":{\"code\":504,\"details\":"
					"{\"causes\":[{\"reason\":\"ResourceVersionTooLarge\"}]}}}";

		assert_int_equal(jtok_parse(&d, s, strlen(s)), JTOK_OK);
	}
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_NONE);
	assert_int_equal(kubeapi_status_code(&d, obj, &too_large), 504);
	assert_true(too_large);
	assert_int_equal(parse_str(&d, "{\"type\":\"SYNC\",\"object\":{\"metadata\":"
				    "{\"resourceVersion\":\"7\",\"uid\":\"x\"}}}"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_UNKNOWN_TYPE);
	assert_string_equal(skip.watch_type, "SYNC");
	assert_string_equal(skip.resource_version, "7");
	assert_int_equal(parse_str(&d, "{\"type\":\"ADDED\"}"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_MISSING_FIELD);
	assert_string_equal(skip.field, "object");
	assert_int_equal(parse_str(&d, "{\"type\":1,\"object\":{}}"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_WRONG_TYPE);
	assert_int_equal(parse_str(&d, "[1]"), JTOK_OK);
	assert_int_equal(kubeapi_watch_event(&d, &type, &obj, &skip), KUBEAPI_SKIP_NOT_OBJECT);
	jtok_free(&d);
}

struct collected_items {
	int items, skipped;
	enum kubeapi_skip_reason why;
};

static int count_item(void *ctx, const struct jtok_doc *d, int root, enum kubeapi_skip_reason why)
{
	struct collected_items *c = ctx;

	if (root < 0) {
		c->skipped++;
		c->why = why;
		return 0;
	}
	assert_true(jtok_is(d, root, JTOK_OBJECT));
	c->items++;
	return 0;
}

static void test_lists(void **state)
{
	struct kubeapi_list_info info;
	struct collected_items c = { 0 };
	struct jtok_doc d;
	static const char list[] = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
				   "{\"resourceVersion\":\"777\"},\"items\":[{\"a\":1},"
				   "{\"b\":[2,3]},"
				   "{\"c\":{}}]}";
	static const char *const bad[] = {
		"", "[]", "{\"metadata\":{\"resourceVersion\":\"1\"}}",
		"{\"items\":{},\"metadata\":{\"resourceVersion\":\"1\"}}",
		"{\"items\":[1,],\"metadata\":{\"resourceVersion\":\"1\"}}",
		"{\"items\":[],\"metadata\":{\"resourceVersion\":\"1\"}} x",
		"{\"items\":[] \"metadata\":{}}",
	};

	(void)state;
	jtok_init(&d, 1024, 64);
	assert_int_equal(kubeapi_list_scan(&d, list, strlen(list), &info), KUBEAPI_LIST_OK);
	assert_string_equal(info.resource_version, "777");
	assert_int_equal(info.items, 3);
	assert_int_equal(kubeapi_list_items(&d, list, strlen(list), count_item, &c), 0);
	assert_int_equal(c.items, 3);
	/* Items in any order of keys, a nil items slice, no resourceVersion. */
	assert_int_equal(scan_str(&d, "{\"items\":[],\"metadata\":{\"resourceVersion\":\"8\"}}",
				  &info), KUBEAPI_LIST_OK);
	assert_int_equal(scan_str(&d, "{\"metadata\":{\"resourceVersion\":\"8\"},"
				  "\"items\":null}", &info), KUBEAPI_LIST_OK);
	assert_int_equal(info.items, 0);
	assert_int_equal(scan_str(&d, "{\"metadata\":{},\"items\":[]}", &info),
			 KUBEAPI_LIST_NO_RV);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kubeapi_list_scan(&d, bad[i], strlen(bad[i]), &info) == KUBEAPI_LIST_OK)
			fail_msg("bad list accepted: %s", bad[i]);
	jtok_free(&d);
	/* An item too large to keep is handed over as such, and the walk goes on. */
	jtok_init(&d, 4, 64);
	memset(&c, 0, sizeof(c));
	{
		static const char l2[] = "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[{},"
					 "{\"a\":[1,2,3,4,5,6]},{}]}";

		assert_int_equal(kubeapi_list_scan(&d, l2, strlen(l2), &info), KUBEAPI_LIST_OK);
		assert_int_equal(kubeapi_list_items(&d, l2, strlen(l2), count_item, &c), 0);
	}
	assert_int_equal(c.items, 2);
	assert_int_equal(c.skipped, 1);
	assert_int_equal(c.why, KUBEAPI_SKIP_TOO_LARGE);
	jtok_free(&d);
}

/*
 * The list and watch state machine against canned responses: a fake of the I/O a source uses
 * records the requests it makes and the records and marks it hands over, and answers each
 * request with the next canned response.
 */
#define FAKE_MAX 64

struct canned {
	enum http_outcome outcome;
	long status;
	const char *body;      /* a list's body; a watch's values, one per line */
	uint64_t duration_ms;
	uint64_t too_large;    /* stream values the HTTP client skipped as too large meanwhile */
	const char *error;
};

struct fake_record {
	int kind;
	char key[HANDOFF_KEY_MAX];
	char position[HANDOFF_POSITION_MAX];
	int source;
	char pod_uid[64];
	json_t *decoded;
};

struct fake {
	struct canned resp[FAKE_MAX];
	int nresp, next;
	char paths[FAKE_MAX][1200];
	int npaths;
	struct fake_record recs[4 * FAKE_MAX];
	int nrecs;
	struct { int source; char position[HANDOFF_POSITION_MAX]; } marks[FAKE_MAX];
	int nmarks;
	int backoffs;
	uint32_t random;
	uint64_t stream_errors[JSON_STREAM_ERROR_MAX];
};

static struct fake fake;

static int fake_request(void *ctx, const struct http_request *req, struct http_result *res)
{
	struct fake *f = ctx;
	const struct canned *c;

	memset(res, 0, sizeof(*res));
	if (f->next == f->nresp) {
		res->outcome = HTTP_OUTCOME_CANCELLED;
		return -ECANCELED;
	}
	c = &f->resp[f->next++];
	snprintf(f->paths[f->npaths++], sizeof(f->paths[0]), "%s", req->path);
	res->outcome = c->outcome;
	res->status = c->status ? c->status : c->outcome == HTTP_OUTCOME_OK ? 200 : 0;
	res->duration_ms = c->duration_ms ? c->duration_ms : 5000;
	snprintf(res->error, sizeof(res->error), "%s", c->error ? c->error : "");
	f->stream_errors[JSON_STREAM_TOO_LARGE] += c->too_large;
	if (req->on_open && res->status == 200)
		req->on_open(req->ctx);
	/* A stream cut later delivered what came before the cut. */
	if ((c->outcome != HTTP_OUTCOME_OK && res->status != 200) || !c->body)
		return 0;
	if (req->raw_body) {
		assert_null(req->on_raw);
		res->raw = strdup(c->body);
		res->raw_len = strlen(c->body);
		return 0;
	}
	assert_non_null(req->on_raw);
	for (const char *line = c->body; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		int rc;

		res->values++;
		rc = req->on_raw(req->ctx, line, len);
		if (rc) {
			res->stop_code = rc;
			break;
		}
		line += len + (nl ? 1 : 0);
	}
	return 0;
}

static int fake_push(void *ctx, const struct kubeapi_record *rec)
{
	struct fake *f = ctx;
	struct fake_record *r = &f->recs[f->nrecs++];

	assert_true(f->nrecs <= (int)(sizeof(f->recs) / sizeof(f->recs[0])));
	r->kind = rec->meta.kind;
	memcpy(r->key, rec->key, rec->key_len);
	r->key[rec->key_len] = '\0';
	snprintf(r->position, sizeof(r->position), "%s", rec->meta.position);
	snprintf(r->pod_uid, sizeof(r->pod_uid), "%s", rec->meta.pod_uid);
	r->source = rec->meta.source;
	r->decoded = decode_avro_c(rec);
	return 0;
}

static int fake_mark(void *ctx, int source, const char *position)
{
	struct fake *f = ctx;

	f->marks[f->nmarks].source = source;
	snprintf(f->marks[f->nmarks++].position, HANDOFF_POSITION_MAX, "%s", position);
	return 0;
}

static uint32_t fake_backoff(void *ctx, const struct http_result *res)
{
	(void)res;
	((struct fake *)ctx)->backoffs++;
	return 800;
}

static int fake_sleep(void *ctx, uint32_t ms)
{
	(void)ctx;
	(void)ms;
	return 0;
}

static bool fake_stopping(void *ctx)
{
	struct fake *f = ctx;

	return f->next == f->nresp;
}

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return NOW;
}

static uint32_t fake_random(void *ctx)
{
	return ((struct fake *)ctx)->random;
}

static void fake_stream_errors(void *ctx, uint64_t errors[JSON_STREAM_ERROR_MAX])
{
	memcpy(errors, ((struct fake *)ctx)->stream_errors, sizeof(fake.stream_errors));
}

static const struct kubeapi_io fake_io = {
	.request = fake_request, .push = fake_push, .mark = fake_mark, .backoff = fake_backoff,
	.sleep = fake_sleep, .stopping = fake_stopping, .now_us = fake_now, .random = fake_random,
	.stream_errors = fake_stream_errors, .ctx = &fake,
};

static void fake_reset(void)
{
	for (int i = 0; i < fake.nrecs; i++)
		json_decref(fake.recs[i].decoded);
	memset(&fake, 0, sizeof(fake));
}

static void respond(enum http_outcome outcome, long status, const char *body)
{
	fake.resp[fake.nresp++] = (struct canned){ .outcome = outcome, .status = status,
						   .body = body };
}

static struct canned *last_canned(void)
{
	return &fake.resp[fake.nresp - 1];
}

/* Runs the source until the canned responses are used up. */
static void run_source(struct kubeapi_source *s)
{
	kubeapi_source_run(s);
	assert_int_equal(fake.next, fake.nresp);
}

static const char *field_text(const struct fake_record *r, const char *rec, const char *field)
{
	return json_string_value(json_object_get(json_object_get(r->decoded, rec), field));
}

#define POD(name, uid, rv)                                                                    \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"uid\":\"" uid "\","      \
	"\"resourceVersion\":\"" rv "\"},\"spec\":{\"nodeName\":\"node-a\",\"containers\":"  \
	"[{\"name\":\"app\"}]},\"status\":{\"phase\":\"Running\"}}"
#define UID1 "11111111-1111-1111-1111-111111111111"
#define UID2 "22222222-2222-2222-2222-222222222222"
#define UID3 "33333333-3333-3333-3333-333333333333"

static const char list_two[] =
	"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\"},"
	"\"items\":[" POD("a", UID1, "90") "," POD("b", UID2, "95") "]}";

static void init_pods(struct kubeapi_source *s)
{
	fake_reset();
	fake.random = 123;
	assert_int_equal(kubeapi_source_init(s, KUBEAPI_SOURCE_PODS, "node-a", KUBEAPI_EVENTS_NODE,
					     &map_cfg, &fake_io, 0), 0);
}

/* The first start: a list at resourceVersion 0 published as a bracket; the watch from its
 * resourceVersion, with bookmarks and a timeout of 300 to 600 s; each change with its
 * position; bookmarks as marks. */
static void test_first_list_then_watch(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	respond(HTTP_OUTCOME_OK, 200,
		"{\"type\":\"ADDED\",\"object\":" POD("c", UID3, "101") "}\n"
		"{\"type\":\"MODIFIED\",\"object\":" POD("a", UID1, "102") "}\n"
		"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
		"{\"resourceVersion\":\"150\"}}}\n"
		"{\"type\":\"DELETED\",\"object\":" POD("b", UID2, "151") "}");
	run_source(&s);
	assert_string_equal(fake.paths[0], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
					   "&resourceVersion=0");
	assert_string_equal(fake.paths[1], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
					   "&watch=1&allowWatchBookmarks=true&timeoutSeconds=423"
					   "&resourceVersion=100");
	assert_int_equal(fake.nrecs, 7);
	assert_int_equal(fake.recs[0].kind, KUBEAPI_RESYNC_BEGIN);
	assert_string_equal(fake.recs[0].key, "node-a/pods");
	assert_string_equal(fake.recs[0].position, "");
	assert_string_equal(field_text(&fake.recs[0], "resync", "reason"), "START");
	assert_int_equal(fake.recs[1].kind, KUBEAPI_POD_SNAPSHOT);
	assert_string_equal(fake.recs[1].key, UID1);
	assert_string_equal(fake.recs[1].position, ""); /* inside the bracket: no position */
	assert_int_equal(fake.recs[2].kind, KUBEAPI_POD_SNAPSHOT);
	assert_string_equal(fake.recs[2].key, UID2);
	assert_int_equal(fake.recs[3].kind, KUBEAPI_RESYNC_END);
	assert_string_equal(fake.recs[3].position, "100");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(fake.recs[3].decoded,
			 "resync"), "count")), 2);
	assert_int_equal(fake.recs[4].kind, KUBEAPI_POD_ADDED);
	assert_string_equal(fake.recs[4].position, "101");
	assert_string_equal(fake.recs[4].pod_uid, UID3);
	assert_int_equal(fake.recs[5].kind, KUBEAPI_POD_MODIFIED);
	assert_string_equal(fake.recs[5].position, "102");
	assert_int_equal(fake.recs[6].kind, KUBEAPI_POD_DELETED);
	assert_string_equal(fake.recs[6].position, "151");
	assert_int_equal(fake.nmarks, 1);
	assert_string_equal(fake.marks[0].position, "150");
	assert_string_equal(s.rv, "151");
	assert_int_equal(atomic_load(&s.stats.watch_events[KUBEAPI_WATCH_BOOKMARK]), 1);
	assert_int_equal(atomic_load(&s.stats.resyncs[KUBEAPI_RESYNC_START]), 1);
	fake_reset();
	kubeapi_source_free(&s);
}

/* 410 in the stream: a relist no older than the last resourceVersion seen, as a bracket for
 * EXPIRED; then the watch from the new list. A 410 as the HTTP status does the same. */
static void test_expired_watch_relists(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	kubeapi_source_resume(&s, "90");
	respond(HTTP_OUTCOME_OK, 200,
		"{\"type\":\"MODIFIED\",\"object\":" POD("a", UID1, "91") "}\n"
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
		"\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 91 "
		"(200)\",\"reason\":\"Expired\",\"code\":410}}\n"
		"{\"type\":\"MODIFIED\",\"object\":" POD("a", UID1, "999") "}");
	respond(HTTP_OUTCOME_OK, 200, list_two);
	respond(HTTP_OUTCOME_HTTP_4XX, 410, NULL);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	run_source(&s);
	/* Resumed from the checkpoint: a watch first, no list. */
	assert_non_null(strstr(fake.paths[0], "watch=1"));
	assert_non_null(strstr(fake.paths[0], "resourceVersion=90"));
	assert_string_equal(fake.paths[1], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
					   "&resourceVersion=91");
	assert_non_null(strstr(fake.paths[2], "resourceVersion=100"));
	assert_string_equal(fake.paths[3], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
					   "&resourceVersion=100");
	/* Nothing after the ERROR was taken; brackets name why. */
	assert_int_equal(fake.nrecs, 1 + 4 + 4);
	assert_string_equal(fake.recs[0].position, "91");
	assert_int_equal(fake.recs[1].kind, KUBEAPI_RESYNC_BEGIN);
	assert_string_equal(field_text(&fake.recs[1], "resync", "reason"), "EXPIRED");
	assert_int_equal(fake.recs[5].kind, KUBEAPI_RESYNC_BEGIN);
	assert_string_equal(field_text(&fake.recs[5], "resync", "reason"), "EXPIRED");
	assert_int_equal(fake.backoffs, 0); /* 410 is no failure: relist at once */
	assert_int_equal(atomic_load(&s.stats.resyncs[KUBEAPI_RESYNC_EXPIRED]), 2);
	fake_reset();
	kubeapi_source_free(&s);
}

/* A relist whose resourceVersion is gone too (410) or ahead of the server (504): a consistent
 * read, no resourceVersion at all. */
static void test_relist_falls_back_to_etcd(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	kubeapi_source_resume(&s, "90");
	kubeapi_source_relist(&s, KUBEAPI_RESYNC_EXPIRED);
	respond(HTTP_OUTCOME_HTTP_4XX, 410, NULL);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	run_source(&s);
	assert_string_equal(fake.paths[0], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
					   "&resourceVersion=90");
	assert_string_equal(fake.paths[1], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
	assert_int_equal(fake.backoffs, 0);
	assert_int_equal(fake.recs[3].kind, KUBEAPI_RESYNC_END);
	fake_reset();
	kubeapi_source_free(&s);
}

/* Failures back off and watch again from where the watch stood: no relist, no record. */
static void test_failures_back_off_and_resume(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	kubeapi_source_resume(&s, "200");
	respond(HTTP_OUTCOME_TRANSPORT, 0, NULL);
	respond(HTTP_OUTCOME_HTTP_4XX, 429, NULL);
	respond(HTTP_OUTCOME_HTTP_5XX, 500, NULL);
	respond(HTTP_OUTCOME_HTTP_4XX, 401, NULL);
	respond(HTTP_OUTCOME_TIMEOUT, 0, NULL); /* a silent watch, cut by the idle timeout */
	/* A stream cut mid-object: what came before it counts. */
	respond(HTTP_OUTCOME_TRANSPORT, 200, "{\"type\":\"ADDED\",\"object\":" POD("c", UID3, "201")
		"}");
	respond(HTTP_OUTCOME_OK, 200, "{\"type\":\"MODIFIED\",\"object\":" POD("c", UID3, "202")
		"}");
	/* The server's timeout: a watch again at once. */
	respond(HTTP_OUTCOME_OK, 200, NULL);
	/* Ended at once with nothing: the reflector's very short watch, backed off. */
	respond(HTTP_OUTCOME_OK, 200, NULL);
	last_canned()->duration_ms = 10;
	respond(HTTP_OUTCOME_OK, 200, NULL);
	run_source(&s);
	for (int i = 0; i < 5; i++)
		assert_non_null(strstr(fake.paths[i], "resourceVersion=200"));
	assert_non_null(strstr(fake.paths[6], "resourceVersion=201"));
	assert_non_null(strstr(fake.paths[7], "resourceVersion=202"));
	assert_int_equal(fake.backoffs, 7);
	assert_int_equal(fake.nrecs, 2);
	assert_int_equal(fake.recs[0].kind, KUBEAPI_POD_ADDED);
	assert_int_equal(fake.recs[1].kind, KUBEAPI_POD_MODIFIED);
	/* The last watch is open (its headers came), though it said nothing: up. */
	assert_true(atomic_load(&s.stats.up));
	fake_reset();
	kubeapi_source_free(&s);
}

/* Hostile values in a watch: each a SKIPPED record that says what it could; the watch goes on
 * and its position passes what was skipped. */
static void test_hostile_stream(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	kubeapi_source_resume(&s, "300");
	respond(HTTP_OUTCOME_OK, 200,
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\",\"namespace\":\"shop"
		"\","
		"\"uid\":\"" UID1 "\",\"resourceVersion\":\"301\"},\"spec\":{\"containers\":7}}}\n"
		"{not json}\n"
		"{\"type\":\"TELEPORTED\",\"object\":{\"metadata\":{\"resourceVersion\":\"302\"}}}"
		"\n"
		"[1,2,3]\n"
		"{\"type\":\"MODIFIED\",\"object\":" POD("a", UID2, "303") "}");
	last_canned()->too_large = 1;
	run_source(&s);
	assert_int_equal(fake.nrecs, 6);
	assert_int_equal(fake.recs[0].kind, KUBEAPI_SKIPPED); /* the value the client skipped */
	assert_string_equal(field_text(&fake.recs[0], "skipped", "reason"), "TOO_LARGE");
	assert_int_equal(fake.recs[1].kind, KUBEAPI_SKIPPED);
	assert_string_equal(field_text(&fake.recs[1], "skipped", "reason"), "WRONG_TYPE");
	assert_string_equal(field_text(&fake.recs[1], "skipped", "field"), "spec.containers");
	assert_string_equal(field_text(&fake.recs[1], "skipped", "watch_type"), "ADDED");
	assert_string_equal(fake.recs[1].key, UID1);
	assert_string_equal(fake.recs[1].pod_uid, UID1);
	assert_string_equal(fake.recs[1].position, "301");
	assert_string_equal(field_text(&fake.recs[2], "skipped", "reason"), "INVALID_JSON");
	assert_string_equal(fake.recs[2].key, "node-a/pods");
	assert_string_equal(field_text(&fake.recs[3], "skipped", "reason"), "UNKNOWN_TYPE");
	assert_string_equal(fake.recs[3].position, "302");
	assert_string_equal(field_text(&fake.recs[4], "skipped", "reason"), "NOT_OBJECT");
	assert_int_equal(fake.recs[5].kind, KUBEAPI_POD_MODIFIED);
	assert_string_equal(s.rv, "303");
	assert_int_equal(atomic_load(&s.stats.skipped[KUBEAPI_SKIP_INVALID_JSON]), 1);
	assert_int_equal(atomic_load(&s.stats.skipped[KUBEAPI_SKIP_TOO_LARGE]), 1);
	fake_reset();
	kubeapi_source_free(&s);
}

/* A watch refused as ahead of the server is retried (a lagging cache catches up); refused
 * again and again, the cluster was restored: list from etcd. */
static void test_too_large_watches_relist(void **state)
{
	static const char too_large[] =
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":504,\"reason\":\"Tim"
		"eout\","
		"\"message\":\"Timeout: Too large resource version: 900, current: 400\","
		"\"details\":{\"causes\":[{\"reason\":\"ResourceVersionTooLarge\"}]}}}";
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	kubeapi_source_resume(&s, "900");
	for (int i = 0; i < 5; i++)
		respond(HTTP_OUTCOME_OK, 200, too_large);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	run_source(&s);
	assert_int_equal(fake.backoffs, 4);
	assert_string_equal(fake.paths[5], "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
	assert_string_equal(field_text(&fake.recs[0], "resync", "reason"), "TOO_LARGE");
	fake_reset();
	kubeapi_source_free(&s);
}

/* A list that is not one, or has no resourceVersion: backed off, nothing published. */
static void test_bad_list_backs_off(void **state)
{
	struct kubeapi_source s;

	(void)state;
	init_pods(&s);
	respond(HTTP_OUTCOME_OK, 200, "{\"items\":[}");
	respond(HTTP_OUTCOME_OK, 200, "{\"metadata\":{},\"items\":[]}");
	respond(HTTP_OUTCOME_HTTP_5XX, 503, NULL);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	run_source(&s);
	assert_int_equal(fake.backoffs, 3);
	assert_int_equal(fake.nrecs, 4);
	for (int i = 0; i < 4; i++)
		assert_non_null(strstr(fake.paths[i], "resourceVersion=0"));
	fake_reset();
	kubeapi_source_free(&s);
}

/* Events: about this node (field-selected) or the cluster's; recorded and updated ones
 * published, deletions (TTL) only move the position. */
static void test_events_source(void **state)
{
	struct kubeapi_source s;
	static const char list[] =
		"{\"kind\":\"EventList\",\"metadata\":{\"resourceVersion\":\"500\"},\"items\":[{"
		"\"metadata\":{\"name\":\"e1\",\"namespace\":\"default\",\"uid\":\"e-1\","
		"\"resourceVersion\":\"490\"},\"regarding\":{\"kind\":\"Node\",\"name\":\"node-a\","
		"\"uid\":\"node-a\"},\"reason\":\"Rebooted\"}]}";

	(void)state;
	fake_reset();
	assert_int_equal(kubeapi_source_init(&s, KUBEAPI_SOURCE_EVENTS, "node-a",
					     KUBEAPI_EVENTS_NODE,
					     &map_cfg, &fake_io, 1), 0);
	respond(HTTP_OUTCOME_OK, 200, list);
	respond(HTTP_OUTCOME_OK, 200,
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"e2\","
		"\"namespace\":\"default\",\"uid\":\"e-2\",\"resourceVersion\":\"501\"},"
		"\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\",\"uid\":\"" UID1 "\"},"
		"\"reason\":\"Killing\"}}\n"
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"e1\","
		"\"namespace\":\"default\",\"uid\":\"e-1\",\"resourceVersion\":\"502\"}}}");
	run_source(&s);
	assert_string_equal(fake.paths[0], "/apis/events.k8s.io/v1/events?fieldSelector="
					   "regarding.kind%3DNode%2Cregarding.name%3Dnode-a"
					   "&resourceVersion=0");
	assert_int_equal(fake.nrecs, 4);
	assert_int_equal(fake.recs[0].kind, KUBEAPI_RESYNC_BEGIN);
	assert_string_equal(fake.recs[0].key, "node-a/events");
	assert_int_equal(fake.recs[0].source, 1);
	assert_int_equal(fake.recs[1].kind, KUBEAPI_EVENT_SNAPSHOT);
	assert_string_equal(fake.recs[1].key, "node-a");
	assert_int_equal(fake.recs[2].kind, KUBEAPI_RESYNC_END);
	assert_int_equal(fake.recs[3].kind, KUBEAPI_EVENT);
	assert_string_equal(fake.recs[3].key, UID1);
	assert_string_equal(fake.recs[3].pod_uid, UID1);
	assert_string_equal(fake.recs[3].position, "501");
	assert_int_equal(fake.nmarks, 1);
	assert_int_equal(fake.marks[0].source, 1);
	assert_string_equal(fake.marks[0].position, "502");
	fake_reset();
	kubeapi_source_free(&s);

	/* The cluster's Events: no selector. A node name with selector syntax in it, escaped. */
	assert_int_equal(kubeapi_source_init(&s, KUBEAPI_SOURCE_EVENTS, "n,=1",
					     KUBEAPI_EVENTS_CLUSTER,
					     &map_cfg, &fake_io, 1), 0);
	respond(HTTP_OUTCOME_OK, 200, list);
	run_source(&s);
	assert_string_equal(fake.paths[0], "/apis/events.k8s.io/v1/events?resourceVersion=0");
	fake_reset();
	kubeapi_source_free(&s);
	assert_int_equal(kubeapi_source_init(&s, KUBEAPI_SOURCE_PODS, "n,=1", KUBEAPI_EVENTS_OFF,
					     &map_cfg, &fake_io, 0), 0);
	respond(HTTP_OUTCOME_OK, 200, list_two);
	run_source(&s);
	assert_string_equal(fake.paths[0], "/api/v1/pods?fieldSelector=spec.nodeName%3Dn%5C%2C%5C"
					   "%3D1&resourceVersion=0");
	fake_reset();
	kubeapi_source_free(&s);
}

/* A list item too large to keep is a SKIPPED record inside the bracket, not in its count. */
static void test_list_item_too_large(void **state)
{
	struct kubeapi_source s;
	char *list = malloc(8 << 20);
	size_t n = 0;

	(void)state;
	init_pods(&s);
	n += (size_t)sprintf(list + n, "{\"metadata\":{\"resourceVersion\":\"100\"},\"items\":["
			     POD("a", UID1, "90") ",{\"metadata\":{\"x\":[");
	for (int i = 0; i < (1 << 20) + 10; i++)
		n += (size_t)sprintf(list + n, "%s0", i ? "," : "");
	n += (size_t)sprintf(list + n, "]}}]}");
	respond(HTTP_OUTCOME_OK, 200, list);
	run_source(&s);
	assert_int_equal(fake.nrecs, 4);
	assert_int_equal(fake.recs[1].kind, KUBEAPI_POD_SNAPSHOT);
	assert_int_equal(fake.recs[2].kind, KUBEAPI_SKIPPED);
	assert_string_equal(field_text(&fake.recs[2], "skipped", "reason"), "TOO_LARGE");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(fake.recs[3].decoded,
			 "resync"), "count")), 1);
	fake_reset();
	kubeapi_source_free(&s);
	free(list);
}

static void test_metrics_render(void **state)
{
	struct kubeapi_source s, *sources[2];
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	init_pods(&s);
	atomic_store(&s.stats.skipped[KUBEAPI_SKIP_WRONG_TYPE], 3);
	atomic_store(&s.stats.up, true);
	sources[0] = &s;
	sources[1] = NULL;
	out = open_memstream(&text, &len);
	kubeapi_render_metrics(sources, 2, out);
	fclose(out);
	assert_non_null(strstr(text, "tapio_kubeapi_skipped_total{source=\"pods\","
				     "reason=\"wrong_type\"} 3\n"));
	assert_non_null(strstr(text, "tapio_kubeapi_source_up{source=\"pods\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE tapio_kubeapi_resyncs_total counter\n"));
	free(text);
	fake_reset();
	kubeapi_source_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_matches_golden),
		cmocka_unit_test(test_pending_pod_matches_golden),
		cmocka_unit_test(test_events_match_golden),
		cmocka_unit_test(test_resync_and_skipped_match_golden),
		cmocka_unit_test(test_loss_record_decodes),
		cmocka_unit_test(test_quantities),
		cmocka_unit_test(test_quantities_against_arithmetic),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_tokenizer),
		cmocka_unit_test(test_hostile_pods),
		cmocka_unit_test(test_unparsable_values_are_null),
		cmocka_unit_test(test_huge_pod_is_cut_whole),
		cmocka_unit_test(test_long_note_is_cut_and_flagged),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_first_list_then_watch),
		cmocka_unit_test(test_expired_watch_relists),
		cmocka_unit_test(test_relist_falls_back_to_etcd),
		cmocka_unit_test(test_failures_back_off_and_resume),
		cmocka_unit_test(test_hostile_stream),
		cmocka_unit_test(test_too_large_watches_relist),
		cmocka_unit_test(test_bad_list_backs_off),
		cmocka_unit_test(test_events_source),
		cmocka_unit_test(test_list_item_too_large),
		cmocka_unit_test(test_metrics_render),
	};

	log_level_current = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
