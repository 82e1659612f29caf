/*
 * csrun-monitor: csrund's per-container monitor (conmon's job). It creates the container with
 * `csrun create`, holds the container's stdio, writes the CRI log, serves attach/reopen/resize on a unix
 * socket, reaps the container (as a subreaper) and records how it ended in DIR/exit. It is csrund's child
 * but not tied to it: csrund can die, even by SIGKILL, and the container keeps running and logging.
 *
 *   csrun-monitor --runtime PATH --root DIR --id ID --bundle DIR --dir DIR --log PATH
 *                 [--terminal] [--stdin] [--stdin-once]
 *
 * On stdout it writes one line, "ok <pid>" or "error <message>", then closes it.
 *
 *   csrun-monitor --pause
 *
 * holds a pod's shared pid namespace instead: it prints "ok <pid>" of a process that is pid 1 of a new pid
 * namespace and does nothing but reap the orphans of the pod's containers (the pause container's job).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (16 * 1024) /* a longer line is split into partial (P) records */
#define MAX_CLIENTS 16
#define DRAIN_AFTER_EXIT_MS 2000

enum { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct output {
    int fd;
    int stream;
    char line[LINE_MAX_BYTES];
    size_t len;
};

static struct {
    const char *runtime, *root, *id, *bundle, *dir, *log_path;
    bool terminal, stdin_open, stdin_once;
} opt;

static int log_fd = -1;
static int stdin_fd = -1;   /* our end of the container's stdin (pipe write end or pty master), or -1 */
static int pty_fd = -1;
static int clients[MAX_CLIENTS];
static int nclients;
static struct output outs[2];
static int nouts;

static void report(const char *fmt, ...)
{
    char buf[2200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(1, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
    /* From here on nobody reads our stdio: csrund sees EOF on the pipe. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
}

static _Noreturn void fail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    report("error %s", msg);
    exit(1);
}

static void path_in_dir(char *out, size_t cap, const char *name)
{
    if ((size_t)snprintf(out, cap, "%s/%s", opt.dir, name) >= cap)
        fail("path %s/%s is too long", opt.dir, name);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path)
        fail("socket path %s is longer than %zu bytes", path, sizeof addr.sun_path - 1);
    strcpy(addr.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0)
        fail("listen on %s: %s", path, strerror(errno));
    return fd;
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0)
            return; /* a full disk or a gone reader must not stop the monitor */
        p += w;
        len -= w;
    }
}

static void open_log(void)
{
    int fd = open(opt.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
}

/* One CRI log record: "<RFC 3339 nano UTC> <stream> <F|P> <content>\n". */
static void log_record(int stream, const char *data, size_t len, bool full)
{
    if (log_fd < 0)
        return;
    if (full && opt.terminal && len > 0 && data[len - 1] == '\r')
        len--;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char head[80];
    int n = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec,
                     stream == STREAM_STDOUT ? "stdout" : "stderr", full ? 'F' : 'P');
    char rec[LINE_MAX_BYTES + 96];
    memcpy(rec, head, n);
    memcpy(rec + n, data, len);
    rec[n + len] = '\n';
    write_all(log_fd, rec, n + len + 1);
}

static void drop_client(int i)
{
    close(clients[i]);
    clients[i] = clients[--nclients];
}

/* Frames for attached clients: stream id, 4-byte big-endian length, bytes as read. */
static void broadcast(int stream, const char *data, size_t len)
{
    unsigned char head[5] = { (unsigned char)stream, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                              (unsigned char)(len >> 8), (unsigned char)len };
    for (int i = 0; i < nclients;) {
        if (send(clients[i], head, 5, MSG_NOSIGNAL) != 5 || send(clients[i], data, len, MSG_NOSIGNAL) != (ssize_t)len) {
            drop_client(i);
            continue;
        }
        i++;
    }
}

static void flush_partial(struct output *o)
{
    if (o->len > 0) {
        log_record(o->stream, o->line, o->len, false);
        o->len = 0;
    }
}

/* Reads what is there; false at EOF (or EIO: a pty whose every slave is closed). */
static bool read_output(struct output *o)
{
    char buf[32768];
    ssize_t n = read(o->fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        flush_partial(o);
        return false;
    }
    broadcast(o->stream, buf, n);
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            log_record(o->stream, o->line, o->len, true);
            o->len = 0;
            continue;
        }
        o->line[o->len++] = buf[i];
        if (o->len == LINE_MAX_BYTES)
            flush_partial(o);
    }
    return true;
}

static void close_stdin(void)
{
    if (stdin_fd < 0)
        return;
    if (opt.terminal) {
        write_all(stdin_fd, "\x04", 1); /* EOF for the line discipline; the pty stays for the output */
        stdin_fd = -1;
    } else {
        close(stdin_fd);
        stdin_fd = -1;
    }
}

static void reply(int fd, const char *text)
{
    send(fd, text, strlen(text), MSG_NOSIGNAL);
    close(fd);
}

/* A new control connection: one command line, then either an attach or a one-shot reply. */
static void handle_connection(int fd)
{
    char cmd[257];
    size_t len = 0;
    struct timeval tv = { .tv_sec = 1 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (len < sizeof cmd - 1) {
        ssize_t n = recv(fd, cmd + len, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (cmd[len] == '\n')
            break;
        len++;
    }
    cmd[len] = 0;
    if (strcmp(cmd, "attach") == 0) {
        if (nclients == MAX_CLIENTS) {
            reply(fd, "error too many attached clients\n");
            return;
        }
        tv.tv_sec = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        clients[nclients++] = fd;
    } else if (strcmp(cmd, "reopen") == 0) {
        open_log();
        reply(fd, log_fd >= 0 ? "ok\n" : "error cannot open the log\n");
    } else if (strncmp(cmd, "resize ", 7) == 0) {
        struct winsize ws = { 0 };
        if (pty_fd < 0 || sscanf(cmd + 7, "%hu %hu", &ws.ws_row, &ws.ws_col) != 2 || ioctl(pty_fd, TIOCSWINSZ, &ws) < 0)
            reply(fd, "error no terminal to resize\n");
        else
            reply(fd, "ok\n");
    } else {
        reply(fd, "error unknown command\n");
    }
}

/* Input from an attached client goes to the container's stdin; its EOF may close that stdin. */
static void read_client(int i)
{
    char buf[32768];
    ssize_t n = recv(clients[i], buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (opt.stdin_once)
            close_stdin();
        drop_client(i);
        return;
    }
    if (stdin_fd >= 0)
        write_all(stdin_fd, buf, n);
}

static int receive_fd(int sock)
{
    char data[256];
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (n < 0 || !c || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--terminal") == 0) { opt.terminal = true; continue; }
        if (strcmp(a, "--stdin") == 0) { opt.stdin_open = true; continue; }
        if (strcmp(a, "--stdin-once") == 0) { opt.stdin_once = true; continue; }
        const char **slot = strcmp(a, "--runtime") == 0 ? &opt.runtime
                          : strcmp(a, "--root") == 0 ? &opt.root
                          : strcmp(a, "--id") == 0 ? &opt.id
                          : strcmp(a, "--bundle") == 0 ? &opt.bundle
                          : strcmp(a, "--dir") == 0 ? &opt.dir
                          : strcmp(a, "--log") == 0 ? &opt.log_path : NULL;
        if (!slot) {
            report("error unknown argument %s", a);
            exit(2);
        }
        if (i + 1 >= argc) {
            report("error %s needs a value", a);
            exit(2);
        }
        *slot = argv[++i];
    }
    if (!opt.runtime || !opt.root || !opt.id || !opt.bundle || !opt.dir || !opt.log_path) {
        report("error usage: csrun-monitor --runtime PATH --root DIR --id ID --bundle DIR --dir DIR --log PATH "
               "[--terminal] [--stdin] [--stdin-once]");
        exit(2);
    }
}

/* A small file's text (the runtime's log, its pid file), NUL-terminated; empty when it cannot be read. */
static void read_small(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
}

/* The runtime's error: its --log file, one line. */
static _Noreturn void fail_create(const char *log, int status)
{
    char text[1800];
    read_small(log, text, sizeof text);
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = 0;
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ';';
    if (len == 0)
        fail("%s create exited with status %d", opt.runtime, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fail("%s", text);
}

/* pid 1 of a pod's pid namespace: reaps whatever is orphaned in it until it is killed (which ends them all). */
static int run_pause(void)
{
    if (unshare(CLONE_NEWPID) < 0)
        fail("unshare(CLONE_NEWPID): %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        fail("fork: %s", strerror(errno));
    if (child > 0) {
        report("ok %d", child);
        return 0;
    }
    setsid();
    prctl(PR_SET_NAME, "csrun-pause");
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    syscall(SYS_close_range, 3U, ~0U, 0U);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
            signal(sig, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) {
        int sig;
        sigwait(&chld, &sig);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--pause") == 0)
        return run_pause();
    parse_args(argc, argv);
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        fail("signalfd: %s", strerror(errno));

    /* The sockets are bound by relative name from inside the directory: its path may be longer than a
     * sockaddr_un holds (csrund reaches them through /proc/self/fd/N/ when it is). */
    if (chdir(opt.dir) < 0)
        fail("chdir %s: %s", opt.dir, strerror(errno));
    char pid_path[4096], runtime_log[4096], exit_path[4096], exit_tmp[4096];
    const char *attach_path = "attach.sock", *console_path = "console.sock";
    path_in_dir(pid_path, sizeof pid_path, "pid");
    path_in_dir(runtime_log, sizeof runtime_log, "runtime.log");
    path_in_dir(exit_path, sizeof exit_path, "exit");
    path_in_dir(exit_tmp, sizeof exit_tmp, "exit.tmp");
    open_log();
    int listener = listen_unix(attach_path);

    int child_in = -1, child_out = -1, child_err = -1, console = -1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (opt.terminal) {
        console = listen_unix(console_path);
        child_in = child_out = child_err = null;
    } else {
        int out[2], err[2];
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
            fail("pipe: %s", strerror(errno));
        outs[nouts++] = (struct output){ .fd = out[0], .stream = STREAM_STDOUT };
        outs[nouts++] = (struct output){ .fd = err[0], .stream = STREAM_STDERR };
        child_out = out[1];
        child_err = err[1];
        child_in = null;
        if (opt.stdin_open) {
            int in[2];
            if (pipe2(in, O_CLOEXEC) < 0)
                fail("pipe: %s", strerror(errno));
            child_in = in[0];
            stdin_fd = in[1];
        }
    }

    unlink(runtime_log);
    pid_t runtime = fork();
    if (runtime < 0)
        fail("fork: %s", strerror(errno));
    if (runtime == 0) {
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        if (dup2(child_in, 0) < 0 || dup2(child_out, 1) < 0 || dup2(child_err, 2) < 0)
            _exit(125);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        const char *args[16];
        int n = 0;
        args[n++] = opt.runtime;
        args[n++] = "--root";
        args[n++] = opt.root;
        args[n++] = "--log";
        args[n++] = runtime_log;
        args[n++] = "create";
        args[n++] = "--bundle";
        args[n++] = opt.bundle;
        args[n++] = "--pid-file";
        args[n++] = pid_path;
        if (opt.terminal) {
            args[n++] = "--console-socket";
            args[n++] = console_path;
        }
        args[n++] = opt.id;
        args[n] = NULL;
        execv(opt.runtime, (char *const *)args);
        _exit(127);
    }
    int status;
    while (waitpid(runtime, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_create(runtime_log, status);

    char pidbuf[32];
    read_small(pid_path, pidbuf, sizeof pidbuf);
    pid_t container = (pid_t)atoi(pidbuf);
    if (container <= 0)
        fail("%s create wrote no pid to %s", opt.runtime, pid_path);

    if (opt.terminal) {
        int conn = accept4(console, NULL, NULL, SOCK_CLOEXEC);
        if (conn >= 0) {
            fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
            pty_fd = receive_fd(conn);
            close(conn);
        }
        close(console);
        unlink(console_path);
        if (pty_fd < 0)
            fail("no terminal came over %s", console_path);
        fcntl(pty_fd, F_SETFL, fcntl(pty_fd, F_GETFL) | O_NONBLOCK);
        outs[nouts++] = (struct output){ .fd = pty_fd, .stream = STREAM_STDOUT };
        if (opt.stdin_open)
            stdin_fd = pty_fd;
    } else {
        close(child_out);
        close(child_err);
        if (child_in != null)
            close(child_in);
        for (int i = 0; i < nouts; i++)
            fcntl(outs[i].fd, F_SETFL, fcntl(outs[i].fd, F_GETFL) | O_NONBLOCK);
    }
    close(null);
    report("ok %d", container);

    bool exited = false;
    int exit_status = 0;
    struct timespec exit_at = { 0 };
    for (;;) {
        struct pollfd pfds[2 + 2 + MAX_CLIENTS];
        int n = 0;
        pfds[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
        pfds[n++] = (struct pollfd){ .fd = listener, .events = POLLIN };
        int first_out = n;
        for (int i = 0; i < nouts; i++)
            pfds[n++] = (struct pollfd){ .fd = outs[i].fd, .events = POLLIN };
        int first_client = n;
        for (int i = 0; i < nclients; i++)
            pfds[n++] = (struct pollfd){ .fd = clients[i], .events = POLLIN };

        int timeout = -1;
        if (exited) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long waited = (now.tv_sec - exit_at.tv_sec) * 1000 + (now.tv_nsec - exit_at.tv_nsec) / 1000000;
            if (nouts == 0 || waited >= DRAIN_AFTER_EXIT_MS)
                break;
            timeout = (int)(DRAIN_AFTER_EXIT_MS - waited);
        }
        if (poll(pfds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si)
                ;
            pid_t p;
            int st;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                if (p == container && !exited) {
                    exited = true;
                    exit_status = st;
                    clock_gettime(CLOCK_MONOTONIC, &exit_at);
                }
            }
        }
        if (pfds[1].revents & POLLIN) {
            int fd;
            while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                handle_connection(fd);
        }
        /* Walk outputs and clients backwards: removal swaps in the last entry. */
        for (int i = nouts - 1; i >= 0; i--) {
            if (!pfds[first_out + i].revents)
                continue;
            if (!read_output(&outs[i])) {
                if (outs[i].fd != pty_fd || stdin_fd != pty_fd)
                    close(outs[i].fd);
                outs[i] = outs[--nouts];
            }
        }
        for (int i = nclients - 1; i >= 0; i--) {
            if (first_client + i < n && pfds[first_client + i].revents)
                read_client(i);
        }
    }

    for (int i = 0; i < nouts; i++)
        flush_partial(&outs[i]);
    struct timespec done;
    clock_gettime(CLOCK_REALTIME, &done);
    int code = WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : 128 + WTERMSIG(exit_status);
    int sig = WIFSIGNALED(exit_status) ? WTERMSIG(exit_status) : 0;
    char line[96];
    int len = snprintf(line, sizeof line, "%d %lld %d\n", code, (long long)done.tv_sec * 1000000000LL + done.tv_nsec, sig);
    int efd = open(exit_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (efd >= 0) {
        write_all(efd, line, len);
        fsync(efd);
        close(efd);
        rename(exit_tmp, exit_path);
    }
    for (int i = nclients - 1; i >= 0; i--)
        drop_client(i);
    unlink(attach_path);
    return 0;
}
