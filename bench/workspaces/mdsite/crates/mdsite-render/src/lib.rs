//! Markdown to HTML, and the site's JSON index.
use mdsite_core::{slug, Page};
use pulldown_cmark::{html, Options, Parser};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Entry {
    pub title: String,
    pub url: String,
    pub tags: Vec<String>,
}

pub fn to_html(page: &Page) -> String {
    let parser = Parser::new_ext(&page.body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut out = format!("<h1>{}</h1>\n", page.meta.title);
    html::push_html(&mut out, parser);
    minify(out)
}

#[cfg(feature = "minify")]
fn minify(html: String) -> String {
    // drop blank lines: memchr finds the newlines
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        let line = &html[start..end];
        if !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
        start = end + 1;
    }
    out.push_str(&html[start..]);
    out
}

#[cfg(not(feature = "minify"))]
fn minify(html: String) -> String {
    html
}

pub fn index(pages: &[Page]) -> String {
    let entries: Vec<Entry> = pages
        .iter()
        .map(|p| Entry {
            title: p.meta.title.clone(),
            url: format!("/{}.html", slug(&p.meta.title)),
            tags: p.meta.tags.clone(),
        })
        .collect();
    serde_json::to_string_pretty(&entries).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_an_index() {
        let page = mdsite_core::parse("+++\ntitle = \"A Post\"\n+++\n*hi* | a\n").unwrap();
        assert!(to_html(&page).contains("<em>hi</em>"));
        let idx: serde_json::Value = serde_json::from_str(&index(&[page])).unwrap();
        assert_eq!(idx[0]["url"], "/a-post.html");
    }
}
