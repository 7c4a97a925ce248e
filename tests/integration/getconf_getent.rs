//! The getconf and getent written in recipes/files/, compiled with the host's cc against glibc
//! and compared with glibc's own tools: getent on the same database files (in a mount namespace
//! whose /etc holds them), getconf on every name both know. The mini spin's bootstrap test runs
//! the musl builds inside stage3 against the same transcripts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::test::REPO;

/// The database files both getents read: ordinary entries, comments, blank lines, aliases, an
/// entry without a name, IPv6 and IPv4-mapped addresses, a scoped address glibc does not read,
/// short network numbers, and lines with fields a C library refuses.
pub const DATABASES: [(&str, &str); 7] = [
    (
        "passwd",
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
         # a comment\n\
         alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash\n\
         \n\
         bob:*:1001:1001::/home/bob:\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
         broken:x:notanumber:1:::\n",
    ),
    (
        "group",
        "root:x:0:\n\
         daemon:x:1:\n\
         users:x:100:alice,bob\n\
         alice:x:1000:\n\
         bob:!:1001:alice\n\
         nogroup:x:65534:\n",
    ),
    (
        "shadow",
        "root:*:19000:0:99999:7:::\n\
         alice:$6$salt$hash:19500:0:99999:7:30:20000:\n\
         bob:!:19501::::::\n\
         broken:x:abc:0:0:0:0:0:\n\
         daemon:*:19000:0:99999:7:::\n",
    ),
    (
        "hosts",
        "127.0.0.1\tlocalhost\n\
         127.0.1.1\tbox.example.org box\n\
         # a comment\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\n\
         10.0.0.5   db.example.org db   database # a trailing comment\n\
         10.0.0.6 Web.Example.Org web\n\
         fe80::1%eth0 linklocal\n\
         2001:db8::10 v6only.example.org v6only\n\
         ::ffff:10.1.1.1 mapped\n\
         127.2 shortform\n\
         10.0.0.8\n\
         10.0.0.9 dup\n\
         10.0.0.10 dup\n",
    ),
    (
        "services",
        "# services\n\
         tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer\n\
         echo\t\t7/tcp\n\
         echo\t\t7/udp\n\
         ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol\n\
         domain\t\t53/tcp  nameserver\n\
         domain\t\t53/udp  nameserver\n\
         http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\n\
         kerberos\t88/tcp\t\tkerberos5 krb5 kerberos-sec\n\
         short\t\t9\n",
    ),
    (
        "protocols",
        "# protocols\n\
         ip\t0\tIP\t\t# internet protocol, pseudo protocol number\n\
         icmp\t1\tICMP\n\
         tcp\t6\tTCP\n\
         udp\t17\tUDP\n\
         ipv6-icmp 58\tIPv6-ICMP\n\
         bad\t2x\n",
    ),
    (
        "networks",
        "default\t\t0.0.0.0\n\
         loopback\t127.0.0.0\n\
         link-local\t169.254.0.0\n\
         ten 10 tennet\n\
         short 192.168\n\
         hex 0x0a.0x01\n\
         toobig 256\n",
    ),
];

/// getent command lines, each a database and its keys: names, numbers, aliases, other cases,
/// odd spellings and keys that find nothing.
#[rustfmt::skip]
pub const GETENT_QUERIES: &[&[&str]] = &[
    &["passwd"],
    &["passwd", "root", "1000", "bob", "missing", "0", "00", "+1", " 1", "4294967295"],
    &["passwd", "broken", "1000x", "ROOT", ""],
    &["group"],
    &["group", "users", "1001", "100", "nope", "ROOT", "0"],
    &["shadow"],
    &["shadow", "alice", "broken", "missing", "bob"],
    &["hosts"],
    &["hosts", "localhost", "LOCALHOST", "::1", "127.0.0.1", "ip6-localhost", "db"],
    &["hosts", "database", "10.0.0.5", "web.example.org", "DB.example.org", "v6only"],
    &["hosts", "2001:db8::10", "2001:0db8:0::10", "linklocal", "fe80::1", "box", "nope"],
    &["hosts", "ip6-allnodes", "ff02::1", "mapped", "10.1.1.1", "::ffff:10.1.1.1"],
    &["hosts", "shortform", "127.0.0.2", "127.1", "0x7f.1", "1", "4294967295", "1.2.3.4.5"],
    &["hosts", "10.0.0.5.", "10.0.0.8", "", "dup", "10.0.0.10", "1.2.3.4", "010.0.0.1"],
    &["services"],
    &["services", "ssh", "22", "22/tcp", "53/udp", "domain/udp", "nameserver", "www"],
    &["services", "http/udp", "7", "echo/udp", "99999", "0x16", "kerberos5", "80/xyz"],
    &["services", "/tcp", "022", " 22", "+22", "SSH", "22/", "short", "9", "9/"],
    &["protocols"],
    &["protocols", "tcp", "TCP", "6", "17", "0", "999", "IPv6-ICMP", "x06", "Tcp", "6x"],
    &["protocols", "06", "0x6", "bad", "2"],
    &["networks"],
    &["networks", "loopback", "127.0.0.0", "127", "10", "10.0.0.0", "tennet", "192.168"],
    &["networks", "192.168.0.0", "0.0.0.0", "default", "169.254.0.0", "bogus", "0", "127.0"],
    &["networks", "0x7f", "10.0.0.1", "192.168.0", "010", "LOOPBACK", "TenNet", "3232235520"],
    &["networks", "hex", "10.1", "toobig", "255.255.255.255"],
];

/// Only the database files, for glibc: no DNS, no systemd, no merging of hosts lines.
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files\n\
                        networks: files\nprotocols: files\nservices: files\n";

fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A shell script that runs `getent` for every query and prints each command line, what it
/// printed (stderr too) and its exit status: the transcript two getents must agree on.
pub fn getent_script(getent: &str) -> String {
    let mut script = String::new();
    for query in GETENT_QUERIES {
        let words: Vec<String> = query.iter().map(|word| quoted(word)).collect();
        let words = words.join(" ");
        script.push_str(&format!(
            "echo {}\n{getent} {words} 2>&1\necho \"exit $?\"\n",
            quoted(&format!("$ getent {words}"))
        ));
    }
    script
}

/// Writes the database files into `etc`.
pub fn write_databases(etc: &Path) {
    std::fs::create_dir_all(etc).unwrap();
    for (name, text) in DATABASES {
        std::fs::write(etc.join(name), text).unwrap();
    }
}

/// Runs `script` with sh in a user and mount namespace whose /etc holds the database files,
/// glibc's settings for reading only them, and links to the host's other /etc entries.
pub fn with_test_etc(dir: &Path, script: &str) -> String {
    let etc = dir.join("etc");
    write_databases(&etc);
    std::fs::write(etc.join("nsswitch.conf"), NSSWITCH).unwrap();
    std::fs::write(etc.join("host.conf"), "").unwrap();
    std::fs::create_dir_all(dir.join("host-etc")).unwrap();
    let setup = r#"set -e
mount --bind /etc "$1/host-etc"
for entry in "$1"/host-etc/*; do
    own="$1/etc/${entry##*/}"
    [ -e "$own" ] || [ -L "$own" ] || ln -s "$entry" "$own"
done
mount --bind "$1/etc" /etc
[ ! -d /run/nscd ] || mount -t tmpfs nscd-hidden /run/nscd
exec sh -c "$2"
"#;
    let output = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            setup,
            "sh",
        ])
        .arg(dir)
        .arg(script)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Compiles one of the tools with the host's cc, warnings as errors.
pub fn compile(name: &str, dir: &Path) -> PathBuf {
    let source = Path::new(REPO).join(format!("recipes/files/{name}/{name}.c"));
    let binary = dir.join(name);
    let output = Command::new("cc")
        .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap();
    assert!(output.status.success(), "cc {name}.c: {output:?}");
    binary
}

/// `getconf -a` output as name -> value.
pub fn getconf_table(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .map(|line| {
            let (name, value) = line.split_at(line.len().min(35));
            (name.trim_end().to_string(), value.to_string())
        })
        .collect()
}

/// The names where two getconf tables disagree, among those both print, `ignored` aside.
pub fn getconf_differences(
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    ignored: &[&str],
) -> Vec<String> {
    ours.iter()
        .filter(|(name, _)| !ignored.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let other = theirs.get(name)?;
            (other != value).then(|| format!("{name}: ours {value:?}, glibc's {other:?}"))
        })
        .collect()
}

/// Names where musl's answer is its own and glibc's rightly differs, so musl's getconf and
/// glibc's print different values.
#[rustfmt::skip]
pub const MUSL_OWN_VALUES: &[&str] = &[
    // musl fixes these where glibc asks the kernel or the file system.
    "ARG_MAX", "_POSIX_ARG_MAX", "NGROUPS_MAX", "_POSIX_NGROUPS_MAX", "LINK_MAX",
    "_POSIX_LINK_MAX", "POSIX_REC_INCR_XFER_SIZE", "POSIX_REC_MAX_XFER_SIZE", "_POSIX_SYNC_IO",
    // Limits of musl's own that differ from glibc's.
    "HOST_NAME_MAX", "RTSIG_MAX", "PTHREAD_KEYS_MAX", "PTHREAD_STACK_MIN", "SEM_NSEMS_MAX",
    "SYMLOOP_MAX", "TZNAME_MAX", "_POSIX_TZNAME_MAX", "AIO_PRIO_DELTA_MAX", "COLL_WEIGHTS_MAX",
    "POSIX2_COLL_WEIGHTS_MAX", "RE_DUP_MAX", "POSIX2_RE_DUP_MAX", "MB_LEN_MAX", "SSIZE_MAX",
    "NL_ARGMAX", "NL_LANGMAX", "NL_MSGMAX", "NL_SETMAX", "NL_TEXTMAX", "NL_NMAX",
    // No limit in musl where glibc names one.
    "ATEXIT_MAX", "EXPR_NEST_MAX", "POSIX2_EXPR_NEST_MAX", "LINE_MAX", "POSIX2_LINE_MAX",
    "_POSIX2_LINE_MAX", "NSS_BUFLEN_GROUP", "NSS_BUFLEN_PASSWD", "PASS_MAX", "SIGQUEUE_MAX",
    "STREAM_MAX", "_POSIX_STREAM_MAX",
    // Options musl does not claim, and its X/Open command version (700 to glibc's 4).
    "_POSIX_PRIORITIZED_IO", "_POSIX_PRIORITY_SCHEDULING", "_POSIX_SYNCHRONIZED_IO",
    "_POSIX_THREAD_PRIO_INHERIT", "_POSIX_THREAD_PRIO_PROTECT", "POSIX2_C_DEV",
    "POSIX2_CHAR_TERM", "POSIX2_LOCALEDEF", "POSIX2_SW_DEV", "_XOPEN_LEGACY", "_XOPEN_REALTIME",
    "_XOPEN_REALTIME_THREADS", "_XOPEN_XPG2", "_XOPEN_XPG3", "_XOPEN_XPG4",
    "_XOPEN_XCU_VERSION",
    // Compilation environments, which musl's confstr leaves empty.
    "XBS5_WIDTH_RESTRICTED_ENVS", "_XBS5_WIDTH_RESTRICTED_ENVS",
    "POSIX_V6_WIDTH_RESTRICTED_ENVS", "_POSIX_V6_WIDTH_RESTRICTED_ENVS",
    "POSIX_V7_WIDTH_RESTRICTED_ENVS", "_POSIX_V7_WIDTH_RESTRICTED_ENVS",
    "POSIX_V6_LP64_OFF64_CFLAGS", "POSIX_V6_LP64_OFF64_LDFLAGS", "POSIX_V7_LP64_OFF64_CFLAGS",
    "POSIX_V7_LP64_OFF64_LDFLAGS",
];

/// Free memory, which changes from one moment to the next.
pub const VOLATILE: [&str; 1] = ["_AVPHYS_PAGES"];

/// Names our getconf knows (POSIX's) that glibc's does not.
const NOT_IN_GLIBC: [&str; 7] = [
    "SS_REPL_MAX",
    "TRACE_EVENT_NAME_MAX",
    "TRACE_NAME_MAX",
    "TRACE_SYS_MAX",
    "TRACE_USER_EVENT_MAX",
    "POSIX2_PBS_CHECKPOINT",
    "_XOPEN_STREAMS",
];

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn getent_built_against_glibc_prints_what_glibcs_getent_prints_from_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let ours = compile("getent", dir.path());
    let theirs = with_test_etc(dir.path(), &getent_script("getent"));
    assert!(
        theirs.contains("alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash\n"),
        "glibc's getent did not read the test files:\n{theirs}"
    );
    let ours = with_test_etc(dir.path(), &getent_script(&ours.display().to_string()));
    assert_eq!(ours, theirs);
}

#[test]
fn getconf_built_against_glibc_prints_what_glibcs_getconf_prints() {
    let dir = tempfile::tempdir().unwrap();
    let ours = compile("getconf", dir.path());
    let glibc = Path::new("getconf");
    let all = run(&ours, &["-a", "/"]);
    assert!(all.status.success(), "{all:?}");
    let ours_table = getconf_table(&text(&all.stdout));
    let theirs_table = getconf_table(&text(&run(glibc, &["-a", "/"]).stdout));
    let unknown: Vec<&String> = ours_table
        .keys()
        .filter(|name| !theirs_table.contains_key(*name))
        .filter(|name| !NOT_IN_GLIBC.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "names glibc's getconf does not know: {unknown:?}"
    );
    // glibc reports its own _POSIX_SSIZE_MAX (32767) for SSIZE_MAX; ours prints <limits.h>'s.
    let ignored = [VOLATILE[0], "SSIZE_MAX"];
    let differences = getconf_differences(&ours_table, &theirs_table, &ignored);
    assert!(differences.is_empty(), "{differences:#?}");

    // One name at a time: the same value, "undefined" for no limit, file system limits of /.
    for name in ours_table
        .keys()
        .filter(|name| theirs_table.contains_key(*name))
    {
        if ignored.contains(&name.as_str()) {
            continue;
        }
        let mut args = vec![name.as_str()];
        if !run(&ours, &args).status.success() {
            args.push("/");
        }
        let (mine, glibc) = (run(&ours, &args), run(glibc, &args));
        assert!(mine.status.success(), "getconf {args:?}: {mine:?}");
        assert_eq!(text(&mine.stdout), text(&glibc.stdout), "getconf {args:?}");
    }
}

#[test]
fn unknown_names_and_misused_paths_are_errors_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let getconf = compile("getconf", dir.path());
    let getent = compile("getent", dir.path());
    for (program, args, status, said) in [
        (&getconf, &["NO_SUCH_NAME"][..], 1, "NO_SUCH_NAME"),
        (&getconf, &["LINK_MAX"], 1, "getconf LINK_MAX PATH"),
        (&getconf, &["ARG_MAX", "/"], 1, "takes no PATH"),
        (&getconf, &["NAME_MAX", "/no/such/path"], 1, "/no/such/path"),
        (&getconf, &["-a", "/", "extra"], 1, "usage"),
        (&getconf, &[], 1, "usage"),
        (&getent, &["no-such-database"], 1, "no-such-database"),
        (&getent, &[], 1, "usage"),
    ] {
        let output = run(program, args);
        assert_eq!(output.status.code(), Some(status), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
        assert!(text(&output.stderr).contains(said), "{args:?}: {output:?}");
    }
    let missing = run(&getent, &["passwd", "root", "no-such-user"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    assert!(text(&missing.stdout).starts_with("root:"), "{missing:?}");
}
