/*
 * OpenSSL's CPU probe, deferred from every start to OpenSSL's first use.
 *
 * libcrypto's x86_64 assembly puts a call to OPENSSL_cpuid_setup into the executable's .init section, so the
 * statically linked csrun ran it at each start, before main: six cpuid instructions, each a trap to the
 * hypervisor on a VM (~4 us here), for TLS that only image pulls use. The link wraps the symbol
 * (-Wl,--wrap=OPENSSL_cpuid_setup, Csrun.Cli.csproj): that first call, from .init, returns at once; every later
 * one is the real probe, which OpenSSL makes itself as it initialises (OPENSSL_init_crypto, which .NET's
 * crypto shim calls before anything else). Until then OpenSSL has not run; had anything used it without
 * initialising, it would take its generic code paths, slower but correct.
 *
 * Linked only into the csrun executable (libcsrun_native.so leaves it out, as nsprep_early.c).
 */
void __real_OPENSSL_cpuid_setup(void);

void __wrap_OPENSSL_cpuid_setup(void)
{
    static int started;
    if (!started) {
        started = 1; /* .init's call: the process is starting */
        return;
    }
    __real_OPENSSL_cpuid_setup();
}
