/* getcontext, setcontext and swapcontext for x86_64. A context holds the registers the SysV
 * ABI makes a callee keep (rbx, rbp, r12-r15, the x87 and SSE control words), the stack
 * pointer and the address to resume at; a context from makecontext also holds the arguments
 * in rdi, rsi, rdx, rcx, r8 and r9. */
#include "ucontext-offsets.h"

	.text

/* Stores the caller's registers into the context at \base, as they will be once this call
 * has returned: its stack pointer above the return address, which is where it resumes. */
.macro save_registers base
	movq %rbx, UC_RBX(\base)
	movq %rbp, UC_RBP(\base)
	movq %r12, UC_R12(\base)
	movq %r13, UC_R13(\base)
	movq %r14, UC_R14(\base)
	movq %r15, UC_R15(\base)
	leaq 8(%rsp), %rax
	movq %rax, UC_RSP(\base)
	movq (%rsp), %rax
	movq %rax, UC_RIP(\base)
	leaq UC_FPREGS_MEM(\base), %rax
	movq %rax, UC_FPREGS_POINTER(\base)
	fnstcw FP_CONTROL_WORD(%rax)
	stmxcsr FP_MXCSR(%rax)
.endm

	.globl getcontext
	.type getcontext, @function
getcontext:
	save_registers %rdi
	/* rt_sigprocmask(SIG_BLOCK, NULL, &ucp->uc_sigmask) only reads the mask. */
	leaq UC_SIGMASK(%rdi), %rdx
	xorl %esi, %esi
	movl $SIG_BLOCK_HOW, %edi
	movl $KERNEL_SIGSET_BYTES, %r10d
	movl $SYS_RT_SIGPROCMASK, %eax
	syscall
	cmpq $-4095, %rax
	jae failed
	xorl %eax, %eax
	ret
	.size getcontext, . - getcontext

	.globl setcontext
	.type setcontext, @function
setcontext:
	pushq %rdi
	leaq UC_SIGMASK(%rdi), %rsi
	xorl %edx, %edx
	jmp switch_mask
	.size setcontext, . - setcontext

	.globl swapcontext
	.type swapcontext, @function
swapcontext:
	save_registers %rdi
	/* One rt_sigprocmask both installs the new mask and stores the old one. */
	pushq %rsi
	leaq UC_SIGMASK(%rdi), %rdx
	leaq UC_SIGMASK(%rsi), %rsi
	.size swapcontext, . - swapcontext

/* rt_sigprocmask(SIG_SETMASK, rsi, rdx), then resumes the context on top of the stack. */
switch_mask:
	movl $SIG_SETMASK_HOW, %edi
	movl $KERNEL_SIGSET_BYTES, %r10d
	movl $SYS_RT_SIGPROCMASK, %eax
	syscall
	popq %rdi
	cmpq $-4095, %rax
	jae failed

/* Loads the context at rdi and resumes it; rax is 0, which is what a getcontext or swapcontext
 * returns when its context is resumed. A context no getcontext filled in has a null fpregs
 * pointer, and keeps the control words as they are. */
restore:
	cmpq $0, UC_FPREGS_POINTER(%rdi)
	je 1f
	fldcw UC_FPREGS_MEM + FP_CONTROL_WORD(%rdi)
	ldmxcsr UC_FPREGS_MEM + FP_MXCSR(%rdi)
1:	movq UC_RBX(%rdi), %rbx
	movq UC_RBP(%rdi), %rbp
	movq UC_R12(%rdi), %r12
	movq UC_R13(%rdi), %r13
	movq UC_R14(%rdi), %r14
	movq UC_R15(%rdi), %r15
	movq UC_RSP(%rdi), %rsp
	pushq UC_RIP(%rdi)
	movq UC_RSI(%rdi), %rsi
	movq UC_RDX(%rdi), %rdx
	movq UC_RCX(%rdi), %rcx
	movq UC_R8(%rdi), %r8
	movq UC_R9(%rdi), %r9
	movq UC_RDI(%rdi), %rdi
	xorl %eax, %eax
	ret

failed:
	movq %rax, %rdi
	jmp musl_shim_syscall_failed

/* Where a function started by makecontext returns to: makecontext put uc_link in rbx, which
 * the function kept. The stack is 16-byte aligned here, as a call needs. */
	.globl musl_shim_context_start
	.hidden musl_shim_context_start
	.type musl_shim_context_start, @function
musl_shim_context_start:
	.cfi_startproc
	.cfi_undefined rip
	testq %rbx, %rbx
	je 1f
	movq %rbx, %rdi
	call setcontext@PLT
	call abort@PLT
1:	xorl %edi, %edi
	call exit@PLT
	.cfi_endproc
	.size musl_shim_context_start, . - musl_shim_context_start

	.section .note.GNU-stack, "", @progbits
