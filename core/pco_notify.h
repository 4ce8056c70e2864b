/*
 * pco_notify.h: the systemd notify protocol ($NOTIFY_SOCKET), spoken by the master so that
 * a Type=notify unit knows when portico is ready, reloading or stopping. See pco_notify.c.
 */
#ifndef PCO_NOTIFY_H
#define PCO_NOTIFY_H

#include "pco_core.h"

/* Sends state ("READY=1\n"...) as one datagram to $NOTIFY_SOCKET: PCO_OK, PCO_DECLINED when
 * the variable is not set, PCO_ERROR (logged once) when it cannot be sent. */
int pco_notify(const char *state);
/* READY=1; with new_main (a master started by USR2), MAINPID=<pid> first. */
void pco_notify_ready(bool new_main);
/* RELOADING=1 with MONOTONIC_USEC=<now>. */
void pco_notify_reloading(void);

#endif
