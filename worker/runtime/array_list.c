/*-------------------------------------------------------------------------
 *
 * array_list.c
 *	  SQL arrays of names and strings to C lists and back (array_list.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "array_list.h"

List *
redtrack_name_array_to_list(ArrayType *array, const char *argument)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	List	   *result = NIL;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argument)));
	deconstruct_array(array, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argument)));
		result = lappend(result, pstrdup(NameStr(*DatumGetName(elems[i]))));
	}
	return result;
}

Datum
redtrack_names_to_name_array(char **names, int count)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(count, 1));

	for (int i = 0; i < count; i++)
	{
		Name		n = palloc0(NAMEDATALEN);

		namestrcpy(n, names[i]);
		elems[i] = NameGetDatum(n);
	}
	return PointerGetDatum(construct_array(elems, count, NAMEOID, NAMEDATALEN,
										   false, TYPALIGN_CHAR));
}

Datum
redtrack_list_to_name_array(List *names)
{
	char	  **array = palloc(sizeof(char *) * Max(list_length(names), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, names)
		array[i++] = lfirst(lc);
	return redtrack_names_to_name_array(array, i);
}

Datum
redtrack_list_to_text_array(List *strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, strings)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false,
										   TYPALIGN_INT));
}
