//! Segments of log text stored under the hex SHA-256 of their content.

use hashbrown::HashMap;
use sha2::{Digest, Sha256};

#[derive(Default, serde::Serialize)]
pub struct Store {
    segments: HashMap<String, Vec<u8>>,
}

impl Store {
    pub fn put(&mut self, text: &str) -> String {
        let key: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        #[cfg(feature = "compress")]
        let bytes = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6);
        #[cfg(not(feature = "compress"))]
        let bytes = text.as_bytes().to_vec();
        self.segments.insert(key.clone(), bytes);
        key
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let bytes = self.segments.get(key)?;
        #[cfg(feature = "compress")]
        let bytes = miniz_oxide::inflate::decompress_to_vec(bytes).ok()?;
        String::from_utf8(bytes.to_vec()).ok()
    }

    #[cfg(feature = "sample")]
    pub fn sample_key(&self, seed: u64) -> Option<&String> {
        use rand::{rngs::SmallRng, seq::IteratorRandom, SeedableRng};
        self.segments
            .keys()
            .choose(&mut SmallRng::seed_from_u64(seed))
    }
}

pub fn record_key(record: &logsift_core::Record) -> String {
    logsift_core::fingerprint(record)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let mut store = super::Store::default();
        let key = store.put("ERROR app: boom");
        assert_eq!(store.get(&key).as_deref(), Some("ERROR app: boom"));
    }
}
