/// The greeting in this crate's data folder, read at run time.
pub fn greeting() -> String {
    std::fs::read_to_string(concat!(embedpath::data_dir!(), "/greeting.txt")).unwrap()
}

#[cfg(test)]
mod tests {
    #[test]
    fn prints() {
        println!("GREETING={}", super::greeting().trim());
    }
}
