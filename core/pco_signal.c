/*
 * pco_signal.c: the signals of every portico process. One handler sets a volatile flag per
 * signal (pco_sig_quit, pco_sig_reconfigure... declared in pco_process.h); the master blocks
 * them everywhere except in sigsuspend() and handles them one at a time, workers and helpers
 * look at the flags after every event loop pass. No SA_RESTART, so that epoll_wait() and
 * sigsuspend() return. Touches no shared state.
 */
#include "pco_core.h"
#include "pco_process.h"
#include "pco_process_int.h"

volatile sig_atomic_t  pco_sig_quit, pco_sig_terminate, pco_sig_reopen, pco_sig_reconfigure,
                       pco_sig_child, pco_sig_upgrade, pco_sig_winch;
volatile sig_atomic_t  pco_sig_alarm;
volatile sig_atomic_t  pco_sig_term_signo;

static void
pco_signal_handler(int signo)
{
    int  saved = errno;

    switch (signo) {
    case SIGQUIT:
        pco_sig_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        pco_sig_terminate = 1;
        pco_sig_term_signo = signo;
        break;
    case SIGHUP:
        pco_sig_reconfigure = 1;
        break;
    case SIGUSR1:
        pco_sig_reopen = 1;
        break;
    case SIGUSR2:
        pco_sig_upgrade = 1;
        break;
    case SIGWINCH:
        pco_sig_winch = 1;
        break;
    case SIGCHLD:
        pco_sig_child = 1;
        break;
    case SIGALRM:
        pco_sig_alarm = 1;
        break;
    default:
        break;
    }

    errno = saved;
}

static const int  pco_handled_signals[] = {
    SIGQUIT, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGALRM
};

int
pco_signals_init(void)
{
    struct sigaction  sa;
    size_t            i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pco_signal_handler;
    sa.sa_flags = SA_NOCLDSTOP;     /* no SA_RESTART: epoll_wait and sigsuspend return */
    sigemptyset(&sa.sa_mask);

    for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
        if (sigaction(pco_handled_signals[i], &sa, NULL) == -1) {
            pco_plog(PCO_LOG_ALERT, errno, "sigaction(%d) failed", pco_handled_signals[i]);
            return PCO_ERROR;
        }
    }

    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    (void) sigaction(SIGPIPE, &sa, NULL);

    return PCO_OK;
}

void
pco_signals_block(sigset_t *set)
{
    size_t  i;

    sigemptyset(set);
    for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
        sigaddset(set, pco_handled_signals[i]);
    }
    (void) sigprocmask(SIG_BLOCK, set, NULL);
}

void
pco_signals_reset(void)
{
    struct sigaction  sa;
    sigset_t          set;
    size_t            i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
        (void) sigaction(pco_handled_signals[i], &sa, NULL);
    }
    sigemptyset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);
}

const char *
pco_signal_name(int signo)
{
    switch (signo) {
    case SIGHUP:   return "SIGHUP";
    case SIGINT:   return "SIGINT";
    case SIGQUIT:  return "SIGQUIT";
    case SIGTERM:  return "SIGTERM";
    case SIGUSR1:  return "SIGUSR1";
    case SIGUSR2:  return "SIGUSR2";
    case SIGWINCH: return "SIGWINCH";
    case SIGKILL:  return "SIGKILL";
    case SIGSEGV:  return "SIGSEGV";
    case SIGABRT:  return "SIGABRT";
    case SIGBUS:   return "SIGBUS";
    default:       return "?";
    }
}
