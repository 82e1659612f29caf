/*
 * /dev population: the spec's device nodes (mknod, or a bind of the host node where mknod is not
 * permitted, e.g. in a user namespace) and the standard links. Runs before pivot_root, with every
 * path resolved inside the rootfs.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The directory of the last device made, kept open for the next (they are nearly all in /dev), and who we
 * are: a node is ours already unless the spec names another owner. */
struct dev_dir {
    char path[PATH_MAX];
    int fd;
    uid_t uid;
    gid_t gid;
};

static int create_device(struct csr_ctx *c, const struct csr_device *d, struct dev_dir *last)
{
    struct csr_error *e = &c->err;
    const char *path = d->path;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash || path[0] != '/' || !slash[1]) {
        csr_err(e, EINVAL, "device path \"", path ? path : "", "\" is not an absolute file path", NULL);
        return -1;
    }
    mode_t type = d->mode & S_IFMT;
    if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO) {
        csr_err(e, EINVAL, "mknod ", path, ": unsupported device type", NULL);
        return -1;
    }
    char dir[PATH_MAX];
    size_t dlen = (size_t)(slash - path);
    if (dlen >= sizeof dir) {
        csr_err(e, ENAMETOOLONG, "mknod ", path, NULL);
        return -1;
    }
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    const char *name = slash + 1;

    if (!dir[0])
        csr_strlcpy(dir, "/", sizeof dir);
    if (last->fd < 0 || strcmp(last->path, dir) != 0) {
        if (last->fd >= 0)
            close(last->fd);
        last->fd = csr_resolve_in_root(c->root_fd, dir, CSR_CREATE_DIR, e);
        if (last->fd < 0)
            return -1;
        csr_strlcpy(last->path, dir, sizeof last->path);
    }
    int pfd = last->fd;
    int r = 0;
    if (mknodat(pfd, name, d->mode, makedev(d->major, d->minor)) == 0) {
        if ((d->uid != last->uid || d->gid != last->gid) && fchownat(pfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) {
            csr_err(e, errno, "chown ", path, NULL);
            r = -1;
        }
    } else if (errno == EEXIST) {
        /* Already there (image's own /dev, or listed twice): keep it, as runc does. */
    } else if (errno == EPERM) {
        /* No CAP_MKNOD over this fs (user namespace): bind the host node onto an empty file. */
        int f = openat(pfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (f < 0) {
            csr_err(e, errno, "create ", path, " for device bind", NULL);
            r = -1;
        } else {
            close(f);
            int t = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            char pfdpath[32];
            if (t < 0 || mount(path, csr_procfd(pfdpath, t), NULL, MS_BIND, NULL) < 0) {
                csr_err(e, errno, "bind mount device ", path, NULL);
                r = -1;
            }
            if (t >= 0)
                close(t);
        }
    } else {
        csr_err(e, errno, "mknod ", path, NULL);
        r = -1;
    }
    return r;
}

static int dev_symlink(struct csr_ctx *c, int devfd, const char *target, const char *name)
{
    if (symlinkat(target, devfd, name) < 0 && errno != EEXIST) {
        csr_err(&c->err, errno, "symlink ", target, " /dev/", name, NULL);
        return -1;
    }
    return 0;
}

int csr_setup_devices(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    /* Device modes come from the spec verbatim: the inherited umask must not trim them. */
    mode_t old = umask(0);
    struct dev_dir last = { .fd = -1, .uid = geteuid(), .gid = getegid() };
    int failed = 0;
    for (int i = 0; i < p->n_devices && !failed; i++)
        failed = create_device(c, &p->devices[i], &last) < 0;
    if (last.fd >= 0)
        close(last.fd);
    umask(old);
    if (failed)
        return -1;

    int devfd = csr_resolve_in_root(c->root_fd, "/dev", CSR_CREATE_DIR, &c->err);
    if (devfd < 0)
        return -1;
    int r = 0;
    if (dev_symlink(c, devfd, "/proc/self/fd", "fd") < 0 || dev_symlink(c, devfd, "/proc/self/fd/0", "stdin") < 0 ||
        dev_symlink(c, devfd, "/proc/self/fd/1", "stdout") < 0 ||
        dev_symlink(c, devfd, "/proc/self/fd/2", "stderr") < 0)
        r = -1;
    /* Checked on the host's /proc (we have not pivoted yet), like runc. */
    if (r == 0 && access("/proc/kcore", F_OK) == 0 && dev_symlink(c, devfd, "/proc/kcore", "core") < 0)
        r = -1;
    /* /dev/ptmx must be the devpts instance's own ptmx (newinstance); keep an explicit device or
     * bind if the spec made one. */
    struct stat st;
    if (r == 0 && fstatat(devfd, "ptmx", &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT) {
            csr_err(&c->err, errno, "stat /dev/ptmx", NULL);
            r = -1;
        } else if (dev_symlink(c, devfd, "pts/ptmx", "ptmx") < 0) {
            r = -1;
        }
    }
    close(devfd);
    return r;
}
