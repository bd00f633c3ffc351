//! A tiny glob matcher for view names: `*` and `?`, nothing else.

/// A compiled glob pattern.
///
/// `*` matches any run of characters, `/` included (view names are flat
/// strings, not paths), and `?` exactly one character. Every other
/// character matches itself; there is no escaping, so a literal `*` or `?`
/// in a view name is matched by the wildcard itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: Vec<char>,
    text: String,
}

impl Glob {
    pub(crate) fn new(pattern: impl Into<String>) -> Glob {
        let text = pattern.into();
        Glob {
            pattern: text.chars().collect(),
            text,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches the whole pattern.
    ///
    /// Greedy with one backtrack point (the latest `*`): when a later
    /// literal fails, that star takes one more character. Earlier stars
    /// never need revisiting, so this is O(pattern × name) at worst, with
    /// no recursion a hostile pattern could blow up.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == '?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pattern[p.min(self.pattern.len())..]
            .iter()
            .all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious exponential definition, as the reference.
    fn reference(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..])),
            Some((&c, rest)) => match n.split_first() {
                Some((&d, tail)) => (c == '?' || c == d) && reference(rest, tail),
                None => false,
            },
        }
    }

    #[test]
    fn known_cases() {
        let cases = [
            ("demo/*", "demo/latency", true),
            ("demo/*", "demo/", true),
            ("demo/*", "demo", false),
            ("demo/*", "other/demo/x", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("*/latency", "a/b/latency", true),
            ("demo/?", "demo/a", true),
            ("demo/?", "demo/ab", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a", "banana", true),
            ("*ab", "aab", true),
            ("**", "x", true),
            ("a?c", "a*c", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(Glob::new(pattern).matches(name), want, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn agrees_with_the_reference_on_every_short_case() {
        // Every pattern and name up to 4 characters over a small alphabet:
        // exhaustive where a random sample could miss a backtracking case.
        fn all(alphabet: &[char], max: usize) -> Vec<Vec<char>> {
            let mut out = vec![Vec::new()];
            let mut last = vec![Vec::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &last {
                    for &c in alphabet {
                        let mut t: Vec<char> = s.clone();
                        t.push(c);
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        let patterns = all(&['a', 'b', '*', '?'], 4);
        let names = all(&['a', 'b'], 4);
        for p in &patterns {
            let glob = Glob::new(p.iter().collect::<String>());
            for n in &names {
                let name: String = n.iter().collect();
                assert_eq!(
                    glob.matches(&name),
                    reference(p, n),
                    "{:?} ~ {name}",
                    glob.text
                );
            }
        }
    }
}
