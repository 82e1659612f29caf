/*
 * A foreground command's exit without the unmapping of its memory on its caller's path.
 *
 * A process's exit unmaps its address space before its parent is told (do_exit: exit_mm, then
 * exit_notify): for csrun ~0.25 ms of zapping the pages its start made resident, between the container's
 * exit and the caller's wake-up. A task that shares the address space (clone with CLONE_VM, a process, not
 * a thread) keeps it alive past csrun's exit, so that csrun's last thread only drops a reference; this
 * holder waits on a pidfd of csrun, readable once the whole thread group is gone, then exits and unmaps
 * it while the caller goes on.
 *
 * The holder shares csrun's memory, so it runs nothing of csrun's: no libc state, no signal handler
 * (every signal is blocked before the clone), only system calls on its own static stack. glibc's syscall()
 * writes errno (that of csrun's thread) only on a failure, after which the holder just exits.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static char holder_stack[16384] __attribute__((aligned(16)));

static int holder(void *arg)
{
    int pidfd = (int)(intptr_t)arg;
    /* Its fd table is a copy of csrun's: none of csrun's files (a caller's pipe among them) stays open. */
    csr_close_inherited(0, pidfd, -1, -1);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    syscall(SYS_poll, &p, 1UL, -1L);
    syscall(SYS_exit, 0L);
    return 0;
}

int csr_defer_teardown(void)
{
    static int started;
    if (started)
        return 0;
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0U);
    if (pidfd < 0)
        return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* Exit signal 0: csrun is not signalled if it ends first by accident; once reparented, whoever
     * inherits it gets SIGCHLD and reaps it as any orphan. */
    pid_t pid = clone(holder, holder_stack + sizeof holder_stack, CLONE_VM, (void *)(intptr_t)pidfd);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pidfd);
    if (pid < 0) {
        errno = err;
        return -1;
    }
    started = 1;
    return 0;
}
