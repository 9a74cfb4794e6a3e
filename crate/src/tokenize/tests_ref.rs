//! A direct port of llama.cpp's SPM path (`tokenizer_st_partition` + `llm_tokenizer_spm`),
//! used only by tests to check the `tokenizers`-based pipeline against it on many strings;
//! and a shell unquoter for the reference file.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::token_type::{CONTROL, UNKNOWN, USER_DEFINED};
use super::{Vocab, KEY_ADD_SPACE_PREFIX};
use crate::load::gguf::Gguf;

pub(crate) struct RefSpm {
    tokens: Vec<String>,
    scores: Vec<f32>,
    index: HashMap<String, u32>,
    /// Control / user-defined / unknown ids, longest text first.
    specials: Vec<u32>,
    add_space_prefix: bool,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap: higher score first, then the leftmost.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}

#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    n: usize,
    prev: isize,
    next: isize,
}

enum Frag<'a> {
    Tok(u32),
    Raw(&'a str),
}

impl RefSpm {
    pub(crate) fn from_gguf(g: &Gguf) -> Self {
        let vocab = Vocab::read(g).expect("vocab");
        let scores = Vocab::scores(g, vocab.tokens.len()).expect("scores");
        let index = vocab.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut specials: Vec<u32> = (0..vocab.tokens.len() as u32)
            .filter(|&i| matches!(vocab.types[i as usize], CONTROL | USER_DEFINED | UNKNOWN))
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(vocab.tokens[i as usize].len()));
        let add_space_prefix = g.get_bool(KEY_ADD_SPACE_PREFIX).unwrap_or(true);
        Self { tokens: vocab.tokens, scores, index, specials, add_space_prefix }
    }

    /// llama.cpp `tokenize(text, add_special = false, parse_special = true)` for an SPM vocab.
    pub(crate) fn encode(&self, text: &str) -> Vec<u32> {
        let mut frags = if text.is_empty() { vec![] } else { vec![Frag::Raw(text)] };
        for &sid in &self.specials {
            let st = self.tokens[sid as usize].as_str();
            let mut next = Vec::with_capacity(frags.len());
            for f in frags {
                match f {
                    Frag::Tok(t) => next.push(Frag::Tok(t)),
                    Frag::Raw(mut rest) => {
                        while let Some(p) = rest.find(st) {
                            if p > 0 {
                                next.push(Frag::Raw(&rest[..p]));
                            }
                            next.push(Frag::Tok(sid));
                            rest = &rest[p + st.len()..];
                        }
                        if !rest.is_empty() {
                            next.push(Frag::Raw(rest));
                        }
                    }
                }
            }
            frags = next;
        }
        let mut out = Vec::new();
        let mut prev_special = true;
        for f in frags {
            match f {
                Frag::Tok(t) => {
                    out.push(t);
                    prev_special = true;
                }
                Frag::Raw(s) => {
                    let mut text = String::new();
                    if self.add_space_prefix && prev_special {
                        text.push(' ');
                    }
                    text.push_str(s);
                    self.spm(&text.replace(' ', "\u{2581}"), &mut out);
                    prev_special = false;
                }
            }
        }
        out
    }

    fn spm(&self, text: &str, out: &mut Vec<u32>) {
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let k = starts.len() as isize;
        let mut syms: Vec<Sym> = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                let i = i as isize;
                Sym { start: s, n: end - s, prev: i - 1, next: if i + 1 == k { -1 } else { i + 1 } }
            })
            .collect();
        let mut heap = BinaryHeap::new();
        let try_add = |syms: &[Sym], heap: &mut BinaryHeap<Bigram>, l: isize, r: isize| {
            if l < 0 || r < 0 {
                return;
            }
            let (ls, rs) = (syms[l as usize], syms[r as usize]);
            let s = &text[ls.start..ls.start + ls.n + rs.n];
            if let Some(&id) = self.index.get(s) {
                heap.push(Bigram {
                    score: self.scores[id as usize],
                    left: l as usize,
                    right: r as usize,
                    size: s.len(),
                });
            }
        };
        for i in 1..syms.len() as isize {
            try_add(&syms, &mut heap, i - 1, i);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (syms[b.left], syms[b.right]);
            if l.n == 0 || r.n == 0 || l.n + r.n != b.size {
                continue;
            }
            syms[b.left].n += r.n;
            syms[b.right].n = 0;
            syms[b.left].next = r.next;
            if r.next >= 0 {
                syms[r.next as usize].prev = b.left as isize;
            }
            try_add(&syms, &mut heap, syms[b.left].prev, b.left as isize);
            try_add(&syms, &mut heap, b.left as isize, syms[b.left].next);
        }
        let mut i: isize = if syms.is_empty() { -1 } else { 0 };
        while i >= 0 {
            let s = syms[i as usize];
            let piece = &text[s.start..s.start + s.n];
            match self.index.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        out.push(self.index[&format!("<0x{b:02X}>")]);
                    }
                }
            }
            i = s.next;
        }
    }
}

/// Undo POSIX shell quoting: backslash escapes, '...', "..." and ANSI-C $'...'.
pub(crate) fn shell_unquote(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.extend(it.next()),
            '\'' => out.extend(it.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = it.next() {
                    match c {
                        '"' => break,
                        '\\' => out.extend(it.next()),
                        c => out.push(c),
                    }
                }
            }
            '$' if it.peek() == Some(&'\'') => {
                it.next();
                while let Some(c) = it.next() {
                    match c {
                        '\'' => break,
                        '\\' => match it.next() {
                            Some('n') => out.push('\n'),
                            Some('t') => out.push('\t'),
                            Some('r') => out.push('\r'),
                            Some(c) => out.push(c),
                            None => {}
                        },
                        c => out.push(c),
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}
