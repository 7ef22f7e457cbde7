//! `report.html` in a real browser: headless Chromium renders the page from
//! `file://` to a PNG and to a DOM dump, for the sample outcome of `reports.rs` and
//! for a real small run. The DOM must hold both plan trees, the flagged node with its
//! check's message and, when sweep data is given, the sweep plot; the PNG must not be
//! blank. Chromium is required: without it these tests fail and say how to install
//! it (CI installs it in `.ci/run`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use plancheck::report;

use crate::reports::sample_outcome;
use crate::support::{local_server, quick_options, test_scenario};

/// The Chromium binary: `PLANCHECK_CHROMIUM`, else `chromium` (Debian) or
/// `chromium-browser` on the PATH. Panics with the way to install it.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PLANCHECK_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "report.html's browser tests need headless Chromium, and none was found: \
                 install it with `apt-get update && apt-get install -y chromium` \
                 (or set PLANCHECK_CHROMIUM to its binary)"
            )
        })
}

/// Runs Chromium headless on `page` with `args`, within a minute, and returns stdout.
fn run_chromium(page: &Path, args: &[String]) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    // Stdout goes to a file: a pipe nobody reads while we wait would fill with the
    // DOM and stall Chromium.
    let stdout = profile.path().join("stdout");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!(
                "chromium did not finish rendering {} within 60 s",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.wait().unwrap().success(),
        "chromium failed on {}",
        page.display()
    );
    std::fs::read(&stdout).unwrap()
}

/// The page's DOM after Chromium loaded it, and a 1400×3000 screenshot of it.
fn render(page: &Path) -> (String, Vec<u8>) {
    let dom = String::from_utf8(run_chromium(page, &["--dump-dom".into()])).unwrap();
    let screenshot = page.with_extension("png");
    run_chromium(page, &[format!("--screenshot={}", screenshot.display())]);
    (
        dom,
        std::fs::read(&screenshot).expect("chromium wrote the screenshot"),
    )
}

/// Asserts that `png` shows a page, not a blank: many colours, much ink.
fn assert_not_blank(png: &[u8]) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let colours: HashSet<&[u8]> = pixels.chunks(channels).collect();
    let inked = pixels
        .chunks(channels)
        .filter(|pixel| pixel[..3].iter().any(|&value| value < 235))
        .count();
    let share = inked as f64 / (pixels.len() / channels) as f64;
    assert!(
        colours.len() > 200 && share > 0.02,
        "the screenshot looks blank: {} colours, {:.1}% non-white pixels",
        colours.len(),
        share * 100.0
    );
}

/// The element with `id` in `dom`, up to its end tag (the page does not nest the
/// same tag inside a plan's article).
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"));
    let open = dom[..start].rfind('<').unwrap();
    let tag: String = dom[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let end = dom[start..].find(&format!("</{tag}>")).unwrap() + start;
    &dom[open..end]
}

/// The sample outcome with a hand-made sweep (`reports::sample_sweep`).
fn swept_document() -> report::Report {
    let mut outcome = sample_outcome();
    outcome.sweep = Some(crate::reports::sample_sweep());
    report::document::report(&outcome)
}

/// The plan trees of `variant`'s old and new queries, the flagged walk in the old
/// one with its message, and a picture that is not blank.
fn assert_page_shows_the_walk(dom: &str, png: &[u8], variant: &str) {
    let old = element(dom, &format!("{variant}-old"));
    let new = element(dom, &format!("{variant}-new"));
    for plan in [old, new] {
        assert!(plan.contains("<ul class=\"tree\">") && plan.contains("class=\"node"));
    }
    let flagged = old
        .find("class=\"node flagged\"")
        .map(|at| &old[at..])
        .expect("the old plan has a flagged node");
    assert!(
        flagged.contains("using workflow_runs_created_at")
            && flagged.contains("ordered-walk")
            && flagged.contains("scan of workflow_runs_created_at"),
        "{}",
        &flagged[..flagged.len().min(2000)]
    );
    assert!(!new.contains("node flagged"), "the new plan walks nothing");
    assert!(old.contains("EXPLAIN (FORMAT JSON)") && old.contains("\"Node Type\": \"Limit\""));
    assert_not_blank(png);
}

#[test]
fn the_sample_report_html_shows_both_trees_the_flagged_node_and_the_sweep_in_chromium() {
    let html = report::html::render(&swept_document());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let (dom, png) = render(&page);
    // `PLANCHECK_HTML_OUT=dir` keeps the page and its screenshot there, to look at
    // (docs/report-html.png is made from them).
    if let Some(out) = std::env::var_os("PLANCHECK_HTML_OUT") {
        std::fs::write(Path::new(&out).join("report.html"), &html).unwrap();
        std::fs::write(Path::new(&out).join("report.png"), &png).unwrap();
    }
    assert_page_shows_the_walk(&dom, &png, "variant-1");
    let sweep = element(&dom, "sweep");
    assert!(
        sweep.matches("<svg").count() == 3,
        "time, rows examined and buffers plots"
    );
    assert!(sweep.contains("old · slope 0.98") && sweep.contains("new · slope 0.00"));
    assert!(
        sweep.contains("old grows with the table (slope 0.98 ± 0.03, 4 scales)")
            && sweep.contains("shows the regression from 280,000 rows of workflow_runs")
            && sweep.contains("Index Scan using workflow_runs_workflow_id on workflow_runs"),
        "{sweep}"
    );
    assert!(element(&dom, "verdicts").contains("href=\"#variant-3-old\""));
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    // The page needs nothing from outside: no external script, style, font or image.
    for reference in ["src=\"http", "href=\"http", "url(", "@import", "<link"] {
        assert!(!html.contains(reference), "{reference} in report.html");
    }
}

/// Without a sweep the page has no sweep section (the document carries none yet).
#[test]
fn a_report_without_sweep_data_has_no_sweep_plot() {
    let html = report::html::render(&report::document::report(&sample_outcome()));
    assert!(!html.contains("id=\"sweep\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_run_writes_a_report_html_that_chromium_renders() {
    let server = local_server().await;
    let run = plancheck::pipeline::run_scenario(
        &server,
        &test_scenario("sparse-small"),
        &quick_options(),
    )
    .await
    .unwrap();
    server.stop().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = report::write(&run, out.path()).unwrap();
    let page = dir.join("report.html");
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 1_000_000, "report.html is {size} bytes");
    let (dom, png) = render(&page);
    assert_page_shows_the_walk(&dom, &png, "variant-1");
    assert!(
        element(&dom, "variant-1-old").contains("SELECT"),
        "the query's SQL"
    );
    assert!(!dom.contains("id=\"sweep\""));
}

/// The page's structure, as a reader scans it: headings, table headers, each plan
/// tree's node labels (indented by depth, flagged ones marked), folded parts and
/// charts. Digits are redacted so that the outline holds structure, not figures.
fn outline(html: &str) -> String {
    let dom = tl::parse(html, tl::ParserOptions::default()).unwrap();
    let parser = dom.parser();
    let text = |tag: &tl::HTMLTag| redact(&tag.inner_text(parser));
    let attribute = |tag: &tl::HTMLTag, name: &str| {
        tag.attributes()
            .get(name)
            .flatten()
            .map(|value| unescape(&value.as_utf8_str()))
            .unwrap_or_default()
    };
    let mut lines: Vec<String> = Vec::new();
    for tag in dom.nodes().iter().filter_map(tl::Node::as_tag) {
        let name = tag.name().as_utf8_str();
        let class = attribute(tag, "class");
        match name.as_ref() {
            "h1" | "h2" | "h3" | "h4" => lines.push(format!("{name} {}", text(tag))),
            "thead" => lines.push("  [table]".into()),
            "th" => lines
                .last_mut()
                .unwrap()
                .push_str(&format!(" {} |", text(tag))),
            "div" if class.starts_with("node") => {
                let depth = attribute(tag, "data-path").matches('/').count();
                let head = tag
                    .children()
                    .top()
                    .iter()
                    .filter_map(|child| child.get(parser)?.as_tag())
                    .find(|child| attribute(child, "class") == "head")
                    .map(text)
                    .unwrap_or_default();
                let flagged = if class.contains("flagged") {
                    "  ⚑ flagged"
                } else {
                    ""
                };
                lines.push(format!("  {}{head}{flagged}", "  ".repeat(depth)));
            }
            "summary" => lines.push(format!("  > {}", text(tag))),
            "svg" => lines.push("  <svg chart>".into()),
            _ => {}
        }
    }
    lines.join("\n")
}

/// Text as it reads: entities decoded, whitespace collapsed, digits as `#`.
fn redact(text: &str) -> String {
    unescape(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// The entities minijinja writes, decoded (tl leaves them as written).
fn unescape(text: &str) -> String {
    [
        ("&#x2f;", "/"),
        ("&#x27;", "'"),
        ("&quot;", "\""),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (entity, plain)| {
        text.replace(entity, plain)
    })
}

#[test]
fn report_html_outline() {
    insta::assert_snapshot!(outline(&report::html::render(&swept_document())));
}
