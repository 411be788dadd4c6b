//! Rebuilds the gateway when a file of the web app (`web/`) is added, changed or removed:
//! the files are compiled in (`src/web.rs`), and `include_bytes!` alone would not notice a
//! new file.

fn main() {
    println!("cargo:rerun-if-changed=web");
}
