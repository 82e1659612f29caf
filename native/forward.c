/*
 * Signal forwarding for a foreground `run` or `exec`: the signals the runtime receives go on to the
 * container's process, as runc does. Installed before the process exists, so that no signal in between
 * takes its default action on the runtime (which would leave the container running, unwatched): until
 * the target is known, signals are held and then delivered once each.
 *
 * A plain handler making one async-signal-safe system call, rather than .NET's PosixSignalRegistration,
 * which starts a handler thread, opens a pipe and sets up the terminal on the start path.
 * pidfd_send_signal keeps a recycled pid from getting a signal meant for a process that has exited.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fwd_pidfd = -1;                 /* read by the handler, written with atomics */
static int fwd_pending[_NSIG];             /* held until the target is known */
static struct sigaction fwd_saved[_NSIG];
static unsigned char fwd_installed[_NSIG];

static void send_signal(int fd, int sig)
{
    syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

static void forward(int sig)
{
    int saved = errno;
    int fd = __atomic_load_n(&fwd_pidfd, __ATOMIC_SEQ_CST);
    if (fd >= 0) {
        send_signal(fd, sig);
    } else {
        __atomic_store_n(&fwd_pending[sig], 1, __ATOMIC_SEQ_CST);
        /* The target may have been set between the load and the store: whoever takes the flag sends it. */
        fd = __atomic_load_n(&fwd_pidfd, __ATOMIC_SEQ_CST);
        if (fd >= 0 && __atomic_exchange_n(&fwd_pending[sig], 0, __ATOMIC_SEQ_CST))
            send_signal(fd, sig);
    }
    errno = saved;
}

int csr_forward_signals(const int *sigs, int n, struct csr_error *error)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART; /* the caller's wait4 goes on after each forwarded signal */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < n; i++) {
        int sig = sigs[i];
        if (sig <= 0 || sig >= _NSIG || sig == SIGKILL || sig == SIGSTOP) {
            csr_err(error, EINVAL, "forward signals: not a signal that can be caught", NULL);
            return -1;
        }
        if (fwd_installed[sig])
            continue;
        if (sigaction(sig, &sa, &fwd_saved[sig]) < 0) {
            csr_err(error, errno, "forward signals: sigaction", NULL);
            return -1;
        }
        fwd_installed[sig] = 1;
    }
    return 0;
}

int csr_forward_signals_to(int pid, struct csr_error *error)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    if (__atomic_load_n(&fwd_pidfd, __ATOMIC_SEQ_CST) >= 0) {
        csr_err(error, EBUSY, "forward signals: already forwarding to a process", NULL);
        return -1;
    }
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        csr_err(error, errno, "forward signals: pidfd_open", NULL);
        return -1;
    }
    __atomic_store_n(&fwd_pidfd, (int)fd, __ATOMIC_SEQ_CST);
    for (int sig = 1; sig < _NSIG; sig++) {
        if (__atomic_exchange_n(&fwd_pending[sig], 0, __ATOMIC_SEQ_CST))
            send_signal((int)fd, sig);
    }
    return 0;
}

void csr_forward_signals_stop(void)
{
    for (int sig = 1; sig < _NSIG; sig++) {
        if (fwd_installed[sig]) {
            sigaction(sig, &fwd_saved[sig], NULL);
            fwd_installed[sig] = 0;
        }
        __atomic_store_n(&fwd_pending[sig], 0, __ATOMIC_SEQ_CST);
    }
    int fd = __atomic_exchange_n(&fwd_pidfd, -1, __ATOMIC_SEQ_CST);
    if (fd >= 0)
        close(fd);
}
