/*
 * The spawner: a small process forked by csrun's start-up that clones the container's init.
 *
 * A clone copies the caller's page tables, write-protects its private memory and (without CLONE_VM) leaves
 * the parent a round of copy-on-write faults, and the child's exec tears that copy down again. Cloned from
 * the .NET process at the end of a start, that copy is the runtime's: a clone with the container's flags
 * took 0.30 ms there against 0.12 from a small process (dup_mmap 37% of it, in perf). So csrun's constructor
 * (nsprep_early.c), before .NET starts, forks a helper that is still that small process: it makes the new
 * network and ipc namespaces in itself (what nsprep.c's thread did), then sleeps on a socket. At the spawn,
 * the caller sends it the plan and the descriptors the init needs (SCM_RIGHTS); it clones the init with
 * CLONE_PARENT, so the init is still the caller's own child (waitpid, SIGCHLD, its death signal), inheriting
 * the helper's network and ipc namespaces, reports the init's pid over the init's sync channel and exits.
 *
 * The plan is a tree of pointers built after the fork, so it must be built in memory the helper sees at the
 * same address: csr_shared_alloc hands out zeroed memory from a MAP_SHARED mapping made before the fork,
 * which the caller's plan arena uses while it lasts. The helper copies the plan's top level and patches the
 * descriptor numbers it received into its copy; it never writes the shared memory. The init shares the
 * mapping until its exec (the state it receives lands in plan->state_buf there, which the caller never
 * reads back): our code until then, and non-dumpable.
 *
 * The spawner is used only when everything fits: the plan wholly in the shared memory, the spec's new
 * namespaces matching what the helper made (csr_spawner_claim), no namespace joined in a way that needs the
 * init to fork again. Otherwise it is dismissed (it exits on EOF) and the caller clones as before. Nothing
 * here is an error for the container: a helper that could not make its namespaces clones with them instead,
 * and a helper that is gone before the request leaves the clone to the caller.
 */
#include "internal.h"

#include <errno.h>
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
#define MAX_JOIN_FDS 32

static struct {
    int fd;             /* our end of the helper's socket; -1 when there is none (or it was dismissed) */
    pid_t pid;          /* the helper, reaped by csr_spawner_reap */
    uint64_t types;     /* the namespaces it was asked to make */
    char *shared;
    _Atomic size_t used;
    _Atomic int spilled; /* an allocation did not fit: some plan memory is the caller's alone */
} sp = { .fd = -1 };

/* The request: the plan's address (valid in both processes) and the clone's namespace flags; which plan
 * descriptors follow in the SCM_RIGHTS message after the init's end of the sync channel, in this order. */
struct request {
    const struct csr_plan *plan;
    uint64_t clone_ns, new_ns, join_ns;
    int32_t has_cgroup_fd, has_console, has_listener;
    int32_t stdio[3];
    int32_t n_join_fds;
};

#define MAX_REQUEST_FDS (1 + 3 + 3 + MAX_JOIN_FDS)
_Static_assert(MAX_REQUEST_FDS <= CSR_MAX_SEND_FDS, "a request's descriptors fit one message");

static _Noreturn void helper_main(int fd, pid_t parent, uint64_t types, const cpu_set_t *all, int placed)
{
    /* Default dispositions for every init we clone (SIG_IGN survives exec; no .NET handler exists yet), once
     * here instead of in the init; then nothing may interrupt us: the init drops the mask as it starts. */
    csr_reset_signals();
    sigset_t full;
    sigfillset(&full);
    sigprocmask(SIG_SETMASK, &full, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    uint64_t made = unshare((int)types) == 0 ? types : 0;
    /* The init would bring the loopback up first thing in its setup (network.c), on the start's critical
     * path; here it is beside the .NET start. A failure is the init's to report when it tries again. */
    if (made & CLONE_NEWNET)
        csr_loopback_up();

    struct request r;
    int fds[MAX_REQUEST_FDS], nfds;
    ssize_t n = csr_recv_fds(fd, &r, sizeof r, fds, MAX_REQUEST_FDS, &nfds);
    /* EOF: dismissed (or the caller is gone). */
    if (n != (ssize_t)sizeof r || r.n_join_fds < 0 || r.n_join_fds > MAX_JOIN_FDS ||
        nfds != 1 + !!r.has_cgroup_fd + !!r.has_console + !!r.has_listener + (r.stdio[0] >= 0) + (r.stdio[1] >= 0) +
                    (r.stdio[2] >= 0) + r.n_join_fds)
        _exit(0);
    close(fd);

    /* The plan's top level and the join fds, in our own memory, with our numbers for the descriptors. */
    static struct csr_plan plan;
    static int32_t join_fds[MAX_JOIN_FDS];
    plan = *r.plan;
    int k = 0;
    int sync_fd = fds[k++];
    plan.cgroup_fd = r.has_cgroup_fd ? fds[k++] : -1;
    plan.console_socket_fd = r.has_console ? fds[k++] : -1;
    plan.seccomp_listener_fd = r.has_listener ? fds[k++] : -1;
    for (int i = 0; i < 3; i++)
        plan.stdio_fds[i] = r.stdio[i] >= 0 ? fds[k++] : -1;
    for (int i = 0; i < r.n_join_fds; i++)
        join_fds[i] = fds[k++];
    if (r.n_join_fds)
        plan.cgroup_join_fds = join_fds;

    /* Placed on another CPU at the fork; the init stays there for its setup and takes the caller's whole set
     * back before it runs anything of the container's (spawn.c). */
    csr_spawner_clone(&plan, sync_fd, r.clone_ns & ~made, r.new_ns, r.join_ns, placed ? all : NULL);
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
     * first thing, so the init it clones is too. The init stays on its CPU for its setup, beside this thread's
     * v1 cgroups, and takes our whole set back before anything of the container's runs (spawn.c). In A/B,
     * 4-way rotations of 600 starts: the init pinned 0.95-0.96x, then the fork as SCHED_BATCH 0.93-0.94x (in an
     * earlier round, before the init was pinned and before the helper brought the loopback up, the same fork
     * measured 1.09x and 1.12x). */
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
        helper_main(s[1], parent, types, &all, placed);
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
    if (size > SHARED_SIZE || off > SHARED_SIZE - size) {
        atomic_store(&sp.spilled, 1);
        return NULL;
    }
    return sp.shared + off;
}

void csr_spawner_dismiss(void)
{
    if (sp.fd >= 0) {
        close(sp.fd);
        sp.fd = -1;
    }
}

int csr_spawner_claim(uint64_t types)
{
    if (sp.fd < 0)
        return 0;
    if (types == sp.types)
        return 1;
    csr_spawner_dismiss();
    return 0;
}

int csr_spawner_ready(void)
{
    return sp.fd >= 0;
}

int csr_spawner_usable(const struct csr_plan *plan)
{
    const char *p = (const char *)plan;
    return sp.fd >= 0 && !atomic_load(&sp.spilled) && p >= sp.shared && p < sp.shared + SHARED_SIZE &&
           plan->n_cgroup_join_fds <= MAX_JOIN_FDS;
}

pid_t csr_spawner_request(const struct csr_plan *plan, int sync_end, uint64_t clone_ns, uint64_t new_ns,
                          uint64_t join_ns)
{
    struct request r;
    memset(&r, 0, sizeof r);
    r.plan = plan;
    r.clone_ns = clone_ns;
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
    int sent = csr_send_fds(sp.fd, fds, k, &r, sizeof r) == 0;
    /* One request per helper: it clones and exits, or (on a failed send) it is gone already. */
    csr_spawner_dismiss();
    return sent ? sp.pid : -1;
}

void csr_spawner_reap(int wait)
{
    if (sp.pid <= 0)
        return;
    pid_t r;
    do
        r = waitpid(sp.pid, NULL, wait ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != 0)
        sp.pid = 0; /* reaped, or not ours to reap any more (ECHILD) */
}

void csr_spawner_kill(void)
{
    csr_spawner_dismiss();
    if (sp.pid > 0) {
        kill(sp.pid, SIGKILL);
        csr_spawner_reap(1);
    }
}
