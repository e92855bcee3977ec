//! `mdsite SRC OUT`: renders every `.md` file under SRC into OUT, with an index.json.
use anyhow::{Context, Result};
use clap::Parser;
use std::{fs, path::PathBuf};
use walkdir::WalkDir;

#[derive(Parser)]
#[command(version, about = "Render a folder of markdown pages into a site")]
struct Args {
    /// The folder of `.md` pages.
    src: PathBuf,
    /// Where the site goes.
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    fs::create_dir_all(&args.out)?;
    let mut pages = Vec::new();
    for entry in WalkDir::new(&args.src).sort_by_file_name() {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "md") {
            let text = fs::read_to_string(entry.path())?;
            let page = mdsite_core::parse(&text).with_context(|| entry.path().display().to_string())?;
            let name = format!("{}.html", mdsite_core::slug(&page.meta.title));
            fs::write(args.out.join(name), mdsite_render::to_html(&page))?;
            pages.push(page);
        }
    }
    fs::write(args.out.join("index.json"), mdsite_render::index(&pages))?;
    println!("{} pages", pages.len());
    Ok(())
}
