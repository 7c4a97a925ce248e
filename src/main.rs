fn main() {
    std::process::exit(serpent::main());
}
