/*
 * Creating the container init and driving it through its setup phases.
 *
 * Sync channel: an AF_UNIX SOCK_SEQPACKET pair (message boundaries for free, EOF when every holder
 * of the other end is gone). Control messages are fixed-size struct csr_msg packets; the state JSON
 * that follows a RESUME travels as raw data packets of at most CSR_CHUNK bytes, so no single packet
 * comes near the socket buffer limit whatever the JSON size.
 *
 *   child -> parent  PID      (only with a double fork or a spawner cloning at the request) pid of the real
 *                             init, from the intermediate or the spawner; flags: 1 = our direct child,
 *                             2 = in plan->cgroup_fd
 *   child -> parent  READY    namespaces joined/created; the caller may now place the pid in cgroups
 *   parent -> child  RESUME   phase + state length, then the state data packets
 *   child -> parent  OK       mounts phase done (none after RESUME(ALL): the child goes on to finish)
 *   child -> parent  CREATED  finish phase done; the child waits for EOF (csr_child_release), then
 *                             for the exec fifo, then execs
 *   child -> parent  ERROR    step + errno; the child exits right after sending it
 *
 * Namespace strategy:
 *   - Nothing joined by path, or only non-pid/non-user namespaces joined: one clone3 with every
 *     CLONE_NEW* flag except CLONE_NEWCGROUP (which the child unshares only after the caller has
 *     moved it into its cgroups, so that the namespace root is the container's cgroup); the child
 *     then setns()es the joined ones. The init is our direct child.
 *   - A user namespace joined by path: namespaces created after joining must be owned by that user
 *     namespace, so clone creates none; the child joins, then unshare()s the new ones.
 *   - A pid namespace joined by path (or a new one after a joined user namespace): setns/unshare of
 *     CLONE_NEWPID only applies to children, so the child (the "intermediate") forks the real init
 *     with CLONE_PARENT, reports its pid and exits. With CLONE_PARENT the init is still the
 *     caller's own child (direct = 1, waitpid works); if the kernel refuses CLONE_PARENT we fall
 *     back to a plain fork and report direct = 0 (the caller's PR_SET_CHILD_SUBREAPER reaps it).
 *   - In csrun's executable the init is the spawner's (spawner.c) whenever it can take the plan, cloned
 *     with CLONE_PARENT from a small process: ahead, beside the .NET start, where the container gets no v2
 *     cgroup (it waits for the plan; our direct child, born outside the container's cgroups, which the
 *     caller places it in), else at the request, into its v2 cgroup (reported as by an intermediate).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define CSR_ALL_NS                                                                                   \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |          \
                CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME))

enum csr_msg_type {
    CSR_MSG_READY = 1,
    CSR_MSG_PID,
    CSR_MSG_RESUME,
    CSR_MSG_OK,
    CSR_MSG_CREATED,
    CSR_MSG_ERROR,
};

struct csr_msg {
    uint32_t type;
    int32_t arg;    /* PID: the init's pid; RESUME: the phase */
    int32_t err;    /* ERROR: errno */
    int32_t flags;  /* PID: CSR_PID_DIRECT | CSR_PID_IN_CGROUP */
    uint64_t len;   /* RESUME: bytes of state JSON that follow */
    char step[sizeof(((struct csr_error *)0)->step)];
};

enum { CSR_PID_DIRECT = 1, CSR_PID_IN_CGROUP = 2 };

#define CSR_CHUNK 32768

static const char *ns_name(uint64_t type)
{
    switch (type) {
    case CLONE_NEWNS: return "mnt";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWNET: return "net";
    case CLONE_NEWCGROUP: return "cgroup";
    case CLONE_NEWTIME: return "time";
    default: return "unknown";
    }
}

/* ---- message plumbing (both sides) ------------------------------------------------------- */

static int send_packet(int fd, const void *buf, size_t len)
{
    for (;;) {
        /* MSG_NOSIGNAL: a dead peer must give EPIPE, not kill us (the child has SIGPIPE at SIG_DFL). */
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int send_msg(int fd, uint32_t type, int32_t arg, int32_t flags, uint64_t len,
                    const struct csr_error *e)
{
    struct csr_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.arg = arg;
    m.flags = flags;
    m.len = len;
    if (e) {
        m.err = e->err;
        memcpy(m.step, e->step, sizeof m.step);
        m.step[sizeof m.step - 1] = '\0';
    }
    return send_packet(fd, &m, sizeof m);
}

/* 1 = message, 0 = EOF, -1 = error (errno set; EPROTO for a malformed packet). */
static int recv_msg(int fd, struct csr_msg *m, int flags)
{
    for (;;) {
        ssize_t n = recv(fd, m, sizeof *m, flags);
        /* A peer that closes with our messages unread leaves ECONNRESET, reported (once) ahead of what
         * it sent before it went: read on for that. */
        if (n < 0 && (errno == EINTR || errno == ECONNRESET))
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if ((size_t)n != sizeof *m) {
            errno = EPROTO;
            return -1;
        }
        m->step[sizeof m->step - 1] = '\0';
        return 1;
    }
}

/* The step and errno of an init's ERROR message, as the caller's error. */
static void take_report(const struct csr_msg *m, struct csr_error *error)
{
    if (error) {
        error->err = m->err;
        memcpy(error->step, m->step, sizeof error->step);
    }
}

/* ---- child side ------------------------------------------------------------------------ */

/* Reports c->err and exits. Before "created" the parent is listening on the channel; afterwards
 * nobody is, so the message goes to the container's stderr like runc's "exec failed" errors. */
_Noreturn void csr_child_fail(struct csr_ctx *c)
{
    if (!c->created && c->sync_fd >= 0) {
        send_msg(c->sync_fd, CSR_MSG_ERROR, 0, 0, 0, &c->err);
        _exit(1);
    }
    char line[sizeof c->err.step + 128];
    csr_strlcpy(line, "csrun: ", sizeof line);
    csr_strlcat(line, c->err.step, sizeof line);
    if (c->err.err) {
        csr_strlcat(line, ": ", sizeof line);
        csr_strlcat(line, csr_strerror(c->err.err), sizeof line);
    }
    csr_strlcat(line, "\n", sizeof line);
    csr_write_all(2, line, strlen(line));
    _exit(127);
}

/* Blocks for RESUME(phase) and receives the state JSON into plan->state_buf. EOF means the parent
 * is gone (or aborted us): exit quietly. */
static int child_wait_resume(struct csr_ctx *c, int phase)
{
    const struct csr_plan *p = c->plan;
    struct csr_msg m;
    int r = recv_msg(c->sync_fd, &m, 0);
    if (r == 0)
        _exit(1);
    if (r < 0) {
        csr_err(&c->err, errno, "read from sync channel", NULL);
        csr_child_fail(c);
    }
    /* CSR_PHASE_ALL may stand for MOUNTS (the caller has no hooks to run in between). */
    if (m.type != CSR_MSG_RESUME || (m.arg != phase && !(phase == CSR_PHASE_MOUNTS && m.arg == CSR_PHASE_ALL))) {
        csr_err(&c->err, EPROTO, "sync channel: unexpected message while waiting for resume", NULL);
        csr_child_fail(c);
    }
    int fits = p->state_buf && m.len < p->state_buf_cap;
    char scratch[64];
    for (uint64_t off = 0; off < m.len;) {
        size_t want = m.len - off < CSR_CHUNK ? (size_t)(m.len - off) : CSR_CHUNK;
        /* SEQPACKET: each recv consumes one whole packet; when the state does not fit we still
         * drain the packets (MSG_TRUNC discards the excess) so the parent never blocks. */
        ssize_t n = fits ? recv(c->sync_fd, p->state_buf + off, want, 0)
                         : recv(c->sync_fd, scratch, sizeof scratch, MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            _exit(1);
        if (n < 0) {
            csr_err(&c->err, errno, "read state from sync channel", NULL);
            csr_child_fail(c);
        }
        if (fits && (size_t)n != want) {
            csr_err(&c->err, EPROTO, "sync channel: short state packet", NULL);
            csr_child_fail(c);
        }
        off += want;
    }
    if (!fits && m.len) {
        char a[24], b[24];
        csr_err(&c->err, E2BIG, "state JSON (", csr_utoa(a, m.len), " bytes) does not fit in state_buf (",
                csr_utoa(b, p->state_buf_cap), " bytes)", NULL);
        csr_child_fail(c);
    }
    if (p->state_buf && p->state_buf_cap)
        p->state_buf[m.len] = '\0';
    c->state_len = p->state_buf ? strnlen(p->state_buf, (size_t)m.len) : 0;
    c->procstate = c->state_len < m.len ? p->state_buf + c->state_len + 1 : NULL;
    c->procstate_len = c->procstate ? (size_t)m.len - c->state_len - 1 : 0;
    return m.arg;
}

static void child_send(struct csr_ctx *c, uint32_t type)
{
    if (send_msg(c->sync_fd, type, 0, 0, 0, NULL) < 0)
        _exit(1); /* parent gone */
}

/* Opens every namespace path first (a path may live in a namespace we are about to leave, e.g.
 * /proc/<pid>/ns/... seen through the current mount ns), then joins the user namespace first so
 * that we have privileges over the namespaces it owns, then the rest in spec order. */
static void child_join_namespaces(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    int fds[16];
    int n = 0;
    for (int i = 0; i < p->n_namespaces; i++) {
        const struct csr_namespace *ns = &p->namespaces[i];
        if (!ns->path || ns->fd >= 0)
            continue;
        if (n == (int)(sizeof fds / sizeof fds[0])) {
            csr_err(&c->err, E2BIG, "too many namespaces to join", NULL);
            csr_child_fail(c);
        }
        fds[n] = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fds[n] < 0) {
            csr_err(&c->err, errno, "open ", ns_name(ns->type), " namespace ", ns->path, NULL);
            csr_child_fail(c);
        }
        n++;
    }
    for (int pass = 0; pass < 2; pass++) {
        int k = 0;
        for (int i = 0; i < p->n_namespaces; i++) {
            const struct csr_namespace *ns = &p->namespaces[i];
            if (!ns->path || ns->fd >= 0)
                continue;
            int fd = fds[k++];
            int is_user = ns->type == CLONE_NEWUSER;
            if ((pass == 0) != is_user)
                continue;
            if (setns(fd, (int)ns->type) < 0) {
                csr_err(&c->err, errno, "setns ", ns_name(ns->type), " namespace ", ns->path, NULL);
                csr_child_fail(c);
            }
        }
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Late-joined cgroups are made beside the clone; those that exist already (their files appear with
 * the directory) are opened while the init waits for its resume, the rest after it. */
static void child_open_cgroups_early(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    for (int i = 0; p->cgroup_join_late && i < p->n_cgroup_join_fds && i < CSR_EARLY_CGROUP_FDS; i++)
        c->cgroup_fds[i] = open(p->cgroup_join_paths[i], O_WRONLY | O_CLOEXEC);
}

/* Writes "0" to the container cgroup's `tasks` file in each v1 hierarchy: this single thread moves itself. */
static void child_join_cgroups(struct csr_ctx *c)
{
    const struct csr_plan *p = c->plan;
    for (int i = 0; i < p->n_cgroup_join_fds; i++) {
        const char *path = p->cgroup_join_paths[i];
        int fd = !p->cgroup_join_late                            ? p->cgroup_join_fds[i]
                 : i < CSR_EARLY_CGROUP_FDS && c->cgroup_fds[i] >= 0 ? c->cgroup_fds[i]
                                                                  : open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            csr_err(&c->err, errno, "join cgroup: open ", path, NULL);
            csr_child_fail(c);
        }
        ssize_t n = write(fd, "0", 1);
        int saved = errno;
        if (p->cgroup_join_late)
            close(fd);
        if (n != 1) {
            csr_err(&c->err, saved, "join cgroup: write ", path, NULL);
            csr_child_fail(c);
        }
    }
}

/* Set by csr_spawner_init: the init made its mount namespace ahead, "/" a recursive slave already (kept only
 * where the spec wants that propagation for "/"). */
static int spawner_root_slave;

static _Noreturn void child_main(const struct csr_plan *plan, int sync_fd, int parent_end, uint64_t new_ns,
                                 uint64_t join_ns, int late_unshare, int double_fork)
{
    /* Static: this is the child's private copy of the library's data (no CLONE_VM), so the large
     * buffers stay off the borrowed .NET thread stack without any allocation. */
    static struct csr_ctx ctx;
    struct csr_ctx *c = &ctx;
    memset(c, 0, sizeof *c);
    c->plan = plan;
    c->sync_fd = sync_fd;
    c->root_fd = -1;
    c->root_slave = spawner_root_slave;
    c->fifo_fd = -1;
    for (int i = 0; i < CSR_EARLY_CGROUP_FDS; i++)
        c->cgroup_fds[i] = -1;
    c->has_mntns = ((new_ns | join_ns) & CLONE_NEWNS) != 0;
    c->new_userns = (new_ns & CLONE_NEWUSER) != 0;
    c->new_cgroupns = (new_ns & CLONE_NEWCGROUP) != 0;
    c->has_cgroupns = ((new_ns | join_ns) & CLONE_NEWCGROUP) != 0;
    c->has_userns = ((new_ns | join_ns) & CLONE_NEWUSER) != 0;
    c->has_utsns = ((new_ns | join_ns) & CLONE_NEWUTS) != 0;

    /* The inherited handlers are .NET's: running one here would poke the parent's signal pipe. The spawner's
     * init (no parent end here) has default dispositions already (the spawner reset them once, before any
     * handler existed) and only its full mask to drop. */
    if (parent_end >= 0) {
        close(parent_end);
        csr_reset_signals();
    } else {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
    }
    /* If the runtime dies mid-setup the half-built container must not linger. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Before anything else: a fork inherits the cgroups, so after a double fork the init is in them too. */
    if (!plan->cgroup_join_late)
        child_join_cgroups(c);
    /* Non-dumpable until execve (which resets it): other processes that may enter the container's
     * namespaces cannot ptrace us or open /proc/<pid>/exe, i.e. the runtime binary (CVE-2019-5736). */
    if (!(new_ns & CLONE_NEWUSER))
        prctl(PR_SET_DUMPABLE, 0);
    /* Drop every fd inherited from the runtime right away (CVE-2024-21626): the state directory's
     * flock, the cgroup directory fd, whatever .NET holds. Held until exec they would keep locks and
     * give the container a way out through /proc/self/fd while cwd is resolved. Keep stdio, the
     * preserved fds and our end of the sync channel. */
    for (int i = 0; i < 3; i++) {
        /* dup2 clears FD_CLOEXEC on the copy; the original goes with the other inherited fds below. */
        if (plan->stdio_fds[i] >= 0 && plan->stdio_fds[i] != i && dup2(plan->stdio_fds[i], i) < 0) {
            csr_err(&c->err, errno, "dup stdio", NULL);
            csr_child_fail(c);
        }
    }
    /* Namespaces made ahead of time (nsprep.c); never a user namespace, so the order does not matter.
     * Closed right away: a prepared fd may sit among the preserved ones. */
    for (int i = 0; i < plan->n_namespaces; i++) {
        const struct csr_namespace *ns = &plan->namespaces[i];
        if (ns->fd < 0)
            continue;
        if (setns(ns->fd, (int)ns->type) < 0) {
            csr_err(&c->err, errno, "join new ", ns_name(ns->type), " namespace", NULL);
            csr_child_fail(c);
        }
        close(ns->fd);
    }
    csr_close_inherited(3 + (plan->preserve_fds > 0 ? plan->preserve_fds : 0), sync_fd, plan->console_socket_fd,
                        plan->seccomp_listener_fd);

    if (csr_set_oom_score(c) < 0)
        csr_child_fail(c);
    child_join_namespaces(c);

    if (late_unshare) {
        uint64_t flags = new_ns & ~(uint64_t)(CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWUSER);
        if (flags && unshare((int)flags) < 0) {
            csr_err(&c->err, errno, "unshare namespaces", NULL);
            csr_child_fail(c);
        }
    }

    if (double_fork) {
        if ((new_ns & CLONE_NEWPID) && unshare(CLONE_NEWPID) < 0) {
            csr_err(&c->err, errno, "unshare pid namespace", NULL);
            csr_child_fail(c);
        }
        int direct = 1;
        pid_t pid = csr_raw_fork(NULL, CLONE_PARENT);
        if (pid < 0 && errno == EINVAL) {
            direct = 0;
            pid = csr_raw_fork(NULL, 0);
        }
        if (pid < 0) {
            csr_err(&c->err, errno, "fork container init into its pid namespace", NULL);
            csr_child_fail(c);
        }
        if (pid > 0) {
            /* We are in the caller's pid namespace (setns/unshare of a pid ns never moves the
             * caller), so fork's return value is the pid the caller must use. */
            send_msg(sync_fd, CSR_MSG_PID, pid, direct ? CSR_PID_DIRECT : 0, 0, NULL);
            _exit(0);
        }
        /* The death signal is not inherited across fork; with a plain fork our parent is the
         * intermediate, which exits right away, so only arm it when the caller is our parent. */
        if (direct)
            prctl(PR_SET_PDEATHSIG, SIGKILL);
    }

    child_send(c, CSR_MSG_READY);

    /* ---- phase 1: mounts ---- */
    /* Until the caller resumes us (once the container's cgroups exist), do what needs neither them nor
     * a uid mapping: the loopback, the UTS name, sysctls and the mounts before the first cgroup mount. */
    int early = !c->has_userns && c->has_mntns && !plan->exec_mode;
    if (early) {
        if (csr_setup_network(c) < 0 || csr_set_uts_and_sysctls(c) < 0 || csr_setup_rootfs(c, 1) < 0)
            csr_child_fail(c);
        /* runc's default spec ends with the cgroup mount: the devices that follow it need neither it nor the
         * cgroups, so they are made now, beside the caller's cgroup setup, instead of after the resume. */
        if (csr_devices_early(c)) {
            if (csr_setup_devices(c) < 0)
                csr_child_fail(c);
            c->devices_done = 1;
        }
        /* The bounding set too (38 prctls for runc's default), unless a createContainer hook is still to be
         * exec'd with the runtime's capabilities. */
        if (plan->n_create_container_hooks == 0 && csr_drop_bounding(c) < 0)
            csr_child_fail(c);
        child_open_cgroups_early(c);
    }
    int phases = child_wait_resume(c, CSR_PHASE_MOUNTS);
    /* The caller resumes us once the cgroups exist; still in a copy of its mount namespace, we join them
     * (opening those that did not exist yet). */
    if (plan->cgroup_join_late)
        child_join_cgroups(c);
    if (c->new_userns) {
        /* Dumpable until now so that an unprivileged caller could open our uid_map (runc does the same). */
        prctl(PR_SET_DUMPABLE, 0);
        /* The caller has written uid_map/gid_map by now; become the namespace's root so that files
         * we create are owned by a mapped id. Raw syscalls: glibc's setxid broadcast would try to
         * signal the parent's threads. */
        if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) {
            csr_err(&c->err, errno, "become root in the new user namespace (uid_map/gid_map written?)", NULL);
            csr_child_fail(c);
        }
    }
    if (c->new_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
        csr_err(&c->err, errno, "unshare cgroup namespace", NULL);
        csr_child_fail(c);
    }
    if (!early && (csr_setup_network(c) < 0 || csr_set_uts_and_sysctls(c) < 0))
        csr_child_fail(c);
    if (c->has_mntns && !plan->exec_mode) {
        if (csr_setup_rootfs(c, 0) < 0 || (!c->devices_done && csr_setup_devices(c) < 0))
            csr_child_fail(c);
    }
    if (phases != CSR_PHASE_ALL) {
        child_send(c, CSR_MSG_OK);
        child_wait_resume(c, CSR_PHASE_FINISH);
    }

    /* ---- phase 2: finish ---- */
    /* createContainer hooks: container namespaces, but still the runtime's root (before pivot). */
    if (csr_run_hooks(plan->create_container_hooks, plan->n_create_container_hooks, plan->state_buf,
                      c->state_len, &c->err) < 0)
        csr_child_fail(c);
    if (csr_open_exec_fifo(c) < 0 ||
        (!plan->exec_mode && (csr_pivot_root(c) < 0 || csr_finalize_rootfs(c) < 0)) ||
        csr_join_session_keyring(c) < 0 || csr_setup_console(c) < 0 || csr_setup_process(c) < 0)
        csr_child_fail(c);

    /* From here on the container lives on its own: the runtime (`csrun create`) exits. */
    prctl(PR_SET_PDEATHSIG, 0);
    child_send(c, CSR_MSG_CREATED);
    c->created = 1;

    /* Wait for csr_child_release (EOF), unless nothing gates the start (`run`): the caller has what it needs
     * once it reads "created", and waits for the process from there. Anything else it might send is ignored. */
    while (plan->exec_fifo || plan->exec_mode) {
        char b[sizeof(struct csr_msg)];
        ssize_t n = recv(c->sync_fd, b, sizeof b, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    close(c->sync_fd);
    c->sync_fd = -1;

    if (csr_wait_exec_fifo(c) < 0)
        csr_child_fail(c);
    /* startContainer hooks: after the start gate, inside the container (paths resolve in it). */
    if (csr_run_hooks(plan->start_container_hooks, plan->n_start_container_hooks, plan->state_buf,
                      c->state_len, &c->err) < 0)
        csr_child_fail(c);
    csr_exec(c);
}

/* ---- parent side ----------------------------------------------------------------------- */

static pid_t do_clone(uint64_t ns_flags, int cgroup_fd, int *pidfd, int *in_cgroup)
{
    *in_cgroup = 0;
    int fd = -1;
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = ns_flags | CLONE_PIDFD;
    a.pidfd = (uint64_t)(uintptr_t)&fd;
    /* With CLONE_PARENT clone3 takes no exit signal: the child gets the caller's own (SIGCHLD). */
    a.exit_signal = ns_flags & CLONE_PARENT ? 0 : SIGCHLD;
    if (cgroup_fd >= 0) {
        a.flags |= CLONE_INTO_CGROUP;
        a.cgroup = (uint64_t)cgroup_fd;
    }
    long r = syscall(SYS_clone3, &a, sizeof a);
    if (r < 0 && errno != ENOSYS && cgroup_fd >= 0) {
        /* CLONE_INTO_CGROUP is best effort (old kernel, v1-only controllers, EBUSY on a domain
         * with controllers...): the caller places the pid itself anyway. */
        a.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
        a.cgroup = 0;
        r = syscall(SYS_clone3, &a, sizeof a);
    } else if (r >= 0 && cgroup_fd >= 0) {
        *in_cgroup = 1;
    }
    if (r < 0 && errno == ENOSYS) {
        /* No clone3 (kernel < 5.3, or a seccomp filter that hides it). clone(2) cannot express
         * CLONE_NEWTIME: its bit overlaps the exit signal field. */
        if (ns_flags & CLONE_NEWTIME) {
            errno = ENOSYS;
            return -1;
        }
        fd = -1;
        r = syscall(SYS_clone, (unsigned long)(ns_flags | CLONE_PIDFD | SIGCHLD), 0UL, &fd, 0UL, 0UL);
        if (r < 0 && errno == EINVAL) {
            fd = -1;
            r = syscall(SYS_clone, (unsigned long)(ns_flags | SIGCHLD), 0UL, NULL, 0UL, 0UL);
        }
    }
    if (r > 0)
        *pidfd = fd;
    return (pid_t)r;
}

pid_t csr_spawner_clone(uint64_t clone_ns, int cgroup_fd, int *in_cgroup)
{
    int pidfd = -1, placed = 0;
    pid_t pid = do_clone(clone_ns | CLONE_PARENT, cgroup_fd, &pidfd, &placed);
    if (pid > 0 && pidfd >= 0)
        close(pidfd);
    if (in_cgroup)
        *in_cgroup = placed;
    return pid;
}

/* The spawner's ERROR message for a step of its own, before any init context exists. */
static void send_error(int sync_fd, int err, const char *step)
{
    struct csr_error e;
    csr_err(&e, err, step, NULL);
    send_msg(sync_fd, CSR_MSG_ERROR, 0, 0, 0, &e);
}

void csr_spawner_report(int sync_fd, pid_t pid, int in_cgroup)
{
    if (pid < 0) {
        send_error(sync_fd, errno, "clone container init");
        return;
    }
    send_msg(sync_fd, CSR_MSG_PID, pid, CSR_PID_DIRECT | (in_cgroup ? CSR_PID_IN_CGROUP : 0), 0, NULL);
}

_Noreturn void csr_spawner_init(const struct csr_plan *plan, int sync_fd, uint64_t new_ns, uint64_t join_ns,
                                const cpu_set_t *affinity, uint64_t unshare_ns, int rejoin_mntns, int root_slave)
{
    /* A mount namespace made ahead from a table that changed since: back to the host's, to copy it anew. */
    if (rejoin_mntns >= 0) {
        int r = setns(rejoin_mntns, CLONE_NEWNS);
        int err = errno;
        close(rejoin_mntns);
        if (r < 0) {
            send_error(sync_fd, err, "rejoin the host's mount namespace");
            _exit(1);
        }
    }
    /* A namespace that had to wait for the plan: made now, as the clone would have made it. */
    if (unshare_ns && unshare((int)unshare_ns) < 0) {
        send_error(sync_fd, errno, "unshare namespaces");
        _exit(1);
    }
    spawner_root_slave = root_slave;
    /* Born on the spawner's CPU: from here the scheduler places it, as any process of the caller's. */
    if (affinity)
        sched_setaffinity(0, sizeof *affinity, affinity);
    child_main(plan, sync_fd, -1, new_ns, join_ns, 0, 0);
}

static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
}

static void kill_child(const struct csr_child *child)
{
    if (child->pidfd >= 0 && syscall(SYS_pidfd_send_signal, child->pidfd, SIGKILL, NULL, 0) == 0)
        return;
    if (child->pid > 0)
        kill(child->pid, SIGKILL);
}

void csr_child_release(struct csr_child *child)
{
    csr_spawner_reap(1);
    if (child && child->sync_fd >= 0) {
        close(child->sync_fd);
        child->sync_fd = -1;
    }
}

void csr_child_abort(struct csr_child *child)
{
    if (!child)
        return;
    if (child->relay && child->sync_fd >= 0) {
        /* An init may exist whose pid the intermediate (or the spawner) has not reported yet. Half-closing
         * our end makes any holder of the other end see EOF at its next read and exit; then drain until
         * every holder is gone, picking up the PID message on the way. */
        shutdown(child->sync_fd, SHUT_WR);
        for (;;) {
            struct csr_msg m;
            int r = recv_msg(child->sync_fd, &m, 0);
            if (r == 0 || (r < 0 && errno != EPROTO))
                break;
            if (r > 0 && m.type == CSR_MSG_PID && child->pid == 0) {
                child->pid = m.arg;
                child->direct = (m.flags & CSR_PID_DIRECT) != 0;
            }
        }
        if (!child->spawner) {
            kill(child->relay, SIGKILL);
            reap(child->relay);
        }
        child->relay = 0;
    }
    if (child->pid > 0) {
        kill_child(child);
        if (child->direct)
            reap(child->pid);
    }
    csr_spawner_kill();
    csr_child_release(child);
    if (child->pidfd >= 0)
        close(child->pidfd);
    child->pidfd = -1;
    /* pid 0 makes a second abort a no-op instead of a kill of a possibly recycled pid. */
    child->pid = 0;
}

/* The child closed the channel without an ERROR: say how it died when we can see it. */
static void describe_death(struct csr_child *child, struct csr_error *e, const char *when)
{
    if (child->direct && child->pid > 0) {
        /* EOF means the child is exiting; give it a moment to become a zombie (WNOWAIT keeps it
         * reapable for csr_child_abort). */
        for (int i = 0; i < 50; i++) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)child->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
                char n[24];
                if (si.si_code == CLD_EXITED)
                    csr_err(e, 0, "container init exited with status ", csr_itoa(n, si.si_status), " ", when,
                            NULL);
                else
                    csr_err(e, 0, "container init killed by signal ", csr_itoa(n, si.si_status), " ", when,
                            NULL);
                return;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    csr_err(e, EPIPE, "container init closed the sync channel ", when, NULL);
}

int csr_spawn_begin(const struct csr_plan *plan, struct csr_child *child, struct csr_error *error)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    if (!child) {
        csr_err(error, EINVAL, "csr_spawn: no child struct", NULL);
        return -1;
    }
    child->pid = 0;
    child->sync_fd = -1;
    child->pidfd = -1;
    child->direct = 1;
    child->in_cgroup = 0;
    child->spawner = 0;
    child->relay = 0;
    if (!plan || plan->abi_version != CSR_ABI_VERSION) {
        csr_err(error, EINVAL, "csr_spawn: native plan ABI version mismatch", NULL);
        return -1;
    }
    if (!plan->argv || !plan->argv[0]) {
        csr_err(error, EINVAL, "csr_spawn: empty process argv", NULL);
        return -1;
    }

    uint64_t new_ns = 0, join_ns = 0, prepared_ns = 0;
    for (int i = 0; i < plan->n_namespaces; i++) {
        uint64_t t = plan->namespaces[i].type;
        if ((t & CSR_ALL_NS) == 0 || (t & (t - 1)) != 0) {
            csr_err(error, EINVAL, "csr_spawn: bad namespace type", NULL);
            return -1;
        }
        if (plan->namespaces[i].fd >= 0)
            prepared_ns |= t;
        else if (plan->namespaces[i].path)
            join_ns |= t;
        else
            new_ns |= t;
    }
    /* A prepared namespace is owned by the initial user namespace: never right beside a user namespace. */
    if ((prepared_ns & ~(uint64_t)(CLONE_NEWNET | CLONE_NEWIPC)) ||
        (prepared_ns && ((new_ns | join_ns) & CLONE_NEWUSER))) {
        csr_err(error, EINVAL, "csr_spawn: prepared namespace of a kind that must be created at clone", NULL);
        return -1;
    }
    join_ns |= prepared_ns;
    /* A late join opens host paths from the child: they must still resolve there, and be ours to write. */
    if (plan->cgroup_join_late && (((new_ns | join_ns) & CLONE_NEWUSER) || (join_ns & CLONE_NEWNS) ||
                                   !(new_ns & CLONE_NEWNS))) {
        csr_err(error, EINVAL, "csr_spawn: late cgroup join needs a new mount namespace and no user namespace", NULL);
        return -1;
    }
    int late_unshare = (join_ns & CLONE_NEWUSER) != 0;
    int double_fork = (join_ns & CLONE_NEWPID) || (late_unshare && (new_ns & CLONE_NEWPID));
    uint64_t clone_ns = late_unshare ? 0 : new_ns & ~(uint64_t)CLONE_NEWCGROUP;
    if (double_fork)
        clone_ns &= ~(uint64_t)CLONE_NEWPID;
    int spawner = !double_fork && !late_unshare && csr_spawner_usable(plan, clone_ns);
    if (!spawner)
        csr_spawner_dismiss();

    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
        csr_err(error, errno, "create sync socketpair", NULL);
        return -1;
    }

    int pidfd = -1, in_cgroup = 0, clone_errno = 0;
    pid_t pid = -1;
    if (spawner) {
        /* The spawner's init takes the plan: cloned ahead, our direct child; or cloned now by the spawner,
         * which reports its pid as an intermediate does. If it cannot (gone already), we clone as without. */
        int relayed = 0;
        pid = csr_spawner_request(plan, sp[1], new_ns, join_ns, &relayed);
        spawner = pid > 0;
        child->spawner = spawner ? relayed ? 1 : 2 : 0;
        double_fork |= spawner && relayed;
    }
    if (!spawner) {
        /* Block every signal across the clone so that nothing can run a .NET handler in the child
         * before it resets the dispositions; the child unblocks once it has done so. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = do_clone(clone_ns, plan->cgroup_fd, &pidfd, &in_cgroup);
        if (pid == 0)
            child_main(plan, sp[1], sp[0], new_ns, join_ns, late_unshare, double_fork);
        clone_errno = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    close(sp[1]);
    if (pid < 0) {
        close(sp[0]);
        csr_err(error, clone_errno, "clone container init", NULL);
        return -1;
    }
    child->sync_fd = sp[0];
    child->in_cgroup = in_cgroup;
    if (double_fork) {
        child->relay = pid;
        if (pidfd >= 0)
            close(pidfd);
    } else {
        child->pid = pid;
        child->pidfd = pidfd;
    }
    return 0;
}

static const char NOT_WAITING[] = "csr_child_resume: container init is not waiting";

/* Clears error; -1 (EBADF, reported as step) when there is no child waiting on the channel. */
static int child_check(const struct csr_child *child, struct csr_error *error, const char *step)
{
    if (error) {
        error->err = 0;
        error->step[0] = '\0';
    }
    if (!child || child->sync_fd < 0) {
        csr_err(error, EBADF, step, NULL);
        return -1;
    }
    return 0;
}

int csr_spawn_end(struct csr_child *child, struct csr_error *error)
{
    if (child_check(child, error, "csr_spawn_end: no spawn in progress") < 0)
        return -1;
    int relayed = child->relay != 0;
    int got_ready = 0, got_pid = !relayed;
    while (!got_ready || !got_pid) {
        struct csr_msg m;
        int r = recv_msg(child->sync_fd, &m, 0);
        if (r < 0) {
            csr_err(error, errno, "read from sync channel", NULL);
            goto fail;
        }
        if (r == 0) {
            if (!relayed)
                describe_death(child, error, "while joining namespaces");
            else
                csr_err(error, EPIPE, "container init exited while joining namespaces", NULL);
            goto fail;
        }
        switch (m.type) {
        case CSR_MSG_PID:
            child->pid = m.arg;
            child->direct = (m.flags & CSR_PID_DIRECT) != 0;
            /* An intermediate's fork inherits the cgroup its clone placed it in; only the spawner's clone
             * happened elsewhere and says so. */
            if (m.flags & CSR_PID_IN_CGROUP)
                child->in_cgroup = 1;
            got_pid = 1;
            /* The spawner exits right after its report: reaped below if it is gone by then, else later. */
            if (!child->spawner)
                reap(child->relay);
            child->relay = 0;
            break;
        case CSR_MSG_READY:
            got_ready = 1;
            break;
        case CSR_MSG_ERROR:
            take_report(&m, error);
            goto fail;
        default:
            csr_err(error, EPROTO, "sync channel: unexpected message while waiting for the container init",
                    NULL);
            goto fail;
        }
    }
    if (child->pidfd < 0 && child->pid > 0) {
        long fd = syscall(SYS_pidfd_open, child->pid, 0);
        child->pidfd = fd >= 0 ? (int)fd : -1;
    }
    csr_spawner_reap(0);
    return 0;

fail:
    csr_child_abort(child);
    return -1;
}

int csr_spawn(const struct csr_plan *plan, struct csr_child *child, struct csr_error *error)
{
    return csr_spawn_begin(plan, child, error) < 0 ? -1 : csr_spawn_end(child, error);
}

static const char *resume_when(int phase)
{
    return phase == CSR_PHASE_MOUNTS   ? "while setting up mounts"
           : phase == CSR_PHASE_FINISH ? "while finishing setup"
                                       : "while setting up the container";
}

/* The init reports a failure and exits; it can do so before it reads a resume (the mounts it makes
 * while waiting for one), and the resume then meets a closed channel with the report still queued. */
static int pending_error(struct csr_child *child, struct csr_error *error)
{
    struct csr_msg m;
    if (recv_msg(child->sync_fd, &m, MSG_DONTWAIT) <= 0 || m.type != CSR_MSG_ERROR)
        return 0;
    take_report(&m, error);
    return 1;
}

int csr_child_resume_send(struct csr_child *child, int phase, const char *state_json, size_t state_len,
                          struct csr_error *error)
{
    if (child_check(child, error, NOT_WAITING) < 0)
        return -1;
    if (phase != CSR_PHASE_MOUNTS && phase != CSR_PHASE_FINISH && phase != CSR_PHASE_ALL) {
        csr_err(error, EINVAL, "csr_child_resume: bad phase", NULL);
        goto fail;
    }
    if (!state_json)
        state_len = 0;
    if (send_msg(child->sync_fd, CSR_MSG_RESUME, phase, 0, state_len, NULL) < 0)
        goto dead;
    for (size_t off = 0; off < state_len;) {
        size_t n = state_len - off < CSR_CHUNK ? state_len - off : CSR_CHUNK;
        if (send_packet(child->sync_fd, state_json + off, n) < 0)
            goto dead;
        off += n;
    }
    return 0;

dead:
    if (!pending_error(child, error))
        describe_death(child, error, resume_when(phase));
fail:
    csr_child_abort(child);
    return -1;
}

int csr_child_resume_wait(struct csr_child *child, int phase, struct csr_error *error)
{
    if (child_check(child, error, NOT_WAITING) < 0)
        return -1;
    struct csr_msg m;
    int r = recv_msg(child->sync_fd, &m, 0);
    if (r < 0) {
        csr_err(error, errno, "read from sync channel", NULL);
        goto fail;
    }
    if (r == 0) {
        describe_death(child, error, resume_when(phase));
        goto fail;
    }
    if (m.type == CSR_MSG_ERROR) {
        take_report(&m, error);
        goto fail;
    }
    if (m.type != (phase == CSR_PHASE_MOUNTS ? CSR_MSG_OK : CSR_MSG_CREATED)) {
        csr_err(error, EPROTO, "sync channel: unexpected reply from container init", NULL);
        goto fail;
    }
    return 0;

fail:
    csr_child_abort(child);
    return -1;
}
