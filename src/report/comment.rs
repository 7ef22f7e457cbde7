//! A Markdown document that must fit one pull-request comment: written as blocks, each
//! marked with how much it is needed, and joined whole when it fits. When it does not,
//! the least needed blocks go first (the last of a kind before the earlier ones) until
//! it fits, and a note says what was cut and where the whole document is. `report.md`
//! and `rehearsal.md` are both written this way.

use std::fmt::Write;

/// GitHub's limit on a comment's length, in characters.
pub const MAX_CHARS: usize = 65_536;

/// Room kept for the note that says what was cut.
const NOTE_ROOM: usize = 1_024;

/// How much a kind of block is needed, and what the note calls it.
pub trait Need: Copy + PartialEq {
    /// What a cut block of this kind is called, singular and plural.
    fn words(self) -> (&'static str, &'static str);
}

/// One part of the document, in document order.
pub struct Block<N> {
    pub need: N,
    pub text: String,
}

/// Joins `blocks`, leaving out whole kinds in `cut_order` (least needed first; the
/// first block, the title and verdict, is never cut) until the text fits in
/// [`MAX_CHARS`]. `whole` says where everything is, for the note ("The whole
/// report is in `report.html` and `report.json`").
pub fn fit<N: Need>(mut blocks: Vec<Block<N>>, cut_order: &[N], whole: &str) -> String {
    let length = |blocks: &[Block<N>]| blocks.iter().map(|b| b.text.chars().count()).sum::<usize>();
    if length(&blocks) <= MAX_CHARS {
        return blocks.into_iter().map(|block| block.text).collect();
    }
    let mut cut: Vec<(N, usize)> = Vec::new();
    for need in cut_order {
        while length(&blocks) > MAX_CHARS - NOTE_ROOM {
            let Some(index) = blocks.iter().skip(1).rposition(|block| block.need == *need) else {
                break;
            };
            blocks.remove(index + 1);
            match cut.iter_mut().find(|(kind, _)| kind == need) {
                Some((_, count)) => *count += 1,
                None => cut.push((*need, 1)),
            }
        }
    }
    let parts: Vec<String> = cut
        .iter()
        .map(|(need, count)| {
            let (one, many) = need.words();
            format!("{count} {}", if *count == 1 { one } else { many })
        })
        .collect();
    let mut text: String = blocks.into_iter().map(|block| block.text).collect();
    let _ = writeln!(
        text,
        "\n> ✂️ Cut to fit a {MAX_CHARS}-character pull-request comment: {} left out. {whole} beside this file.",
        parts.join(", ")
    );
    text
}
