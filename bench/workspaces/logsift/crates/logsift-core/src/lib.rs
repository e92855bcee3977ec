//! Log lines of the form `LEVEL target: message key=value ...`.

use regex::Regex;
use smallvec::SmallVec;

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Record {
    pub level: String,
    pub target: String,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

pub struct Parser {
    head: Regex,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    pub fn new() -> Self {
        let head = Regex::new(r"^(?P<level>[A-Z]+)\s+(?P<target>[\w:]+):\s+(?P<rest>.*)$")
            .expect("a valid pattern");
        Parser { head }
    }

    pub fn parse(&self, line: &str) -> Option<Record> {
        let caps = self.head.captures(line)?;
        let rest = &caps["rest"];
        let mut words: SmallVec<[&str; 8]> = SmallVec::new();
        let mut fields = Vec::new();
        for word in rest.split(' ') {
            match memchr::memchr(b'=', word.as_bytes()) {
                Some(at) if at > 0 => {
                    fields.push((word[..at].to_string(), word[at + 1..].to_string()))
                }
                _ => words.push(word),
            }
        }
        Some(Record {
            level: caps["level"].to_string(),
            target: caps["target"].to_string(),
            message: words.join(" "),
            fields,
        })
    }
}

#[cfg(feature = "fingerprint")]
pub fn fingerprint(record: &Record) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!(
        "{}|{}|{}",
        record.level, record.target, record.message
    ));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let r = Parser::new()
            .parse("WARN db::pool: slow query ms=420 table=users")
            .unwrap();
        assert_eq!(r.level, "WARN");
        assert_eq!(r.target, "db::pool");
        assert_eq!(r.message, "slow query");
        assert_eq!(r.fields[0], ("ms".into(), "420".into()));
    }
}
