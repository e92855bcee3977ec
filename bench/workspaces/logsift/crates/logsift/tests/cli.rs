//! Runs the built binary, as a user would.

use std::io::Write;
use std::process::{Command, Stdio};

fn logsift(args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsift"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

const LOG: &str = "INFO http: started port=8080\nWARN db::pool: slow query ms=420\nERROR http: upstream timeout peer=a\n";

#[test]
fn prints_matching_records() {
    let (code, out) = logsift(&["timeout|slow"], LOG);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "WARN db::pool: slow query\nERROR http: upstream timeout\n"
    );
}

#[test]
fn json_output() {
    let (code, out) = logsift(&["started", "--json"], LOG);
    assert_eq!(code, 0);
    assert!(out.contains("\"target\":\"http\""), "{out}");
}

#[test]
fn bad_pattern_exits_2() {
    assert_eq!(logsift(&["("], LOG).0, 2);
}
