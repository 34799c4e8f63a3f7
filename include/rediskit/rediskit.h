/** @file rediskit/rediskit.h
 * rediskit: a complete Redis client library for C.
 *
 * Include this header to get the whole public API; each concept also has
 * a header of its own under rediskit/. */
#ifndef RK_REDISKIT_H
#define RK_REDISKIT_H

#include "alloc.h"
#include "async.h"
#include "client.h"
#include "command.h"
#include "commands.h"
#include "conn.h"
#include "error.h"
#include "lock.h"
#include "loop.h"
#include "options.h"
#include "pipeline.h"
#include "pubsub.h"
#include "reader.h"
#include "reply.h"
#include "scan.h"
#include "script.h"
#include "str.h"
#include "version.h"
#include "writer.h"

#endif
