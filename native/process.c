/*
 * The container process itself: UTS names and sysctls, the exec fifo, rlimits, oom score, ids,
 * umask, cwd, executable lookup, fd hygiene and execve.
 */
#include "internal.h"
#include "exec_sealed.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int csr_set_uts_and_sysctls(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    /* Without a UTS namespace of its own the container would rename the host. */
    if ((p->hostname || p->domainname) && !c->has_utsns) {
        csr_err(e, EINVAL, "cannot set hostname/domainname without a private UTS namespace", NULL);
        return -1;
    }
    if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0) {
        csr_err(e, errno, "sethostname ", p->hostname, NULL);
        return -1;
    }
    if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0) {
        csr_err(e, errno, "setdomainname ", p->domainname, NULL);
        return -1;
    }
    /* Written through the host's /proc before pivot_root: namespaced sysctls (net.*, ipc kernel.*,
     * kernel.hostname...) resolve against the writer's namespaces, which are the container's. */
    for (int i = 0; i < p->n_sysctls; i++) {
        const char *key = p->sysctls[i].key, *value = p->sysctls[i].value;
        char path[PATH_MAX] = "/proc/sys/";
        size_t base = strlen(path);
        if (!key || !value || csr_strlcat(path, key, sizeof path) >= sizeof path) {
            csr_err(e, EINVAL, "sysctl ", key ? key : "(null)", NULL);
            return -1;
        }
        /* "net.ipv4.ip_forward" -> net/ipv4/ip_forward; a key already in slash form keeps its
         * dots (interface names like eth0.100). */
        if (!strchr(key, '/'))
            for (char *q = path + base; *q; q++)
                if (*q == '.')
                    *q = '/';
        for (const char *q = path + base; *q;) {
            const char *s = strchr(q, '/');
            size_t l = s ? (size_t)(s - q) : strlen(q);
            if (l == 0 || (l == 2 && q[0] == '.' && q[1] == '.') || (l == 1 && q[0] == '.')) {
                csr_err(e, EINVAL, "sysctl ", key, ": bad key", NULL);
                return -1;
            }
            q += l + (s ? 1 : 0);
        }
        if (csr_write_file(path, value, strlen(value)) < 0) {
            csr_err(e, errno, "write sysctl ", key, NULL);
            return -1;
        }
    }
    return 0;
}

int csr_open_exec_fifo(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    /* The fifo is a host path: hold it as O_PATH now and reopen it for writing through
     * /proc/self/fd after pivot_root, once we are "created". */
    if (p->exec_fifo) {
        c->fifo_fd = open(p->exec_fifo, O_PATH | O_CLOEXEC);
        if (c->fifo_fd < 0) {
            csr_err(e, errno, "open exec fifo ", p->exec_fifo, NULL);
            return -1;
        }
    }
    return 0;
}

int csr_set_oom_score(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    /* Done first thing in the child, like runc does before entering namespaces: through the host's
     * /proc (works even if the container mounts none), with the runtime's credentials (lowering the
     * score needs CAP_SYS_RESOURCE; and once we are root of a new user namespace the non-dumpable
     * /proc/self files, owned by the global root, are no longer writable to us). */
    if (!p->set_oom_score_adj)
        return 0;
    char v[24];
    csr_itoa(v, p->oom_score_adj);
    if (csr_write_file("/proc/self/oom_score_adj", v, strlen(v)) < 0) {
        csr_err(&c->err, errno, "write oom_score_adj ", v, NULL);
        return -1;
    }
    return 0;
}

static const char *rlimit_name(int r)
{
    static const char *const names[] = {
        [RLIMIT_CPU] = "RLIMIT_CPU",         [RLIMIT_FSIZE] = "RLIMIT_FSIZE",
        [RLIMIT_DATA] = "RLIMIT_DATA",       [RLIMIT_STACK] = "RLIMIT_STACK",
        [RLIMIT_CORE] = "RLIMIT_CORE",       [RLIMIT_RSS] = "RLIMIT_RSS",
        [RLIMIT_NPROC] = "RLIMIT_NPROC",     [RLIMIT_NOFILE] = "RLIMIT_NOFILE",
        [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK", [RLIMIT_AS] = "RLIMIT_AS",
        [RLIMIT_LOCKS] = "RLIMIT_LOCKS",     [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
        [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE",
        [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",   [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
    };
    if (r >= 0 && r < (int)(sizeof names / sizeof names[0]) && names[r])
        return names[r];
    return "unknown resource";
}

/* One /etc/passwd line: when its uid field is uid, its home field into out ("/" if empty). */
static int passwd_home(const char *line, uid_t uid, char *out, size_t cap)
{
    const char *field[7];
    int k = 0;
    field[k++] = line;
    for (const char *q = line; *q && k < 7; q++)
        if (*q == ':')
            field[k++] = q + 1;
    if (k < 6)
        return 0;
    unsigned long long v = 0;
    const char *q = field[2];
    if (*q == ':')
        return 0;
    for (; *q != ':'; q++) {
        if (*q < '0' || *q > '9' || (v = v * 10 + (unsigned)(*q - '0')) > 0xffffffffull)
            return 0;
    }
    if (v != uid)
        return 0;
    size_t len = k > 6 ? (size_t)(field[6] - 1 - field[5]) : strlen(field[5]);
    if (len > 0 && len < cap) {
        memcpy(out, field[5], len);
        out[len] = '\0';
    }
    return 1;
}

/* HOME as runc and crun set it when the spec's env has none: the user's home in the container's /etc/passwd,
 * else "/". Read after pivot_root and before any id, capability or filter change; the image decides what
 * /etc/passwd is, so only a regular file is read (a fifo there must not hang us), and an over-long line is
 * skipped. */
static void home_from_passwd(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    for (const char *const *ev = p->envp; ev && *ev; ev++)
        if (strncmp(*ev, "HOME=", 5) == 0 && (*ev)[5])
            return;
    memcpy(c->home_env, "HOME=/", 7);
    struct csr_lines l;
    if (csr_lines_open(&l, "/etc/passwd") < 0)
        return;
    struct stat st;
    if (fstat(l.fd, &st) == 0 && S_ISREG(st.st_mode)) {
        char *line;
        int truncated;
        while ((line = csr_lines_next(&l, &truncated)) != NULL)
            if (!truncated && passwd_home(line, p->uid, c->home_env + 5, sizeof c->home_env - 5))
                break;
    }
    csr_lines_close(&l);
}

/* Like Go's exec.LookPath check: a regular-ish file with an execute bit that we may execute. */
static int check_executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) {
        errno = EACCES;
        return -1;
    }
    return access(path, X_OK);
}

static int lookup_executable(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;
    const char *name = p->argv[0];
    if (strchr(name, '/')) {
        if (check_executable(name) < 0) {
            csr_err(e, errno, "exec: \"", name, "\"", NULL);
            return -1;
        }
        if (csr_strlcpy(c->exe, name, sizeof c->exe) >= sizeof c->exe) {
            csr_err(e, ENAMETOOLONG, "exec: \"", name, "\"", NULL);
            return -1;
        }
        return 0;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *const *ev = p->envp; ev && *ev; ev++)
        if (strncmp(*ev, "PATH=", 5) == 0) {
            path = *ev + 5;
            break;
        }
    if (name[0]) {
        for (const char *d = path;;) {
            const char *colon = strchr(d, ':');
            size_t dl = colon ? (size_t)(colon - d) : strlen(d);
            char cand[PATH_MAX];
            if (dl == 0) {
                csr_strlcpy(cand, ".", sizeof cand); /* empty entry = current directory */
            } else if (dl < sizeof cand) {
                memcpy(cand, d, dl);
                cand[dl] = '\0';
            } else {
                cand[0] = '\0';
            }
            if (cand[0] && csr_strlcat(cand, "/", sizeof cand) < sizeof cand &&
                csr_strlcat(cand, name, sizeof cand) < sizeof cand && check_executable(cand) == 0) {
                csr_strlcpy(c->exe, cand, sizeof c->exe);
                return 0;
            }
            if (!colon)
                break;
            d = colon + 1;
        }
    }
    csr_err(e, ENOENT, "exec: \"", name, "\": executable file not found in $PATH", NULL);
    return -1;
}

static int do_chdir(struct csr_ctx *c)
{
    const char *cwd = c->plan->cwd;
    if (chdir(cwd) < 0) {
        csr_err(&c->err, errno, "chdir to cwd (\"", cwd, "\") set in config.json failed", NULL);
        return -1;
    }
    return 0;
}

static int install_seccomp(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct sock_fprog prog = {.len = (unsigned short)p->seccomp_len, .filter = (struct sock_filter *)p->seccomp_bpf};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog);
    if (fd < 0) {
        csr_err(&c->err, errno, "install seccomp filter", NULL);
        return -1;
    }
    if (p->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
        /* The listener fd goes to linux.seccomp.listenerPath with the container process state. */
        int rc = p->seccomp_listener_fd >= 0 && c->procstate
                     ? csr_send_fd(p->seccomp_listener_fd, (int)fd, c->procstate, c->procstate_len)
                     : 0;
        int err = errno;
        close((int)fd);
        if (p->seccomp_listener_fd >= 0)
            close(p->seccomp_listener_fd);
        if (rc < 0) {
            csr_err(&c->err, err, "send the seccomp listener fd to linux.seccomp.listenerPath", NULL);
            return -1;
        }
    }
    return 0;
}

int csr_drop_bounding(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    if (!p->set_caps || c->bounding_dropped)
        return 0;
    for (int cap = 0; cap <= p->cap_last_cap && cap < 64; cap++) {
        if (p->cap_bounding & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
            char n[24];
            csr_err(&c->err, errno, "drop capability ", csr_utoa(n, (unsigned)cap), " from the bounding set", NULL);
            return -1;
        }
    }
    c->bounding_dropped = 1;
    return 0;
}

static int apply_caps(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(p->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(p->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(p->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0) {
        csr_err(&c->err, errno, "set capabilities (capset)", NULL);
        return -1;
    }
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap <= p->cap_last_cap && cap < 64; cap++) {
        /* As runc: an ambient capability the kernel refuses (not permitted and inheritable) is skipped. */
        if (p->cap_ambient & (1ULL << cap))
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    }
    return 0;
}

int csr_setup_process(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    struct csr_error *e = &c->err;

    home_from_passwd(c);
    for (int i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        if (setrlimit(p->rlimits[i].resource, &rl) < 0) {
            csr_err(e, errno, "setrlimit ", rlimit_name(p->rlimits[i].resource), NULL);
            return -1;
        }
    }

    /* As runc: chdir before dropping privileges (the runtime may reach directories the container
     * user cannot), retry after when only permissions stopped us (root-squashed volumes). */
    int chdir_pending = p->cwd != NULL;
    if (chdir_pending) {
        if (chdir(p->cwd) == 0)
            chdir_pending = 0;
        else if (errno != EACCES && errno != EPERM)
            return do_chdir(c);
    }

    /* The bounding set can only shrink while we still hold CAP_SETPCAP, i.e. before setuid (the init may have
     * shrunk it before the resume already). Keep the permitted set across setuid to a non-root user;
     * apply_caps trims it afterwards. */
    if (csr_drop_bounding(c) < 0)
        return -1;
    if (p->set_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
        csr_err(e, errno, "set keepcaps", NULL);
        return -1;
    }

    /* Without no_new_privs only a privileged process may install a filter: do it while we still are. */
    if (p->seccomp_len && !p->no_new_privs && install_seccomp(c) < 0)
        return -1;

    /* Raw syscalls: glibc's wrappers would try to broadcast the change to the parent's threads. */
    int ngroups = p->n_additional_gids > 0 ? p->n_additional_gids : 0;
    if (syscall(SYS_setgroups, (size_t)ngroups, ngroups ? p->additional_gids : NULL) < 0) {
        /* In a user namespace with setgroups "deny" dropping to zero groups is not possible and not
         * meaningful; anything else is an error. */
        if (!(errno == EPERM && ngroups == 0 && c->has_userns)) {
            csr_err(e, errno, "setgroups", NULL);
            return -1;
        }
    }
    char n[24];
    if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0) {
        csr_err(e, errno, "setgid ", csr_utoa(n, p->gid), NULL);
        return -1;
    }
    if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0) {
        csr_err(e, errno, "setuid ", csr_utoa(n, p->uid), NULL);
        return -1;
    }
    if (p->set_caps && apply_caps(c) < 0)
        return -1;
    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        csr_err(e, errno, "set no_new_privs", NULL);
        return -1;
    }
    if (p->personality >= 0 && personality((unsigned long)p->personality) < 0) {
        csr_err(e, errno, "set personality", NULL);
        return -1;
    }
    if (p->umask >= 0)
        umask((mode_t)p->umask);
    if (chdir_pending && do_chdir(c) < 0)
        return -1;

    /* CVE-2024-21626: a cwd reached through a leaked fd (/proc/self/fd/N) would lie outside our
     * root; the kernel then reports it as "(unreachable)/...". */
    char cwd[PATH_MAX];
    long r = syscall(SYS_getcwd, cwd, sizeof cwd);
    if (r < 0 || cwd[0] != '/') {
        csr_err(e, r < 0 ? errno : 0,
                "current working directory is outside of container mount namespace root -- possible container breakout detected",
                NULL);
        return -1;
    }
    return lookup_executable(c);
}

int csr_wait_exec_fifo(struct csr_ctx *c)
{
    struct csr_error *e = &c->err;
    if (c->fifo_fd < 0)
        return 0;
    char path[32];
    int fd;
    /* Blocks until `csrun start` opens the read side. */
    do
        fd = open(csr_procfd(path, c->fifo_fd), O_WRONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        csr_err(e, errno, "open exec fifo", NULL);
        return -1;
    }
    if (csr_write_all(fd, "0", 1) < 0) {
        csr_err(e, errno, "write exec fifo", NULL);
        close(fd);
        return -1;
    }
    close(fd);
    close(c->fifo_fd);
    c->fifo_fd = -1;
    return 0;
}

int csr_join_session_keyring(struct csr_ctx *c)
{
    const char *name = c->plan->session_keyring;
    if (!name)
        return 0;
    /* KEYCTL_JOIN_SESSION_KEYRING (1): keys the caller holds stay out of the container. A kernel
     * built without keys says ENOSYS; like runc, that is not an error. */
    if (syscall(SYS_keyctl, 1, name, 0, 0, 0) < 0 && errno != ENOSYS) {
        csr_err(&c->err, errno, "join session keyring ", name, NULL);
        return -1;
    }
    return 0;
}

_Noreturn void csr_exec(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    static const char *const empty[] = {NULL};
    /* Every fd the runtime opened is O_CLOEXEC already; this catches whatever the .NET process
     * holds without it (CVE-2024-21626). Preserved fds (3 .. 3+preserve_fds-1) pass unchanged. */
    int from = 3 + (p->preserve_fds > 0 ? p->preserve_fds : 0);
    if (csr_cloexec_from(from) < 0) {
        csr_err(&c->err, errno, "mark fds close-on-exec", NULL);
        csr_child_fail(c);
    }
    /* Not execve(c->exe): the shim from a sealed memfd takes the last hop, so /proc/self/exe never
     * names the runtime's binary while the container's program is being loaded (CVE-2019-5736). */
    int shim = csr_shim_memfd();
    if (shim < 0) {
        csr_err(&c->err, errno, "create the sealed exec shim", NULL);
        csr_child_fail(c);
    }
    /* Last: from here the filter judges every syscall, and only execveat is left to make. */
    if (p->seccomp_len && p->no_new_privs && install_seccomp(c) < 0)
        csr_child_fail(c);
    const char *const *envp = p->envp ? p->envp : empty;
    size_t n = 0;
    while (envp[n])
        n++;
    /* The spec's env plus HOME (home_from_passwd), without an empty HOME= it may have had. */
    const char *with_home[c->home_env[0] ? n + 2 : 1];
    if (c->home_env[0]) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(envp[i], "HOME=") != 0)
                with_home[k++] = envp[i];
        with_home[k++] = c->home_env;
        with_home[k] = NULL;
        envp = with_home;
    }
    csr_exec_sealed(shim, c->exe, (char *const *)p->argv, (char *const *)envp);
    csr_err(&c->err, errno, "exec ", c->exe, NULL);
    csr_child_fail(c);
}
