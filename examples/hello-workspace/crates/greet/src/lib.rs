/// The greeting for `name`; the `loud` feature shouts it.
pub fn greeting(name: &str) -> String {
    let text = format!("hello, {name}");
    if cfg!(feature = "loud") {
        text.to_uppercase()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn greets_by_name() {
        assert!(super::greeting("cargo").ends_with("cargo") || cfg!(feature = "loud"));
    }
}
