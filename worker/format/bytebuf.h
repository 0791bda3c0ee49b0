/*-------------------------------------------------------------------------
 *
 * bytebuf.h
 *	  A growable malloc'd byte buffer for the pure C modules (CSV encoding,
 *	  gzip stream, upload pipeline), which must not use palloc because
 *	  some of them run in threads.
 *
 * Allocation failure sets oom and drops further writes; the owner checks
 * oom at a point where it can report it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_BYTEBUF_H
#define REDTRACK_BYTEBUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct ByteBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} ByteBuf;

static inline bool
bytebuf_reserve(ByteBuf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;

	if (b->oom)
		return false;
	if (need > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 1024;
		char	   *grown;

		while (cap < need)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL)
		{
			b->oom = true;
			return false;
		}
		b->data = grown;
		b->cap = cap;
	}
	return true;
}

static inline void
bytebuf_append(ByteBuf *b, const void *data, size_t len)
{
	if (!bytebuf_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static inline void
bytebuf_append_char(ByteBuf *b, char c)
{
	if (b->len + 2 <= b->cap || bytebuf_reserve(b, 1))
		b->data[b->len++] = c;
}

static inline void
bytebuf_reset(ByteBuf *b)
{
	b->len = 0;
}

static inline void
bytebuf_free(ByteBuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

#endif							/* REDTRACK_BYTEBUF_H */
