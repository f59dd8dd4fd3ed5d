/* proto_impl.h: byte-order helpers and the message table, private to proto/. */

#ifndef DBMD_PROTO_IMPL_H
#define DBMD_PROTO_IMPL_H

#include <stdint.h>

#include "proto.h"

/* Payload layouts; several message types share one. */
enum proto_layout {
	LAYOUT_NONE = 0,		/* not a message type */
	LAYOUT_EMPTY,			/* no payload */
	LAYOUT_HANDLE,			/* u32 handle_id */
	LAYOUT_HELLO,
	LAYOUT_HELLO_OK,
	LAYOUT_OPEN,
	LAYOUT_OPEN_OK,
	LAYOUT_EXEC,
	LAYOUT_ROW_DESC,
	LAYOUT_DATA_ROW,
	LAYOUT_COMPLETE,
	LAYOUT_ERROR,
	LAYOUT_GOODBYE,
	LAYOUT_RESOLVE,
	LAYOUT_DISPOSE_POOL,
};

/*
 * What the header alone can tell about a type.  minlen and maxlen bound the
 * payload length so that, say, a 1 MiB PING is refused before it is read.
 */
struct proto_msg_info {
	const char	*name;
	uint8_t		 layout;	/* enum proto_layout */
	uint16_t	 flags;		/* header flags the type may carry */
	uint32_t	 minlen;	/* smallest well-formed payload */
	uint32_t	 maxlen;	/* largest, or UINT32_MAX when unbounded */
};

const struct proto_msg_info	*proto_msg_info(uint16_t type);

static inline void
be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static inline uint16_t
be16_get(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t
be64_get(const uint8_t *p)
{
	return ((uint64_t)be32_get(p) << 32) | be32_get(p + 4);
}

#endif /* DBMD_PROTO_IMPL_H */
