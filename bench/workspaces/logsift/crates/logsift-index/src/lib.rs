//! Term -> record ids, with a regex filter on top.

use hashbrown::HashMap;
use logsift_core::Record;

#[derive(Default)]
pub struct Index {
    records: Vec<Record>,
    terms: HashMap<String, Vec<usize>>,
}

impl Index {
    pub fn add(&mut self, record: Record) {
        let id = self.records.len();
        for term in record.message.split_whitespace() {
            self.terms.entry(term.to_lowercase()).or_default().push(id);
        }
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn term(&self, term: &str) -> Vec<&Record> {
        let ids = self
            .terms
            .get(&term.to_lowercase())
            .cloned()
            .unwrap_or_default();
        ids.into_iter().map(|i| &self.records[i]).collect()
    }

    pub fn matching(&self, pattern: &str) -> Result<Vec<&Record>, regex::Error> {
        let re = regex::Regex::new(pattern)?;
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            Ok(self
                .records
                .par_iter()
                .filter(|r| re.is_match(&r.message))
                .collect())
        }
        #[cfg(not(feature = "parallel"))]
        Ok(self
            .records
            .iter()
            .filter(|r| re.is_match(&r.message))
            .collect())
    }

    #[cfg(feature = "json")]
    pub fn to_json(&self, records: &[&Record]) -> String {
        serde_json::to_string(records).expect("records serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsift_core::Parser;
    use rand::{Rng, SeedableRng};

    #[test]
    fn finds_terms_in_random_logs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let parser = Parser::new();
        let mut index = Index::default();
        let words = ["timeout", "retry", "connected", "closed"];
        for i in 0..200 {
            let word = words[rng.gen_range(0..words.len())];
            index.add(parser.parse(&format!("INFO net: {word} peer={i}")).unwrap());
        }
        let total: usize = words.iter().map(|w| index.term(w).len()).sum();
        assert_eq!(total, 200);
        assert_eq!(
            index.matching("^(timeout|retry)$").unwrap().len(),
            index.term("timeout").len() + index.term("retry").len()
        );
    }
}
