/*
 * getconf: prints the system's configuration values: the limits and options sysconf(3)
 * reports, the limits of a file system from pathconf(3), the strings of confstr(3) and the
 * fixed limits of <limits.h>.
 *
 *   getconf NAME          one value
 *   getconf NAME PATH     one file system value, for the file system holding PATH
 *   getconf -a [PATH]     every value, one "NAME  value" line each (PATH defaults to /)
 *
 * The names are the ones POSIX gives getconf, in the spellings glibc's getconf accepts, for
 * every value musl defines. A value the system does not limit prints as "undefined" (blank
 * with -a), as glibc's does. An unknown name, a missing or extra PATH and a PATH that cannot
 * be read are errors: a message on stderr and exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum source { SYSCONF, PATHCONF, CONFSTR, LIMIT, UNSIGNED_LIMIT };

struct variable {
	const char *name;
	enum source source;
	/* The _SC_, _PC_ or _CS_ constant to ask for, or for limits the value itself. */
	long value;
};

#define SC(name, constant) { name, SYSCONF, constant }
#define PC(name, constant) { name, PATHCONF, constant }
#define CS(name, constant) { name, CONFSTR, constant }
#define LIM(name) { #name, LIMIT, name }
#define ULIM(name) { #name, UNSIGNED_LIMIT, (long)name }

/* One compilation environment (POSIX_V7_LP64_OFF64, say): whether it is supported, then the
 * flags that select it. */
#define ENVIRONMENT(version, env) \
	SC("_POSIX_" #version "_" #env, _SC_##version##_##env), \
	CS("POSIX_" #version "_" #env "_CFLAGS", _CS_POSIX_##version##_##env##_CFLAGS), \
	CS("POSIX_" #version "_" #env "_LDFLAGS", _CS_POSIX_##version##_##env##_LDFLAGS), \
	CS("POSIX_" #version "_" #env "_LIBS", _CS_POSIX_##version##_##env##_LIBS), \
	CS("POSIX_" #version "_" #env "_LINTFLAGS", _CS_POSIX_##version##_##env##_LINTFLAGS)

static const struct variable variables[] = {
	/* pathconf: limits of the file system holding PATH */
	PC("LINK_MAX", _PC_LINK_MAX), PC("_POSIX_LINK_MAX", _PC_LINK_MAX),
	PC("MAX_CANON", _PC_MAX_CANON), PC("_POSIX_MAX_CANON", _PC_MAX_CANON),
	PC("MAX_INPUT", _PC_MAX_INPUT), PC("_POSIX_MAX_INPUT", _PC_MAX_INPUT),
	PC("NAME_MAX", _PC_NAME_MAX), PC("_POSIX_NAME_MAX", _PC_NAME_MAX),
	PC("PATH_MAX", _PC_PATH_MAX), PC("_POSIX_PATH_MAX", _PC_PATH_MAX),
	PC("PIPE_BUF", _PC_PIPE_BUF), PC("_POSIX_PIPE_BUF", _PC_PIPE_BUF),
	PC("SOCK_MAXBUF", _PC_SOCK_MAXBUF),
	PC("_POSIX_ASYNC_IO", _PC_ASYNC_IO),
	PC("_POSIX_CHOWN_RESTRICTED", _PC_CHOWN_RESTRICTED),
	PC("_POSIX_NO_TRUNC", _PC_NO_TRUNC),
	PC("_POSIX_PRIO_IO", _PC_PRIO_IO),
	PC("_POSIX_SYNC_IO", _PC_SYNC_IO),
	PC("_POSIX_VDISABLE", _PC_VDISABLE),
	PC("FILESIZEBITS", _PC_FILESIZEBITS),
	PC("POSIX_ALLOC_SIZE_MIN", _PC_ALLOC_SIZE_MIN),
	PC("POSIX_REC_INCR_XFER_SIZE", _PC_REC_INCR_XFER_SIZE),
	PC("POSIX_REC_MAX_XFER_SIZE", _PC_REC_MAX_XFER_SIZE),
	PC("POSIX_REC_MIN_XFER_SIZE", _PC_REC_MIN_XFER_SIZE),
	PC("POSIX_REC_XFER_ALIGN", _PC_REC_XFER_ALIGN),
	PC("SYMLINK_MAX", _PC_SYMLINK_MAX),
	PC("POSIX2_SYMLINKS", _PC_2_SYMLINKS),

	/* sysconf: limits */
	SC("AIO_LISTIO_MAX", _SC_AIO_LISTIO_MAX),
	SC("AIO_MAX", _SC_AIO_MAX),
	SC("AIO_PRIO_DELTA_MAX", _SC_AIO_PRIO_DELTA_MAX),
	SC("ARG_MAX", _SC_ARG_MAX), SC("_POSIX_ARG_MAX", _SC_ARG_MAX),
	SC("ATEXIT_MAX", _SC_ATEXIT_MAX),
	SC("BC_BASE_MAX", _SC_BC_BASE_MAX), SC("POSIX2_BC_BASE_MAX", _SC_BC_BASE_MAX),
	SC("BC_DIM_MAX", _SC_BC_DIM_MAX), SC("POSIX2_BC_DIM_MAX", _SC_BC_DIM_MAX),
	SC("BC_SCALE_MAX", _SC_BC_SCALE_MAX), SC("POSIX2_BC_SCALE_MAX", _SC_BC_SCALE_MAX),
	SC("BC_STRING_MAX", _SC_BC_STRING_MAX), SC("POSIX2_BC_STRING_MAX", _SC_BC_STRING_MAX),
	SC("CHILD_MAX", _SC_CHILD_MAX), SC("_POSIX_CHILD_MAX", _SC_CHILD_MAX),
	SC("CLK_TCK", _SC_CLK_TCK),
	SC("COLL_WEIGHTS_MAX", _SC_COLL_WEIGHTS_MAX),
	SC("POSIX2_COLL_WEIGHTS_MAX", _SC_COLL_WEIGHTS_MAX),
	SC("DELAYTIMER_MAX", _SC_DELAYTIMER_MAX),
	SC("EXPR_NEST_MAX", _SC_EXPR_NEST_MAX), SC("POSIX2_EXPR_NEST_MAX", _SC_EXPR_NEST_MAX),
	SC("HOST_NAME_MAX", _SC_HOST_NAME_MAX),
	SC("IOV_MAX", _SC_IOV_MAX), SC("UIO_MAXIOV", _SC_UIO_MAXIOV),
	SC("LINE_MAX", _SC_LINE_MAX), SC("POSIX2_LINE_MAX", _SC_LINE_MAX),
	SC("_POSIX2_LINE_MAX", _SC_LINE_MAX),
	SC("LOGIN_NAME_MAX", _SC_LOGIN_NAME_MAX), SC("LOGNAME_MAX", _SC_LOGIN_NAME_MAX),
	SC("MQ_OPEN_MAX", _SC_MQ_OPEN_MAX),
	SC("MQ_PRIO_MAX", _SC_MQ_PRIO_MAX),
	SC("NGROUPS_MAX", _SC_NGROUPS_MAX), SC("_POSIX_NGROUPS_MAX", _SC_NGROUPS_MAX),
	SC("NSS_BUFLEN_GROUP", _SC_GETGR_R_SIZE_MAX),
	SC("NSS_BUFLEN_PASSWD", _SC_GETPW_R_SIZE_MAX),
	SC("NZERO", _SC_NZERO),
	SC("OPEN_MAX", _SC_OPEN_MAX), SC("_POSIX_OPEN_MAX", _SC_OPEN_MAX),
	SC("PAGESIZE", _SC_PAGESIZE), SC("PAGE_SIZE", _SC_PAGESIZE),
	SC("PASS_MAX", _SC_PASS_MAX),
	SC("PTHREAD_DESTRUCTOR_ITERATIONS", _SC_THREAD_DESTRUCTOR_ITERATIONS),
	SC("PTHREAD_KEYS_MAX", _SC_THREAD_KEYS_MAX),
	SC("PTHREAD_STACK_MIN", _SC_THREAD_STACK_MIN),
	SC("PTHREAD_THREADS_MAX", _SC_THREAD_THREADS_MAX),
	SC("RE_DUP_MAX", _SC_RE_DUP_MAX), SC("POSIX2_RE_DUP_MAX", _SC_RE_DUP_MAX),
	SC("RTSIG_MAX", _SC_RTSIG_MAX),
	SC("SEM_NSEMS_MAX", _SC_SEM_NSEMS_MAX),
	SC("SEM_VALUE_MAX", _SC_SEM_VALUE_MAX),
	SC("SIGQUEUE_MAX", _SC_SIGQUEUE_MAX),
	SC("SS_REPL_MAX", _SC_SS_REPL_MAX),
	SC("STREAM_MAX", _SC_STREAM_MAX), SC("_POSIX_STREAM_MAX", _SC_STREAM_MAX),
	SC("SYMLOOP_MAX", _SC_SYMLOOP_MAX),
	SC("TIMER_MAX", _SC_TIMER_MAX),
	SC("TRACE_EVENT_NAME_MAX", _SC_TRACE_EVENT_NAME_MAX),
	SC("TRACE_NAME_MAX", _SC_TRACE_NAME_MAX),
	SC("TRACE_SYS_MAX", _SC_TRACE_SYS_MAX),
	SC("TRACE_USER_EVENT_MAX", _SC_TRACE_USER_EVENT_MAX),
	SC("TTY_NAME_MAX", _SC_TTY_NAME_MAX),
	SC("TZNAME_MAX", _SC_TZNAME_MAX), SC("_POSIX_TZNAME_MAX", _SC_TZNAME_MAX),
	SC("_AVPHYS_PAGES", _SC_AVPHYS_PAGES),
	SC("_NPROCESSORS_CONF", _SC_NPROCESSORS_CONF),
	SC("_NPROCESSORS_ONLN", _SC_NPROCESSORS_ONLN),
	SC("_PHYS_PAGES", _SC_PHYS_PAGES),

	/* sysconf: options and versions */
	SC("_POSIX_VERSION", _SC_VERSION),
	SC("_POSIX_ADVISORY_INFO", _SC_ADVISORY_INFO),
	SC("_POSIX_ASYNCHRONOUS_IO", _SC_ASYNCHRONOUS_IO),
	SC("_POSIX_BARRIERS", _SC_BARRIERS),
	SC("_POSIX_CLOCK_SELECTION", _SC_CLOCK_SELECTION),
	SC("_POSIX_CPUTIME", _SC_CPUTIME),
	SC("_POSIX_FSYNC", _SC_FSYNC),
	SC("_POSIX_IPV6", _SC_IPV6), SC("IPV6", _SC_IPV6),
	SC("_POSIX_JOB_CONTROL", _SC_JOB_CONTROL),
	SC("_POSIX_MAPPED_FILES", _SC_MAPPED_FILES),
	SC("_POSIX_MEMLOCK", _SC_MEMLOCK),
	SC("_POSIX_MEMLOCK_RANGE", _SC_MEMLOCK_RANGE),
	SC("_POSIX_MEMORY_PROTECTION", _SC_MEMORY_PROTECTION),
	SC("_POSIX_MESSAGE_PASSING", _SC_MESSAGE_PASSING),
	SC("_POSIX_MONOTONIC_CLOCK", _SC_MONOTONIC_CLOCK),
	SC("_POSIX_PRIORITIZED_IO", _SC_PRIORITIZED_IO),
	SC("_POSIX_PRIORITY_SCHEDULING", _SC_PRIORITY_SCHEDULING),
	SC("_POSIX_RAW_SOCKETS", _SC_RAW_SOCKETS), SC("RAW_SOCKETS", _SC_RAW_SOCKETS),
	SC("_POSIX_READER_WRITER_LOCKS", _SC_READER_WRITER_LOCKS),
	SC("_POSIX_REALTIME_SIGNALS", _SC_REALTIME_SIGNALS),
	SC("_POSIX_REGEXP", _SC_REGEXP),
	SC("_POSIX_SAVED_IDS", _SC_SAVED_IDS),
	SC("_POSIX_SEMAPHORES", _SC_SEMAPHORES),
	SC("_POSIX_SHARED_MEMORY_OBJECTS", _SC_SHARED_MEMORY_OBJECTS),
	SC("_POSIX_SHELL", _SC_SHELL),
	SC("_POSIX_SPAWN", _SC_SPAWN),
	SC("_POSIX_SPIN_LOCKS", _SC_SPIN_LOCKS),
	SC("_POSIX_SPORADIC_SERVER", _SC_SPORADIC_SERVER),
	SC("_POSIX_SYNCHRONIZED_IO", _SC_SYNCHRONIZED_IO),
	SC("_POSIX_THREADS", _SC_THREADS),
	SC("_POSIX_THREAD_ATTR_STACKADDR", _SC_THREAD_ATTR_STACKADDR),
	SC("_POSIX_THREAD_ATTR_STACKSIZE", _SC_THREAD_ATTR_STACKSIZE),
	SC("_POSIX_THREAD_CPUTIME", _SC_THREAD_CPUTIME),
	SC("_POSIX_THREAD_PRIORITY_SCHEDULING", _SC_THREAD_PRIORITY_SCHEDULING),
	SC("_POSIX_THREAD_PRIO_INHERIT", _SC_THREAD_PRIO_INHERIT),
	SC("_POSIX_THREAD_PRIO_PROTECT", _SC_THREAD_PRIO_PROTECT),
	SC("_POSIX_THREAD_PROCESS_SHARED", _SC_THREAD_PROCESS_SHARED),
	SC("_POSIX_THREAD_ROBUST_PRIO_INHERIT", _SC_THREAD_ROBUST_PRIO_INHERIT),
	SC("_POSIX_THREAD_ROBUST_PRIO_PROTECT", _SC_THREAD_ROBUST_PRIO_PROTECT),
	SC("_POSIX_THREAD_SAFE_FUNCTIONS", _SC_THREAD_SAFE_FUNCTIONS),
	SC("_POSIX_THREAD_SPORADIC_SERVER", _SC_THREAD_SPORADIC_SERVER),
	SC("_POSIX_TIMEOUTS", _SC_TIMEOUTS),
	SC("_POSIX_TIMERS", _SC_TIMERS),
	SC("_POSIX_TRACE", _SC_TRACE),
	SC("_POSIX_TRACE_EVENT_FILTER", _SC_TRACE_EVENT_FILTER),
	SC("_POSIX_TRACE_INHERIT", _SC_TRACE_INHERIT),
	SC("_POSIX_TRACE_LOG", _SC_TRACE_LOG),
	SC("_POSIX_TYPED_MEMORY_OBJECTS", _SC_TYPED_MEMORY_OBJECTS),
	SC("POSIX2_VERSION", _SC_2_VERSION),
	SC("POSIX2_C_BIND", _SC_2_C_BIND),
	SC("POSIX2_C_DEV", _SC_2_C_DEV),
	SC("POSIX2_CHAR_TERM", _SC_2_CHAR_TERM),
	SC("POSIX2_FORT_DEV", _SC_2_FORT_DEV),
	SC("POSIX2_FORT_RUN", _SC_2_FORT_RUN),
	SC("POSIX2_LOCALEDEF", _SC_2_LOCALEDEF),
	SC("POSIX2_PBS", _SC_2_PBS),
	SC("POSIX2_PBS_ACCOUNTING", _SC_2_PBS_ACCOUNTING),
	SC("POSIX2_PBS_CHECKPOINT", _SC_2_PBS_CHECKPOINT),
	SC("POSIX2_PBS_LOCATE", _SC_2_PBS_LOCATE),
	SC("POSIX2_PBS_MESSAGE", _SC_2_PBS_MESSAGE),
	SC("POSIX2_PBS_TRACK", _SC_2_PBS_TRACK),
	SC("POSIX2_SW_DEV", _SC_2_SW_DEV),
	SC("POSIX2_UPE", _SC_2_UPE),
	SC("_XOPEN_CRYPT", _SC_XOPEN_CRYPT),
	SC("_XOPEN_ENH_I18N", _SC_XOPEN_ENH_I18N),
	SC("_XOPEN_LEGACY", _SC_XOPEN_LEGACY),
	SC("_XOPEN_REALTIME", _SC_XOPEN_REALTIME),
	SC("_XOPEN_REALTIME_THREADS", _SC_XOPEN_REALTIME_THREADS),
	SC("_XOPEN_SHM", _SC_XOPEN_SHM),
	SC("_XOPEN_STREAMS", _SC_XOPEN_STREAMS),
	SC("_XOPEN_UNIX", _SC_XOPEN_UNIX),
	SC("_XOPEN_VERSION", _SC_XOPEN_VERSION),
	SC("_XOPEN_XCU_VERSION", _SC_XOPEN_XCU_VERSION),
	SC("_XOPEN_XPG2", _SC_XOPEN_XPG2),
	SC("_XOPEN_XPG3", _SC_XOPEN_XPG3),
	SC("_XOPEN_XPG4", _SC_XOPEN_XPG4),
	SC("_XBS5_ILP32_OFF32", _SC_XBS5_ILP32_OFF32),
	SC("_XBS5_ILP32_OFFBIG", _SC_XBS5_ILP32_OFFBIG),
	SC("_XBS5_LP64_OFF64", _SC_XBS5_LP64_OFF64),
	SC("_XBS5_LPBIG_OFFBIG", _SC_XBS5_LPBIG_OFFBIG),

	/* confstr: strings */
	CS("PATH", _CS_PATH), CS("CS_PATH", _CS_PATH),
	CS("XBS5_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V5_WIDTH_RESTRICTED_ENVS),
	CS("_XBS5_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V5_WIDTH_RESTRICTED_ENVS),
	CS("POSIX_V6_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V6_WIDTH_RESTRICTED_ENVS),
	CS("_POSIX_V6_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V6_WIDTH_RESTRICTED_ENVS),
	CS("POSIX_V7_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V7_WIDTH_RESTRICTED_ENVS),
	CS("_POSIX_V7_WIDTH_RESTRICTED_ENVS", _CS_POSIX_V7_WIDTH_RESTRICTED_ENVS),
	ENVIRONMENT(V6, ILP32_OFF32),
	ENVIRONMENT(V6, ILP32_OFFBIG),
	ENVIRONMENT(V6, LP64_OFF64),
	ENVIRONMENT(V6, LPBIG_OFFBIG),
	ENVIRONMENT(V7, ILP32_OFF32),
	ENVIRONMENT(V7, ILP32_OFFBIG),
	ENVIRONMENT(V7, LP64_OFF64),
	ENVIRONMENT(V7, LPBIG_OFFBIG),

	/* <limits.h>: fixed by the C library and the architecture */
	LIM(CHAR_BIT), LIM(CHAR_MAX), LIM(CHAR_MIN),
	LIM(SCHAR_MAX), LIM(SCHAR_MIN), ULIM(UCHAR_MAX),
	LIM(SHRT_MAX), LIM(SHRT_MIN), ULIM(USHRT_MAX),
	LIM(INT_MAX), LIM(INT_MIN), ULIM(UINT_MAX),
	LIM(LONG_BIT), ULIM(ULONG_MAX), LIM(WORD_BIT),
	LIM(MB_LEN_MAX), LIM(SSIZE_MAX),
	LIM(NL_ARGMAX), LIM(NL_LANGMAX), LIM(NL_MSGMAX), LIM(NL_SETMAX), LIM(NL_TEXTMAX),
#ifdef NL_NMAX
	LIM(NL_NMAX),
#endif
};

#define COUNT (sizeof variables / sizeof variables[0])

static const struct variable *find(const char *name)
{
	size_t i;

	for (i = 0; i < COUNT; i++)
		if (!strcmp(variables[i].name, name))
			return &variables[i];
	return NULL;
}

/* Prints one value followed by a newline; `undefined` is what stands for no value. */
static void print_value(const struct variable *variable, const char *path, const char *undefined)
{
	long number;
	size_t size;
	char *text;

	switch (variable->source) {
	case LIMIT:
		printf("%ld\n", variable->value);
		return;
	case UNSIGNED_LIMIT:
		printf("%lu\n", (unsigned long)variable->value);
		return;
	case CONFSTR:
		size = confstr(variable->value, NULL, 0);
		text = size ? malloc(size) : NULL;
		if (!text) {
			printf("%s\n", undefined);
			return;
		}
		confstr(variable->value, text, size);
		printf("%s\n", text);
		free(text);
		return;
	case SYSCONF:
		number = sysconf(variable->value);
		break;
	case PATHCONF:
		number = pathconf(path, variable->value);
		break;
	default:
		return;
	}
	if (number == -1)
		printf("%s\n", undefined);
	else
		printf("%ld\n", number);
}

/* pathconf() may answer for a path that does not exist (musl's does), so look first. */
static int check_path(const char *path)
{
	struct stat status;

	if (stat(path, &status) == 0)
		return 1;
	fprintf(stderr, "getconf: %s: %s\n", path, strerror(errno));
	return 0;
}

static int print_all(const char *path)
{
	size_t i;

	if (!check_path(path))
		return 1;
	for (i = 0; i < COUNT; i++) {
		printf("%-35s", variables[i].name); /* glibc's column */
		print_value(&variables[i], path, "");
	}
	return 0;
}

static int print_one(const char *name, const char *path)
{
	const struct variable *variable = find(name);

	if (!variable) {
		fprintf(stderr, "getconf: unrecognized variable '%s'\n", name);
		return 1;
	}
	if (variable->source == PATHCONF && !path) {
		fprintf(stderr, "getconf: %s is a file system limit: getconf %s PATH\n", name, name);
		return 1;
	}
	if (variable->source != PATHCONF && path) {
		fprintf(stderr, "getconf: %s takes no PATH\n", name);
		return 1;
	}
	if (path && !check_path(path))
		return 1;
	print_value(variable, path, "undefined");
	return 0;
}

static int usage(void)
{
	fputs("usage: getconf NAME [PATH]\n       getconf -a [PATH]\n", stderr);
	return 1;
}

static int run(int count, char **args)
{
	if (count >= 1 && !strcmp(args[0], "-a")) {
		if (count > 2)
			return usage();
		return print_all(count == 2 ? args[1] : "/");
	}
	if (count < 1 || count > 2)
		return usage();
	return print_one(args[0], count == 2 ? args[1] : NULL);
}

int main(int argc, char **argv)
{
	int first = argc > 1 && !strcmp(argv[1], "--") ? 2 : 1;
	int status = run(argc - first, argv + first);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "getconf: cannot write: %s\n", strerror(errno));
		return 1;
	}
	return status;
}
