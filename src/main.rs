fn main() {
    // serpent's helpers take over before anything else runs: they must stay single-threaded.
    let first = std::env::args_os().nth(1);
    if first.as_deref() == Some(std::ffi::OsStr::new(serpent::sandbox::CHILD_ARG)) {
        serpent::sandbox::child_main();
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(serpent::keeper::KEEPER_ARG)) {
        serpent::keeper::keeper_main();
    }
    std::process::exit(serpent::main());
}
