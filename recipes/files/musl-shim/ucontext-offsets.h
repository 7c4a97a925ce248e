/* Where the ucontext functions keep each register inside ucontext_t. The assembly reads these
 * numbers; ucontext.c checks every one against <ucontext.h> when it is compiled, so a libc whose
 * layout differs fails the build instead of corrupting a context. musl and the kernel share the
 * layout on both architectures. */
#ifndef MUSL_SHIM_UCONTEXT_OFFSETS_H
#define MUSL_SHIM_UCONTEXT_OFFSETS_H

#define UC_LINK 8
#define UC_STACK_SP 16
#define UC_STACK_SIZE 32

/* rt_sigprocmask's last argument: the kernel's signal set is 64 bits, whatever libc reserves. */
#define KERNEL_SIGSET_BYTES 8
#define SIG_BLOCK_HOW 0
#define SIG_SETMASK_HOW 2

#if defined(__x86_64__)
#define UC_SIGMASK 296
#define UC_GREGS 40
#define UC_FPREGS_POINTER 224
#define UC_FPREGS_MEM 424
/* Inside the fxsave image __fpregs_mem holds: the x87 control word and the SSE control word. */
#define FP_CONTROL_WORD 0
#define FP_MXCSR 24
#define UC_R8 (UC_GREGS + 0 * 8)
#define UC_R9 (UC_GREGS + 1 * 8)
#define UC_R12 (UC_GREGS + 4 * 8)
#define UC_R13 (UC_GREGS + 5 * 8)
#define UC_R14 (UC_GREGS + 6 * 8)
#define UC_R15 (UC_GREGS + 7 * 8)
#define UC_RDI (UC_GREGS + 8 * 8)
#define UC_RSI (UC_GREGS + 9 * 8)
#define UC_RBP (UC_GREGS + 10 * 8)
#define UC_RBX (UC_GREGS + 11 * 8)
#define UC_RDX (UC_GREGS + 12 * 8)
#define UC_RCX (UC_GREGS + 14 * 8)
#define UC_RSP (UC_GREGS + 15 * 8)
#define UC_RIP (UC_GREGS + 16 * 8)
#define SYS_RT_SIGPROCMASK 14
#elif defined(__aarch64__)
#define UC_SIGMASK 40
#define UC_REGS 184
#define UC_SP 432
#define UC_PC 440
/* d8-d15, then FPSR and FPCR, in the first bytes of __reserved: only this library's
 * setcontext reads them back, so they need not be the kernel's signal frame records. */
#define UC_FP_SAVE 464
#define UC_FPSR (UC_FP_SAVE + 64)
#define UC_FPCR (UC_FP_SAVE + 72)
#define UC_X(n) (UC_REGS + (n) * 8)
#define SYS_RT_SIGPROCMASK 135
#else
#error "musl-shim implements the ucontext functions for x86_64 and aarch64 only"
#endif

#endif
