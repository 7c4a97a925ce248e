fn main() {
    // The sandbox helper takes over before anything else runs: it must stay single-threaded.
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(serpent::sandbox::CHILD_ARG))
    {
        serpent::sandbox::child_main();
    }
    std::process::exit(serpent::main());
}
