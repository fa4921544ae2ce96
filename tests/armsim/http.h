/* The HTTP server of armsim (libmicrohttpd). */
#ifndef ARMSIM_HTTP_H
#define ARMSIM_HTTP_H

#include "armsim.h"

struct http;

/* Starts listening on host:port (port 0 picks one, written to *bound_port). TLS is used when
 * cert_file and key_file are given. Requests are dispatched under c->lock. */
int http_start(struct ctx *c, const char *host, int port, const char *cert_file,
               const char *key_file, unsigned threads, struct http **out, int *bound_port);

/* Stops the server; accepts NULL. */
void http_stop(struct http *h);

#endif
