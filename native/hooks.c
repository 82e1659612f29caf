/*
 * OCI hooks: fork + execve with the state JSON on stdin and a timeout.
 *
 * Called from the .NET parent (prestart/createRuntime/poststart/poststop) and from the container
 * child (createContainer/startContainer), so it is written for the stricter of the two: async-
 * signal-safe, raw fork (no atfork handlers), no allocation.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Noreturn void hook_child(const struct csr_hook *hook, int in_fd, int err_fd)
{
    static const char *const empty[] = {NULL};
    const char *argv0[] = {hook->path, NULL};
    csr_reset_signals(); /* also unblocks what the parent blocked around the fork */
    /* Its own process group, so a timeout can kill what the hook started too, not just the hook. */
    setpgid(0, 0);
    if (in_fd == 0) {
        fcntl(0, F_SETFD, 0);
    } else if (dup2(in_fd, 0) < 0) { /* dup2 clears FD_CLOEXEC on the new fd */
        int er = errno;
        csr_write_all(err_fd, &er, sizeof er);
        _exit(127);
    }
    /* Hooks get stdin/stdout/stderr and nothing else of the runtime. err_fd is already CLOEXEC:
     * it closes on a successful execve, which is how the parent learns that execve worked. */
    csr_cloexec_from(3);
    execve(hook->path, (char *const *)(hook->argv ? hook->argv : argv0),
           (char *const *)(hook->envp ? hook->envp : empty));
    int er = errno;
    csr_write_all(err_fd, &er, sizeof er);
    _exit(127);
}

int csr_run_hook(const struct csr_hook *hook, const char *state_json, size_t state_len, struct csr_error *error)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    if (!hook || !hook->path) {
        csr_err(error, EINVAL, "hook without a path", NULL);
        return -1;
    }
    const char *path = hook->path;
    if (!state_json)
        state_len = 0;

    int in[2], ep[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        csr_err(error, errno, "hook ", path, ": create stdin pipe", NULL);
        return -1;
    }
    if (pipe2(ep, O_CLOEXEC) < 0) {
        csr_err(error, errno, "hook ", path, ": create pipe", NULL);
        close(in[0]);
        close(in[1]);
        return -1;
    }

    /* All signals blocked across the fork (no .NET handler may run in the copy); afterwards only
     * SIGPIPE stays blocked, so that a hook that does not read its stdin gives us EPIPE. */
    sigset_t all, old, with_pipe;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = csr_raw_fork(&pidfd, 0);
    if (pid == 0)
        hook_child(hook, in[0], ep[1]);
    int fork_err = errno;
    with_pipe = old;
    sigaddset(&with_pipe, SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &with_pipe, NULL);
    close(in[0]);
    close(ep[1]);
    if (pid < 0) {
        close(in[1]);
        close(ep[0]);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        csr_err(error, fork_err, "hook ", path, ": fork", NULL);
        return -1;
    }

    int rc = -1, status = 0, reaped = 0, got_epipe = 0;
    char n1[24];

    /* execve result: EOF = it worked (the CLOEXEC pipe closed), an int = its errno. */
    int exec_err = 0;
    for (;;) {
        ssize_t n = read(ep[0], &exec_err, sizeof exec_err);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof exec_err)
            exec_err = 0;
        break;
    }
    close(ep[0]);
    if (exec_err) {
        close(in[1]);
        csr_err(error, exec_err, "exec hook ", path, NULL);
        goto out;
    }

    /* Feed stdin without ever blocking, so the timeout also covers a hook that never reads. */
    int wfd = in[1];
    fcntl(wfd, F_SETFL, O_NONBLOCK);
    size_t off = 0;
    if (state_len == 0) {
        close(wfd);
        wfd = -1;
    }
    long long deadline = hook->timeout > 0 ? now_ms() + (long long)hook->timeout * 1000 : -1;
    for (;;) {
        struct pollfd pf[2];
        int np = 0, wi = -1, pi = -1;
        if (wfd >= 0) {
            pf[np].fd = wfd;
            pf[np].events = POLLOUT;
            pf[np].revents = 0;
            wi = np++;
        }
        if (pidfd >= 0) {
            pf[np].fd = pidfd;
            pf[np].events = POLLIN;
            pf[np].revents = 0;
            pi = np++;
        }
        int wait_ms = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            wait_ms = left > 0 ? (int)(left > 1000000 ? 1000000 : left) : 0;
        }
        if (pidfd < 0 && (wait_ms < 0 || wait_ms > 20))
            wait_ms = 20; /* no pidfd: poll waitpid */
        int r = poll(pf, (nfds_t)np, wait_ms);
        if (r < 0 && errno != EINTR) {
            csr_err(error, errno, "hook ", path, ": poll", NULL);
            break;
        }
        if (r > 0 && wi >= 0 && pf[wi].revents) {
            ssize_t n = write(wfd, state_json + off, state_len - off);
            if (n > 0)
                off += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || off == state_len) {
                if (n < 0 && errno == EPIPE)
                    got_epipe = 1; /* the hook does not read stdin: fine */
                close(wfd);
                wfd = -1;
            }
        }
        if ((pi >= 0 && r > 0 && pf[pi].revents) || pidfd < 0) {
            pid_t w = waitpid(pid, &status, pidfd >= 0 ? 0 : WNOHANG);
            if (w == pid) {
                reaped = 1;
                break;
            }
        }
        if (deadline >= 0 && now_ms() >= deadline) {
            if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0)
                kill(pid, SIGKILL);
            kill(-pid, SIGKILL); /* the rest of the hook's process group */
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            reaped = 1;
            csr_err(error, 0, "hook ", path, " timed out after ", csr_itoa(n1, hook->timeout), " seconds", NULL);
            goto out_closed;
        }
    }
    if (wfd >= 0)
        close(wfd);
    if (!reaped) { /* poll failed: do not leave a zombie behind */
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        rc = 0;
    else if (WIFEXITED(status))
        csr_err(error, 0, "hook ", path, " exited with status ", csr_itoa(n1, WEXITSTATUS(status)), NULL);
    else if (WIFSIGNALED(status))
        csr_err(error, 0, "hook ", path, " killed by signal ", csr_itoa(n1, WTERMSIG(status)), NULL);
    else
        csr_err(error, 0, "hook ", path, " failed", NULL);
    goto out;

out_closed:
    if (wfd >= 0)
        close(wfd);
out:
    if (pid > 0 && !reaped && exec_err)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (pidfd >= 0)
        close(pidfd);
    if (got_epipe) {
        /* The EPIPE came with a thread-directed SIGPIPE that is pending while blocked: consume it
         * before restoring the mask (fatal in the container child, where SIGPIPE is SIG_DFL). */
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int csr_run_hooks(const struct csr_hook *hooks, int n, const char *state, size_t len, struct csr_error *e)
{
    for (int i = 0; i < n; i++)
        if (csr_run_hook(&hooks[i], state, len, e) < 0)
            return -1;
    return 0;
}
