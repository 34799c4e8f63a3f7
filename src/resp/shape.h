/* Reply shapes (see shape.c): the same form of a reply on RESP2 and RESP3. */
#ifndef RK_SHAPE_H
#define RK_SHAPE_H

#include <stdbool.h>

#include "rediskit/reply.h"

#pragma GCC visibility push(hidden)

/* Bends *reply into shape (a shape string, see shape.c); a reply that does
 * not look as expected is left alone. Returns RK_OK, or RK_ENOMEM with the
 * reply unchanged. */
int rk_reshape(rk_reply *reply, const char *shape);

/* The shape of a GEORADIUS/GEOSEARCH reply with these WITH... options. */
const char *rk_geo_shape(bool coord, bool dist, bool hash);

#pragma GCC visibility pop

#endif
