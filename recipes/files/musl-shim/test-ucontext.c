/* Runs the ucontext functions as their users do and prints one line per case: "ok <case>",
 * or "FAIL <case>: <why>" and exit status 1. */
#define _GNU_SOURCE
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

static int failures;

static void report(const char *name, int ok, const char *why)
{
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
}

static void *new_stack(ucontext_t *context)
{
    void *stack = malloc(STACK_SIZE);
    if (!stack) {
        perror("malloc");
        exit(2);
    }
    context->uc_stack.ss_sp = stack;
    context->uc_stack.ss_size = STACK_SIZE;
    context->uc_stack.ss_flags = 0;
    return stack;
}

static void resumes_at_getcontext(void)
{
    ucontext_t context;
    volatile int passes = 0;
    if (getcontext(&context) != 0) {
        report("getcontext-setcontext", 0, "getcontext failed");
        return;
    }
    passes++;
    if (passes < 3)
        setcontext(&context);
    report("getcontext-setcontext", passes == 3, "setcontext did not resume at getcontext");
}

static ucontext_t main_context, coroutine_context;
static long received[10];

static void takes_ten(long a, long b, long c, long d, long e, long f, long g, long h, long i,
                      long j)
{
    long values[10] = {a, b, c, d, e, f, g, h, i, j};
    memcpy(received, values, sizeof values);
}

static void passes_arguments_and_follows_uc_link(void)
{
    void *stack;
    getcontext(&coroutine_context);
    stack = new_stack(&coroutine_context);
    coroutine_context.uc_link = &main_context;
    makecontext(&coroutine_context, (void (*)(void))takes_ten, 10, 1L, 2L, 3L, 4L, 5L, 6L, 7L,
                8L, 9L, 10L);
    if (swapcontext(&main_context, &coroutine_context) != 0) {
        report("makecontext-arguments", 0, "swapcontext failed");
        return;
    }
    int ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= received[i] == i + 1;
    report("makecontext-arguments", ok, "the function received other arguments");
    free(stack);
}

static volatile int yielded;
static int coroutine_kept_its_values;

/* Eight integers and eight doubles live across every switch, more than the registers a callee
 * must preserve hold on either machine, so that each side's own values sit in those registers
 * when it switches away: a register a switch does not restore comes back with the other
 * side's value. The empty asm makes the compiler hold each value in a register rather than
 * derive it again after the switch. */
#if defined(__x86_64__)
#define FP_REGISTER "+x"
#else
#define FP_REGISTER "+w"
#endif
#define IN_REGISTERS()                                                                         \
    do {                                                                                       \
        __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f), "+r"(g),   \
                         "+r"(h));                                                             \
        __asm__ volatile("" : FP_REGISTER(p), FP_REGISTER(q), FP_REGISTER(r), FP_REGISTER(s),  \
                         FP_REGISTER(t), FP_REGISTER(u), FP_REGISTER(v), FP_REGISTER(w));      \
    } while (0)
#define LIVE_VALUES(seed)                                                                      \
    const long base = (seed);                                                                  \
    long a = base, b = base * 3, c = base * 5, d = base * 7, e = base * 11, f = base * 13,     \
         g = base * 17, h = base * 19;                                                         \
    double p = base * 0.5, q = base * 0.25, r = base * 0.125, s = base * 1.5, t = base * 2.5, \
           u = base * 3.5, v = base * 4.5, w = base * 5.5;                                     \
    IN_REGISTERS()
#define TOUCH_VALUES()                                                                         \
    do {                                                                                       \
        a += 1, b += 1, c += 1, d += 1, e += 1, f += 1, g += 1, h += 1;                        \
        p += 1, q += 1, r += 1, s += 1, t += 1, u += 1, v += 1, w += 1;                        \
        IN_REGISTERS();                                                                        \
    } while (0)
#define VALUES_ARE(n)                                                                          \
    (a == base + (n) && b == base * 3 + (n) && c == base * 5 + (n) && d == base * 7 + (n) &&   \
     e == base * 11 + (n) && f == base * 13 + (n) && g == base * 17 + (n) &&                   \
     h == base * 19 + (n) && p == base * 0.5 + (n) && q == base * 0.25 + (n) &&                \
     r == base * 0.125 + (n) && s == base * 1.5 + (n) && t == base * 2.5 + (n) &&              \
     u == base * 3.5 + (n) && v == base * 4.5 + (n) && w == base * 5.5 + (n))

static volatile long coroutine_seed = 1000, main_seed = 7;

static void counts_to_five(void)
{
    LIVE_VALUES(coroutine_seed);
    for (int i = 1; i <= 5; i++) {
        yielded = i;
        swapcontext(&coroutine_context, &main_context);
        TOUCH_VALUES();
    }
    coroutine_kept_its_values = VALUES_ARE(5);
}

static void switches_back_and_forth(void)
{
    void *stack;
    long total = 0;
    getcontext(&coroutine_context);
    stack = new_stack(&coroutine_context);
    coroutine_context.uc_link = &main_context;
    makecontext(&coroutine_context, counts_to_five, 0);
    LIVE_VALUES(main_seed);
    for (int round = 0; round < 6; round++) {
        swapcontext(&main_context, &coroutine_context);
        TOUCH_VALUES();
        if (round < 5)
            total = total * 10 + yielded;
    }
    report("swapcontext-rounds", total == 12345, "the coroutine yielded other values");
    report("callee-saved-registers", VALUES_ARE(6) && coroutine_kept_its_values,
           "values kept across switches changed");
    free(stack);
}

static int mask_in_coroutine_has_usr1, mask_in_coroutine_has_usr2, rounding_in_coroutine;

static void looks_at_its_state(void)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    mask_in_coroutine_has_usr1 = sigismember(&now, SIGUSR1);
    mask_in_coroutine_has_usr2 = sigismember(&now, SIGUSR2);
    rounding_in_coroutine = fegetround();
}

/* Each context carries the signal mask and rounding mode it was captured with. */
static void keeps_signal_mask_and_rounding(void)
{
    sigset_t usr1, usr2, now;
    void *stack;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);

    sigprocmask(SIG_BLOCK, &usr2, NULL);
    fesetround(FE_TONEAREST);
    getcontext(&coroutine_context);
    sigprocmask(SIG_UNBLOCK, &usr2, NULL);
    stack = new_stack(&coroutine_context);
    coroutine_context.uc_link = &main_context;
    makecontext(&coroutine_context, looks_at_its_state, 0);

    sigprocmask(SIG_BLOCK, &usr1, NULL);
    fesetround(FE_UPWARD);
    swapcontext(&main_context, &coroutine_context);
    int rounding_in_main = fegetround();
    fesetround(FE_TONEAREST);
    sigprocmask(SIG_BLOCK, NULL, &now);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);

    report("signal-mask", !mask_in_coroutine_has_usr1 && mask_in_coroutine_has_usr2 &&
                              sigismember(&now, SIGUSR1) && !sigismember(&now, SIGUSR2),
           "a context ran with another's signal mask");
    report("rounding-mode", rounding_in_coroutine == FE_TONEAREST && rounding_in_main == FE_UPWARD,
           "a context ran with another's rounding mode");
    free(stack);
}

static sigjmp_buf leave_fiber;

static void jumps_out(void)
{
    siglongjmp(leave_fiber, 7);
}

/* What systemd's fibers do: enter once through swapcontext, leave by siglongjmp. */
static void leaves_by_siglongjmp(void)
{
    ucontext_t old;
    void *stack;
    getcontext(&coroutine_context);
    stack = new_stack(&coroutine_context);
    coroutine_context.uc_link = NULL;
    makecontext(&coroutine_context, jumps_out, 0);
    int value = sigsetjmp(leave_fiber, 0);
    if (value == 0) {
        swapcontext(&old, &coroutine_context);
        report("fiber-siglongjmp", 0, "swapcontext returned");
    } else {
        report("fiber-siglongjmp", value == 7, "siglongjmp brought another value");
    }
    free(stack);
}

static void returns(void)
{
}

/* A function whose context has no uc_link ends the process (its thread) with status 0. */
static void exits_without_uc_link(void)
{
    pid_t child = fork();
    if (child == 0) {
        ucontext_t old;
        getcontext(&coroutine_context);
        new_stack(&coroutine_context);
        coroutine_context.uc_link = NULL;
        makecontext(&coroutine_context, returns, 0);
        swapcontext(&old, &coroutine_context);
        _exit(3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    report("no-uc_link-exits", WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "the process did not exit with status 0");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    resumes_at_getcontext();
    passes_arguments_and_follows_uc_link();
    switches_back_and_forth();
    keeps_signal_mask_and_rounding();
    leaves_by_siglongjmp();
    exits_without_uc_link();
    return failures ? 1 : 0;
}
