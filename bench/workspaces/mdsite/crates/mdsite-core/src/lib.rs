//! Pages and their front matter.
use mdsite_macros::FrontMatter;
use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/kinds.rs"));

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("front matter: {0} (keys: {keys})", keys = Meta::KEYS.join(", "))]
    FrontMatter(#[from] toml::de::Error),
    #[error("unknown page kind {0:?}; known: {known}", known = KINDS.join(", "))]
    Kind(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FrontMatter)]
pub struct Meta {
    pub title: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_kind() -> String {
    "page".to_string()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub meta: Meta,
    pub body: String,
}

/// Splits `+++\ntoml\n+++\nmarkdown` into a page.
pub fn parse(text: &str) -> Result<Page, PageError> {
    let (front, body) = match text.strip_prefix("+++\n").and_then(|rest| rest.split_once("\n+++\n")) {
        Some((front, body)) => (front, body),
        None => ("title = \"untitled\"", text),
    };
    let meta: Meta = toml::from_str(front)?;
    if !KINDS.contains(&meta.kind.as_str()) {
        return Err(PageError::Kind(meta.kind));
    }
    Ok(Page { meta, body: body.to_string() })
}

/// A URL slug for a title.
#[cfg(feature = "slugs")]
pub fn slug(title: &str) -> String {
    let re = regex::Regex::new(r"[^\w]+").unwrap();
    re.replace_all(&title.to_lowercase(), "-").trim_matches('-').to_string()
}

#[cfg(not(feature = "slugs"))]
pub fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_front_matter_and_body() {
        let page = parse("+++\ntitle = \"Hello\"\ntags = [\"a\"]\n+++\n# Hi\n").unwrap();
        assert_eq!(page.meta.title, "Hello");
        assert_eq!(page.meta.kind, "page");
        assert_eq!(page.body, "# Hi\n");
        assert_eq!(serde_json::to_value(&page.meta).unwrap()["tags"][0], "a");
    }

    #[test]
    fn rejects_an_unknown_kind() {
        let err = parse("+++\ntitle = \"x\"\nkind = \"nope\"\n+++\n").unwrap_err();
        assert!(err.to_string().contains("known: page, post"));
    }

    #[test]
    fn the_derive_lists_the_keys() {
        assert_eq!(Meta::KEYS, &["title", "kind", "tags"]);
        assert_eq!(slug("Hello, World!"), "hello-world");
    }
}
