/*
 * csrun-exec: the last hop before the container's program (CVE-2019-5736 defence).
 *
 * The container's init is a copy of csrun until it execs, so /proc/self/exe names the csrun binary. A
 * container whose program is "#!/proc/self/exe" would make the kernel run csrun itself inside the
 * container, where a library from the container's rootfs could reopen /proc/self/exe for writing and
 * overwrite the host's csrun. Instead, the init execs this tiny program from a sealed memfd (see
 * exec_sealed.c): from then on /proc/self/exe is a memfd nobody can write, and this program has no
 * dynamic loader, no libraries and no logic beyond one execve.
 *
 * argv: [ "csrun-exec", PATH, ARGV0, ARGV1, ... ]  ->  execve(PATH, [ARGV0, ARGV1, ...], envp)
 * Built -nostdlib -static: raw syscalls only.
 */
#include <asm/unistd.h>

static long sys3(long n, long a, long b, long c)
{
    long ret;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    ret = x0;
#else
#error "csrun-exec: unsupported architecture"
#endif
    return ret;
}

static unsigned long len(const char *s)
{
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}

static void say(const char *s) { sys3(__NR_write, 2, (long)s, (long)len(s)); }

__attribute__((used)) void csrun_exec_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 3) {
        say("csrun-exec: usage: csrun-exec PATH ARGV0 [ARGS...]\n");
        sys3(__NR_exit_group, 127, 0, 0);
    }
    long err = sys3(__NR_execve, (long)argv[1], (long)(argv + 2), (long)envp);
    /* Only reached when execve failed: report like a shell would. */
    char num[24];
    int i = sizeof num - 1;
    num[i] = 0;
    unsigned long e = (unsigned long)(-err);
    do { num[--i] = (char)('0' + e % 10); e /= 10; } while (e && i > 0);
    say("csrun: exec ");
    say(argv[1]);
    say(": errno ");
    say(num + i);
    say("\n");
    sys3(__NR_exit_group, 127, 0, 0);
}

/* The kernel enters at _start with the stack pointing at argc. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call csrun_exec_main\n  hlt\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n_start:\n  mov x0, sp\n  bl csrun_exec_main\n  brk #0\n");
#endif
