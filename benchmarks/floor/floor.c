/*
 * floor: the kernel work of a container start and nothing else, as a reference row in `make bench`.
 * Three v1 cgroups (or one v2 cgroup), clone with pid/mnt/uts/ipc/net namespaces, proc, /dev tmpfs,
 * devpts, /dev/shm and sysfs mounts, pivot_root, exec, wait, cgroup removal. No config parsing, no
 * state, no masks, no devices, no hooks: what no runtime can go below on this host.
 *
 * Takes a runc-style command line so the benchmark drives it like a runtime:
 *   floor [--root DIR] run --bundle BUNDLE ID   (runs BUNDLE/rootfs/bin/true)
 *   floor --version | anything else             (prints/does nothing, exit 0)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const v1[] = {"memory", "pids", "cpu"};
static char cg[3][512];
static int ncg;
static const char *rootfs_path;
static int sync_pipe[2];

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    _exit(1);
}

static int child(void *arg)
{
    (void)arg;
    char go;
    close(sync_pipe[1]);
    if (read(sync_pipe[0], &go, 1) != 1) _exit(1);
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("make / rslave");
    if (mount(rootfs_path, rootfs_path, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs");
    if (chdir(rootfs_path) < 0) die("chdir rootfs");
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount proc");
    if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0) die("mount dev");
    mkdir("dev/pts", 0755);
    if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0) die("mount devpts");
    mkdir("dev/shm", 01777);
    if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0) die("mount shm");
    if (mount("sysfs", "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0) die("mount sys");
    sethostname("floor", 5);
    if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0) die("umount old root");
    if (chdir("/") < 0) die("chdir /");
    char *argv[] = {"true", NULL}, *envp[] = {"PATH=/bin", NULL};
    execve("/bin/true", argv, envp);
    die("exec /bin/true");
    return 1;
}

int main(int argc, char **argv)
{
    const char *bundle = NULL, *id = NULL;
    int run = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) { puts("floor (kernel work only)"); return 0; }
        if (!strcmp(argv[i], "run")) run = 1;
        else if (!strcmp(argv[i], "--bundle") && i + 1 < argc) bundle = argv[++i];
        else if (!strcmp(argv[i], "--root") && i + 1 < argc) i++;
        else id = argv[i];
    }
    if (!run) return 0;
    if (!bundle || !id) { fputs("floor: run needs --bundle and an id\n", stderr); return 2; }
    static char rootfs[4096];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", bundle);
    rootfs_path = rootfs;

    int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    for (int i = 0; i < (v2 ? 1 : 3); i++) {
        if (v2) snprintf(cg[ncg], sizeof cg[ncg], "/sys/fs/cgroup/csrun/floor-%s", id);
        else snprintf(cg[ncg], sizeof cg[ncg], "/sys/fs/cgroup/%s/csrun/floor-%s", v1[i], id);
        char parent[512];
        snprintf(parent, sizeof parent, "%.*s", (int)(strrchr(cg[ncg], '/') - cg[ncg]), cg[ncg]);
        mkdir(parent, 0755);
        if (mkdir(cg[ncg], 0755) < 0 && errno != EEXIST) die("mkdir cgroup");
        ncg++;
    }
    if (pipe2(sync_pipe, O_CLOEXEC) < 0) die("pipe");
    static char stack[256 * 1024];
    pid_t pid = clone(child, stack + sizeof stack,
                      SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, NULL);
    if (pid < 0) die("clone");
    close(sync_pipe[0]);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", pid);
    for (int i = 0; i < ncg; i++) {
        char procs[600];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", cg[i]);
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, buf, (size_t)n) != n) die("join cgroup");
        close(fd);
    }
    if (write(sync_pipe[1], "g", 1) != 1) die("release child");
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    for (int i = 0; i < ncg; i++) rmdir(cg[i]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
