// Generates the list of page kinds, as sites generate code from their templates.
use std::{env, fs, path::Path};

fn main() {
    let kinds = ["page", "post", "index", "redirect"];
    let body: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
    let code = format!("pub const KINDS: &[&str] = &[{}];\n", body.join(", "));
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("kinds.rs");
    fs::write(out, code).unwrap();
    println!("cargo::rerun-if-changed=build.rs");
}
