/*-------------------------------------------------------------------------
 *
 * canonical_output.c
 *	  The settings under which redtrack turns values into text
 *	  (canonical_output.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "canonical_output.h"

const CanonicalSetting redtrack_canonical_output[] = {
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{NULL, NULL}
};

void
redtrack_impose_canonical_output(void)
{
	for (const CanonicalSetting *s = redtrack_canonical_output; s->name; s++)
		SetConfigOption(s->name, s->value, PGC_SUSET, PGC_S_OVERRIDE);
}

int
redtrack_push_canonical_output(void)
{
	int			nestlevel = NewGUCNestLevel();

	for (const CanonicalSetting *s = redtrack_canonical_output; s->name; s++)
		(void) set_config_option(s->name, s->value, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}
