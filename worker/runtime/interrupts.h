/*-------------------------------------------------------------------------
 *
 * interrupts.h
 *	  Whether a cancel or a termination is waiting for this backend.
 *
 * Code that waits on the network (S3 transfers, the warehouse's socket)
 * stops as soon as this is true, and then lets CHECK_FOR_INTERRUPTS
 * raise the interrupt.  Other pending interrupts (a configuration reload,
 * a barrier) do not stop a transfer: they are served at the next
 * CHECK_FOR_INTERRUPTS.  Main thread only: it reads the backend's flags.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_INTERRUPTS_H
#define REDTRACK_INTERRUPTS_H

#include "miscadmin.h"

static inline bool
redtrack_interrupt_pending(void)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

#endif							/* REDTRACK_INTERRUPTS_H */
