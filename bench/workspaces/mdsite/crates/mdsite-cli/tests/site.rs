use std::{fs, process::Command};

#[test]
fn builds_a_site() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a.md"), "+++\ntitle = \"First Post\"\nkind = \"post\"\n+++\nHello *you*\n").unwrap();
    let out = dir.path().join("out");
    let ran = Command::new(env!("CARGO_BIN_EXE_mdsite")).arg(&src).arg(&out).output().unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "1 pages\n");
    assert!(fs::read_to_string(out.join("first-post.html")).unwrap().contains("<em>you</em>"));
}
