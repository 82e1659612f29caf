/*
 * A bare thread for the caller's own work beside the start path (csrun's cgroup setup while the child is
 * cloned). A managed Thread.Start waits until the new thread runs; on a 2-core host busy with the start
 * that wait alone was 0.6 ms. This one returns at once; fn is an [UnmanagedCallersOnly] method, so the
 * .NET runtime attaches the thread on entry, on the thread itself.
 *
 * Both this thread and nsprep.c's start on another CPU than their creator's. Left to itself, the
 * scheduler may queue a new thread behind the busy thread that made it while another CPU idles (on this
 * VM's kernel a thread made by a busy one waited 1.85 ms median to run, 0.06 ms when its affinity named
 * the other CPU): work meant to run beside the start path would wait for it instead. The affinity only
 * places the thread; it takes the caller's whole set back as it starts.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct csr_thread {
    pthread_t thread;
    void (*fn)(void *);
    void *arg;
    struct csr_placement placement;
    int first_cpu;
};

static int create(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg, struct csr_placement *pl)
{
    pthread_attr_t attr;
    int r = pthread_attr_init(&attr);
    if (r != 0)
        return r;
    if (stack_size)
        pthread_attr_setstacksize(&attr, stack_size);
    int here = pl ? sched_getcpu() : -1;
    if (here >= 0 && here < CPU_SETSIZE && sched_getaffinity(0, sizeof pl->all, &pl->all) == 0 &&
        CPU_COUNT(&pl->all) > 1 && CPU_ISSET(here, &pl->all)) {
        cpu_set_t others = pl->all;
        CPU_CLR(here, &others);
        pl->placed = pthread_attr_setaffinity_np(&attr, sizeof others, &others) == 0;
    }
    r = pthread_create(thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return r;
}

int csr_thread_create_elsewhere(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg,
                                struct csr_placement *placement)
{
    placement->placed = 0;
    int r = create(thread, stack_size, fn, arg, placement);
    if (r == EINVAL && placement->placed) { /* that CPU went offline meanwhile: anywhere will do */
        placement->placed = 0;
        r = create(thread, stack_size, fn, arg, NULL);
    }
    return r;
}

void csr_placed(const struct csr_placement *placement)
{
    if (placement->placed)
        sched_setaffinity(0, sizeof placement->all, &placement->all);
}

static void *thread_main(void *p)
{
    struct csr_thread *t = p;
    t->first_cpu = sched_getcpu();
    csr_placed(&t->placement);
    t->fn(t->arg);
    return NULL;
}

struct csr_thread *csr_thread_start(void (*fn)(void *), void *arg)
{
    struct csr_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    /* The caller's signal mask, as a managed thread would have: the runtime suspends threads for the GC
     * with a signal, so this one must not block everything the way the namespace thread does. */
    int r = csr_thread_create_elsewhere(&t->thread, 0, thread_main, t, &t->placement);
    if (r != 0) {
        free(t);
        errno = r;
        return NULL;
    }
    return t;
}

int csr_thread_join(struct csr_thread *t)
{
    if (!t)
        return -1;
    pthread_join(t->thread, NULL);
    int cpu = t->first_cpu;
    free(t);
    return cpu;
}
