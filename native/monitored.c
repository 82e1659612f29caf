/*
 * csr_spawn_monitored: the container's init as the grandchild-turned-child of a per-container monitor
 * (csrund's csrun-monitor), with everything else done by the caller in process.
 *
 *   caller (csrund) --fork--> M --fork--> G, M exits at once (the caller reaps it), G is re-parented away
 *   G: new session, child subreaper, csr_spawn(plan) -> the init is G's child (or its grandchild after a
 *      pid-namespace double fork, re-parented to G as subreaper); G sends the caller the init's pid, its
 *      own pid and the sync channel (SCM_RIGHTS), then execs the monitor, which adopts the init.
 *
 * The caller then drives the init's setup phases over the sync channel exactly as after csr_spawn. The
 * monitor is the init's parent and reaper, so the container outlives the caller; nothing of the runtime
 * binary is exec'd on this path. Between fork and exec G runs only this file's code and csr_spawn's
 * (system calls, no allocation), as the forked copy of a multithreaded process must.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct monitored_msg {
    int32_t ok;
    int32_t pid;          /* the container's init */
    int32_t monitor_pid;  /* G, the monitor */
    int32_t direct;
    int32_t in_cgroup;
    struct csr_error err;
};

static void send_report(int sock, const struct monitored_msg *m, int fd)
{
    (void)csr_send_fds(sock, &fd, fd >= 0 ? 1 : 0, m, sizeof *m);
}

/* G: spawn the init, report, become the monitor. Never returns. */
static _Noreturn void monitor_side(const struct csr_plan *plan, int report, const char *const *argv, const int *keep,
                                   int n_keep)
{
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct monitored_msg m;
    memset(&m, 0, sizeof m);
    m.monitor_pid = getpid();
    struct csr_child child;
    if (csr_spawn(plan, &child, &m.err) != 0) {
        send_report(report, &m, -1);
        _exit(1);
    }
    m.ok = 1;
    m.pid = child.pid;
    m.direct = child.direct;
    m.in_cgroup = child.in_cgroup;
    send_report(report, &m, child.sync_fd);
    close(child.sync_fd);
    if (child.pidfd >= 0)
        close(child.pidfd);
    close(report);

    /* The monitor's argv with "--pid N" appended; only the descriptors it is given survive the exec. */
    const char *args[64];
    int n = 0;
    while (argv[n] && n < 60) {
        args[n] = argv[n];
        n++;
    }
    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)child.pid);
    args[n++] = "--pid";
    args[n++] = pid_text;
    args[n] = NULL;
    /* Everything of the runtime's closes at exec (CVE-2024-21626's lesson), but what the monitor needs. */
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    for (int i = 0; i < n_keep; i++) {
        int flags = fcntl(keep[i], F_GETFD);
        if (flags >= 0)
            fcntl(keep[i], F_SETFD, flags & ~FD_CLOEXEC);
    }
    execv(args[0], (char *const *)args);
    _exit(127);
}

int csr_spawn_monitored(const struct csr_plan *plan, const char *const *monitor_argv, const int *keep_fds, int n_keep,
                        struct csr_child *child, int *monitor_pid, struct csr_error *error)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    child->pid = 0;
    child->sync_fd = -1;
    child->pidfd = -1;
    child->direct = 0;
    child->in_cgroup = 0;
    child->spawner = 0;
    /* The monitor clones the init itself, and must be its parent. */
    csr_spawner_dismiss();
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        csr_err(error, errno, "create monitor report socketpair", NULL);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* Raw fork: no atfork handlers of the runtime run in the copy. */
    pid_t mid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, NULL, NULL, 0UL);
    if (mid == 0) {
        close(sp[0]);
        csr_reset_signals();
        pid_t g = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, NULL, NULL, 0UL);
        if (g != 0)
            _exit(g < 0 ? 1 : 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        monitor_side(plan, sp[1], monitor_argv, keep_fds, n_keep);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sp[1]);
    if (mid < 0) {
        close(sp[0]);
        csr_err(error, fork_errno, "fork the container's monitor", NULL);
        return -1;
    }
    int st;
    while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
        ;

    struct monitored_msg m;
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = &m, .iov_len = sizeof m };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n;
    do {
        n = recvmsg(sp[0], &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    close(sp[0]);
    if (n != (ssize_t)sizeof m) {
        csr_err(error, n < 0 ? errno : EPIPE, "the container's monitor ended before the container was made", NULL);
        return -1;
    }
    if (!m.ok) {
        if (error)
            *error = m.err;
        return -1;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) {
        csr_err(error, EPROTO, "the container's monitor sent no sync channel", NULL);
        kill(m.pid, SIGKILL);
        return -1;
    }
    memcpy(&child->sync_fd, CMSG_DATA(c), sizeof(int));
    child->pid = m.pid;
    child->direct = 0; /* the monitor's child, not ours: we never reap it */
    child->in_cgroup = m.in_cgroup;
    long fd = syscall(SYS_pidfd_open, m.pid, 0);
    child->pidfd = fd >= 0 ? (int)fd : -1;
    *monitor_pid = m.monitor_pid;
    return 0;
}
