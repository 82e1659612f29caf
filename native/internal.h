/*
 * Internal declarations shared by the native helper's translation units. Not part of the ABI.
 *
 * Ground rule for everything reachable from the container child (spawn.c child side, rootfs.c,
 * devices.c, process.c, hooks.c): the child is a raw clone of a multi-threaded .NET process, so
 * any libc lock may be held by a thread that no longer exists in the child. Only async-signal-safe
 * code is allowed there: no malloc, no stdio, no locale-dependent strerror, no glibc setxid
 * wrappers (setuid & co. try to broadcast to the parent's threads: we use raw syscalls).
 * Buffers are fixed-size, on the stack or in the child's private copy of static storage.
 */
#ifndef CSRUN_NATIVE_INTERNAL_H
#define CSRUN_NATIVE_INTERNAL_H

#include "csrun_native.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CSR_HIDDEN __attribute__((visibility("hidden")))

/* Propagation bits of mount(2); they must never be combined with other flags in one call. */
#define CSR_MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

/* ---- error / string helpers (util.c) ------------------------------------------------------ */

/* Fills e->step with the concatenation of the NULL-terminated string list, truncating safely. */
CSR_HIDDEN void csr_err(struct csr_error *e, int err, ...) __attribute__((sentinel));
CSR_HIDDEN void csr_verr(struct csr_error *e, int err, va_list ap);

/* Decimal formatting into a caller buffer (>= 24 bytes); returns buf. */
CSR_HIDDEN char *csr_utoa(char *buf, unsigned long long v);
CSR_HIDDEN char *csr_itoa(char *buf, long long v);

/* strlcpy / strlcat semantics; return the length the result would have had. */
CSR_HIDDEN size_t csr_strlcpy(char *dst, const char *src, size_t cap);
CSR_HIDDEN size_t csr_strlcat(char *dst, const char *src, size_t cap);

/* "/proc/self/fd/<fd>" into buf (>= 32 bytes). */
CSR_HIDDEN const char *csr_procfd(char *buf, int fd);

/* Untranslated errno text (strerrordesc_np): async-signal-safe unlike strerror(). */
CSR_HIDDEN const char *csr_strerror(int err);

/* write(2)/read(2) loops that retry on EINTR and short counts. */
CSR_HIDDEN int csr_write_all(int fd, const void *buf, size_t len);
CSR_HIDDEN int csr_write_file(const char *path, const char *data, size_t len);

/* Resets every signal disposition to SIG_DFL (SIG_IGN survives execve, and the inherited .NET
 * handlers must never run in a forked copy) and sets the signal mask to `mask` (NULL = empty). */
CSR_HIDDEN void csr_reset_signals(void);

/* Raw fork (clone with SIGCHLD): avoids glibc's atfork handlers, which are not safe in a copy of a
 * multi-threaded process. *pidfd receives a pidfd when the kernel supports CLONE_PIDFD, else -1. */
CSR_HIDDEN pid_t csr_raw_fork(int *pidfd, unsigned long extra_flags);

/* pthread_create for the helper threads, started on another CPU than the caller's (see thread.c).
 * stack_size 0 keeps the default. The new thread must call csr_placed(placement) first thing: it takes
 * back the caller's whole CPU set. */
struct csr_placement {
    int placed;
    cpu_set_t all;
};
CSR_HIDDEN int csr_thread_create_elsewhere(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg,
                                           struct csr_placement *placement);
CSR_HIDDEN void csr_placed(const struct csr_placement *placement);

/* The spawner (spawner.c), started by nsprep_early.c in the csrun executable:
 *   csr_spawner_start(types)   forks the helper, which makes the new namespaces `types` in itself but for the
 *                              pid and mount ones, and clones the init into the new pid namespace: ahead when
 *                              the container gets no v2 cgroup (its mount namespace made once it has the
 *                              plan), else at the request (CLONE_INTO_CGROUP); -1 when it cannot fork (the
 *                              caller then starts nsprep.c's thread instead);
 *   csr_spawner_claim(types)   1 when the spec wants exactly those namespaces new (but for a cgroup
 *                              namespace), else dismisses it;
 *   csr_spawner_usable(plan, clone_ns)  whether csr_spawn may hand this plan to its init (waits for the
 *                              helper's report of it);
 *   csr_spawner_request(...)   sends the plan: the pid of the init cloned ahead (our direct child), or
 *                              with *relayed the helper's (the init's follows on the sync channel in a PID
 *                              message from it), or -1 when it could not be sent;
 *   csr_spawner_dismiss()      gives what waits for a plan EOF, csr_spawner_reap(wait) reaps the helper and
 *                              an init that took no plan once they have exited, csr_spawner_kill() makes sure
 *                              they have.
 * csr_spawner_clone, csr_spawner_report and csr_spawner_init (spawn.c) are the helper's side: the clone of the
 * init (CLONE_PARENT; 0 in the child), its PID (or ERROR) message when cloned at the request, and the init's
 * setup once it has a plan (never returns; it first takes `affinity` as its CPU set when given one, rejoins the
 * mount namespace `rejoin_mntns` when it is an fd, and makes the namespaces `unshare_ns`; `root_slave`: its
 * mount namespace was made ahead and "/" made a recursive slave). */
CSR_HIDDEN int csr_spawner_start(uint64_t types);
CSR_HIDDEN int csr_spawner_claim(uint64_t types);
CSR_HIDDEN int csr_spawner_usable(const struct csr_plan *plan, uint64_t clone_ns);
CSR_HIDDEN pid_t csr_spawner_request(const struct csr_plan *plan, int sync_end, uint64_t new_ns, uint64_t join_ns,
                                     int *relayed);
CSR_HIDDEN void csr_spawner_dismiss(void);
CSR_HIDDEN void csr_spawner_reap(int wait);
CSR_HIDDEN void csr_spawner_kill(void);
CSR_HIDDEN pid_t csr_spawner_clone(uint64_t clone_ns, int cgroup_fd, int *in_cgroup);
CSR_HIDDEN void csr_spawner_report(int sync_fd, pid_t pid, int in_cgroup);
CSR_HIDDEN _Noreturn void csr_spawner_init(const struct csr_plan *plan, int sync_fd, uint64_t new_ns, uint64_t join_ns,
                                           const cpu_set_t *affinity, uint64_t unshare_ns, int rejoin_mntns,
                                           int root_slave);

/* nsprep.c's thread, started without looking for the start-up's, and the start-up's own (set by
 * nsprep_early.c in the csrun executable when the spawner could not start, taken by csr_nsprep_claim). */
CSR_HIDDEN struct csr_nsprep *csr_nsprep_start(uint64_t types);
extern CSR_HIDDEN struct csr_nsprep *_Atomic csr_nsprep_early;

/* Marks every fd >= from close-on-exec (close_range(2), or /proc/self/fd iteration fallback). */
CSR_HIDDEN int csr_cloexec_from(int from);
/* Closes fds >= from except the keeps (-1 for none; close_range, kernel >= 5.9). */
CSR_HIDDEN void csr_close_inherited(int from, int keep1, int keep2, int keep3);
/* sendmsg with one fd (or up to CSR_MAX_SEND_FDS) in SCM_RIGHTS and data as the payload; 0 when all of
 * it was sent. csr_recv_fds takes one such message (its descriptors O_CLOEXEC): recvmsg's result, and in
 * *n_fds how many came, or -1 when there were more than max_fds (none of them kept open). */
#define CSR_MAX_SEND_FDS 64
CSR_HIDDEN int csr_send_fd(int sock, int fd, const char *data, size_t len);
CSR_HIDDEN int csr_send_fds(int sock, const int *fds, int n_fds, const void *data, size_t len);
CSR_HIDDEN ssize_t csr_recv_fds(int sock, void *data, size_t len, int *fds, int max_fds, int *n_fds);

/* Line reader over a file with a fixed buffer. Lines longer than the buffer are returned
 * truncated (*truncated = 1) and the rest is skipped: callers only need their leading fields. */
struct csr_lines {
    int fd;
    size_t start, end;
    int skip;
    char buf[16384];
};
CSR_HIDDEN int csr_lines_open(struct csr_lines *l, const char *path);
CSR_HIDDEN char *csr_lines_next(struct csr_lines *l, int *truncated);
CSR_HIDDEN void csr_lines_close(struct csr_lines *l);

/* Splits s in place on ' ' into at most max fields; returns the count. */
CSR_HIDDEN int csr_split_fields(char *s, char **fields, int max);

/* Decodes mountinfo's octal escapes (\040 etc.) in place. */
CSR_HIDDEN void csr_unescape_mountinfo(char *s);

/* ---- child context (spawn.c owns it) ------------------------------------------------------ */

struct csr_ctx {
    const struct csr_plan *plan;
    int sync_fd;          /* child end of the sync channel */
    int created;          /* 1 after "created" was reported: errors then go to fd 2 */
    int has_mntns;        /* the container has a mount namespace (new or joined) */
    int new_userns;
    int new_cgroupns;     /* unshare CLONE_NEWCGROUP once placed in cgroups */
    int has_cgroupns;     /* new or joined cgroup namespace: /proc/self/cgroup is ns-relative */
    int has_userns;       /* new or joined user namespace */
    int has_utsns;        /* new or joined UTS namespace */
    int root_fd;          /* O_PATH fd of the rootfs after its self-bind, -1 before */
    int mounts_done;      /* plan mounts made so far (csr_setup_rootfs may run in two steps) */
    int root_slave;       /* "/" is a recursive slave already: the mount namespace was made ahead (spawner.c) */
    int devices_done;     /* the devices were made before the resume (csr_devices_early) */
    int bounding_dropped; /* csr_drop_bounding ran */
#define CSR_EARLY_CGROUP_FDS 16
    int cgroup_fds[CSR_EARLY_CGROUP_FDS]; /* late-joined cgroups' tasks files opened before the resume, or -1 */
    int fifo_fd;          /* O_PATH fd of the exec fifo, -1 when none */
    size_t state_len;     /* bytes of state JSON in plan->state_buf */
    char exe[PATH_MAX];   /* resolved argv[0] */
    char home_env[5 + PATH_MAX]; /* "HOME=..." added to the env at exec, or "" */
    struct csr_error err; /* scratch for the current failure */
    const char *procstate; /* container process state for the seccomp listener, after the state */
    size_t procstate_len;
};

/* Reports c->err (to the parent before "created", else to fd 2) and exits. (spawn.c) */
CSR_HIDDEN _Noreturn void csr_child_fail(struct csr_ctx *c);

/* ---- rootfs.c ----------------------------------------------------------------------------- */

enum csr_create { CSR_NO_CREATE = 0, CSR_CREATE_DIR = 1, CSR_CREATE_FILE = 2 };

/* Opens path (absolute, inside the container) relative to root_fd without ever leaving it
 * (openat2 RESOLVE_IN_ROOT), creating missing components when asked. Returns an O_PATH fd. */
CSR_HIDDEN int csr_resolve_in_root(int root_fd, const char *path, enum csr_create create,
                                   struct csr_error *e);
/* Propagation, self-bind, plan mounts. With before_cgroups, stops at the first cgroup mount (which
 * needs the container's cgroups and cgroup namespace); a later call goes on from there. */
CSR_HIDDEN int csr_setup_rootfs(struct csr_ctx *c, int before_cgroups);
CSR_HIDDEN int csr_pivot_root(struct csr_ctx *c);        /* pivot_root / move+chroot / chroot */
CSR_HIDDEN int csr_finalize_rootfs(struct csr_ctx *c);   /* readonly, masked, ro root */
/* Whether the devices may be made right after the mounts that precede the first cgroup mount: every plan
 * mount is done, or the one left is that cgroup mount and no device lies under it. */
CSR_HIDDEN int csr_devices_early(const struct csr_ctx *c);

/* ---- devices.c ---------------------------------------------------------------------------- */

CSR_HIDDEN int csr_setup_devices(struct csr_ctx *c);

/* ---- copyup.c ----------------------------------------------------------------------------- */

CSR_HIDDEN int csr_copy_tree(int src_dir, int dst_dir, struct csr_error *e); /* tmpcopyup's copy */

/* ---- network.c ---------------------------------------------------------------------------- */

CSR_HIDDEN int csr_setup_network(struct csr_ctx *c);      /* loopback up in a network namespace of its own */
CSR_HIDDEN int csr_loopback_up(void);                     /* this network namespace's loopback up; -1, errno */

/* ---- process.c ---------------------------------------------------------------------------- */

CSR_HIDDEN int csr_set_uts_and_sysctls(struct csr_ctx *c);
CSR_HIDDEN int csr_set_oom_score(struct csr_ctx *c);
CSR_HIDDEN int csr_open_exec_fifo(struct csr_ctx *c);
CSR_HIDDEN int csr_setup_process(struct csr_ctx *c);      /* rlimits .. executable lookup */
/* Shrinks the bounding set to the plan's (once): it only bounds what an execve may gain, so the init keeps its
 * own capabilities for the rest of its setup. */
CSR_HIDDEN int csr_drop_bounding(struct csr_ctx *c);
CSR_HIDDEN int csr_wait_exec_fifo(struct csr_ctx *c);
CSR_HIDDEN _Noreturn void csr_exec(struct csr_ctx *c);

/* ---- hooks.c ------------------------------------------------------------------------------ */

CSR_HIDDEN int csr_run_hooks(const struct csr_hook *hooks, int n, const char *state, size_t len,
                             struct csr_error *e);

/* Joins plan->session_keyring (a fresh session keyring), before the ids change. */
CSR_HIDDEN int csr_join_session_keyring(struct csr_ctx *c);

/* process.terminal: pty in the container, master to the console socket, slave as stdio. */
CSR_HIDDEN int csr_setup_console(struct csr_ctx *c);

#endif
