/*
 * Root filesystem: propagation, the rootfs self-bind, the spec's mounts (with destinations resolved
 * strictly inside the rootfs), cgroup filesystems, pivot_root, and the post-pivot read-only and
 * masked paths.
 *
 * Every mount destination is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative
 * to an O_PATH fd of the rootfs, and the mount is made onto /proc/self/fd/<fd>: a symlink in the
 * image ("/etc -> /host/etc", "../../..") cannot redirect a mount onto the host. After a mount we
 * re-open the destination before remounting or changing propagation, because the magic link of the
 * old fd points at the covered directory, not at the new mount on top of it.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ATIME_FLAGS (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)
/* Per-mount flags that a bind remount can change, and that the kernel may lock (user namespaces). */
#define LOCKABLE_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME)

static int openat2_in_root(int root_fd, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, path[0] ? path : "/", &how, sizeof how);
}

int csr_resolve_in_root(int root_fd, const char *path, enum csr_create create, struct csr_error *e)
{
    char cur[PATH_MAX];
    if (csr_strlcpy(cur, path, sizeof cur) >= sizeof cur) {
        csr_err(e, ENAMETOOLONG, "resolve ", path, " in rootfs", NULL);
        return -1;
    }
    int links = 0;
    /* Each round either succeeds, creates one missing component, or replaces one dangling
     * symlink by its target; the bound only guards against a pathological race. */
    for (int round = 0; round < 1024; round++) {
        int fd = openat2_in_root(root_fd, cur, O_PATH);
        if (fd >= 0)
            return fd;
        if (errno != ENOENT || create == CSR_NO_CREATE) {
            csr_err(e, errno, "resolve ", path, " in rootfs", NULL);
            return -1;
        }

        /* Find the first component that does not resolve. Usually it is the last one: try the
         * parent first, walking from the root only when that fails too. */
        size_t len = strlen(cur), pos = 0, start = 0, end = 0;
        int missing = 0, known_pfd = -1;
        while (len > 1 && cur[len - 1] == '/')
            len--;
        end = len;
        start = end;
        while (start > 0 && cur[start - 1] != '/')
            start--;
        if (start > 0 && start < end) {
            char saved = cur[start];
            cur[start] = '\0';
            int pfd = openat2_in_root(root_fd, cur, O_PATH | O_DIRECTORY);
            cur[start] = saved;
            if (pfd >= 0) {
                known_pfd = pfd;
                missing = 1;
                pos = len;
            }
        }
        if (!missing)
            start = end = 0;
        while (!missing && pos < len) {
            while (pos < len && cur[pos] == '/')
                pos++;
            if (pos >= len)
                break;
            start = pos;
            while (pos < len && cur[pos] != '/')
                pos++;
            end = pos;
            char saved = cur[end];
            cur[end] = '\0';
            int pfd = openat2_in_root(root_fd, cur, O_PATH);
            int perr = errno;
            cur[end] = saved;
            if (pfd >= 0) {
                close(pfd);
                continue;
            }
            if (perr != ENOENT) {
                csr_err(e, perr, "resolve ", path, " in rootfs", NULL);
                return -1;
            }
            missing = 1;
            break;
        }
        if (!missing)
            continue; /* appeared meanwhile: retry the whole path */

        char parent[PATH_MAX], name[NAME_MAX + 1];
        memcpy(parent, cur, start);
        parent[start] = '\0';
        if (end - start > NAME_MAX) {
            if (known_pfd >= 0)
                close(known_pfd);
            csr_err(e, ENAMETOOLONG, "resolve ", path, " in rootfs", NULL);
            return -1;
        }
        memcpy(name, cur + start, end - start);
        name[end - start] = '\0';
        size_t rest = end;
        while (rest < len && cur[rest] == '/')
            rest++;
        int last = rest >= len;

        int pfd = known_pfd >= 0 ? known_pfd : openat2_in_root(root_fd, parent, O_PATH | O_DIRECTORY);
        if (pfd < 0) {
            csr_err(e, errno, "resolve ", path, " in rootfs", NULL);
            return -1;
        }
        int r;
        if (last && create == CSR_CREATE_FILE) {
            r = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
            if (r >= 0)
                close(r);
        } else {
            r = mkdirat(pfd, name, 0755);
        }
        if (r < 0 && errno == EEXIST) {
            /* Exists but does not resolve: a dangling symlink. Substitute its target textually and
             * resolve again from the root, so that the target is created inside the rootfs. */
            char target[PATH_MAX], next[PATH_MAX];
            ssize_t n = readlinkat(pfd, name, target, sizeof target - 1);
            int rerr = errno;
            close(pfd);
            if (n < 0) {
                if (rerr == EINVAL)
                    continue; /* not a symlink: created concurrently, retry */
                csr_err(e, rerr, "resolve ", path, " in rootfs", NULL);
                return -1;
            }
            target[n] = '\0';
            if (++links > 40) {
                csr_err(e, ELOOP, "resolve ", path, " in rootfs", NULL);
                return -1;
            }
            next[0] = '\0';
            if (target[0] != '/') {
                csr_strlcat(next, parent, sizeof next);
                csr_strlcat(next, "/", sizeof next);
            }
            csr_strlcat(next, target, sizeof next);
            if (csr_strlcat(next, cur + end, sizeof next) >= sizeof next) {
                csr_err(e, ENAMETOOLONG, "resolve ", path, " in rootfs", NULL);
                return -1;
            }
            memcpy(cur, next, sizeof cur);
            continue;
        }
        int merr = errno;
        close(pfd);
        if (r < 0) {
            csr_err(e, merr, last && create == CSR_CREATE_FILE ? "create " : "mkdir ", path, " in rootfs",
                    NULL);
            return -1;
        }
    }
    csr_err(e, ELOOP, "resolve ", path, " in rootfs", NULL);
    return -1;
}

/* ---- mountinfo helpers ------------------------------------------------------------------- */

/* mountinfo: id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
struct mi_entry {
    char *mountpoint;
    int shared;
};

static int parse_mountinfo_line(char *line, struct mi_entry *m)
{
    char *f[64];
    int n = csr_split_fields(line, f, 64);
    if (n < 7)
        return -1;
    m->mountpoint = f[4];
    m->shared = 0;
    for (int i = 6; i < n && strcmp(f[i], "-") != 0; i++)
        if (strncmp(f[i], "shared:", 7) == 0)
            m->shared = 1;
    csr_unescape_mountinfo(m->mountpoint);
    return 0;
}

/* "/a" is a path prefix of "/a/b" and "/a", not of "/ab". */
static int path_has_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n == 1 && prefix[0] == '/')
        return path[0] == '/';
    return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* pivot_root refuses a new root whose parent mount is shared, and a shared parent would also
 * propagate our rootfs bind back to the host: make that parent private (as runc does). */
static int make_rootfs_parent_private(const char *rootfs, struct csr_error *e)
{
    struct csr_lines l;
    if (csr_lines_open(&l, "/proc/self/mountinfo") < 0) {
        csr_err(e, errno, "open /proc/self/mountinfo", NULL);
        return -1;
    }
    char best[PATH_MAX] = "";
    size_t best_len = 0;
    int best_shared = 0, truncated;
    char *line;
    while ((line = csr_lines_next(&l, &truncated)) != NULL) {
        struct mi_entry m;
        if (parse_mountinfo_line(line, &m) < 0)
            continue;
        if (!path_has_prefix(rootfs, m.mountpoint))
            continue;
        size_t len = strlen(m.mountpoint);
        if (len >= best_len && len < sizeof best) { /* later entries stack on earlier ones */
            csr_strlcpy(best, m.mountpoint, sizeof best);
            best_len = len;
            best_shared = m.shared;
        }
    }
    csr_lines_close(&l);
    if (best_shared && mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0) {
        csr_err(e, errno, "make parent mount of rootfs (", best, ") private", NULL);
        return -1;
    }
    return 0;
}

/* Is every comma-separated token of want present in the comma-separated list have? */
static int opts_contain_all(const char *have, const char *want)
{
    while (*want) {
        const char *we = strchr(want, ',');
        size_t wl = we ? (size_t)(we - want) : strlen(want);
        int found = 0;
        for (const char *h = have; *h && !found;) {
            const char *he = strchr(h, ',');
            size_t hl = he ? (size_t)(he - h) : strlen(h);
            found = hl == wl && strncmp(h, want, wl) == 0;
            h += hl + (he ? 1 : 0);
        }
        if (!found)
            return 0;
        want += wl + (we ? 1 : 0);
    }
    return 1;
}

/* Host directory of our cgroup in the hierarchy with controllers ctrls ("" = cgroup2), built from
 * the hierarchy's first mount in mountinfo whose root contains our cgroup path. With any_root (in a
 * cgroup namespace, where paths are namespace-relative) it only tells whether the hierarchy is
 * mounted at all. */
static int cgroup_dir_of(int v2, const char *superopts, const char *root, const char *mountpoint, const char *ctrls,
                         const char *cgpath, int any_root, char *out, size_t cap)
{
    if (ctrls[0] ? (v2 || !opts_contain_all(superopts, ctrls)) : !v2)
        return 0;
    if (any_root)
        return 1;
    if (!path_has_prefix(cgpath, root))
        return 0;
    const char *rel = strcmp(root, "/") == 0 ? cgpath : cgpath + strlen(root);
    csr_strlcpy(out, mountpoint, cap);
    return csr_strlcat(out, rel, cap) < cap;
}

static int host_cgroup_dir(const struct csr_plan *p, const char *ctrls, const char *cgpath, int any_root, char *out,
                           size_t cap)
{
    int found = 0;
    for (int i = 0; i < p->n_cgroup_mounts && !found; i++) {
        const struct csr_cgroup_mount *t = &p->cgroup_mounts[i];
        found = cgroup_dir_of(!t->options, t->options ? t->options : "", t->root, t->mountpoint, ctrls, cgpath, any_root,
                              out, cap);
    }
    if (!found)
        errno = ENOENT;
    return found ? 0 : -1;
}

/* ---- mounting ---------------------------------------------------------------------------- */

/* Bind remount (flags) and propagation change of an existing mount at dest. */
static int finish_mount(struct csr_ctx *c, const char *what, const char *dest, int bind, uint64_t flags,
                        uint64_t clear_flags, uint64_t propagation)
{
    struct csr_error *e = &c->err;
    char pfd[32];
    unsigned long rflags = (unsigned long)(flags & ~(uint64_t)(MS_BIND | MS_REC | MS_REMOUNT | CSR_MS_PROPAGATION));
    /* A bind mount ignores everything but MS_REC: options like ro/nosuid need a remount. "rw",
     * "suid", ... (clear_flags) also need one, to drop flags inherited from the source mount. */
    if (bind && (rflags || clear_flags)) {
        int fd = csr_resolve_in_root(c->root_fd, dest, CSR_NO_CREATE, e);
        if (fd < 0)
            return -1;
        int r = mount(NULL, csr_procfd(pfd, fd), NULL, MS_BIND | MS_REMOUNT | rflags, NULL);
        int rerr = errno;
        if (r < 0 && rerr == EPERM) {
            /* Flags locked by the kernel (source mount from a less privileged user namespace) must
             * be kept: retry with them, unless the spec explicitly asked to clear one of them. */
            struct statfs st;
            if (fstatfs(fd, &st) == 0) {
                unsigned long locked = (unsigned long)st.f_flags & LOCKABLE_FLAGS;
                if (!(locked & clear_flags)) {
                    unsigned long nf = rflags | (locked & ~(unsigned long)ATIME_FLAGS);
                    if (!(rflags & ATIME_FLAGS))
                        nf |= locked & ATIME_FLAGS;
                    if (nf != rflags) {
                        r = mount(NULL, pfd, NULL, MS_BIND | MS_REMOUNT | nf, NULL);
                        rerr = errno;
                    }
                }
            }
        }
        close(fd);
        if (r < 0) {
            csr_err(e, rerr, "remount ", what, " on ", dest, NULL);
            return -1;
        }
    }
    if (propagation) {
        int fd = csr_resolve_in_root(c->root_fd, dest, CSR_NO_CREATE, e);
        if (fd < 0)
            return -1;
        int r = mount(NULL, csr_procfd(pfd, fd), NULL, (unsigned long)propagation, NULL);
        int rerr = errno;
        close(fd);
        if (r < 0) {
            csr_err(e, rerr, "set propagation of ", dest, NULL);
            return -1;
        }
    }
    return 0;
}

static int bind_mount(struct csr_ctx *c, const char *src, const char *dest, uint64_t flags, uint64_t clear_flags,
                      uint64_t propagation)
{
    struct csr_error *e = &c->err;
    struct stat st;
    if (!src || stat(src, &st) < 0) {
        csr_err(e, src ? errno : EINVAL, "mount ", src ? src : "(null)", " on ", dest, NULL);
        return -1;
    }
    int fd = csr_resolve_in_root(c->root_fd, dest, S_ISDIR(st.st_mode) ? CSR_CREATE_DIR : CSR_CREATE_FILE, e);
    if (fd < 0)
        return -1;
    char pfd[32];
    int r = mount(src, csr_procfd(pfd, fd), NULL, MS_BIND | (unsigned long)(flags & MS_REC), NULL);
    int rerr = errno;
    close(fd);
    if (r < 0) {
        csr_err(e, rerr, "mount ", src, " on ", dest, NULL);
        return -1;
    }
    return finish_mount(c, src, dest, 1, flags, clear_flags, propagation);
}

/* mount(2) on target, a path the caller has made safe to use; dest names it in errors. */
static int mount_at(struct csr_ctx *c, const char *target, const char *source, const char *dest, const char *fstype,
                    unsigned long flags, const char *data)
{
    if (mount(source, target, fstype, flags, data) == 0)
        return 0;
    int err = errno;
    csr_err(&c->err, err, "mount ", fstype, " on ", dest, NULL);
    errno = err;
    return -1;
}

/* Mounts fstype on the O_PATH fd (closed here) through its /proc/self/fd link; dest names it in errors. */
static int mount_on_fd(struct csr_ctx *c, int fd, const char *source, const char *dest, const char *fstype,
                       unsigned long flags, const char *data)
{
    char pfd[32];
    int r = mount_at(c, csr_procfd(pfd, fd), source, dest, fstype, flags, data);
    int err = errno;
    close(fd);
    errno = err;
    return r;
}

/* A plain filesystem mount at dest (no remount logic needed: flags apply directly). */
static int fs_mount(struct csr_ctx *c, const char *source, const char *dest, const char *fstype,
                    unsigned long flags, const char *data)
{
    int fd = csr_resolve_in_root(c->root_fd, dest, CSR_CREATE_DIR, &c->err);
    if (fd < 0)
        return -1;
    return mount_on_fd(c, fd, source, dest, fstype, flags & ~(unsigned long)(CSR_MS_PROPAGATION | MS_BIND), data);
}

/* A filesystem mounted on a new directory `name` in dfd, a directory this process just mounted (so
 * nothing can have raced a symlink into it, and the name is reached through dfd's /proc/self/fd link
 * without opening it first). dest names it in errors. */
static int mount_in(struct csr_ctx *c, int dfd, const char *name, const char *dest, const char *fstype,
                    unsigned long flags, const char *data, int dfd_is_cwd)
{
    if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST) {
        csr_err(&c->err, errno, "mkdir ", dest, " in rootfs", NULL);
        return -1;
    }
    if (dfd_is_cwd)
        return mount_at(c, name, fstype, dest, fstype, flags, data);
    char target[32 + NAME_MAX + 2];
    csr_procfd(target, dfd);
    csr_strlcat(target, "/", sizeof target);
    if (csr_strlcat(target, name, sizeof target) >= sizeof target) {
        csr_err(&c->err, ENAMETOOLONG, "mount ", fstype, " on ", dest, NULL);
        return -1;
    }
    return mount_at(c, target, fstype, dest, fstype, flags, data);
}

static int join_path(char *out, size_t cap, const char *a, const char *b)
{
    csr_strlcpy(out, a, cap);
    size_t n = strlen(out);
    if (n == 0 || out[n - 1] != '/')
        csr_strlcat(out, "/", cap);
    return csr_strlcat(out, b, cap) < cap ? 0 : -1;
}

/* cgroup v1 ("cgroup" fstype), as runc: a tmpfs at the destination holding one directory per
 * hierarchy we are in. With a cgroup namespace each one is a fresh mount of the hierarchy (the
 * kernel roots it at our namespace root); without, it is a bind of our own cgroup directory. */
static int mount_cgroup_v1(struct csr_ctx *c, const struct csr_mount *m)
{
    struct csr_error *e = &c->err;
    const char *dest = m->destination;
    unsigned long base = (unsigned long)(m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME | MS_STRICTATIME));
    if (fs_mount(c, "tmpfs", dest, "tmpfs", base, "mode=755") < 0)
        return -1;
    unsigned long subflags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (unsigned long)(m->flags & MS_RDONLY);

    /* /proc/self/cgroup is small: read it whole. It reflects the cgroups the caller placed us in. */
    char cg[8192];
    /* The tmpfs was mounted just now and nothing else runs in the container yet: its directories are
     * made and opened relative to it, without resolving each path from the rootfs again. */
    int tmpfs_fd = csr_resolve_in_root(c->root_fd, dest, CSR_NO_CREATE, e);
    if (tmpfs_fd < 0)
        return -1;
    /* The hierarchies are mounted by their names, relative to the tmpfs as the working directory meanwhile:
     * a target through /proc/self/fd costs a few microseconds more a mount. The old one is back afterwards
     * (createContainer hooks inherit it); a failure here is the child's last. */
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int in_tmpfs = cwd >= 0 && fchdir(tmpfs_fd) == 0;
    int cfd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (cfd < 0) {
        csr_err(e, errno, "open /proc/self/cgroup", NULL);
        close(tmpfs_fd);
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(cfd, cg + len, sizeof cg - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(cfd);
    cg[len] = '\0';

    for (char *line = cg, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        char *ctrls = c1 + 1, *cgpath = c2 + 1;
        const char *name = ctrls;
        int v2 = ctrls[0] == '\0';
        if (v2)
            name = "unified"; /* hybrid host: the v2 hierarchy sits next to the v1 ones */
        else if (strncmp(ctrls, "name=", 5) == 0)
            name = ctrls + 5;

        char sub[PATH_MAX], host[PATH_MAX];
        if (join_path(sub, sizeof sub, dest, name) < 0 || strchr(name, '/')) {
            csr_err(e, ENAMETOOLONG, "mount cgroup on ", dest, NULL);
            close(tmpfs_fd);
            return -1;
        }
        int have_host = host_cgroup_dir(c->plan, ctrls, cgpath, c->has_cgroupns, host, sizeof host) == 0;
        if (!have_host)
            continue; /* hierarchy not mounted on the host (e.g. no unified mount): nothing to show */
        if (c->has_cgroupns) {
            int r = v2 ? mount_in(c, tmpfs_fd, name, sub, "cgroup2", subflags, NULL, in_tmpfs)
                       : mount_in(c, tmpfs_fd, name, sub, "cgroup", subflags, ctrls, in_tmpfs);
            /* A user namespace may not mount v1 hierarchies (nor cgroup2 without owning the cgroup
             * namespace's parent): show our own cgroup directory instead, as runc does. */
            if (r < 0 && errno == EPERM && c->has_userns)
                r = bind_mount(c, host, sub, MS_BIND | MS_REC | subflags, 0, 0);
            if (r < 0) {
                close(tmpfs_fd);
                return -1;
            }
        } else if (bind_mount(c, host, sub, MS_BIND | MS_REC | subflags, 0, 0) < 0) {
            close(tmpfs_fd);
            return -1;
        }
        /* Co-mounted controllers ("cpu,cpuacct"): a link per controller, as on the host. */
        if (!v2 && strchr(name, ',')) {
            int dfd = tmpfs_fd;
            for (char *tok = (char *)name; tok && *tok;) {
                char *comma = strchr(tok, ',');
                char one[NAME_MAX + 1];
                size_t tl = comma ? (size_t)(comma - tok) : strlen(tok);
                if (tl <= NAME_MAX) {
                    memcpy(one, tok, tl);
                    one[tl] = '\0';
                    if (symlinkat(name, dfd, one) < 0 && errno != EEXIST) {
                        int serr = errno;
                        close(tmpfs_fd);
                        csr_err(e, serr, "symlink ", sub, NULL);
                        return -1;
                    }
                }
                tok = comma ? comma + 1 : NULL;
            }
        }
    }

    if (in_tmpfs && fchdir(cwd) < 0) {
        csr_err(e, errno, "return to the working directory after mounting cgroups on ", dest, NULL);
        close(cwd);
        close(tmpfs_fd);
        return -1;
    }
    if (cwd >= 0)
        close(cwd);
    if (m->flags & MS_RDONLY) {
        char pfd[32];
        int r = mount(NULL, csr_procfd(pfd, tmpfs_fd), NULL, MS_REMOUNT | MS_RDONLY | base, NULL);
        int rerr = errno;
        close(tmpfs_fd);
        tmpfs_fd = -1;
        if (r < 0) {
            csr_err(e, rerr, "remount cgroup tmpfs ", dest, " read-only", NULL);
            return -1;
        }
    }
    if (tmpfs_fd >= 0)
        close(tmpfs_fd);
    return finish_mount(c, "cgroup", dest, 0, 0, 0, m->propagation);
}

/* tmpcopyup (runc's, which podman asks for on --read-only's tmpfs mounts): the destination's directory is opened
 * before the tmpfs covers it, its content copied into the new mount (copyup.c), and the mount made read-only only
 * after that if the spec says so. */
static int tmpfs_copy_up(struct csr_ctx *c, const struct csr_mount *m, const char *source)
{
    struct csr_error *e = &c->err;
    unsigned long flags = (unsigned long)(m->flags & ~(uint64_t)(CSR_MS_PROPAGATION | MS_BIND));
    char pfd[32];
    int below = csr_resolve_in_root(c->root_fd, m->destination, CSR_CREATE_DIR, e);
    if (below < 0)
        return -1;
    int src = open(csr_procfd(pfd, below), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0) {
        csr_err(e, errno, "open ", m->destination, " to copy up", NULL);
        close(below);
        return -1;
    }
    int r = mount_on_fd(c, below, source, m->destination, m->fstype, flags & ~(unsigned long)MS_RDONLY, m->data);
    int top = r < 0 ? -1 : csr_resolve_in_root(c->root_fd, m->destination, CSR_NO_CREATE, e);
    int dst = top < 0 ? -1 : open(csr_procfd(pfd, top), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top >= 0 && dst < 0)
        csr_err(e, errno, "open ", m->destination, " to copy up", NULL);
    r = dst < 0 ? -1 : csr_copy_tree(src, dst, e);
    if (r == 0 && (flags & MS_RDONLY) && mount(NULL, pfd, NULL, MS_REMOUNT | flags, m->data) < 0) {
        csr_err(e, errno, "remount ", m->fstype, " on ", m->destination, " read-only", NULL);
        r = -1;
    }
    if (dst >= 0)
        close(dst);
    if (top >= 0)
        close(top);
    close(src);
    return r;
}

/* OCI 1.1's recursive options (rro, rnosuid, ...): mount_setattr(2) with AT_RECURSIVE over the new mount and every
 * mount below it, once it and its own remount are made, as runc applies them. */
static int set_recursive_attrs(struct csr_ctx *c, const struct csr_mount *m)
{
    if (!m->rec_attr_set && !m->rec_attr_clr)
        return 0;
    int fd = csr_resolve_in_root(c->root_fd, m->destination, CSR_NO_CREATE, &c->err);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {.attr_set = m->rec_attr_set, .attr_clr = m->rec_attr_clr};
    int r = mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
    int err = errno;
    close(fd);
    if (r < 0) {
        csr_err(&c->err, err, "set recursive mount attributes on ", m->destination, NULL);
        return -1;
    }
    return 0;
}

static int mount_one(struct csr_ctx *c, const struct csr_mount *m)
{
    const char *fstype = m->fstype;
    if (!m->destination || m->destination[0] != '/') {
        csr_err(&c->err, EINVAL, "mount destination \"", m->destination ? m->destination : "", "\" is not absolute",
                NULL);
        return -1;
    }
    if (!fstype || (m->flags & MS_BIND) || strcmp(fstype, "bind") == 0)
        return bind_mount(c, m->source, m->destination, m->flags | MS_BIND, m->clear_flags, m->propagation);
    /* "cgroup" means "the host's cgroups": the v1 layout, or cgroup2 itself on a unified host (runc). */
    if (strcmp(fstype, "cgroup") == 0) {
        struct statfs sf;
        if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
            fstype = "cgroup2";
        else
            return mount_cgroup_v1(c, m);
    }

    const char *source = m->source && m->source[0] ? m->source : fstype;
    if (m->copy_up) { /* tmpfs only (SpecValidator) */
        if (tmpfs_copy_up(c, m, source) < 0)
            return -1;
        return finish_mount(c, fstype, m->destination, 0, 0, 0, m->propagation);
    }
    if (fs_mount(c, source, m->destination, fstype, (unsigned long)m->flags, m->data) < 0) {
        int err = errno;
        /* Without a new network namespace the kernel refuses a fresh sysfs; cgroup2 can be refused
         * (EPERM/EBUSY) without a cgroup namespace. Like runc, fall back to binding the host's. */
        if (err == EPERM && strcmp(fstype, "sysfs") == 0)
            return bind_mount(c, "/sys", m->destination, m->flags | MS_BIND | MS_REC, 0, m->propagation);
        if ((err == EPERM || err == EBUSY) && strcmp(fstype, "cgroup2") == 0)
            return bind_mount(c, "/sys/fs/cgroup", m->destination, m->flags | MS_BIND | MS_REC, 0, m->propagation);
        return -1;
    }
    return finish_mount(c, fstype, m->destination, 0, 0, 0, m->propagation);
}

static int is_cgroup_mount(const struct csr_mount *m)
{
    return m->fstype && !(m->flags & MS_BIND) && (!strcmp(m->fstype, "cgroup") || !strcmp(m->fstype, "cgroup2"));
}

int csr_setup_rootfs(struct csr_ctx *c, int before_cgroups)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    if (c->root_fd < 0) {
        if (!p->rootfs || p->rootfs[0] != '/') {
            csr_err(e, EINVAL, "rootfs path must be absolute", NULL);
            return -1;
        }
        /* Stop our mounts from propagating to the host (and host mounts from appearing, unless the spec
         * asks for another propagation). */
        unsigned long prop = p->rootfs_propagation ? (unsigned long)p->rootfs_propagation : MS_SLAVE | MS_REC;
        /* root_slave: made so ahead, and kept only for this same default (spawner.c, mntns_at_request). */
        if (!c->root_slave && mount(NULL, "/", NULL, prop, NULL) < 0) {
            csr_err(e, errno, "set propagation of / for rootfs", NULL);
            return -1;
        }
        /* After a recursive slave or private "/" no mount here is shared, the rootfs's parent included. */
        if (!((prop & MS_REC) && (prop & (MS_SLAVE | MS_PRIVATE))) && make_rootfs_parent_private(p->rootfs, e) < 0)
            return -1;
        /* The rootfs must be a mount point for pivot_root; this also pins what "rootfs" means. */
        if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
            csr_err(e, errno, "bind mount rootfs ", p->rootfs, NULL);
            return -1;
        }
        c->root_fd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c->root_fd < 0) {
            csr_err(e, errno, "open rootfs ", p->rootfs, NULL);
            return -1;
        }
    }
    for (; c->mounts_done < p->n_mounts; c->mounts_done++) {
        const struct csr_mount *m = &p->mounts[c->mounts_done];
        if (before_cgroups && is_cgroup_mount(m))
            break;
        if (mount_one(c, m) < 0 || set_recursive_attrs(c, m) < 0)
            return -1;
    }
    return 0;
}

int csr_devices_early(const struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    if (c->mounts_done == p->n_mounts)
        return 1;
    if (c->mounts_done != p->n_mounts - 1)
        return 0;
    const char *dest = p->mounts[c->mounts_done].destination;
    char under[PATH_MAX];
    size_t n = dest ? csr_strlcpy(under, dest, sizeof under) : 0;
    if (n >= sizeof under)
        return 0;
    while (n > 1 && under[n - 1] == '/')
        under[--n] = '\0';
    if (n <= 1)
        return 0;
    for (int i = 0; i < p->n_devices; i++)
        if (p->devices[i].path && path_has_prefix(p->devices[i].path, under))
            return 0;
    return 1;
}

/* The rootfs was bound from a parent we made private, so it starts private: an explicit
 * rootfsPropagation (e.g. "shared") must be applied to the new "/" again after the switch. */
static int apply_root_propagation(struct csr_ctx *c)
{
    unsigned long prop = (unsigned long)c->plan->rootfs_propagation;
    if (prop && mount(NULL, "/", NULL, prop, NULL) < 0) {
        csr_err(&c->err, errno, "set propagation of / after pivot_root", NULL);
        return -1;
    }
    return 0;
}

int csr_pivot_root(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    if (c->root_fd >= 0) {
        close(c->root_fd);
        c->root_fd = -1;
    }
    if (!c->has_mntns) {
        /* No mount namespace: a chroot is all we can do without touching the host's mounts. */
        if (chroot(p->rootfs) < 0 || chdir("/") < 0) {
            csr_err(e, errno, "chroot to ", p->rootfs, NULL);
            return -1;
        }
        return 0;
    }
    if (p->no_pivot) {
        /* For rootfs on ramfs/initramfs, where pivot_root is impossible. */
        if (chdir(p->rootfs) < 0 || mount(p->rootfs, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0) {
            csr_err(e, errno, "move rootfs ", p->rootfs, " to / (no pivot)", NULL);
            return -1;
        }
        return apply_root_propagation(c);
    }
    /* runc's pivot_root(".", "."): stack the old root under the new one, then detach it, without
     * needing a directory inside the rootfs to park the old root in. */
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) {
        csr_err(e, errno, "open old root", NULL);
        return -1;
    }
    int newroot = open(p->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (newroot < 0) {
        csr_err(e, errno, "open rootfs ", p->rootfs, NULL);
        close(oldroot);
        return -1;
    }
    int r = -1;
    if (fchdir(newroot) < 0)
        csr_err(e, errno, "chdir to rootfs ", p->rootfs, NULL);
    else if (syscall(SYS_pivot_root, ".", ".") < 0)
        csr_err(e, errno, "pivot_root ", p->rootfs, NULL);
    else if (fchdir(oldroot) < 0)
        csr_err(e, errno, "chdir to old root", NULL);
    /* Slave first so the detach below does not propagate an unmount to the host. */
    else if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        csr_err(e, errno, "make old root slave", NULL);
    else if (umount2(".", MNT_DETACH) < 0)
        csr_err(e, errno, "unmount old root", NULL);
    else if (chdir("/") < 0)
        csr_err(e, errno, "chdir to new root", NULL);
    else
        r = 0;
    close(oldroot);
    close(newroot);
    if (r == 0)
        r = apply_root_propagation(c);
    return r;
}

/* Bind remount of path with extra flags, keeping flags the kernel may have locked. */
static int remount_keep_locked(const char *path, unsigned long flags)
{
    if (mount(NULL, path, NULL, flags, NULL) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    struct statfs st;
    if (statfs(path, &st) < 0) {
        errno = EPERM;
        return -1;
    }
    return mount(NULL, path, NULL, flags | ((unsigned long)st.f_flags & LOCKABLE_FLAGS), NULL);
}

/* After pivot_root "/" is the container, so plain paths cannot leave it any more. */
int csr_finalize_rootfs(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    if (!c->has_mntns)
        return 0;
    for (int i = 0; i < p->n_readonly_paths; i++) {
        const char *path = p->readonly_paths[i];
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            csr_err(e, errno, "bind readonly path ", path, NULL);
            return -1;
        }
        struct statfs st;
        unsigned long keep = 0;
        if (statfs(path, &st) == 0)
            keep = (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
        if (remount_keep_locked(path, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | keep) < 0) {
            csr_err(e, errno, "remount readonly path ", path, NULL);
            return -1;
        }
    }
    for (int i = 0; i < p->n_masked_paths; i++) {
        const char *path = p->masked_paths[i];
        struct stat st;
        if (stat(path, &st) < 0) {
            if (errno == ENOENT)
                continue;
            csr_err(e, errno, "mask path ", path, NULL);
            return -1;
        }
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
                                    : mount("/dev/null", path, NULL, MS_BIND, NULL);
        if (r < 0 && errno != ENOENT) {
            csr_err(e, errno, "mask path ", path, NULL);
            return -1;
        }
    }
    if (p->rootfs_readonly && remount_keep_locked("/", MS_BIND | MS_REMOUNT | MS_RDONLY) < 0) {
        csr_err(e, errno, "remount / read-only", NULL);
        return -1;
    }
    return 0;
}
