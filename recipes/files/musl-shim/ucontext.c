/* makecontext, and the checks that hold the assembly's offsets to this libc's ucontext_t.
 * musl declares getcontext, makecontext, setcontext and swapcontext in <ucontext.h> but does
 * not implement them; systemd's fibers (sd-future) need all but setcontext. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "ucontext-offsets.h"

#define LAYOUT(member, offset) \
    _Static_assert(offsetof(ucontext_t, member) == (offset), #member " is not where the assembly looks")

LAYOUT(uc_link, UC_LINK);
LAYOUT(uc_stack.ss_sp, UC_STACK_SP);
LAYOUT(uc_stack.ss_size, UC_STACK_SIZE);
LAYOUT(uc_sigmask, UC_SIGMASK);

#if defined(__x86_64__)
LAYOUT(uc_mcontext.gregs, UC_GREGS);
LAYOUT(uc_mcontext.fpregs, UC_FPREGS_POINTER);
LAYOUT(__fpregs_mem, UC_FPREGS_MEM);
LAYOUT(uc_mcontext.gregs[REG_R8], UC_R8);
LAYOUT(uc_mcontext.gregs[REG_R9], UC_R9);
LAYOUT(uc_mcontext.gregs[REG_R12], UC_R12);
LAYOUT(uc_mcontext.gregs[REG_R15], UC_R15);
LAYOUT(uc_mcontext.gregs[REG_RDI], UC_RDI);
LAYOUT(uc_mcontext.gregs[REG_RSI], UC_RSI);
LAYOUT(uc_mcontext.gregs[REG_RBP], UC_RBP);
LAYOUT(uc_mcontext.gregs[REG_RBX], UC_RBX);
LAYOUT(uc_mcontext.gregs[REG_RDX], UC_RDX);
LAYOUT(uc_mcontext.gregs[REG_RCX], UC_RCX);
LAYOUT(uc_mcontext.gregs[REG_RSP], UC_RSP);
LAYOUT(uc_mcontext.gregs[REG_RIP], UC_RIP);
_Static_assert(sizeof(((ucontext_t *)0)->__fpregs_mem) >= FP_MXCSR + 4, "no room for MXCSR");
#define ARGUMENT_REGISTERS 6
#elif defined(__aarch64__)
LAYOUT(uc_mcontext.regs, UC_REGS);
LAYOUT(uc_mcontext.sp, UC_SP);
LAYOUT(uc_mcontext.pc, UC_PC);
LAYOUT(uc_mcontext.__reserved, UC_FP_SAVE);
#define ARGUMENT_REGISTERS 8
#endif

/* The assembly's ending for a function started by makecontext: it resumes uc_link, or exits
 * the process with status 0 when uc_link is null. */
void musl_shim_context_start(void);

/* The assembly's way out when rt_sigprocmask fails: the kernel's -errno in `result`. */
__attribute__((visibility("hidden"))) int musl_shim_syscall_failed(long result)
{
    errno = (int)-result;
    return -1;
}

/* Sets the context up to call func with argc integer arguments on ucp's own stack: the first
 * arguments in registers, the rest on the stack as a call would leave them, and a return into
 * musl_shim_context_start. uc_link is read now, as POSIX has it. */
void makecontext(ucontext_t *ucp, void (*func)(void), int argc, ...)
{
    int on_stack = argc > ARGUMENT_REGISTERS ? argc - ARGUMENT_REGISTERS : 0;
    uintptr_t top = (uintptr_t)ucp->uc_stack.ss_sp + ucp->uc_stack.ss_size;
    uintptr_t sp = (top - (uintptr_t)on_stack * sizeof(unsigned long)) & ~(uintptr_t)15;
    unsigned long *stack_arguments = (unsigned long *)sp;
    unsigned long arguments[ARGUMENT_REGISTERS] = {0};
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        unsigned long value = va_arg(ap, unsigned long);
        if (i < ARGUMENT_REGISTERS)
            arguments[i] = value;
        else
            stack_arguments[i - ARGUMENT_REGISTERS] = value;
    }
    va_end(ap);

#if defined(__x86_64__)
    static const int argument_registers[ARGUMENT_REGISTERS] = {REG_RDI, REG_RSI, REG_RDX,
                                                               REG_RCX, REG_R8,  REG_R9};
    greg_t *gregs = ucp->uc_mcontext.gregs;
    for (int i = 0; i < ARGUMENT_REGISTERS; i++)
        gregs[argument_registers[i]] = (greg_t)arguments[i];
    /* The function is entered as if called: its return address at the stack pointer, which
     * leaves the pointer 8 bytes below a 16-byte boundary. */
    sp -= sizeof(unsigned long);
    *(unsigned long *)sp = (unsigned long)musl_shim_context_start;
    gregs[REG_RSP] = (greg_t)sp;
    gregs[REG_RIP] = (greg_t)func;
    gregs[REG_RBX] = (greg_t)ucp->uc_link;
    gregs[REG_RBP] = 0;
#elif defined(__aarch64__)
    mcontext_t *machine = &ucp->uc_mcontext;
    for (int i = 0; i < ARGUMENT_REGISTERS; i++)
        machine->regs[i] = arguments[i];
    machine->sp = sp;
    machine->pc = (unsigned long)func;
    machine->regs[30] = (unsigned long)musl_shim_context_start;
    machine->regs[19] = (unsigned long)ucp->uc_link;
    machine->regs[29] = 0;
#endif
}
