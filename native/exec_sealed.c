/*
 * Exec through a sealed memfd copy of csrun-exec (native/shim), so that /proc/self/exe of the container's
 * process never names the csrun binary on the host (CVE-2019-5736). The memfd is made once per spawn in the
 * parent; the child execs it with execveat(AT_EMPTY_PATH) and the shim execs the real program.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exec_sealed.h"

extern const unsigned char csr_shim_start[];
extern const unsigned char csr_shim_end[];

int csr_shim_memfd(void)
{
    int fd = (int)syscall(SYS_memfd_create, "csrun-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    const unsigned char *p = csr_shim_start;
    size_t left = (size_t)(csr_shim_end - csr_shim_start);
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    /* No one, the container's root included, can change a byte of it from here on. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        goto fail;
    return fd;
fail: {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
}

int csr_exec_sealed(int shim_fd, const char *path, char *const argv[], char *const envp[])
{
    int argc = 0;
    while (argv[argc])
        argc++;
    /* On the child's stack: no allocation between clone and exec. */
    const char *nargv[argc + 3];
    nargv[0] = "csrun-exec";
    nargv[1] = path;
    for (int i = 0; i < argc; i++)
        nargv[i + 2] = argv[i];
    nargv[argc + 2] = NULL;
    syscall(SYS_execveat, shim_fd, "", (char *const *)nargv, envp, AT_EMPTY_PATH);
    return -1;
}
