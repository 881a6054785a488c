//! Shared by the converter's contract tests: reading a corpus file of named cases.

/// Cases of a corpus file: `(name, text)`, separated by lines starting with `%%%% `.
pub fn corpus(text: &str) -> Vec<(String, String)> {
    let mut cases: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("%%%% ") {
            cases.push((name.to_owned(), String::new()));
        } else if let Some((_, body)) = cases.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    for (_, body) in &mut cases {
        *body = body.trim_matches('\n').to_owned();
    }
    cases
}
