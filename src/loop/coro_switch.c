/* SPDX-License-Identifier: MIT */
/*
 * The hand-written context switch for x86-64 (System V) and aarch64
 * (AAPCS64).
 *
 * A switch is an ordinary function call as far as the compiler knows, so it
 * only has to preserve what the calling convention says a callee preserves:
 * push the callee-saved registers on the current stack, store the stack
 * pointer in from->sp, load to->sp, pop the other context's registers and
 * return into it. Caller-saved registers are already dead at the call.
 *
 *   x86-64:  rbx rbp r12-r15, and the control words MXCSR and x87 FPU CW,
 *            which the ABI also makes callee-saved (64 bytes with the
 *            return address).
 *   aarch64: x19-x28, x29 (frame pointer), x30 (link register), the low
 *            halves d8-d15 of v8-v15, and FPCR (rounding mode and traps,
 *            which AAPCS64 also preserves across calls); 176 bytes, so sp
 *            stays 16-aligned.
 *
 * A new context is a stack prepared to look as if it had been switched out:
 * its saved registers hold the entry function and its argument, and its
 * return address is a three-instruction trampoline that moves the argument
 * into the first argument register and calls the entry (which never
 * returns; a trap follows in case it does). The frame pointer is zero so
 * that backtraces stop at the coroutine's first frame.
 *
 * Cost: about a dozen stores and loads each way, no system call (ucontext's
 * swapcontext also saves the signal mask with a sigprocmask system call).
 */
#include "coro.h"

#ifndef SPOOL__CORO_UCONTEXT

#include <stdint.h>
#include <string.h>

/* void spool__coro_swap(void **save_sp, void *new_sp) */
void spool__coro_swap(void **save_sp, void *new_sp);
void spool__coro_trampoline(void);

#if defined(__x86_64__)

#ifdef __CET__
#define SPOOL__ENDBR "endbr64\n"
#else
#define SPOOL__ENDBR ""
#endif

__asm__(".text\n"
	".globl spool__coro_swap\n"
	".hidden spool__coro_swap\n"
	".type spool__coro_swap,@function\n"
	".p2align 4\n"
	"spool__coro_swap:\n"
	".cfi_startproc\n" SPOOL__ENDBR "	pushq %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	subq $8, %rsp\n"
	"	stmxcsr (%rsp)\n"
	"	fnstcw 4(%rsp)\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	ldmxcsr (%rsp)\n"
	"	fldcw 4(%rsp)\n"
	"	addq $8, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".cfi_endproc\n"
	".size spool__coro_swap,.-spool__coro_swap\n"
	"\n"
	".globl spool__coro_trampoline\n"
	".hidden spool__coro_trampoline\n"
	".type spool__coro_trampoline,@function\n"
	".p2align 4\n"
	"spool__coro_trampoline:\n"
	".cfi_startproc\n"
	".cfi_undefined rip\n"
	"	movq %r12, %rdi\n"
	"	callq *%r13\n"
	"	ud2\n"
	".cfi_endproc\n"
	".size spool__coro_trampoline,.-spool__coro_trampoline\n");

/* The switched-out frame, lowest address first (what new_sp points at). */
struct frame {
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
	void *r15, *r14, *r13, *r12, *rbx, *rbp;
	void *ret;
};

void spool__coro_raw_make(struct spool__coro *c, void *stack_lo, size_t size,
			  void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
	/* After the switch's ret pops fr->ret, rsp = top: 16-aligned, as a
	 * call instruction (the trampoline's) requires. */
	struct frame *fr = (struct frame *)(top - sizeof *fr);
	memset(fr, 0, sizeof *fr);
	fr->mxcsr = 0x1f80; /* all exceptions masked, round to nearest */
	fr->fpucw = 0x037f; /* the same for x87, extended precision */
	fr->r12 = arg;
	fr->r13 = (void *)(uintptr_t)entry;
	fr->ret = (void *)(uintptr_t)spool__coro_trampoline;
	c->sp = fr;
}

#elif defined(__aarch64__)

__asm__(".text\n"
	".globl spool__coro_swap\n"
	".hidden spool__coro_swap\n"
	".type spool__coro_swap,%function\n"
	".p2align 4\n"
	"spool__coro_swap:\n"
	".cfi_startproc\n"
	"	sub sp, sp, #176\n"
	"	stp x19, x20, [sp, #0]\n"
	"	stp x21, x22, [sp, #16]\n"
	"	stp x23, x24, [sp, #32]\n"
	"	stp x25, x26, [sp, #48]\n"
	"	stp x27, x28, [sp, #64]\n"
	"	stp x29, x30, [sp, #80]\n"
	"	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n"
	"	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n"
	"	mrs x9, fpcr\n"
	"	str x9, [sp, #160]\n"
	"	mov x9, sp\n"
	"	str x9, [x0]\n"
	"	mov sp, x1\n"
	"	ldp x19, x20, [sp, #0]\n"
	"	ldp x21, x22, [sp, #16]\n"
	"	ldp x23, x24, [sp, #32]\n"
	"	ldp x25, x26, [sp, #48]\n"
	"	ldp x27, x28, [sp, #64]\n"
	"	ldp x29, x30, [sp, #80]\n"
	"	ldp d8, d9, [sp, #96]\n"
	"	ldp d10, d11, [sp, #112]\n"
	"	ldp d12, d13, [sp, #128]\n"
	"	ldp d14, d15, [sp, #144]\n"
	"	ldr x9, [sp, #160]\n"
	"	msr fpcr, x9\n"
	"	add sp, sp, #176\n"
	"	ret\n"
	".cfi_endproc\n"
	".size spool__coro_swap,.-spool__coro_swap\n"
	"\n"
	".globl spool__coro_trampoline\n"
	".hidden spool__coro_trampoline\n"
	".type spool__coro_trampoline,%function\n"
	".p2align 4\n"
	"spool__coro_trampoline:\n"
	".cfi_startproc\n"
	".cfi_undefined x30\n"
	"	mov x0, x19\n"
	"	blr x20\n"
	"	brk #0\n"
	".cfi_endproc\n"
	".size spool__coro_trampoline,.-spool__coro_trampoline\n");

struct frame {
	void *x19, *x20, *x21, *x22, *x23, *x24, *x25, *x26, *x27, *x28;
	void *x29, *x30;
	double d[8];
	uint64_t fpcr; /* 0: round to nearest, no traps */
	uint64_t pad;
};

void spool__coro_raw_make(struct spool__coro *c, void *stack_lo, size_t size,
			  void (*entry)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
	struct frame *fr = (struct frame *)(top - sizeof *fr);
	_Static_assert(sizeof(struct frame) == 176, "frame matches the asm");
	memset(fr, 0, sizeof *fr);
	fr->x19 = arg;
	fr->x20 = (void *)(uintptr_t)entry;
	fr->x30 = (void *)(uintptr_t)spool__coro_trampoline;
	c->sp = fr;
}

#else
#error "no hand-written switch for this architecture: use SPOOL_CORO_UCONTEXT"
#endif

void spool__coro_raw_switch(struct spool__coro *from, struct spool__coro *to)
{
	spool__coro_swap(&from->sp, to->sp);
}

/* The stack is not executable. */
__asm__(".section .note.GNU-stack,\"\",%progbits\n.text\n");

#endif /* !SPOOL__CORO_UCONTEXT */
