/*
 * Namespaces made ahead of the clone, on a second thread.
 *
 * Creating a network namespace is the most expensive single step of a container start on a small host
 * (setup_net runs every pernet init: loopback, sysctl tables, netfilter, ...; about 0.7 ms of kernel
 * time here), and crun and runc pay it inside clone. The runtime has a second core idle while it
 * parses config.json, creates cgroups and builds the plan, so a throwaway thread unshare()s the new
 * namespaces there, opens them through /proc and exits; the child setns()es the fds instead of
 * creating its own. The result is the same namespace a CLONE_NEW* flag would have made: new, owned by
 * the initial user namespace, holding only what the kernel puts in a fresh one.
 *
 * Only for the network and ipc namespaces (not tied to the clone itself) and only when the spec has
 * no user namespace (those must be owned by the container's). Anything going wrong here is not an
 * error: the fds stay -1 and the clone creates the namespaces as it always did, so errors (EPERM when
 * not privileged, ...) surface where they always have.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CSR_NSPREP_TYPES ((uint64_t)(CLONE_NEWNET | CLONE_NEWIPC))

struct csr_nsprep {
    pthread_t thread;
    int joined;
    uint64_t types;
    int net_fd, ipc_fd;
    struct csr_placement placement;
    /* RUNNING, then DONE (set by the thread) or ABANDONED (set by discard): whichever of the two
       comes second frees it, so a discarded prep never makes the caller wait for the thread. */
    _Atomic int state;
};

enum { PREP_RUNNING, PREP_DONE, PREP_ABANDONED };

struct csr_nsprep *_Atomic csr_nsprep_early;

static int *slot(struct csr_nsprep *p, uint64_t type)
{
    switch (type) {
    case CLONE_NEWNET: return &p->net_fd;
    case CLONE_NEWIPC: return &p->ipc_fd;
    default: return NULL;
    }
}

static void *prep_main(void *arg)
{
    struct csr_nsprep *p = arg;
    if (unshare((int)p->types) < 0)
        return NULL;
    static const struct { uint64_t type; const char *name; } names[] = {
        { CLONE_NEWNET, "net" }, { CLONE_NEWIPC, "ipc" },
    };
    char path[64], num[24];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(p->types & names[i].type))
            continue;
        /* /proc/self/task/<tid>: the namespaces are this thread's, not the process's. */
        csr_strlcpy(path, "/proc/self/task/", sizeof path);
        csr_strlcat(path, csr_itoa(num, (long long)syscall(SYS_gettid)), sizeof path);
        csr_strlcat(path, "/ns/", sizeof path);
        csr_strlcat(path, names[i].name, sizeof path);
        *slot(p, names[i].type) = open(path, O_RDONLY | O_CLOEXEC);
    }
    return NULL;
}

static void close_fds(struct csr_nsprep *p)
{
    if (p->net_fd >= 0)
        close(p->net_fd);
    if (p->ipc_fd >= 0)
        close(p->ipc_fd);
}

static void *prep_thread(void *arg)
{
    struct csr_nsprep *p = arg;
    csr_placed(&p->placement);
    prep_main(p);
    if (atomic_exchange(&p->state, PREP_DONE) == PREP_ABANDONED) {
        close_fds(p);
        free(p);
    }
    return NULL;
}

struct csr_nsprep *csr_nsprep_start(uint64_t types)
{
    types &= CSR_NSPREP_TYPES;
    if (!types)
        return NULL;
    struct csr_nsprep *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->types = types;
    p->net_fd = p->ipc_fd = -1;
    /* The thread inherits a full mask: no process signal (nor a .NET handler) ever runs on it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = csr_thread_create_elsewhere(&p->thread, 64 * 1024, prep_thread, p, &p->placement);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        free(p);
        return NULL;
    }
    return p;
}

int csr_nsprep_fd(struct csr_nsprep *p, uint64_t type)
{
    if (!p)
        return -1;
    if (!p->joined) {
        pthread_join(p->thread, NULL);
        p->joined = 1;
    }
    int *fd = slot(p, type);
    return fd ? *fd : -1;
}

void csr_nsprep_free(struct csr_nsprep *p)
{
    if (!p)
        return;
    csr_nsprep_fd(p, 0);
    close_fds(p);
    free(p);
}

/* Like csr_nsprep_free, without waiting: the thread closes the fds if it is not done yet. */
static void discard(struct csr_nsprep *p)
{
    if (!p)
        return;
    pthread_detach(p->thread);
    if (atomic_exchange(&p->state, PREP_ABANDONED) == PREP_DONE) {
        close_fds(p);
        free(p);
    }
}

struct csr_nsprep *csr_nsprep_claim(uint64_t types, int *from_startup)
{
    /* The start-up's spawner made them (and the uts namespace) in itself, and its init, in new pid and mount
     * namespaces, inherits them: no fds, no thread. */
    if (csr_spawner_claim(types)) {
        *from_startup = 1;
        return NULL;
    }
    types &= CSR_NSPREP_TYPES;
    struct csr_nsprep *early = atomic_exchange(&csr_nsprep_early, NULL);
    *from_startup = early && types && (types & ~early->types) == 0;
    if (*from_startup)
        return early; /* a namespace it made and the spec does not want is closed unused by csr_nsprep_free */
    discard(early);
    return csr_nsprep_start(types);
}
