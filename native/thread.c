/*
 * A bare thread for the caller's own work beside the start path (csrun's cgroup setup while the child is
 * cloned). A managed Thread.Start waits until the new thread runs; on a 2-core host busy with the start
 * that wait alone was 0.6 ms. This one returns at once; fn is an [UnmanagedCallersOnly] method, so the
 * .NET runtime attaches the thread on entry, on the thread itself.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct csr_thread {
    pthread_t thread;
    void (*fn)(void *);
    void *arg;
};

static void *thread_main(void *p)
{
    struct csr_thread *t = p;
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
    int r = pthread_create(&t->thread, NULL, thread_main, t);
    if (r != 0) {
        free(t);
        errno = r;
        return NULL;
    }
    return t;
}

void csr_thread_join(struct csr_thread *t)
{
    if (!t)
        return;
    pthread_join(t->thread, NULL);
    free(t);
}
