/*
 * csrun-monitor: csrund's per-container monitor (conmon's job). csrund creates the container in process
 * (native/monitored.c): a fork of csrund spawns the container's init, becomes its parent and subreaper, and
 * execs this program, which adopts the init. It holds the container's stdio, writes the CRI log, serves
 * attach/reopen/resize on DIR/attach.sock, reaps the container and records how it ended in DIR/exit. It is
 * nobody's child that matters: csrund can die, even by SIGKILL, and the container keeps running and logging.
 *
 *   csrun-monitor --dir DIR --log PATH --pid PID [--stdout-fd N --stderr-fd N | --console-fd N]
 *                 [--stdin-fd N] [--terminal] [--stdin] [--stdin-once]
 *
 * --stdin: the container's stdin is open (its pipe is --stdin-fd, or the pty with a terminal).
 *
 * --console-fd is a socket on which the init sends its pty master (SCM_RIGHTS) while it is set up.
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
    const char *dir, *log_path;
    pid_t pid;
    int stdout_fd, stderr_fd, stdin_fd, console_fd;
    bool terminal, stdin_open, stdin_once;
} opt = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1, .console_fd = -1 };

static int log_fd = -1;
static int stdin_fd = -1;   /* our end of the container's stdin (pipe write end or pty master), or -1 */
static int pty_fd = -1;
static int clients[MAX_CLIENTS];
static int nclients;
static struct output outs[2];
static int nouts;

static void stdio_to_null(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
}

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
    stdio_to_null();
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
    strcpy(addr.sun_path, path); /* a relative name, bound from inside the directory */
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        /* Without it there is no attach or reopen, but the container is still logged and reaped. */
        if (fd >= 0)
            close(fd);
        return -1;
    }
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

static int number(const char *flag, const char *text)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < 0 || v > 0x7fffffff)
        fail("%s: \"%s\" is not a number", flag, text);
    return (int)v;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--terminal") == 0) { opt.terminal = true; continue; }
        if (strcmp(a, "--stdin-once") == 0) { opt.stdin_once = true; continue; }
        if (strcmp(a, "--stdin") == 0) { opt.stdin_open = true; continue; }
        if (i + 1 >= argc)
            fail("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--dir") == 0) opt.dir = v;
        else if (strcmp(a, "--log") == 0) opt.log_path = v;
        else if (strcmp(a, "--pid") == 0) opt.pid = number(a, v);
        else if (strcmp(a, "--stdout-fd") == 0) opt.stdout_fd = number(a, v);
        else if (strcmp(a, "--stderr-fd") == 0) opt.stderr_fd = number(a, v);
        else if (strcmp(a, "--stdin-fd") == 0) opt.stdin_fd = number(a, v);
        else if (strcmp(a, "--console-fd") == 0) opt.console_fd = number(a, v);
        else fail("unknown argument %s", a);
    }
    if (!opt.dir || !opt.log_path || opt.pid <= 0)
        fail("usage: csrun-monitor --dir DIR --log PATH --pid PID [--stdout-fd N --stderr-fd N | --console-fd N] "
             "[--stdin-fd N] [--terminal] [--stdin] [--stdin-once]");
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
    stdio_to_null();
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

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--pause") == 0)
        return run_pause();
    parse_args(argc, argv);
    /* stdio is the runtime's (csrund's) until here: nobody reads it. */
    stdio_to_null();
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* kept across exec; set again for clarity */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    char exit_path[4096], exit_tmp[4096];
    path_in_dir(exit_path, sizeof exit_path, "exit");
    path_in_dir(exit_tmp, sizeof exit_tmp, "exit.tmp");
    /* The sockets are bound by relative name from inside the directory: its path may be longer than a
     * sockaddr_un holds (csrund reaches them through /proc/self/fd/N/ when it is). */
    if (chdir(opt.dir) < 0)
        fail("chdir %s: %s", opt.dir, strerror(errno));
    const char *attach_path = "attach.sock";
    open_log();
    int listener = listen_unix(attach_path);

    if (opt.stdout_fd >= 0) {
        nonblocking(opt.stdout_fd);
        outs[nouts++] = (struct output){ .fd = opt.stdout_fd, .stream = STREAM_STDOUT };
    }
    if (opt.stderr_fd >= 0) {
        nonblocking(opt.stderr_fd);
        outs[nouts++] = (struct output){ .fd = opt.stderr_fd, .stream = STREAM_STDERR };
    }
    if (opt.stdin_fd >= 0) {
        fcntl(opt.stdin_fd, F_SETFD, FD_CLOEXEC);
        stdin_fd = opt.stdin_fd;
    }
    int console = opt.console_fd;
    if (console >= 0)
        fcntl(console, F_SETFD, FD_CLOEXEC);
    pid_t container = opt.pid;

    bool exited = false;
    int exit_status = 0;
    struct timespec exit_at = { 0 };
    /* The init may have ended (and been reaped by nobody yet) before we got here: look once up front. */
    bool check_children = true;
    for (;;) {
        struct pollfd pfds[3 + 2 + MAX_CLIENTS];
        int n = 0;
        pfds[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
        pfds[n++] = (struct pollfd){ .fd = listener, .events = POLLIN };
        pfds[n++] = (struct pollfd){ .fd = console, .events = POLLIN };
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
        if (!check_children && poll(pfds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (check_children || pfds[0].revents) {
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
            if (check_children) {
                check_children = false;
                continue;
            }
        }
        if (pfds[1].revents & POLLIN) {
            int fd;
            while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                handle_connection(fd);
        }
        if (pfds[2].revents) {
            /* The init's pty master, sent while it is set up; then the pty is the container's stdio. */
            int master = receive_fd(console);
            close(console);
            console = -1;
            if (master >= 0) {
                pty_fd = master;
                nonblocking(pty_fd);
                outs[nouts++] = (struct output){ .fd = pty_fd, .stream = STREAM_STDOUT };
                if (opt.stdin_open)
                    stdin_fd = pty_fd;
            }
            continue;
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
