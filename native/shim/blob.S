/* The csrun-exec binary, embedded so the runtime stays one file. Built by the Makefile first. */
    .section .rodata
    .balign 16
    .globl csr_shim_start
    .globl csr_shim_end
    .hidden csr_shim_start
    .hidden csr_shim_end
csr_shim_start:
    .incbin "csrun-exec"
csr_shim_end:
    .section .note.GNU-stack,"",@progbits
