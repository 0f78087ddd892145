//! Comparing names the way a person would: surnames and unit names match whatever their case,
//! spelling of å/ä/ö or separators, so `Hemtjänst Norr`, `HEMTJÄNST NORR` and the unit id
//! `hemtjanst-norr` are one unit. Comparisons walk the characters and never allocate, because
//! `analyze` runs them for every row.

/// One character as compared: lower case, Swedish and common accented letters without their
/// marks, and space, `_` and `-` all as `-`.
fn fold(c: char) -> char {
    if c.is_ascii() {
        return match c {
            ' ' | '_' | '-' | '\t' => '-',
            c => c.to_ascii_lowercase(),
        };
    }
    match c.to_lowercase().next().unwrap_or(c) {
        'å' | 'ä' | 'á' | 'à' | 'â' => 'a',
        'ö' | 'ø' | 'ó' | 'ò' | 'ô' => 'o',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'ü' | 'ú' | 'ù' => 'u',
        'í' | 'ì' | 'ï' => 'i',
        '\u{2010}'..='\u{2013}' | '\u{a0}' => '-',
        c => c,
    }
}

/// `text` in its folded form, for the side of a comparison that is prepared once.
pub fn folded(text: &str) -> String {
    text.trim().chars().map(fold).collect()
}

/// Whether `raw` folds to `prepared` (the output of [`folded`]).
pub fn matches_folded(prepared: &str, raw: &str) -> bool {
    let raw = raw.trim();
    // Folding never changes an ASCII string's length, so most mismatches stop here.
    if raw.is_ascii() && raw.len() != prepared.len() {
        return false;
    }
    prepared.chars().eq(raw.chars().map(fold))
}

/// Care-unit texts that say nothing about the unit.
pub fn is_unknown_unit(raw: &str) -> bool {
    let raw = raw.trim();
    raw.is_empty() || raw == "-" || matches_folded("ej-tillamplig-pa-enhet", raw)
}

/// The surname of a name as care systems write it: the part before a comma (`Lind, Eva`),
/// else the last word (`Eva Lind`).
pub fn surname(name: &str) -> &str {
    let name = name.trim();
    match name.split_once(',') {
        Some((last, _)) => last.trim(),
        // Byte search: this runs for every row of `analyze`; names are split on ASCII spaces.
        None => match name.bytes().rposition(|b| b.is_ascii_whitespace()) {
            Some(i) => &name[i + 1..],
            None => name,
        },
    }
}

/// The folded first letters of a name's surname parts, for a cheap first check.
pub fn initials(parts: &[String]) -> [char; 2] {
    let mut out = ['\0'; 2];
    for (slot, part) in out.iter_mut().zip(parts) {
        *slot = part.chars().next().unwrap_or('\0');
    }
    out
}

/// False only when no part of `patient_name`'s surname can match a user whose surname parts
/// start with `initials` (from [`initials`]); true means "compare in full".
pub fn may_share_surname(initials: [char; 2], patient_name: &str) -> bool {
    let surname = surname(patient_name);
    if !surname.is_ascii() && surname.contains(['\u{2010}', '\u{2011}', '\u{2013}']) {
        return true;
    }
    surname.split('-').any(|part| {
        part.trim_start()
            .chars()
            .next()
            .is_some_and(|c| initials.contains(&fold(c)))
    })
}

/// The parts of a double-barrelled surname (`Lind-Berg` → `Lind`, `Berg`); a part of one
/// letter is not a name.
pub fn surname_parts(name: &str) -> impl Iterator<Item = &str> {
    surname(name)
        .split(['-', '\u{2010}', '\u{2011}', '\u{2013}'])
        .map(str::trim)
        .filter(|p| p.chars().count() > 1)
}

/// The index into `user_parts` (folded parts of the user's surname) of a part that the
/// patient's surname shares, if any.
pub fn shared_surname(user_parts: &[String], patient_name: &str) -> Option<usize> {
    if user_parts.is_empty() {
        return None;
    }
    surname_parts(patient_name).find_map(|part| {
        user_parts
            .iter()
            .position(|prepared| matches_folded(prepared, part))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_match_by_id_or_name() {
        let id = folded("hemtjanst-norr");
        assert!(matches_folded(&id, "Hemtjänst Norr"));
        assert!(matches_folded(&id, " HEMTJÄNST NORR "));
        assert!(matches_folded(&id, "hemtjanst_norr"));
        assert!(!matches_folded(&id, "Hemtjänst Syd"));
        assert!(!matches_folded(&id, "Hemtjänst Norrå"));
        assert!(is_unknown_unit("Ej tillämplig på enhet"));
        assert!(is_unknown_unit(""));
        assert!(!is_unknown_unit("Hemtjänst Norr"));
    }

    #[test]
    fn surnames_in_both_orders_and_double_barrelled() {
        assert_eq!(surname("Eva Lind"), "Lind");
        assert_eq!(surname("Lind, Eva"), "Lind");
        assert_eq!(surname("Eva Maria Lind-Berg"), "Lind-Berg");
        let user: Vec<String> = surname_parts("Anna Lind-Berg").map(folded).collect();
        assert_eq!(user, ["lind", "berg"]);
        assert_eq!(shared_surname(&user, "Olle Berg"), Some(1));
        assert_eq!(shared_surname(&user, "LIND, OLLE"), Some(0));
        assert_eq!(shared_surname(&user, "Olle Lindberg"), None);
        assert_eq!(shared_surname(&user, "Olle Bergström"), None);
        let sjo: Vec<String> = surname_parts("Kim Sjöberg").map(folded).collect();
        assert_eq!(shared_surname(&sjo, "Per SJÖBERG"), Some(0));
        assert_eq!(shared_surname(&[], "Per Sjöberg"), None);
        assert_eq!(
            surname_parts("Kim O").count(),
            0,
            "a single letter is no name"
        );
    }
}
