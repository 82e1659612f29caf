/*
 * The namespaces of `csrun run` and `csrun create`, and their init, started before .NET starts.
 *
 * The runtime's own start-up (loading, GC and type initialisation: about 2 ms here) runs on one core; the
 * spawner (spawner.c), forked here while the process is still small, makes the network, ipc and uts
 * namespaces on the other from the first instant and clones the init into new pid and mount namespaces from
 * its small address space (ahead of the plan where the container gets v1 cgroups only, else at the request).
 * This constructor runs before main when the command line names one of the two commands; the engine hands
 * the plan over (csr_nsprep_claim, csr_spawn) if the spec wants exactly those five namespaces new (a cgroup
 * namespace aside) and no user namespace, and dismisses the spawner otherwise (what waits for a plan exits).
 * Either way nothing outlives the process: helper and init die with it (PR_SET_PDEATHSIG), and the
 * namespaces with them unless the init became the container's.
 *
 * Linked only into the csrun executable (the csproj asks for csr_nsprep_early_start); the shared library
 * that csrund loads has no constructor, and there csr_nsprep_claim always starts a thread of its own.
 */
#include "internal.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The command word: the first argument that is neither a global option nor an option's value. The
 * global options that take a value are those of src/Csrun.Cli/GlobalOptions.cs. */
static const char *command_word(int argc, char **argv)
{
    static const char *const valued[] = { "--root", "--log", "--log-format", "--rootless", "--criu" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            return a;
        if (!strcmp(a, "--"))
            return i + 1 < argc ? argv[i + 1] : NULL;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (!strcmp(a, valued[k])) {
                i++;
                break;
            }
    }
    return NULL;
}

__attribute__((constructor)) static void early(int argc, char **argv)
{
    const char *cmd = command_word(argc, argv);
    if (!cmd || (strcmp(cmd, "run") && strcmp(cmd, "create")))
        return;
    /* .NET registers the process for private expedited membarrier as it starts. The kernel makes that
     * registration wait for a full RCU grace period (about 10 ms here) once the process has a second
     * thread, and makes it free while there is one: register now, before the thread exists, and the
     * runtime's own registration finds it done (it is per process and idempotent). */
    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
    /* The namespaces of runc's default spec (spawner.c); if the spawner cannot start, nsprep.c's thread makes
     * the network and ipc ones as in a daemon. */
    if (csr_spawner_start(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWPID) < 0)
        csr_nsprep_early = csr_nsprep_start(CLONE_NEWNET | CLONE_NEWIPC);
}

/* The symbol the csrun executable's link asks for, so that the linker takes this file from the archive. */
void csr_nsprep_early_start(void)
{
}
