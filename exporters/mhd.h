/*
 * mhd.h -- libmicrohttpd, loaded by `smtpmon serve` when it starts (mhd_load) instead of at the
 * start of every command: the library brings GnuTLS and eight more libraries with it, about
 * 2.5 MiB of memory that the agent and scan do not need. Include this instead of
 * <microhttpd.h>: the MHD_ calls below go through pointers that mhd_load fills.
 */
#ifndef SMTPMON_EXPORTERS_MHD_H
#define SMTPMON_EXPORTERS_MHD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#define MHD_LIBRARY "libmicrohttpd.so.12"

/* clang-format off */
#define MHD_FUNCS(X) \
    X(MHD_add_response_header) \
    X(MHD_create_response_from_buffer) \
    X(MHD_destroy_response) \
    X(MHD_lookup_connection_value) \
    X(MHD_queue_response) \
    X(MHD_resume_connection) \
    X(MHD_suspend_connection) \
    X(MHD_start_daemon) \
    X(MHD_stop_daemon)
/* clang-format on */
#define MHD_DL_DECL(f) extern __typeof__(f) *dl_##f;
MHD_FUNCS(MHD_DL_DECL)

/* Loads the library once: 0, or -1 with the reason in ERR. */
int mhd_load(char *err, size_t errlen);

#ifndef MHD_DL_DEFINE
#define MHD_add_response_header (*dl_MHD_add_response_header)
#define MHD_create_response_from_buffer (*dl_MHD_create_response_from_buffer)
#define MHD_destroy_response (*dl_MHD_destroy_response)
#define MHD_lookup_connection_value (*dl_MHD_lookup_connection_value)
#define MHD_queue_response (*dl_MHD_queue_response)
#define MHD_resume_connection (*dl_MHD_resume_connection)
#define MHD_suspend_connection (*dl_MHD_suspend_connection)
#define MHD_start_daemon (*dl_MHD_start_daemon)
#define MHD_stop_daemon (*dl_MHD_stop_daemon)
#endif

#endif
