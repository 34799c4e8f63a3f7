/* The public options structs and their fields, in declaration order, for
 * the ABI layout guard (layout.h, layout_gen.c, tests/test_abi.c).
 *
 * RK_ABI_STRUCTS(S) lists each struct once: S(type, frozen), frozen for the
 * structs nested inside another (their size may never change).
 * RK_ABI_FIELDS(F) lists every field: F(type, field). A field added to a
 * struct is added here, at the end of its struct's fields, and its line
 * appended to layout.txt (build/tests/abi_layout prints them all).
 *
 * The generated command option structs (rediskit/commands/) join with
 * RK_ABI_COMMAND_STRUCTS / RK_ABI_COMMAND_FIELDS, in the same form, from a
 * generated header included here when it exists. */
#ifndef RK_ABI_FIELDS_H
#define RK_ABI_FIELDS_H

#include "rediskit/rediskit.h"

#if __has_include("abi/command_fields.h")
#include "abi/command_fields.h"
#endif
#ifndef RK_ABI_COMMAND_STRUCTS
#define RK_ABI_COMMAND_STRUCTS(S)
#define RK_ABI_COMMAND_FIELDS(F)
#endif

#define RK_ABI_STRUCTS(S)                                                                          \
    S(rk_options, false)                                                                           \
    S(rk_tls_options, true)                                                                        \
    S(rk_retry, true)                                                                              \
    S(rk_reader_opts, true)                                                                        \
    S(rk_call_opts, false)                                                                         \
    S(rk_pipeline_opts, false)                                                                     \
    S(rk_transaction_opts, false)                                                                  \
    S(rk_pubsub_opts, false)                                                                       \
    S(rk_lock_opts, false)                                                                         \
    S(rk_redlock_opts, false)                                                                      \
    S(rk_scanner_opts, false)                                                                      \
    S(rk_writer_opts, false)                                                                       \
    S(rk_pool_stats, false)                                                                        \
    S(rk_async_options, false)                                                                     \
    S(rk_async_call, false)                                                                        \
    S(rk_loop_ops, false)                                                                          \
    S(rk_async_tracking, false)                                                                    \
    RK_ABI_COMMAND_STRUCTS(S)

#define RK_ABI_FIELDS(F)                                                                           \
    F(rk_options, host)                                                                            \
    F(rk_options, port)                                                                            \
    F(rk_options, unix_path)                                                                       \
    F(rk_options, username)                                                                        \
    F(rk_options, password)                                                                        \
    F(rk_options, credentials)                                                                     \
    F(rk_options, credentials_userdata)                                                            \
    F(rk_options, db)                                                                              \
    F(rk_options, protocol)                                                                        \
    F(rk_options, client_name)                                                                     \
    F(rk_options, connect_timeout_ms)                                                              \
    F(rk_options, command_timeout_ms)                                                              \
    F(rk_options, no_tcp_nodelay)                                                                  \
    F(rk_options, keepalive_s)                                                                     \
    F(rk_options, health_check_ms)                                                                 \
    F(rk_options, tls)                                                                             \
    F(rk_options, limits)                                                                          \
    F(rk_options, on_push)                                                                         \
    F(rk_options, push_userdata)                                                                   \
    F(rk_options, pool_size)                                                                       \
    F(rk_options, pool_timeout_ms)                                                                 \
    F(rk_options, retry)                                                                           \
    F(rk_options, mode)                                                                            \
    F(rk_options, mux_connections)                                                                 \
    F(rk_tls_options, enabled)                                                                     \
    F(rk_tls_options, ca_file)                                                                     \
    F(rk_tls_options, ca_dir)                                                                      \
    F(rk_tls_options, cert_file)                                                                   \
    F(rk_tls_options, key_file)                                                                    \
    F(rk_tls_options, server_name)                                                                 \
    F(rk_tls_options, insecure)                                                                    \
    F(rk_retry, attempts)                                                                          \
    F(rk_retry, backoff)                                                                           \
    F(rk_retry, base_ms)                                                                           \
    F(rk_retry, cap_ms)                                                                            \
    F(rk_retry, on_errors)                                                                         \
    F(rk_retry, on_retry)                                                                          \
    F(rk_retry, userdata)                                                                          \
    F(rk_reader_opts, max_bulk)                                                                    \
    F(rk_reader_opts, max_elements)                                                                \
    F(rk_reader_opts, max_depth)                                                                   \
    F(rk_reader_opts, max_buffer)                                                                  \
    F(rk_reader_opts, max_memory)                                                                  \
    F(rk_call_opts, idempotent)                                                                    \
    F(rk_call_opts, no_retry)                                                                      \
    F(rk_call_opts, timeout_ms)                                                                    \
    F(rk_pipeline_opts, transaction)                                                               \
    F(rk_pipeline_opts, stop_on_error)                                                             \
    F(rk_pipeline_opts, allow_retry)                                                               \
    F(rk_pipeline_opts, borrow_large_values)                                                       \
    F(rk_transaction_opts, max_attempts)                                                           \
    F(rk_pubsub_opts, ignore_confirmations)                                                        \
    F(rk_pubsub_opts, health_check_ms)                                                             \
    F(rk_pubsub_opts, on_event)                                                                    \
    F(rk_pubsub_opts, event_userdata)                                                              \
    F(rk_lock_opts, ttl_ms)                                                                        \
    F(rk_lock_opts, sleep_ms)                                                                      \
    F(rk_lock_opts, non_blocking)                                                                  \
    F(rk_lock_opts, blocking_timeout_ms)                                                           \
    F(rk_lock_opts, watchdog)                                                                      \
    F(rk_lock_opts, on_lost)                                                                       \
    F(rk_lock_opts, lost_userdata)                                                                 \
    F(rk_lock_opts, fencing)                                                                       \
    F(rk_lock_opts, fence_key)                                                                     \
    F(rk_redlock_opts, ttl_ms)                                                                     \
    F(rk_redlock_opts, instance_timeout_ms)                                                        \
    F(rk_redlock_opts, attempts)                                                                   \
    F(rk_redlock_opts, retry_delay_ms)                                                             \
    F(rk_scanner_opts, kind)                                                                       \
    F(rk_scanner_opts, key)                                                                        \
    F(rk_scanner_opts, key_len)                                                                    \
    F(rk_scanner_opts, match)                                                                      \
    F(rk_scanner_opts, match_len)                                                                  \
    F(rk_scanner_opts, count)                                                                      \
    F(rk_scanner_opts, type)                                                                       \
    F(rk_scanner_opts, cursor)                                                                     \
    F(rk_writer_opts, ref_threshold)                                                               \
    F(rk_pool_stats, in_use)                                                                       \
    F(rk_pool_stats, idle)                                                                         \
    F(rk_pool_stats, created)                                                                      \
    F(rk_pool_stats, closed)                                                                       \
    F(rk_pool_stats, waits)                                                                        \
    F(rk_pool_stats, timeouts)                                                                     \
    F(rk_async_options, max_inflight)                                                              \
    F(rk_async_options, max_inflight_bytes)                                                        \
    F(rk_async_options, max_write_bytes)                                                           \
    F(rk_async_options, liveness_ms)                                                               \
    F(rk_async_options, max_queued)                                                                \
    F(rk_async_options, max_queued_bytes)                                                          \
    F(rk_async_options, fail_fast)                                                                 \
    F(rk_async_call, callback)                                                                     \
    F(rk_async_call, userdata)                                                                     \
    F(rk_async_call, timeout_ms)                                                                   \
    F(rk_async_call, idempotent)                                                                   \
    F(rk_loop_ops, watch)                                                                          \
    F(rk_loop_ops, timer)                                                                          \
    F(rk_loop_ops, wake)                                                                           \
    F(rk_loop_ops, detach)                                                                         \
    F(rk_loop_ops, attach_other)                                                                   \
    F(rk_async_tracking, flags)                                                                    \
    F(rk_async_tracking, prefixes)                                                                 \
    F(rk_async_tracking, nprefixes)                                                                \
    F(rk_async_tracking, on_invalidate)                                                            \
    F(rk_async_tracking, userdata)                                                                 \
    RK_ABI_COMMAND_FIELDS(F)

#endif
