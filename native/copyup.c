/*
 * runc's "tmpcopyup": what a directory of the image holds, copied into the tmpfs mounted over it (podman asks
 * for it on the tmpfs mounts of `--read-only`). The image is untrusted: nothing is followed (symlinks are
 * copied as symlinks, every open is O_NOFOLLOW and relative to a directory fd), special files are not opened,
 * the depth is bounded, and directory entries are read with getdents64 into the stack: the init allocates
 * nothing. Owners and modes are kept; sockets are left out (nothing listens on them in a new container).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COPY_MAX_DEPTH 32

static int fail(struct csr_error *e, const char *what, const char *name)
{
    csr_err(e, errno, "copy up ", what, " ", name, NULL);
    return -1;
}

/* Owner, then mode (a chown clears set-id bits). */
static int keep_owner_and_mode(int fd, const struct stat *st, struct csr_error *e, const char *name)
{
    if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0)
        return fail(e, "owner and mode of", name);
    return 0;
}

static int copy_file(int src, int dst, const char *name, const struct stat *st, struct csr_error *e)
{
    static char buf[64 * 1024]; /* the init is single-threaded */
    int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (in < 0)
        return fail(e, "open", name);
    int out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return fail(e, "create", name);
    }
    int r = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && csr_write_all(out, buf, (size_t)n) < 0)) {
            r = fail(e, "copy", name);
            break;
        }
        if (n == 0)
            break;
    }
    if (r == 0)
        r = keep_owner_and_mode(out, st, e, name);
    close(in);
    close(out);
    return r;
}

static int copy_dir(int src, int dst, int depth, struct csr_error *e);

static int copy_subdir(int src, int dst, const char *name, const struct stat *st, int depth, struct csr_error *e)
{
    if (mkdirat(dst, name, 0700) < 0)
        return fail(e, "mkdir", name);
    int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0)
        return fail(e, "open", name);
    int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0) {
        close(s);
        return fail(e, "open", name);
    }
    int r = copy_dir(s, d, depth + 1, e);
    if (r == 0)
        r = keep_owner_and_mode(d, st, e, name);
    close(s);
    close(d);
    return r;
}

static int copy_entry(int src, int dst, const char *name, int depth, struct csr_error *e)
{
    static char target[PATH_MAX]; /* used and done with before any recursion */
    struct stat st;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(e, "stat", name);
    switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
        return copy_subdir(src, dst, name, &st, depth, e);
    case S_IFREG:
        return copy_file(src, dst, name, &st, e);
    case S_IFLNK: {
        ssize_t n = readlinkat(src, name, target, sizeof target - 1);
        if (n < 0)
            return fail(e, "readlink", name);
        target[n] = '\0';
        if (symlinkat(target, dst, name) < 0 || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
            return fail(e, "symlink", name);
        return 0;
    }
    case S_IFIFO:
    case S_IFCHR:
    case S_IFBLK:
        if (mknodat(dst, name, st.st_mode & (S_IFMT | 0777), st.st_rdev) < 0 ||
            fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(dst, name, st.st_mode & 07777, 0) < 0)
            return fail(e, "mknod", name);
        return 0;
    default:
        return 0;
    }
}

static int copy_dir(int src, int dst, int depth, struct csr_error *e)
{
    if (depth > COPY_MAX_DEPTH) {
        errno = ELOOP;
        return fail(e, "directories nested deeper than", "32 levels");
    }
    char buf[1024] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, src, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(e, "read", "directory");
        if (n == 0)
            return 0;
        for (long off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf + off);
            off += d->d_reclen;
            if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
                continue;
            if (copy_entry(src, dst, d->d_name, depth, e) < 0)
                return -1;
        }
    }
}

int csr_copy_tree(int src, int dst, struct csr_error *e)
{
    return copy_dir(src, dst, 0, e);
}
