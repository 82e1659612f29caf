#ifndef CSRUN_EXEC_SEALED_H
#define CSRUN_EXEC_SEALED_H

/* A sealed memfd holding csrun-exec (O_CLOEXEC); -1 with errno on failure. Parent side, before clone. */
__attribute__((visibility("hidden"))) int csr_shim_memfd(void);

/* Child side: execs PATH with ARGV/ENVP through the shim in SHIM_FD. Returns -1 (errno set) on failure. */
__attribute__((visibility("hidden"))) int csr_exec_sealed(int shim_fd, const char *path, char *const argv[], char *const envp[]);

#endif
