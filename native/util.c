/*
 * Small async-signal-safe helpers: string building, error filling, fd loops, signal reset,
 * raw fork, close-on-exec sweeping and a fixed-buffer line reader for /proc files.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

size_t csr_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

size_t csr_strlcat(char *dst, const char *src, size_t cap)
{
    size_t d = strnlen(dst, cap);
    if (d == cap)
        return d + strlen(src);
    return d + csr_strlcpy(dst + d, src, cap - d);
}

char *csr_utoa(char *buf, unsigned long long v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    int j = 0;
    while (i)
        buf[j++] = tmp[--i];
    buf[j] = '\0';
    return buf;
}

char *csr_itoa(char *buf, long long v)
{
    if (v < 0) {
        buf[0] = '-';
        csr_utoa(buf + 1, (unsigned long long)(-(v + 1)) + 1);
        return buf;
    }
    return csr_utoa(buf, (unsigned long long)v);
}

const char *csr_procfd(char *buf, int fd)
{
    char n[24];
    csr_strlcpy(buf, "/proc/self/fd/", 32);
    csr_strlcat(buf, csr_itoa(n, fd), 32);
    return buf;
}

const char *csr_strerror(int err)
{
    const char *s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}

void csr_verr(struct csr_error *e, int err, va_list ap)
{
    if (!e)
        return;
    e->err = err;
    e->step[0] = '\0';
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        csr_strlcat(e->step, s, sizeof e->step);
}

void csr_err(struct csr_error *e, int err, ...)
{
    va_list ap;
    va_start(ap, err);
    csr_verr(e, err, ap);
    va_end(ap);
}

int csr_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int csr_write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    int r = csr_write_all(fd, data, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

void csr_reset_signals(void)
{
    /* The kernel's struct sigaction (x86_64 and arm64 alike), through the raw system call: glibc's sigaction
     * refuses its two internal signals (32, 33), and a caller that ignores one would pass that on. */
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } sa;
    memset(&sa, 0, sizeof sa);
    sa.handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t csr_raw_fork(int *pidfd, unsigned long extra_flags)
{
    int fd = -1;
    /* clone(2) stores the pidfd through the parent_tid argument, which is the third argument on
     * every architecture we care about (x86_64 and arm64 differ only in child_tid/tls order). */
    long r = syscall(SYS_clone, (unsigned long)SIGCHLD | CLONE_PIDFD | extra_flags, 0UL, &fd, 0UL, 0UL);
    if (r < 0 && errno == EINVAL) {
        fd = -1; /* kernel without CLONE_PIDFD (< 5.2) */
        r = syscall(SYS_clone, (unsigned long)SIGCHLD | extra_flags, 0UL, NULL, 0UL, 0UL);
    }
    if (pidfd)
        *pidfd = r > 0 ? fd : -1;
    else if (r > 0 && fd >= 0)
        close(fd);
    return (pid_t)r;
}

void csr_close_inherited(int from, int keep1, int keep2, int keep3)
{
    int keeps[3] = {keep1, keep2, keep3};
    /* Sort the three keeps, then close the ranges between them. */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (keeps[j] < keeps[i]) { int t = keeps[i]; keeps[i] = keeps[j]; keeps[j] = t; }
    unsigned start = (unsigned)from;
    for (int i = 0; i < 3; i++) {
        if (keeps[i] < from || (unsigned)keeps[i] < start)
            continue;
        if ((unsigned)keeps[i] > start)
            syscall(SYS_close_range, start, (unsigned)keeps[i] - 1, 0U);
        start = (unsigned)keeps[i] + 1;
    }
    syscall(SYS_close_range, start, ~0U, 0U);
}

int csr_cloexec_from(int from)
{
    if (syscall(SYS_close_range, (unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    /* Kernel < 5.11: walk /proc/self/fd with getdents64 (opendir would malloc). */
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n < 0) {
            int saved = errno;
            close(dfd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            const char *p = d->d_name;
            if (*p < '0' || *p > '9')
                continue;
            int fd = 0;
            for (; *p >= '0' && *p <= '9'; p++)
                fd = fd * 10 + (*p - '0');
            if (fd >= from && fd != dfd)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    close(dfd);
    return 0;
}

int csr_lines_open(struct csr_lines *l, const char *path)
{
    l->start = l->end = 0;
    l->skip = 0;
    /* O_NONBLOCK, O_NOCTTY: a fifo or a terminal where a file is expected must not hang or adopt us. */
    l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    return l->fd < 0 ? -1 : 0;
}

void csr_lines_close(struct csr_lines *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* Returns the next line (NUL-terminated, without '\n') or NULL at EOF / error. The line lives in
 * l->buf and is valid until the next call. */
char *csr_lines_next(struct csr_lines *l, int *truncated)
{
    *truncated = 0;
    while (l->skip) {
        /* The previous line was over-long: drop input up to and including its '\n'. */
        ssize_t n = read(l->fd, l->buf, sizeof l->buf - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        char *e = memchr(l->buf, '\n', (size_t)n);
        if (e) {
            l->skip = 0;
            l->start = (size_t)(e - l->buf) + 1;
            l->end = (size_t)n;
        }
    }
    for (;;) {
        char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
        if (nl) {
            char *line = l->buf + l->start;
            *nl = '\0';
            l->start = (size_t)(nl - l->buf) + 1;
            return line;
        }
        /* No complete line buffered: compact, then read more. */
        if (l->start > 0) {
            memmove(l->buf, l->buf + l->start, l->end - l->start);
            l->end -= l->start;
            l->start = 0;
        }
        if (l->end >= sizeof l->buf - 1) {
            /* Over-long line (e.g. overlay lowerdir lists): hand out its head, skip the rest. */
            l->buf[l->end] = '\0';
            l->start = l->end = 0;
            l->skip = 1;
            *truncated = 1;
            return l->buf;
        }
        ssize_t n = read(l->fd, l->buf + l->end, sizeof l->buf - 1 - l->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (l->end > l->start) { /* last line without '\n' */
                l->buf[l->end] = '\0';
                char *line = l->buf + l->start;
                l->start = l->end;
                return line;
            }
            return NULL;
        }
        l->end += (size_t)n;
    }
}

int csr_split_fields(char *s, char **fields, int max)
{
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        fields[n++] = s;
        while (*s && *s != ' ')
            s++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

void csr_unescape_mountinfo(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
            r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

int csr_send_fds(int sock, const int *fds, int n_fds, const void *data, size_t len)
{
    union {
        char buf[CMSG_SPACE(CSR_MAX_SEND_FDS * sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    if (n_fds < 0 || n_fds > CSR_MAX_SEND_FDS) {
        errno = EINVAL;
        return -1;
    }
    memset(&cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds > 0) {
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = CMSG_SPACE((size_t)n_fds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)n_fds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)n_fds * sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

int csr_send_fd(int sock, int fd, const char *data, size_t len)
{
    return csr_send_fds(sock, &fd, 1, data, len);
}

ssize_t csr_recv_fds(int sock, void *data, size_t len, int *fds, int max_fds, int *n_fds)
{
    union {
        char buf[CMSG_SPACE(CSR_MAX_SEND_FDS * sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof cbuf.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *n_fds = 0;
    struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        int got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int keep = got < max_fds ? got : max_fds;
        memcpy(fds, CMSG_DATA(cm), (size_t)keep * sizeof(int));
        /* More than the caller takes: not its message; nothing of it stays open here. */
        for (int i = keep; i < got; i++)
            close(((int *)(void *)CMSG_DATA(cm))[i]);
        *n_fds = got > max_fds ? -1 : keep;
    }
    if (n > 0 && (msg.msg_flags & MSG_CTRUNC))
        *n_fds = -1;
    return n;
}
