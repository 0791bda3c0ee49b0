/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Event streams' SQL functions (events.c, event_write.c).  What a
 *	  stream is, for the engine too, is worker/stream/stream.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_EVENTS_H
#define REDTRACK_EVENTS_H

#include "stream.h"

#endif							/* REDTRACK_EVENTS_H */
