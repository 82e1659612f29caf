/*
 * csrun native helper: the part of container creation that must run between clone and execve.
 *
 * Managed code validates the OCI spec and flattens it into a csr_plan (all strings NUL-terminated,
 * all arrays with explicit counts, every pointer owned by the caller and valid until csr_spawn's
 * child has exec'd or the caller has called csr_child_abort). The child is a fork-like copy of the
 * caller (no CLONE_VM) and runs only async-signal-safe code: it never allocates.
 *
 * Protocol (parent side, all calls from the thread that called csr_spawn):
 *   csr_spawn        clone the child; it joins its v1 cgroups (plan->cgroup_join_fds; with
 *                    cgroup_join_late at the start of the mounts phase instead), joins/creates
 *                    namespaces and then waits.
 *   ...              caller places child->pid into the cgroups it is not in yet (child->in_cgroup says
 *                    whether clone3 did the v2 one).
 *   csr_child_resume_send/_wait(child, CSR_PHASE_MOUNTS, state)   child sets up rootfs mounts, devices,
 *                                                  hostname; wait returns where prestart/createRuntime run.
 *   ...              caller runs prestart + createRuntime hooks (csr_run_hook).
 *   csr_child_resume_send/_wait(child, CSR_PHASE_FINISH, state)   child runs createContainer hooks,
 *                                                  pivot_root, masks, rlimits, ids, cwd, resolves the
 *                                                  executable; wait returns when the child is "created"
 *                                                  (blocked on the exec fifo, or, with none, about to exec).
 *                    (CSR_PHASE_ALL: both phases in one round trip, for a caller with no hooks between.)
 *   csr_child_release(child)   close the sync channel; the child is left on its own.
 * On any error the functions return -1 with csr_error filled (step text + errno) and the child is killed
 * and reaped (when it is still our child).
 *
 * Details of the implementation (the native/ sources) the caller can rely on:
 *   - csr_spawn returns once the child has joined/created its namespaces (setns errors surface there).
 *     All calls must come from one thread that stays alive until "created": the child's
 *     PR_SET_PDEATHSIG fires when that *thread* exits.
 *   - With a new user namespace the caller writes /proc/<pid>/uid_map and gid_map before the MOUNTS
 *     resume; the child then becomes root of the namespace.
 *   - A pid namespace joined by path uses a double fork; the real init is forked with CLONE_PARENT, so
 *     child->direct is normally still 1 (it is the caller's child); it is 0 only when the kernel refuses
 *     CLONE_PARENT, and then the caller's subreaper reaps it. child->pidfd comes from pidfd_open there.
 *   - state_buf must hold state_len + 1 bytes (the child NUL-terminates it), else the resume fails E2BIG.
 *   - After "created" the child waits for csr_child_release (EOF on the channel), then for the exec
 *     fifo, then runs the startContainer hooks and execs. Failures from then on are printed as
 *     "csrun: <step>: <strerror>" on the container's fd 2 and the init exits 127.
 *   - csr_child_abort kills (pidfd_send_signal when possible), reaps when direct, closes sync_fd and
 *     pidfd, and sets pid to 0, so a second abort is a no-op. The internal aborts on error do the same:
 *     after a failed csr_spawn/csr_child_resume_* nothing of the child is left for the caller to close.
 *   - csr_child_release closes only sync_fd; pidfd stays the caller's to close.
 *   - Step texts are stable, e.g. "mount proc on /proc", "mount /host/src on /dst", "mknod /dev/null",
 *     "exec: \"foo\": executable file not found in $PATH" (ENOENT), "chdir to cwd (\"/x\") set in
 *     config.json failed", "hook <path> exited with status N" / "killed by signal N" / "timed out after
 *     N seconds" (err 0), "exec hook <path>" (errno of execve), "container init exited with status N
 *     while ..." (err 0) when the init died without reporting.
 */
#ifndef CSRUN_NATIVE_H
#define CSRUN_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CSR_ABI_VERSION 6

/* One namespace of the container. type is a CLONE_NEW* flag; path NULL means "create new", unless fd is
 * >= 0: a new namespace made ahead of time (csr_nsprep_fd) that the child joins instead of creating one. */
struct csr_namespace {
    uint64_t type;
    const char *path;
    int32_t fd;         /* -1, or a prepared net/ipc namespace; only in a plan without a user namespace */
    int32_t pad;
};

/* A mount in spec order. All flags are computed by managed code. */
struct csr_mount {
    const char *source;      /* host path for binds (resolved in the runtime's mount ns), else fs source; may be NULL */
    const char *destination; /* absolute path inside the container; resolved without leaving the rootfs */
    const char *fstype;      /* NULL for bind mounts */
    const char *data;        /* fs data options ("size=65536k,mode=755"), NULL for none */
    uint64_t flags;          /* MS_* flags (MS_RDONLY, MS_NOSUID, ...); MS_BIND (+MS_REC for rbind) for binds */
    uint64_t propagation;    /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE, optionally | MS_REC; 0 = leave */
    uint64_t clear_flags;    /* flags named as clearing (rw, suid, dev, exec, ...): only matter for bind remounts */
    uint64_t rec_attr_set;   /* MOUNT_ATTR_* set with mount_setattr(AT_RECURSIVE) once mounted (rro, rnosuid, ...) */
    uint64_t rec_attr_clr;   /* MOUNT_ATTR_* cleared likewise (rrw, rsuid, ..., and the atime field) */
    uint32_t copy_up;        /* tmpcopyup: the tmpfs starts with a copy of what the destination held */
    uint32_t pad;
};

/* A device node to create under /dev (or bind from the host when mknod is not allowed). */
struct csr_device {
    const char *path;   /* absolute path inside the container, e.g. /dev/null */
    uint32_t mode;      /* S_IFCHR / S_IFBLK / S_IFIFO | permission bits */
    uint32_t major;
    uint32_t minor;
    uint32_t uid;
    uint32_t gid;
};

struct csr_rlimit {
    int32_t resource;   /* RLIMIT_* */
    int32_t pad;
    uint64_t soft;
    uint64_t hard;
};

struct csr_hook {
    const char *path;
    const char *const *argv; /* NULL-terminated; NULL means { path, NULL } */
    const char *const *envp; /* NULL-terminated; NULL means empty */
    int32_t timeout;         /* seconds, 0 = none */
    int32_t pad;
};

struct csr_sysctl {
    const char *key;   /* dotted, e.g. net.ipv4.ip_forward */
    const char *value;
};

/* One cgroup filesystem mount of the host, as the caller's mountinfo shows it. */
struct csr_cgroup_mount {
    const char *options;    /* the super options, which name the controllers ("rw,cpu,cpuacct"); NULL: cgroup2 */
    const char *root;       /* the cgroup the mount shows as its root */
    const char *mountpoint;
};

struct csr_plan {
    uint32_t abi_version;       /* CSR_ABI_VERSION */
    uint32_t pad0;

    /* Namespaces. */
    const struct csr_namespace *namespaces;
    int32_t n_namespaces;
    int32_t cgroup_fd;          /* >= 0: cgroup v2 directory fd for clone3 CLONE_INTO_CGROUP; -1 otherwise */

    /* Root filesystem. */
    const char *rootfs;         /* absolute host path */
    uint64_t rootfs_propagation;/* MS_* | MS_REC for "/" before mounting; 0 = MS_SLAVE|MS_REC */
    int32_t rootfs_readonly;
    int32_t no_pivot;
    const struct csr_mount *mounts;
    int32_t n_mounts;
    int32_t n_devices;
    const struct csr_device *devices;   /* includes the default devices */
    const char *const *masked_paths;
    int32_t n_masked_paths;
    int32_t n_readonly_paths;
    const char *const *readonly_paths;
    const struct csr_sysctl *sysctls;
    int32_t n_sysctls;

    /* UTS. */
    int32_t pad1;
    const char *hostname;       /* NULL = leave */
    const char *domainname;     /* NULL = leave */

    /* Process. */
    const char *const *argv;    /* NULL-terminated, argv[0] is looked up in PATH of envp inside the container */
    const char *const *envp;    /* NULL-terminated */
    const char *cwd;            /* absolute, inside the container */
    uint32_t uid;
    uint32_t gid;
    const uint32_t *additional_gids;
    int32_t n_additional_gids;
    int32_t umask;              /* -1 = leave as inherited */
    const struct csr_rlimit *rlimits;
    int32_t n_rlimits;
    int32_t set_oom_score_adj;
    int32_t oom_score_adj;
    int32_t preserve_fds;       /* fds 3 .. 3+preserve_fds-1 survive into the container */

    /* Start gating: the child opens this fifo O_WRONLY after it is created and blocks until `start`
     * opens it for reading. NULL: no gate (csrun run), the child execs as soon as it is released. */
    const char *exec_fifo;

    const struct csr_hook *create_container_hooks;
    int32_t n_create_container_hooks;
    int32_t n_start_container_hooks;
    const struct csr_hook *start_container_hooks;

    /* Scratch for the state JSON that the parent sends with each resume (hooks read it on stdin). */
    char *state_buf;
    uint64_t state_buf_cap;

    /* Name of a new session keyring to join ("_ses.<id>", as runc), so containers do not share the
     * caller's keys; NULL keeps the caller's (--no-new-keyring). */
    const char *session_keyring;

    /* process.capabilities as bit masks (bit N = capability N), already limited to the kernel's
     * cap_last_cap; applied only when set_caps. The bounding set is dropped before the ids change,
     * the others are set after (with PR_SET_KEEPCAPS across setuid). */
    uint64_t cap_bounding;
    uint64_t cap_effective;
    uint64_t cap_permitted;
    uint64_t cap_inheritable;
    uint64_t cap_ambient;
    int32_t set_caps;
    int32_t cap_last_cap;
    int32_t no_new_privs;      /* prctl(PR_SET_NO_NEW_PRIVS) before exec */
    /* `csrun exec`: every namespace is joined by path (the container's), and the root filesystem is
     * the one that mount namespace already has: no mounts, devices, pivot or masks are done. */
    int32_t exec_mode;

    /* linux.seccomp compiled to classic BPF (struct sock_filter[seccomp_len]); installed with seccomp(2)
     * and seccomp_flags as late as possible: right before exec with no_new_privs, else before the
     * capabilities are dropped (installing without no_new_privs needs CAP_SYS_ADMIN). */
    const void *seccomp_bpf;
    uint32_t seccomp_len;
    uint32_t seccomp_flags;

    /* process.terminal: a connected AF_UNIX socket (--console-socket). The child makes a pty in the
     * container's devpts, sends the master over it (SCM_RIGHTS) and makes the slave its controlling
     * terminal and stdio. -1: no terminal. */
    int32_t console_socket_fd;
    uint16_t console_rows;
    uint16_t console_cols;

    /* linux.personality: the persona for execve (PER_LINUX = 0, PER_LINUX32 = 8); -1 = leave. */
    int32_t personality;
    /* SCMP_ACT_NOTIFY: a socket connected to linux.seccomp.listenerPath. The filter is installed with
     * SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener fd goes over it (SCM_RIGHTS) with the container
     * process state, which the parent appends to the state JSON of each resume after a NUL. -1: none. */
    int32_t seccomp_listener_fd;
    /* Descriptors that become the process's stdin, stdout and stderr (csrund's exec pipes); -1 keeps the
     * caller's. Taken before any inherited descriptor is closed. */
    int32_t stdio_fds[3];

    /* cgroup v1: the container cgroup's `tasks` file in each hierarchy, opened O_WRONLY by the caller, and
     * the paths for error messages. The child writes "0" to each first thing: a single thread moving
     * itself skips the kernel's global threadgroup rwsem, whose write side waits for an RCU grace period
     * (several ms here) when it has been idle; the caller writing the pid to cgroup.procs would pay it. */
    int32_t n_cgroup_join_fds;
    const int32_t *cgroup_join_fds;
    const char *const *cgroup_join_paths;
    /* 1: the cgroups are still being made while the child is cloned. The child opens cgroup_join_paths
     * itself (cgroup_join_fds is unused) and joins at the start of the mounts phase, before anything else
     * there; the caller resumes it only once the directories exist. Only with a new mount namespace (the
     * host paths still resolve in it then) and no user namespace. */
    int32_t cgroup_join_late;
    /* The host's cgroup mounts, in mountinfo order (every one, bind mounts too): what a "cgroup" mount in
     * the container mirrors. The child never reads mountinfo for them. */
    int32_t n_cgroup_mounts;
    const struct csr_cgroup_mount *cgroup_mounts;
};

struct csr_error {
    int32_t err;        /* errno, 0 when the message alone says it */
    char step[512];     /* e.g. "mount proc on /proc" */
};

struct csr_child {
    int32_t pid;        /* the container's init pid, in the runtime's pid namespace */
    int32_t sync_fd;    /* parent end of the sync channel; -1 when released */
    int32_t pidfd;      /* pidfd of the init when the kernel gave one, else -1 */
    int32_t direct;     /* 1 when pid is our own child (we may waitpid it), 0 after a pid-ns double fork */
    int32_t in_cgroup;  /* 1 when clone3 placed it in plan->cgroup_fd's cgroup (CLONE_INTO_CGROUP) */
    int32_t spawner;    /* the start-up's spawner cloned it (spawner.c): 1 at the request, 2 ahead of it */
    int32_t relay;      /* between csr_spawn_begin and csr_spawn_end: the process that will report pid (an
                         * intermediate, or the spawner), 0 when pid is known */
    int32_t pad;
};

enum csr_phase {
    CSR_PHASE_MOUNTS = 1,
    CSR_PHASE_FINISH = 2,
    /* MOUNTS then FINISH in one resume, for a caller with no prestart/createRuntime hooks: one round trip. */
    CSR_PHASE_ALL = 3,
};

int csr_spawn(const struct csr_plan *plan, struct csr_child *child, struct csr_error *error);
/* csr_spawn in two halves, so that the caller can work while the init is made and joins its namespaces:
 * begin clones the init (or hands the plan to the spawner, which clones it); end waits until the init is
 * ready, and fills in pid. After a failed begin there is nothing to clean up; csr_child_abort undoes a
 * begin without an end, as it does a whole spawn. */
int csr_spawn_begin(const struct csr_plan *plan, struct csr_child *child, struct csr_error *error);
int csr_spawn_end(struct csr_child *child, struct csr_error *error);

/* Zeroed memory for a plan, shared with the spawner csrun's start-up forked (spawner.c) and the init it
 * cloned, which can take only a plan wholly built in it; NULL when there is no spawner or the memory is used
 * up. Never freed. */
void *csr_shared_alloc(uint64_t size);
/* 1 while the spawner is there to take a plan (it made the namespaces the spec wants new: csr_nsprep_claim). */
int csr_spawner_ready(void);
/* The host's /proc/self/mountinfo as csrun's start-up read it (the spawner reads it as it starts, before .NET
 * does): 0 with *text (not NUL-counted in *len) and *len, -1 when there is none. */
int csr_startup_mountinfo(const char **text, size_t *len);
/* From now on the process's exit leaves the unmapping of its memory to a task that shares it and exits once
 * the whole process has (teardown.c): the caller is told of the exit without waiting for it. Once per
 * process; 0, or -1 (errno set) when no such task could be made, and the exit unmaps as usual. */
int csr_defer_teardown(void);

/* New net/ipc namespaces made on a throwaway thread while the caller prepares the rest (nsprep.c):
 *   csr_nsprep_claim(types, from_startup)
 *                             types: every namespace kind the spec wants new. The start-up's spawner when it
 *                             made exactly those (*from_startup = 1, NULL: its init takes the plan); else the
 *                             net/ipc namespaces csrun's start-up began on a thread (nsprep_early.c) if they
 *                             cover the net/ipc ones of types (*from_startup = 1), else discards those and
 *                             starts a thread for them; NULL when there are none or no thread can start (the
 *                             clone then creates them);
 *   csr_nsprep_fd(p, type)    waits for the thread; the namespace's fd (O_CLOEXEC), or -1 if it failed;
 *   csr_nsprep_free(p)        waits, closes the fds (the child has its own copies once spawned). */
struct csr_nsprep;
struct csr_nsprep *csr_nsprep_claim(uint64_t types, int *from_startup);
int csr_nsprep_fd(struct csr_nsprep *p, uint64_t type);
void csr_nsprep_free(struct csr_nsprep *p);

/* A plain pthread running fn(arg), with the caller's signal mask; for a managed caller, fn is an
 * [UnmanagedCallersOnly] method (the runtime attaches the thread on entry). Unlike a managed Thread.Start,
 * starting it does not wait for the thread to run. NULL (errno set) when it cannot be created. */
struct csr_thread;
struct csr_thread *csr_thread_start(void (*fn)(void *), void *arg);
/* Returns the CPU the thread began on (-1 if unknown), which is never the caller's when it had a choice. */
int csr_thread_join(struct csr_thread *t);
/* A resume is a send, then a wait: two calls, so that the caller can do its own work (write its state)
 * while the child sets up. */
int csr_child_resume_send(struct csr_child *child, int phase, const char *state_json, size_t state_len,
                          struct csr_error *error);
int csr_child_resume_wait(struct csr_child *child, int phase, struct csr_error *error);
void csr_child_release(struct csr_child *child);
/* csr_spawn under a monitor: a fork of the caller becomes the init's parent and subreaper, then execs
 * monitor_argv (NULL-terminated) with "--pid <init pid>" appended, keeping only keep_fds open. The child is
 * not the caller's (direct = 0); *monitor_pid is the monitor's pid. See monitored.c. */
int csr_spawn_monitored(const struct csr_plan *plan, const char *const *monitor_argv, const int *keep_fds, int n_keep,
                        struct csr_child *child, int *monitor_pid, struct csr_error *error);
void csr_child_abort(struct csr_child *child);

/* Runs a hook with state_json on stdin, waits up to hook->timeout seconds (then SIGKILL).
 * Returns 0 when it exited 0; -1 with error filled otherwise (step says exit status or signal). */
int csr_run_hook(const struct csr_hook *hook, const char *state_json, size_t state_len,
                 struct csr_error *error);

/* Signal forwarding for a foreground run/exec (one target per process):
 *   csr_forward_signals(sigs, n)   catches sigs from now on (callable again to add more); held until...
 *   csr_forward_signals_to(pid)    ...the target: the held ones are sent, then each as it comes, through a
 *                                  pidfd (never to a recycled pid);
 *   csr_forward_signals_stop()     puts the previous dispositions back and drops anything held.
 * Return 0, or -1 with error filled. */
int csr_forward_signals(const int *sigs, int n, struct csr_error *error);
int csr_forward_signals_to(int pid, struct csr_error *error);
void csr_forward_signals_stop(void);

#ifdef __cplusplus
}
#endif

#endif
