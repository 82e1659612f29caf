/*
 * libm, loaded on first use instead of at every start of csrun.
 *
 * The .NET runtime imports seven functions from libm (for Math, and the GC's allocation sampling), and none
 * of them runs on csrun's commands' paths; yet with libm a DT_NEEDED of the executable, every start opens,
 * maps and relocates it and every exit unmaps it again. Defined here, the executable resolves them at link
 * time and the linker (--as-needed) drops libm; the first call of any of them loads it with dlopen and binds
 * that function, and each call after is one indirect jump.
 *
 * Linked only into the csrun executable (the csproj asks for csr_libm_lazy); the shared library csrund
 * loads leaves it out, since there the .NET host has libm loaded anyway.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void missing(const char *what)
{
    static const char msg[] = "csrun: cannot load libm.so.6: ";
    (void)!write(2, msg, sizeof msg - 1);
    const char *e = dlerror();
    if (!e)
        e = what;
    (void)!write(2, e, strlen(e));
    (void)!write(2, "\n", 1);
    abort();
}

static void *bind(const char *name)
{
    static void *_Atomic lib;
    void *l = lib;
    if (!l) {
        /* dlopen is reference-counted and thread-safe: two racing first calls get the same handle. */
        l = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        if (!l)
            missing("dlopen");
        lib = l;
    }
    void *f = dlsym(l, name);
    if (!f)
        missing(name);
    return f;
}

#define LAZY(ret, name, params, args)                                                                       \
    ret name params                                                                                          \
    {                                                                                                        \
        static ret(*_Atomic fn) params;                                                                      \
        ret(*f) params = fn;                                                                                 \
        if (!f)                                                                                              \
            fn = f = (ret(*) params)bind(#name);                                                             \
        return f args;                                                                                       \
    }

LAZY(double, ceil, (double x), (x))
LAZY(double, cos, (double x), (x))
LAZY(double, sin, (double x), (x))
LAZY(double, log, (double x), (x))
LAZY(double, log2, (double x), (x))
LAZY(double, pow, (double x, double y), (x, y))
LAZY(double, modf, (double x, double *ip), (x, ip))

/* The symbol the csrun executable's link asks for, so that the linker takes this file from the archive
 * before any library that calls these functions is searched. */
void csr_libm_lazy(void)
{
}
