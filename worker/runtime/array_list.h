/*-------------------------------------------------------------------------
 *
 * array_list.h
 *	  SQL arrays of names and strings to C lists and back.
 *
 * redtrack.replicables and the state tables keep column names as name[]
 * and text[]; the C code works with Lists of C strings.  These are the
 * only converters between the two.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_ARRAY_LIST_H
#define REDTRACK_ARRAY_LIST_H

#include "nodes/pg_list.h"
#include "utils/array.h"

/*
 * A one-dimensional name[] (an argument called "argument", for the
 * errors) as a List of C strings; a NULL element is an error.
 */
extern List *redtrack_name_array_to_list(ArrayType *array,
										 const char *argument);

/* name[] of C strings (palloc'd). */
extern Datum redtrack_names_to_name_array(char **names, int count);
extern Datum redtrack_list_to_name_array(List *names);

/* text[] of a List of C strings (palloc'd). */
extern Datum redtrack_list_to_text_array(List *strings);

#endif							/* REDTRACK_ARRAY_LIST_H */
