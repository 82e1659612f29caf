/*
 * The spawner: a small process forked by csrun's start-up that makes the container's namespaces and clones
 * its init.
 *
 * A clone copies the caller's page tables, write-protects its private memory and (without CLONE_VM) leaves
 * the parent a round of copy-on-write faults, and the child's exec tears that copy down again. Cloned from
 * the .NET process at the end of a start, that copy is the runtime's: a clone with the container's flags
 * took 0.30 ms there against 0.12 from a small process (dup_mmap 37% of it, in perf). So csrun's constructor
 * (nsprep_early.c), before .NET starts, forks a helper that is still that small process. Beside the .NET
 * start it makes the new network, ipc and uts namespaces in itself and brings the loopback up. Then:
 *   - where no cgroup2 hierarchy is mounted (the container gets v1 cgroups only), it clones the init into a
 *     new pid namespace right away, reports the init's pid on the socket and exits. The init waits on its
 *     copy of the helper's end; at the spawn the caller sends it the plan and the descriptors it needs
 *     (SCM_RIGHTS), it makes its mount namespace (a copy made earlier would miss what csrun mounted since,
 *     an image's rootfs) and goes on as any init (spawn.c). The clone at the spawn, ~0.15 ms from the
 *     request to the child's first instruction on the start's critical path, is gone (0.94-0.96x in A/B).
 *     The caller places the init in its cgroups: v1 ones by the init's own write of their tasks files;
 *   - otherwise it reports 0 and waits: the init must be born in its v2 cgroup (CLONE_INTO_CGROUP), as a
 *     move into a v2 cgroup waits for an RCU grace period (6.6 ms here). At the spawn it clones the init
 *     with the pid and mount namespaces and reports its pid over the init's sync channel, as an
 *     intermediate does.
 * Either way the init is cloned with CLONE_PARENT: it is the caller's own child (waitpid, SIGCHLD, its
 * death signal).
 *
 * The plan is a tree of pointers built after the fork, so it must be built in memory the init sees at the
 * same address: csr_shared_alloc hands out zeroed memory from a MAP_SHARED mapping made before the fork,
 * which the caller's plan arena uses while it lasts. The taker copies the plan's top level and patches the
 * descriptor numbers it received into its copy; the init never writes the shared memory but for the state it
 * receives (plan->state_buf, which the caller never reads back): our code until its exec, and non-dumpable.
 *
 * The spawner is used only when everything fits: the spec's new namespaces exactly those it makes (besides
 * a cgroup namespace, which every init makes itself once in its cgroups) with no user namespace
 * (csr_spawner_claim), the plan wholly in the shared memory, a helper that made its namespaces
 * (csr_spawner_usable). Otherwise it is dismissed: half-closing our end gives whichever waits for a plan
 * EOF, it exits, and csr_spawner_reap reaps the helper and an init that took no plan. Nothing here is an
 * error for the container: the caller then clones as without a spawner.
 */
#include "internal.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Room for the plans of run/create (a default spec's takes ~10 kB with its state buffer); a mapping that
 * is only reserved: pages exist once the arena touches them. */
#define SHARED_SIZE (4u << 20)
/* Its last part holds the helper's copy of the host's mountinfo (cgroup2_mounted), for csr_startup_mountinfo. */
#define MOUNTINFO_SIZE (64u << 10)
#define PLAN_SIZE (SHARED_SIZE - MOUNTINFO_SIZE)
#define MAX_JOIN_FDS 32

static struct {
    int fd;             /* our end of the helper's socket; -1 once closed */
    int live;           /* not dismissed: it may still take a plan */
    int taken;          /* a plan was sent: its init is the container's now, not ours to reap */
    int reported;       /* the helper's report is in `init` */
    pid_t init;         /* its report: the init it cloned ahead, 0 (it clones at the request) or -1 (none);
                         * -1 too once that init is reaped */
    pid_t pid;          /* the helper, reaped by csr_spawner_reap; 0 once reaped */
    uint64_t types;     /* the namespaces it was asked to make */
    char *shared;
    _Atomic size_t used;
    _Atomic int spilled; /* an allocation did not fit: some plan memory is the caller's alone */
} sp = { .fd = -1 };

/* The request: the plan's address (valid in every process here) and the spec's namespaces; which plan
 * descriptors follow in the SCM_RIGHTS message after the init's end of the sync channel, in this order. */
struct request {
    const struct csr_plan *plan;
    uint64_t new_ns, join_ns;
    int32_t has_cgroup_fd, has_console, has_listener;
    int32_t stdio[3];
    int32_t n_join_fds;
};

#define MAX_REQUEST_FDS (1 + 3 + 3 + MAX_JOIN_FDS)
_Static_assert(MAX_REQUEST_FDS <= CSR_MAX_SEND_FDS, "a request's descriptors fit one message");

/* The request on fd, with its plan's top level copied into our own memory and our numbers for the
 * descriptors patched in; exits on EOF (dismissed, or the caller is gone) or anything malformed. */
static void take_request(int fd, struct request *r, struct csr_plan *plan, int *sync_fd)
{
    static int32_t join_fds[MAX_JOIN_FDS];
    int fds[MAX_REQUEST_FDS], nfds;
    ssize_t n = csr_recv_fds(fd, r, sizeof *r, fds, MAX_REQUEST_FDS, &nfds);
    if (n != (ssize_t)sizeof *r || r->n_join_fds < 0 || r->n_join_fds > MAX_JOIN_FDS ||
        nfds != 1 + !!r->has_cgroup_fd + !!r->has_console + !!r->has_listener + (r->stdio[0] >= 0) +
                    (r->stdio[1] >= 0) + (r->stdio[2] >= 0) + r->n_join_fds)
        _exit(0);
    close(fd);
    *plan = *r->plan;
    int k = 0;
    *sync_fd = fds[k++];
    plan->cgroup_fd = r->has_cgroup_fd ? fds[k++] : -1;
    plan->console_socket_fd = r->has_console ? fds[k++] : -1;
    plan->seccomp_listener_fd = r->has_listener ? fds[k++] : -1;
    for (int i = 0; i < 3; i++)
        plan->stdio_fds[i] = r->stdio[i] >= 0 ? fds[k++] : -1;
    for (int i = 0; i < r->n_join_fds; i++)
        join_fds[i] = fds[k++];
    if (r->n_join_fds)
        plan->cgroup_join_fds = join_fds;
}

/* The helper's copy of the host's mountinfo, in the shared memory: len is written once the text is whole, before
 * the helper's report (so the caller, which reads the report first, never sees half of it). */
struct mountinfo_copy {
    uint32_t len; /* 0: none (unreadable, or larger than the room) */
    char text[MOUNTINFO_SIZE - sizeof(uint32_t)];
};

static struct mountinfo_copy *mountinfo_in(char *shared)
{
    return (struct mountinfo_copy *)(shared + PLAN_SIZE);
}

/* Whether a cgroup2 hierarchy is mounted (then csrun gives the container a v2 cgroup: CgroupLayout); when
 * mountinfo cannot be read, as if one were. The text read stays for the caller (csr_startup_mountinfo). */
static int cgroup2_mounted(struct mountinfo_copy *mi)
{
    char *buf = mi->text;
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof mi->text - 1 &&
           ((n = read(fd, buf + len, sizeof mi->text - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    int whole = n == 0 && len < sizeof mi->text - 1;
    if (whole)
        __atomic_store_n(&mi->len, (uint32_t)len, __ATOMIC_RELEASE);
    /* " - " only ever separates a line's optional fields from its filesystem type (paths escape spaces). */
    return !whole || strstr(buf, " - cgroup2 ") != NULL;
}

/* The init's mount namespace, made while the caller's .NET starts: a copy of the host's table as it is now, "/"
 * a recursive slave. `info` watches the host's table (mountinfo polls POLLPRI once it changed): if csrun
 * mounts anything before the request (an image's rootfs), the init copies it again from the host's. */
struct mntns_ahead {
    int info, host;
};

static struct mntns_ahead mntns_make_ahead(void)
{
    struct mntns_ahead m = { open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC), open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC) };
    if (m.info >= 0 && m.host >= 0 && unshare(CLONE_NEWNS) == 0) {
        if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) == 0)
            return m;
        /* A copy that is not a slave yet: the host's again, and the namespace made at the request. */
        if (setns(m.host, CLONE_NEWNS) < 0)
            _exit(1);
    }
    if (m.info >= 0)
        close(m.info);
    if (m.host >= 0)
        close(m.host);
    return (struct mntns_ahead){ -1, -1 };
}

/* At the request: the namespaces the init must still make (CLONE_NEWNS when none was made ahead, or when the
 * host's table changed since or the spec wants another propagation for "/" than a recursive slave: then
 * *rejoin is the host's namespace to go back into first), and *slave when the one made ahead is kept. */
static uint64_t mntns_at_request(struct mntns_ahead m, const struct csr_plan *plan, uint64_t types, int *rejoin,
                                 int *slave)
{
    *rejoin = -1;
    *slave = 0;
    if (m.info < 0)
        return types & CLONE_NEWNS;
    struct pollfd pfd = { .fd = m.info, .events = POLLPRI };
    int polled = poll(&pfd, 1, 0);
    int changed = polled < 0 || (polled > 0 && (pfd.revents & (POLLPRI | POLLERR)));
    close(m.info);
    if (changed || (plan->rootfs_propagation && plan->rootfs_propagation != (MS_SLAVE | MS_REC))) {
        *rejoin = m.host;
        return types & CLONE_NEWNS;
    }
    close(m.host);
    *slave = 1;
    return 0;
}

static _Noreturn void helper_main(int fd, pid_t parent, uint64_t types, const cpu_set_t *all, int placed,
                                  struct mountinfo_copy *mountinfo)
{
    /* Default dispositions for the init (SIG_IGN survives exec; no .NET handler exists yet), once here
     * instead of in the init; then nothing may interrupt us: the init drops the mask as it starts. */
    csr_reset_signals();
    sigset_t full;
    sigfillset(&full);
    sigprocmask(SIG_SETMASK, &full, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    struct request r;
    static struct csr_plan plan;
    int sync_fd;
    int32_t init = -1;
    /* The mount namespace is the init's own: made ahead by an init cloned ahead (and again at the request if
     * the host's table changed meanwhile), else at the request. */
    uint64_t later = types & (CLONE_NEWPID | CLONE_NEWNS);
    if (unshare((int)(types & ~later)) == 0) {
        /* The init would bring the loopback up in its setup (network.c), on the start's critical path. A
         * failure is the init's to report when it tries again. */
        if (types & CLONE_NEWNET)
            csr_loopback_up();
        /* Cloned ahead only where the container gets no v2 cgroup: the init must be born in that one
         * (CLONE_INTO_CGROUP), as moving a process into a v2 cgroup waits for an RCU grace period (6.6 ms
         * here, against a write of the v1 tasks files that does not). */
        init = 0;
        if (!cgroup2_mounted(mountinfo)) {
            pid_t pid = csr_spawner_clone(types & CLONE_NEWPID, -1, NULL);
            if (pid == 0) {
                /* The init. Our parent is the caller (CLONE_PARENT); if it is gone already, we read EOF. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Born on our CPU: the caller's whole set back, before it sleeps (see csr_spawner_start). */
                if (placed)
                    sched_setaffinity(0, sizeof *all, all);
                struct mntns_ahead m = { -1, -1 };
                if (types & CLONE_NEWNS)
                    m = mntns_make_ahead();
                take_request(fd, &r, &plan, &sync_fd);
                /* Born outside the container's cgroups: the caller places us in them all. */
                if (plan.cgroup_fd >= 0)
                    close(plan.cgroup_fd);
                plan.cgroup_fd = -1;
                int rejoin, slave;
                uint64_t unshare_ns = mntns_at_request(m, &plan, types, &rejoin, &slave);
                csr_spawner_init(&plan, sync_fd, r.new_ns, r.join_ns, NULL, unshare_ns, rejoin, slave);
            }
            init = pid > 0 ? pid : -1;
        }
    }
    /* The caller reads this before it hands over a plan: the init's pid; 0, we clone it at the request; -1,
     * the caller clones it itself. */
    if (send(fd, &init, sizeof init, MSG_NOSIGNAL) != (ssize_t)sizeof init || init != 0)
        _exit(0);
    take_request(fd, &r, &plan, &sync_fd);
    /* The init, into its v2 cgroup and new pid namespace; it reports its pid (as an intermediate does) and
     * takes the caller's whole CPU set back first thing. */
    int in_cgroup = 0;
    pid_t pid = csr_spawner_clone(later, plan.cgroup_fd, &in_cgroup);
    if (pid == 0)
        csr_spawner_init(&plan, sync_fd, r.new_ns, r.join_ns, placed ? all : NULL, 0, -1, 0);
    csr_spawner_report(sync_fd, pid, in_cgroup);
    _exit(pid > 0 ? 0 : 1);
}

int csr_spawner_start(uint64_t types)
{
    void *shared = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (shared == MAP_FAILED)
        return -1;
    int s[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s) < 0) {
        munmap(shared, SHARED_SIZE);
        return -1;
    }
    /* The helper is pinned to another CPU than ours from the fork on: forked as SCHED_BATCH, which does not
     * preempt on wake-up, it cannot take this CPU first (unpinned it did in 77 of 100 starts, and the constructor
     * took ~0.8 ms instead of ~0.15), and it is moved before it ever runs; it makes itself SCHED_OTHER again
     * first thing, so the init it clones is too. The init takes our whole set back as it starts. Measured in
     * A/B (alternating starts, in rotations with crun and runc too): the fork as SCHED_BATCH 0.93-0.94x (in an
     * earlier round, with the init cloned at the request and the loopback brought up by the init, 1.09x); the
     * init pinned for its setup, 0.95x after csrun alone but 1.06x in rotation with crun and runc; unpinned as
     * it starts, with the init cloned ahead, 0.90-0.94x against this round's first build in either rotation. */
    cpu_set_t all;
    int here = sched_getcpu();
    int placed = here >= 0 && here < CPU_SETSIZE && sched_getaffinity(0, sizeof all, &all) == 0 &&
                 CPU_COUNT(&all) > 1 && CPU_ISSET(here, &all);
    struct sched_param zero = {0};
    int batched = placed && sched_getscheduler(0) == SCHED_OTHER && sched_setscheduler(0, SCHED_BATCH, &zero) == 0;
    pid_t parent = getpid();
    pid_t pid = csr_raw_fork(NULL, 0);
    if (pid == 0) {
        close(s[0]);
        /* Never a container in SCHED_BATCH: without its policy back, no spawner (EOF for the caller). */
        if (batched && sched_setscheduler(0, SCHED_OTHER, &zero) < 0)
            _exit(0);
        helper_main(s[1], parent, types, &all, placed, mountinfo_in(shared));
    }
    close(s[1]);
    if (pid > 0 && placed) {
        cpu_set_t others = all;
        CPU_CLR(here, &others);
        sched_setaffinity(pid, sizeof others, &others);
    }
    if (batched)
        sched_setscheduler(0, SCHED_OTHER, &zero);
    if (pid < 0) {
        close(s[0]);
        munmap(shared, SHARED_SIZE);
        return -1;
    }
    sp.fd = s[0];
    sp.live = 1;
    sp.pid = pid;
    sp.types = types;
    sp.shared = shared;
    return 0;
}

void *csr_shared_alloc(uint64_t size)
{
    if (!sp.shared)
        return NULL;
    size = (size + 15) & ~(uint64_t)15;
    size_t off = atomic_fetch_add(&sp.used, (size_t)size);
    if (size > PLAN_SIZE || off > PLAN_SIZE - size) {
        atomic_store(&sp.spilled, 1);
        return NULL;
    }
    return sp.shared + off;
}

/* The helper's report, once: waiting for it, or only if it is there. */
static void read_report(int wait)
{
    while (!sp.reported && sp.fd >= 0) {
        int32_t init;
        ssize_t n = recv(sp.fd, &init, sizeof init, MSG_DONTWAIT);
        if (n == (ssize_t)sizeof init) {
            sp.init = init >= 0 ? init : -1;
            sp.reported = 1;
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Not yet. A helper that is gone sent it before it exited or never will (an init holds a copy of
             * the helper's end, so that gives no EOF); a live one never blocks before it sends it. */
            if (sp.pid > 0 && waitpid(sp.pid, NULL, WNOHANG) != 0) {
                sp.pid = 0;
                continue;
            }
            if (sp.pid > 0) {
                if (!wait)
                    return;
                struct pollfd pfd = { .fd = sp.fd, .events = POLLIN };
                poll(&pfd, 1, 10);
                continue;
            }
        }
        sp.init = -1; /* EOF, an error, or a helper gone without a report */
        sp.reported = 1;
        return;
    }
}

void csr_spawner_dismiss(void)
{
    if (!sp.live)
        return;
    sp.live = 0;
    /* EOF for whichever of the two waits for a plan; our end stays open for the report (csr_spawner_reap). */
    if (sp.fd >= 0)
        shutdown(sp.fd, SHUT_WR);
}

int csr_spawner_claim(uint64_t types)
{
    if (!sp.live)
        return 0;
    /* Exactly its namespaces new (a cgroup namespace aside: the init makes it once in its cgroups). */
    if ((types & ~(uint64_t)CLONE_NEWCGROUP) == sp.types)
        return 1;
    csr_spawner_dismiss();
    return 0;
}

int csr_spawner_ready(void)
{
    return sp.live;
}

int csr_startup_mountinfo(const char **text, size_t *len)
{
    if (!sp.shared)
        return -1;
    /* Written before the helper reports, which it has long done by the time anyone asks; a length is only ever
     * stored once the text is whole. */
    read_report(1);
    const struct mountinfo_copy *mi = mountinfo_in(sp.shared);
    uint32_t n = __atomic_load_n(&mi->len, __ATOMIC_ACQUIRE);
    if (n == 0)
        return -1;
    *text = mi->text;
    *len = n;
    return 0;
}

int csr_spawner_usable(const struct csr_plan *plan, uint64_t clone_ns)
{
    const char *p = (const char *)plan;
    if (!sp.live || atomic_load(&sp.spilled) || p < sp.shared || p >= sp.shared + SHARED_SIZE ||
        plan->n_cgroup_join_fds > MAX_JOIN_FDS || clone_ns != sp.types)
        return 0;
    /* Normally there long since: the helper started ~1.5 ms before, with the process. */
    read_report(1);
    return sp.init >= 0;
}

pid_t csr_spawner_request(const struct csr_plan *plan, int sync_end, uint64_t new_ns, uint64_t join_ns,
                          int *relayed)
{
    struct request r;
    memset(&r, 0, sizeof r);
    r.plan = plan;
    r.new_ns = new_ns;
    r.join_ns = join_ns;
    int fds[MAX_REQUEST_FDS], k = 0;
    fds[k++] = sync_end;
    if ((r.has_cgroup_fd = plan->cgroup_fd >= 0))
        fds[k++] = plan->cgroup_fd;
    if ((r.has_console = plan->console_socket_fd >= 0))
        fds[k++] = plan->console_socket_fd;
    if ((r.has_listener = plan->seccomp_listener_fd >= 0))
        fds[k++] = plan->seccomp_listener_fd;
    for (int i = 0; i < 3; i++) {
        r.stdio[i] = plan->stdio_fds[i];
        if (r.stdio[i] >= 0)
            fds[k++] = plan->stdio_fds[i];
    }
    /* A late join opens the tasks files by path in the init: there are no fds yet. */
    if (!plan->cgroup_join_late) {
        r.n_join_fds = plan->n_cgroup_join_fds;
        for (int i = 0; i < r.n_join_fds; i++)
            fds[k++] = plan->cgroup_join_fds[i];
    }
    /* One request per helper. On a failed send (gone already) the caller clones; we reap what is left. */
    sp.taken = csr_send_fds(sp.fd, fds, k, &r, sizeof r) == 0;
    csr_spawner_dismiss();
    /* The init cloned ahead is our direct child; one cloned now reports its pid as an intermediate does. */
    *relayed = sp.init == 0;
    return !sp.taken ? -1 : sp.init > 0 ? sp.init : sp.pid;
}

void csr_spawner_reap(int wait)
{
    pid_t r;
    if (sp.pid > 0) {
        do
            r = waitpid(sp.pid, NULL, wait ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r != 0)
            sp.pid = 0; /* reaped, or not ours to reap any more (ECHILD) */
    }
    /* The helper reports before it exits: once it is reaped, its report is there or never comes. */
    if (sp.pid == 0)
        read_report(0);
    if (!sp.taken && !sp.live && sp.init > 0) {
        do
            r = waitpid(sp.init, NULL, wait ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r != 0)
            sp.init = -1;
    }
    if (sp.pid == 0 && (sp.taken || sp.init <= 0) && sp.fd >= 0) {
        close(sp.fd);
        sp.fd = -1;
    }
}

void csr_spawner_kill(void)
{
    csr_spawner_dismiss();
    /* The helper never blocks before its report; after it, only for a plan, and it has EOF now. */
    read_report(1);
    if (!sp.taken && sp.init > 0)
        kill(sp.init, SIGKILL);
    csr_spawner_reap(1);
}
