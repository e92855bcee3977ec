//! `logsift PATTERN [--json] < LOG`: the records whose message matches PATTERN.

use std::io::{self, BufRead};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(pattern) = args.first() else {
        eprintln!("usage: logsift PATTERN [--json] < LOG");
        return ExitCode::from(2);
    };
    let parser = logsift_core::Parser::new();
    let mut index = logsift_index::Index::default();
    let mut store = logsift_store::Store::default();
    for line in io::stdin().lock().lines().map_while(Result::ok) {
        store.put(&line);
        if let Some(record) = parser.parse(&line) {
            index.add(record);
        }
    }
    let found = match index.matching(pattern) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("logsift: bad pattern: {err}");
            return ExitCode::from(2);
        }
    };
    #[cfg(feature = "json")]
    if args.iter().any(|a| a == "--json") {
        println!("{}", index.to_json(&found));
        return ExitCode::SUCCESS;
    }
    for record in &found {
        println!("{} {}: {}", record.level, record.target, record.message);
    }
    ExitCode::SUCCESS
}
