/*
 * Kubernetes resource quantities ("250m", "1.5Gi", "1e9", ...) as exact integers, the way
 * k8s.io/apimachinery's resource.ParseQuantity and Quantity.ScaledValue see them: the grammar of
 * parseQuantityString (a sign, digits, a fraction, a suffix of the letters eEinumkKMGTP, an
 * optional sign and digits), the suffixes n u m "" k M G T P E, Ki Mi Gi Ti Pi Ei and e<int>/E<int>
 * (the exponent read as a 64-bit integer, then taken as a 32-bit one, as Go's int32() does), the
 * cap of binary-suffixed values at 2^63 - 1, and rounding up, away from zero. Arithmetic is exact
 * for any number of digits: the value is never a float.
 */
#include "kubeapi_collector.h"

#include <stdbool.h>
#include <string.h>

typedef unsigned __int128 u128;

/* The digits of the number, without its leading zeros: num[0..num_len) before the point,
 * den[0..den_len) after it. */
struct digits {
	const char *num, *den;
	size_t num_len, den_len;
};

static int digit_at(const struct digits *d, int64_t k)
{
	if (k < 0 || (uint64_t)k >= d->num_len + d->den_len)
		return 0;
	if ((uint64_t)k < d->num_len)
		return d->num[k] - '0';
	return d->den[(size_t)k - d->num_len] - '0';
}

static bool is_suffix_letter(char c)
{
	return c && strchr("eEinumkKMGTP", c) != NULL;
}

/*
 * ceil(|digits| * 10^e10 * 2^b) into *out (b 0..60); false when it exceeds 2^127 (and so any
 * long). `first` and `last` index the first and last nonzero digits.
 */
static bool ceil_scaled(const struct digits *d, int64_t first, int64_t last, int64_t e10,
			unsigned b, u128 *out)
{
	int64_t point = (int64_t)d->num_len + e10; /* digits before the point, after scaling */
	u128 whole = 0, carry = 0;
	bool rest = false;

	/* Integer part: digits [first, point). 38 decimal digits stay below 2^127. */
	if (point - first > 38)
		return false;
	for (int64_t k = first; k < point; k++)
		whole = whole * 10 + (u128)digit_at(d, k);
	if (b && whole > ((u128)1 << (126 - b)))
		return false;
	whole <<= b;

	/* Fraction: digits [max(point, first), last]; nonzero only when last >= point. */
	if (last >= point) {
		int64_t from = point > first ? point : first;

		if (b == 0 || from - point >= 19) {
			/* Below 10^-19 * 2^60 < 1: only its being nonzero counts. */
			rest = true;
		} else {
			/* F * 2^b digit by digit from the right: the carry out of the first
			 * fraction digit is floor(F * 2^b). */
			for (int64_t k = last; k >= point; k--) {
				u128 v = (u128)digit_at(d, k) * ((u128)1 << b) + carry;

				rest |= v % 10 != 0;
				carry = v / 10;
			}
		}
	}
	*out = whole + carry + (rest ? 1 : 0);
	return true;
}

/* Go's strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no overflow. */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (n && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n)
		return false;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned digit;

		if (s[i] < '0' || s[i] > '9')
			return false;
		digit = (unsigned)(s[i] - '0');
		if (v > (limit - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* The suffix's base-10 exponent or base-2 exponent; false when it is not one. */
static bool interpret_suffix(const char *s, size_t n, int64_t *e10, unsigned *b2, bool *binary)
{
	static const struct {
		const char *text;
		int e10;
		unsigned b2;
	} table[] = {
		{ "", 0, 0 }, { "n", -9, 0 }, { "u", -6, 0 }, { "m", -3, 0 }, { "k", 3, 0 },
		{ "M", 6, 0 }, { "G", 9, 0 }, { "T", 12, 0 }, { "P", 15, 0 }, { "E", 18, 0 },
		{ "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 }, { "Ti", 0, 40 }, { "Pi", 0, 50 },
		{ "Ei", 0, 60 },
	};
	int64_t parsed;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strlen(table[i].text) == n && memcmp(table[i].text, s, n) == 0) {
			*e10 = table[i].e10;
			*b2 = table[i].b2;
			*binary = table[i].b2 != 0;
			return true;
		}
	}
	if (n > 1 && (s[0] == 'e' || s[0] == 'E') && parse_int64(s + 1, n - 1, &parsed)) {
		*e10 = (int32_t)(uint32_t)(uint64_t)parsed; /* Go: int32(parsed) */
		*b2 = 0;
		*binary = false;
		return true;
	}
	return false;
}

int kubeapi_quantity(const char *s, size_t len, int scale, int64_t *out)
{
	struct digits d = { 0 };
	size_t pos = 0, i, suffix_start;
	int64_t e10 = 0, first = -1, last = -1;
	unsigned b2 = 0;
	bool negative = false, binary = false;
	u128 v;

	*out = 0;
	if (len == 0)
		return QUANTITY_INVALID;
	if (s[0] == '-' || s[0] == '+') {
		negative = s[0] == '-';
		pos = 1;
	}
	while (pos < len && s[pos] == '0')
		pos++;
	if (pos == len)
		return QUANTITY_OK; /* only zeros (or a bare sign): 0, as Go reads it */
	d.num = s + pos;
	for (i = pos; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	d.num_len = i - pos;
	pos = i;
	if (pos < len && s[pos] == '.') {
		pos++;
		d.den = s + pos;
		for (i = pos; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		d.den_len = i - pos;
		pos = i;
	}
	/* The suffix: letters, then an optional sign and digits to the end. */
	suffix_start = pos;
	while (pos < len && is_suffix_letter(s[pos]))
		pos++;
	if (pos < len && (s[pos] == '-' || s[pos] == '+'))
		pos++;
	while (pos < len && s[pos] >= '0' && s[pos] <= '9')
		pos++;
	if (pos != len)
		return QUANTITY_INVALID;
	if (!interpret_suffix(s + suffix_start, len - suffix_start, &e10, &b2, &binary))
		return QUANTITY_INVALID;

	for (int64_t k = 0; (uint64_t)k < d.num_len + d.den_len; k++) {
		if (digit_at(&d, k)) {
			if (first < 0)
				first = k;
			last = k;
		}
	}
	if (first < 0)
		return QUANTITY_OK; /* zero */
	if (binary) {
		/* Go caps a binary-suffixed value at 2^63 - 1 before any scaling. */
		if (!ceil_scaled(&d, first, last, 0, b2, &v) || v > INT64_MAX) {
			if (scale != 0)
				return QUANTITY_RANGE;
			*out = negative ? -INT64_MAX : INT64_MAX;
			return QUANTITY_OK;
		}
	}
	if (!ceil_scaled(&d, first, last, e10 + scale, b2, &v) || v > INT64_MAX)
		return QUANTITY_RANGE;
	*out = negative ? -(int64_t)v : (int64_t)v;
	return QUANTITY_OK;
}
