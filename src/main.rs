//! The `acmebot` binary: everything it does is `acmebot::app::main`.

fn main() {
    std::process::exit(acmebot::app::main(std::env::args().collect()));
}
