//! `#[derive(FrontMatter)]`: the list of a struct's field names, for error messages that say
//! which keys a page's front matter may have.
use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields};

#[proc_macro_derive(FrontMatter)]
pub fn derive_front_matter(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let fields: Vec<String> = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named
                .named
                .iter()
                .filter_map(|f| f.ident.as_ref().map(|i| i.to_string()))
                .collect(),
            _ => Vec::new(),
        },
        _ => {
            return syn::Error::new_spanned(name, "FrontMatter needs a struct")
                .to_compile_error()
                .into()
        }
    };
    quote! {
        impl #name {
            /// The keys this front matter accepts.
            pub const KEYS: &'static [&'static str] = &[#(#fields),*];
        }
    }
    .into()
}
