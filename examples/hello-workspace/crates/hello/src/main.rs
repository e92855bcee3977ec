fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "world".to_string());
    let greeting = greet::greeting(&name);
    println!("{greeting} ({:016x})", tinyhash::fnv1a(greeting.as_bytes()));
}
