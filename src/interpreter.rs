//! Why a program that is there cannot start. exec fails with ENOENT, "No such file or
//! directory", both when the program is missing and when the interpreter its `#!` line names
//! or the dynamic loader its ELF header names is: a user told the first goes looking for the
//! wrong file.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How much of a program is read: its `#!` line, or an ELF file's headers and the loader's
/// name, which linkers put in the first page.
const HEAD_BYTES: u64 = 64 * 1024;

const PT_INTERP: u64 = 3;

/// For a `program` that exists although exec said ENOENT: which interpreter or loader it
/// names that does not exist, as a sentence. `None` if it names none, or one that exists.
pub fn missing_interpreter(program: &Path) -> Option<String> {
    let head = head(program, HEAD_BYTES)?;
    let (interpreter, what) = match head.strip_prefix(b"#!") {
        Some(line) => (
            shebang_interpreter(line)?,
            "the interpreter its #! line names",
        ),
        None => (
            elf_interpreter(&head)?,
            "the dynamic loader its ELF header names",
        ),
    };
    if interpreter.exists() {
        return None;
    }
    let dangling = match std::fs::read_link(&interpreter) {
        Ok(target) => format!(" (a link to {}, which is missing)", target.display()),
        Err(_) => String::new(),
    };
    Some(format!(
        "{} is there, but {what}, {}{dangling}, does not exist",
        program.display(),
        interpreter.display()
    ))
}

/// The interpreter a script's `#!` line names, if `script` is a file that starts with one.
pub fn named_interpreter(script: &Path) -> Option<PathBuf> {
    shebang_interpreter(head(script, 1024)?.strip_prefix(b"#!")?)
}

/// The first `bytes` of a file, or fewer if it is shorter.
fn head(path: &Path, bytes: u64) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(bytes)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// The first word of a `#!` line, without the `#!`.
fn shebang_interpreter(line: &[u8]) -> Option<PathBuf> {
    let line = line.split(|byte| *byte == b'\n').next()?;
    let word = line
        .split(|byte| *byte == b' ' || *byte == b'\t')
        .find(|word| !word.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(word)))
}

/// The path in an ELF file's PT_INTERP program header, for 32- and 64-bit files of either
/// byte order.
fn elf_interpreter(head: &[u8]) -> Option<PathBuf> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big_endian = *head.get(5)? == 2;
    let number = |at: u64, size: usize| -> Option<u64> {
        let start = usize::try_from(at).ok()?;
        let bytes = head.get(start..start.checked_add(size)?)?;
        let fold = |value: u64, byte: &u8| (value << 8) | u64::from(*byte);
        Some(if big_endian {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        })
    };
    let word = if wide { 8 } else { 4 };
    let (table, entry_size, entries) = if wide {
        (number(0x20, 8)?, number(0x36, 2)?, number(0x38, 2)?)
    } else {
        (number(0x1c, 4)?, number(0x2a, 2)?, number(0x2c, 2)?)
    };
    for index in 0..entries {
        let entry = table.checked_add(index.checked_mul(entry_size)?)?;
        if number(entry, 4)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (number(entry + 8, word)?, number(entry + 0x20, word)?)
        } else {
            (number(entry + 4, word)?, number(entry + 0x10, word)?)
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let name = head.get(start..end)?.split(|byte| *byte == 0).next()?;
        return Some(PathBuf::from(OsStr::from_bytes(name)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shebang_names_its_first_word() {
        assert_eq!(
            shebang_interpreter(b" /usr/bin/env python3\nprint()"),
            Some(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(
            shebang_interpreter(b"/bin/sh\n"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(shebang_interpreter(b"\n"), None);
    }

    #[test]
    fn the_hosts_own_programs_name_a_loader_that_exists() {
        let head = std::fs::read("/bin/sh").unwrap();
        let loader = elf_interpreter(&head).expect("/bin/sh is dynamically linked");
        assert!(loader.is_absolute() && loader.exists(), "{loader:?}");
        assert_eq!(missing_interpreter(Path::new("/bin/sh")), None);
    }

    #[test]
    fn a_static_program_or_a_short_file_names_nothing() {
        let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
        assert_eq!(elf_interpreter(&busybox), None);
        assert_eq!(elf_interpreter(b"\x7fELF\x02\x01"), None);
        assert_eq!(elf_interpreter(b"plain text"), None);
    }
}
