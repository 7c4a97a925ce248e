/*
 * getent: prints entries of the system databases kept in files under /etc.
 *
 *   getent DATABASE          every entry
 *   getent DATABASE KEY...   the entry for each key, by name or by number
 *
 * Databases: passwd, group, shadow (through the C library), hosts, services, protocols and
 * networks (read here from /etc, since musl offers no enumeration for them and answers
 * protocols from a built-in table). Output, key syntax and matching follow glibc's getent
 * with "files" as the only source. Exit status: 0 when every key was found, 2 when one was
 * not, 1 for bad usage or an unknown database.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum status { FOUND = 0, USAGE = 1, NOT_FOUND = 2 };

/* A key that is all decimal digits names an id rather than a name, as strtoul reads it. */
static int is_id(const char *key, unsigned long *id)
{
	char *end;

	if (!*key)
		return 0;
	*id = strtoul(key, &end, 10);
	return *end == '\0';
}

/* passwd, group and shadow: the C library reads the files. */

static void print_passwd(const struct passwd *entry)
{
	printf("%s:%s:%lu:%lu:%s:%s:%s\n", entry->pw_name, entry->pw_passwd,
	       (unsigned long)entry->pw_uid, (unsigned long)entry->pw_gid, entry->pw_gecos,
	       entry->pw_dir, entry->pw_shell);
}

static void passwd_all(void)
{
	struct passwd *entry;

	setpwent();
	while ((entry = getpwent()))
		print_passwd(entry);
	endpwent();
}

static int passwd_one(const char *key)
{
	unsigned long id;
	struct passwd *entry = is_id(key, &id) ? getpwuid(id) : getpwnam(key);

	if (entry)
		print_passwd(entry);
	return entry != NULL;
}

static void print_group(const struct group *entry)
{
	char **member;
	const char *separator = "";

	printf("%s:%s:%lu:", entry->gr_name, entry->gr_passwd, (unsigned long)entry->gr_gid);
	/* musl keeps the empty names of "a,,b"; they name no member. */
	for (member = entry->gr_mem; *member; member++) {
		if (**member) {
			printf("%s%s", separator, *member);
			separator = ",";
		}
	}
	putchar('\n');
}

static void group_all(void)
{
	struct group *entry;

	setgrent();
	while ((entry = getgrent()))
		print_group(entry);
	endgrent();
}

static int group_one(const char *key)
{
	unsigned long id;
	struct group *entry = is_id(key, &id) ? getgrgid(id) : getgrnam(key);

	if (entry)
		print_group(entry);
	return entry != NULL;
}

/* A shadow number, empty when the field was (the library reads an empty field as -1). */
static void print_day(long value)
{
	if (value != -1)
		printf("%ld", value);
	putchar(':');
}

static void print_shadow(const struct spwd *entry)
{
	printf("%s:%s:", entry->sp_namp, entry->sp_pwdp);
	print_day(entry->sp_lstchg);
	print_day(entry->sp_min);
	print_day(entry->sp_max);
	print_day(entry->sp_warn);
	print_day(entry->sp_inact);
	print_day(entry->sp_expire);
	if (entry->sp_flag != (unsigned long)-1)
		printf("%lu", (unsigned long)entry->sp_flag);
	putchar('\n');
}

/* musl's getspent() returns nothing, so read the file; a line that does not parse ends
 * musl's fgetspent() without ending the file, so only the end of the file stops here. */
static void shadow_all(void)
{
	FILE *file = fopen("/etc/shadow", "r");
	struct spwd *entry;

	if (!file)
		return;
	while (!feof(file) && !ferror(file))
		if ((entry = fgetspent(file)))
			print_shadow(entry);
	fclose(file);
}

static int shadow_one(const char *key)
{
	struct spwd *entry = getspnam(key);

	if (entry)
		print_shadow(entry);
	return entry != NULL;
}

/* hosts, services, protocols and networks: read here, one line at a time. */

struct line {
	char *text;
	size_t size;
	char **field;
	int count;
	int capacity;
};

/* Reads the next line with anything on it into blank-separated fields; `#` starts a comment. */
static int next_line(FILE *file, struct line *line)
{
	const char *blanks = " \t\r\n\v\f";
	char *field;

	while (getline(&line->text, &line->size, file) >= 0) {
		line->text[strcspn(line->text, "#")] = '\0';
		line->count = 0;
		for (field = strtok(line->text, blanks); field; field = strtok(NULL, blanks)) {
			if (line->count == line->capacity) {
				line->capacity = line->capacity ? 2 * line->capacity : 16;
				line->field = realloc(line->field, line->capacity * sizeof *line->field);
				if (!line->field) {
					perror("getent");
					exit(USAGE);
				}
			}
			line->field[line->count++] = field;
		}
		if (line->count)
			return 1;
	}
	return 0;
}

static void free_line(struct line *line)
{
	free(line->text);
	free(line->field);
}

/* The database file, or NULL when it is missing (an empty database, as for glibc). */
static FILE *open_database(const char *path, struct line *line)
{
	memset(line, 0, sizeof *line);
	return fopen(path, "r");
}

static int matches(char **names, int count, const char *key, int (*compare)(const char *, const char *))
{
	int i;

	for (i = 0; i < count; i++)
		if (!compare(names[i], key))
			return 1;
	return 0;
}

/* Ends an entry: its aliases, each after a space. */
static void print_aliases(char **aliases, int count)
{
	int i;

	for (i = 0; i < count; i++)
		printf(" %s", aliases[i]);
	putchar('\n');
}

union address {
	struct in_addr v4;
	struct in6_addr v6;
};

struct host {
	int family;
	union address address;
	char **names;
	int count;
};

/* One /etc/hosts line as an answer to a query for `family`, as glibc reads it: an IPv4 line
 * never answers IPv6; an IPv6 line answers IPv4 only as the IPv4 address it maps, or ::1 as
 * 127.0.0.1. A line with no name has the empty name. */
static int read_host(struct line *line, int family, struct host *host)
{
	static char *no_name[] = { "" };
	union address *address = &host->address;

	if (inet_pton(AF_INET6, line->field[0], &address->v6) == 1) {
		if (family == AF_INET && IN6_IS_ADDR_V4MAPPED(&address->v6))
			memmove(&address->v4, address->v6.s6_addr + 12, 4);
		else if (family == AF_INET && IN6_IS_ADDR_LOOPBACK(&address->v6))
			address->v4.s_addr = htonl(INADDR_LOOPBACK);
		else if (family == AF_INET)
			return 0;
	} else if (family != AF_INET || inet_pton(AF_INET, line->field[0], &address->v4) != 1) {
		return 0;
	}
	host->family = family;
	host->names = line->count > 1 ? line->field + 1 : no_name;
	host->count = line->count > 1 ? line->count - 1 : 1;
	return 1;
}

static void print_host(const struct host *host)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(host->family, &host->address, text, sizeof text);
	printf("%-15s %s", text, host->names[0]);
	print_aliases(host->names + 1, host->count - 1);
}

/* The first line that answers for `family` and is named `name`, or has `address`. */
static int find_host(int family, const char *name, const union address *address)
{
	struct line line;
	struct host host;
	FILE *file = open_database("/etc/hosts", &line);
	int found = 0;
	size_t size = family == AF_INET ? 4 : 16;

	while (!found && file && next_line(file, &line)) {
		if (!read_host(&line, family, &host))
			continue;
		if (name ? matches(host.names, host.count, name, strcasecmp)
			 : !memcmp(&host.address, address, size)) {
			print_host(&host);
			found = 1;
		}
	}
	if (file)
		fclose(file);
	free_line(&line);
	return found;
}

/* glibc enumerates hosts as IPv4 answers. */
static void hosts_all(void)
{
	struct line line;
	struct host host;
	FILE *file = open_database("/etc/hosts", &line);

	while (file && next_line(file, &line))
		if (read_host(&line, AF_INET, &host))
			print_host(&host);
	if (file)
		fclose(file);
	free_line(&line);
}

/* An address is looked up as one; a name is tried as IPv6, then IPv4. A key of only digits
 * and dots in a form inet_aton() reads (127.1) is its own answer, without the file, and one
 * it does not read names no host: glibc's resolver treats such names so before any source. */
static int hosts_one(const char *key)
{
	union address address;
	struct host host;
	char *names[1];

	if (inet_pton(AF_INET6, key, &address.v6) == 1)
		return find_host(AF_INET6, NULL, &address);
	if (inet_pton(AF_INET, key, &address.v4) == 1)
		return find_host(AF_INET, NULL, &address);
	if (isdigit((unsigned char)key[0]) && key[strspn(key, "0123456789.")] == '\0') {
		if (!inet_aton(key, &address.v4))
			return 0;
		names[0] = (char *)key;
		host.family = AF_INET;
		host.address = address;
		host.names = names;
		host.count = 1;
		print_host(&host);
		return 1;
	}
	return find_host(AF_INET6, key, NULL) || find_host(AF_INET, key, NULL);
}

/* services: "name port/protocol aliases..." */

/* The port is kept to 16 bits and the protocol may be empty ("5" is port 5 of no protocol),
 * as glibc reads the file. */
static int read_service(struct line *line, long *port, const char **protocol)
{
	char *end;

	if (line->count < 2 || !isdigit((unsigned char)line->field[1][0]))
		return 0;
	*port = strtoul(line->field[1], &end, 10) & 0xffff;
	if (*end && *end != '/')
		return 0;
	*protocol = *end ? end + 1 : end;
	return 1;
}

static void print_service(struct line *line, long port, const char *protocol)
{
	printf("%-21s %ld/%s", line->field[0], port, protocol);
	print_aliases(line->field + 2, line->count - 2);
}

static void services_all(void)
{
	struct line line;
	FILE *file = open_database("/etc/services", &line);
	const char *protocol;
	long port;

	while (file && next_line(file, &line))
		if (read_service(&line, &port, &protocol))
			print_service(&line, port, protocol);
	if (file)
		fclose(file);
	free_line(&line);
}

/* NAME, PORT, NAME/PROTOCOL or PORT/PROTOCOL; the name may be an alias. */
static int services_one(const char *key)
{
	struct line line;
	FILE *file = open_database("/etc/services", &line);
	char *name = strdup(key), *wanted_protocol = strchr(name, '/'), *end;
	const char *protocol;
	long port, wanted_port = -1;
	int found = 0;

	if (!name) {
		perror("getent");
		exit(USAGE);
	}
	if (wanted_protocol)
		*wanted_protocol++ = '\0';
	if (isdigit((unsigned char)name[0])) {
		wanted_port = strtol(name, &end, 10);
		if (*end || wanted_port > 65535)
			wanted_port = -1;
	}
	while (!found && file && next_line(file, &line)) {
		if (!read_service(&line, &port, &protocol))
			continue;
		if (wanted_protocol && strcmp(protocol, wanted_protocol))
			continue;
		if (wanted_port >= 0 ? port == wanted_port
				     : !strcmp(line.field[0], name) ||
				       matches(line.field + 2, line.count - 2, name, strcmp)) {
			print_service(&line, port, protocol);
			found = 1;
		}
	}
	if (file)
		fclose(file);
	free_line(&line);
	free(name);
	return found;
}

/* protocols: "name number aliases..." */

static int read_protocol(struct line *line, long *number)
{
	char *end;

	if (line->count < 2 || !isdigit((unsigned char)line->field[1][0]))
		return 0;
	*number = strtol(line->field[1], &end, 10);
	return *end == '\0';
}

static void print_protocol(struct line *line, long number)
{
	printf("%-21s %ld", line->field[0], number);
	print_aliases(line->field + 2, line->count - 2);
}

/* A key starting with a digit is a number, read as atol() does ("6x" is 6). */
static int protocols_lookup(const char *key)
{
	struct line line;
	FILE *file = open_database("/etc/protocols", &line);
	int by_number = key && isdigit((unsigned char)key[0]);
	long number, wanted = by_number ? atol(key) : 0;
	int found = 0;

	while (!found && file && next_line(file, &line)) {
		if (!read_protocol(&line, &number))
			continue;
		if (!key || (by_number ? number == wanted : !strcmp(line.field[0], key) ||
				matches(line.field + 2, line.count - 2, key, strcmp))) {
			print_protocol(&line, number);
			found = key != NULL;
		}
	}
	if (file)
		fclose(file);
	free_line(&line);
	return found;
}

static void protocols_all(void)
{
	protocols_lookup(NULL);
}

static int protocols_one(const char *key)
{
	return protocols_lookup(key);
}

/* networks: "name number aliases...", the number in dotted parts, each decimal, octal or
 * hex, with missing trailing parts zero ("10" is 10.0.0.0), as glibc reads the file; a number
 * that does not read so is 255.255.255.255 there. */

static int read_network(struct line *line, unsigned long *number)
{
	const char *part;
	int parts = 0;
	char *end;
	unsigned long value;

	if (line->count < 2)
		return 0;
	*number = 0;
	for (part = line->field[1];; part = end + 1) {
		if (!isdigit((unsigned char)*part) || parts == 4)
			break;
		value = strtoul(part, &end, 0);
		if (value > 255 || (*end && *end != '.'))
			break;
		*number = *number << 8 | value;
		if (++parts, !*end) {
			*number <<= 8 * (4 - parts);
			return 1;
		}
	}
	*number = 0xffffffff;
	return 1;
}

static void print_network(struct line *line, unsigned long number)
{
	struct in_addr address;

	address.s_addr = htonl(number);
	printf("%-21s %s", line->field[0], inet_ntoa(address));
	print_aliases(line->field + 2, line->count - 2);
}

/* A key starting with a digit is an address in any form inet_addr() reads ("127.0" is
 * 127.0.0.0); names and aliases compare without regard to case. */
static int networks_lookup(const char *key)
{
	struct line line;
	FILE *file = open_database("/etc/networks", &line);
	int by_number = key && isdigit((unsigned char)key[0]);
	unsigned long number, wanted = by_number ? ntohl(inet_addr(key)) : 0;
	int found = 0;

	while (!found && file && next_line(file, &line)) {
		if (!read_network(&line, &number))
			continue;
		if (!key || (by_number ? number == wanted : !strcasecmp(line.field[0], key) ||
				matches(line.field + 2, line.count - 2, key, strcasecmp))) {
			print_network(&line, number);
			found = key != NULL;
		}
	}
	if (file)
		fclose(file);
	free_line(&line);
	return found;
}

static void networks_all(void)
{
	networks_lookup(NULL);
}

static int networks_one(const char *key)
{
	return networks_lookup(key);
}

static const struct database {
	const char *name;
	void (*all)(void);
	int (*one)(const char *key);
} databases[] = {
	{ "group", group_all, group_one },
	{ "hosts", hosts_all, hosts_one },
	{ "networks", networks_all, networks_one },
	{ "passwd", passwd_all, passwd_one },
	{ "protocols", protocols_all, protocols_one },
	{ "services", services_all, services_one },
	{ "shadow", shadow_all, shadow_one },
};

static int usage(void)
{
	size_t i;

	fputs("usage: getent DATABASE [KEY...]\ndatabases:", stderr);
	for (i = 0; i < sizeof databases / sizeof databases[0]; i++)
		fprintf(stderr, " %s", databases[i].name);
	fputc('\n', stderr);
	return USAGE;
}

static int run(int count, char **args)
{
	const struct database *database = NULL;
	int status = FOUND;
	size_t i;

	if (count < 1 || args[0][0] == '-')
		return usage();
	for (i = 0; i < sizeof databases / sizeof databases[0]; i++)
		if (!strcmp(databases[i].name, args[0]))
			database = &databases[i];
	if (!database) {
		fprintf(stderr, "getent: unknown database '%s'\n", args[0]);
		return usage();
	}
	if (count == 1)
		database->all();
	for (i = 1; i < (size_t)count; i++)
		if (!database->one(args[i]))
			status = NOT_FOUND;
	return status;
}

int main(int argc, char **argv)
{
	int first = argc > 1 && !strcmp(argv[1], "--") ? 2 : 1;
	int status = run(argc - first, argv + first);

	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "getent: cannot write: %s\n", strerror(errno));
		return USAGE;
	}
	return status;
}
