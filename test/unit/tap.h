/*
 * TAP output for the unit tests: "ok N - what" or "not ok N - what" per
 * check, then the plan "1..N"; the exit status says whether all passed.
 * Header-only, one copy per test program.
 */
#ifndef REDTRACK_TAP_H
#define REDTRACK_TAP_H

#include <stdio.h>

static int	tap_test_no = 0;
static int	tap_failures = 0;

static inline void
check(int ok, const char *what)
{
	tap_test_no++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tap_test_no, what);
	if (!ok)
		tap_failures++;
}

/* The plan, and main's exit status. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_test_no);
	return tap_failures ? 1 : 0;
}

#endif							/* REDTRACK_TAP_H */
