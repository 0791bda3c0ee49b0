/*-------------------------------------------------------------------------
 *
 * log_guard.h
 *	  An emit_log_hook that keeps redtrack's secrets out of the server log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_LOG_GUARD_H
#define REDTRACK_LOG_GUARD_H

extern void redtrack_install_log_guard(void);

#endif							/* REDTRACK_LOG_GUARD_H */
