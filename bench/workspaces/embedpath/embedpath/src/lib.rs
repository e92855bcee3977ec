//! The calling crate's data folder, as an absolute path read when the macro expands.
use proc_macro::TokenStream;

#[proc_macro]
pub fn data_dir(_: TokenStream) -> TokenStream {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    format!("{:?}", format!("{dir}/data")).parse().unwrap()
}
