/* getcontext, setcontext and swapcontext for aarch64. A context holds the registers the
 * AAPCS64 makes a callee keep (x19-x28, the frame pointer, d8-d15, FPSR and FPCR), the link
 * register, the stack pointer and the address to resume at; a context from makecontext also
 * holds the arguments in x0-x7. */
#include "ucontext-offsets.h"

	.text

/* Stores the caller's registers into the context at \base as they will be once this call has
 * returned, with x0 as 0: what getcontext and swapcontext return when it is resumed. */
.macro save_registers base
	stp x19, x20, [\base, #UC_X(19)]
	stp x21, x22, [\base, #UC_X(21)]
	stp x23, x24, [\base, #UC_X(23)]
	stp x25, x26, [\base, #UC_X(25)]
	stp x27, x28, [\base, #UC_X(27)]
	stp x29, x30, [\base, #UC_X(29)]
	str xzr, [\base, #UC_X(0)]
	mov x9, sp
	str x9, [\base, #UC_SP]
	str x30, [\base, #UC_PC]
	add x10, \base, #UC_FP_SAVE
	stp d8, d9, [x10]
	stp d10, d11, [x10, #16]
	stp d12, d13, [x10, #32]
	stp d14, d15, [x10, #48]
	mrs x9, fpsr
	str x9, [\base, #UC_FPSR]
	mrs x9, fpcr
	str x9, [\base, #UC_FPCR]
.endm

	.globl getcontext
	.type getcontext, %function
getcontext:
	save_registers x0
	/* rt_sigprocmask(SIG_BLOCK, NULL, &ucp->uc_sigmask) only reads the mask. */
	add x2, x0, #UC_SIGMASK
	mov x0, #SIG_BLOCK_HOW
	mov x1, #0
	mov x3, #KERNEL_SIGSET_BYTES
	mov x8, #SYS_RT_SIGPROCMASK
	svc #0
	cmn x0, #4095
	b.hs failed
	mov x0, #0
	ret
	.size getcontext, . - getcontext

	.globl setcontext
	.type setcontext, %function
setcontext:
	mov x9, x0
	add x1, x9, #UC_SIGMASK
	mov x2, #0
	b switch_mask
	.size setcontext, . - setcontext

	.globl swapcontext
	.type swapcontext, %function
swapcontext:
	save_registers x0
	/* One rt_sigprocmask both installs the new mask and stores the old one. */
	mov x9, x1
	add x2, x0, #UC_SIGMASK
	add x1, x9, #UC_SIGMASK
	.size swapcontext, . - swapcontext

/* rt_sigprocmask(SIG_SETMASK, x1, x2), then resumes the context at x9. */
switch_mask:
	mov x0, #SIG_SETMASK_HOW
	mov x3, #KERNEL_SIGSET_BYTES
	mov x8, #SYS_RT_SIGPROCMASK
	svc #0
	cmn x0, #4095
	b.hs failed

/* Loads the context at x9 and resumes it, through x16 so that a landing pad for indirect
 * calls accepts the jump. */
restore:
	add x10, x9, #UC_FP_SAVE
	ldp d8, d9, [x10]
	ldp d10, d11, [x10, #16]
	ldp d12, d13, [x10, #32]
	ldp d14, d15, [x10, #48]
	ldr x11, [x9, #UC_FPSR]
	msr fpsr, x11
	ldr x11, [x9, #UC_FPCR]
	msr fpcr, x11
	ldp x19, x20, [x9, #UC_X(19)]
	ldp x21, x22, [x9, #UC_X(21)]
	ldp x23, x24, [x9, #UC_X(23)]
	ldp x25, x26, [x9, #UC_X(25)]
	ldp x27, x28, [x9, #UC_X(27)]
	ldp x29, x30, [x9, #UC_X(29)]
	ldr x11, [x9, #UC_SP]
	mov sp, x11
	ldr x16, [x9, #UC_PC]
	ldp x0, x1, [x9, #UC_X(0)]
	ldp x2, x3, [x9, #UC_X(2)]
	ldp x4, x5, [x9, #UC_X(4)]
	ldp x6, x7, [x9, #UC_X(6)]
	br x16

failed:
	b musl_shim_syscall_failed

/* Where a function started by makecontext returns to: makecontext put uc_link in x19, which
 * the function kept. */
	.globl musl_shim_context_start
	.hidden musl_shim_context_start
	.type musl_shim_context_start, %function
musl_shim_context_start:
	.cfi_startproc
	.cfi_undefined x30
	cbz x19, 1f
	mov x0, x19
	bl setcontext
	bl abort
1:	mov x0, #0
	bl exit
	.cfi_endproc
	.size musl_shim_context_start, . - musl_shim_context_start

	.section .note.GNU-stack, "", %progbits
