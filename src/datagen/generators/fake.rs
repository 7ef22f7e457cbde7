//! `fake`: realistic values from the `fake` crate (names, companies, emails, URLs,
//! sentences, places), drawn from the column's seeded stream. Generating a fake value
//! costs microseconds, so by default a column draws from a pool of `pool` values
//! (4,096) generated once from its stream: ample variety for names, words and
//! sentences, at the cost of a lookup. `unique = true` draws fresh values and keeps
//! them distinct by numbering repeats (`Acme Inc 2`), as a tenant or email column
//! would be; it holds every value in memory, so use it on tables of modest size.

use std::collections::HashSet;

use fake::Fake as _;
use fake::faker::{address::en as address, company::en as company, internet::en as internet};
use fake::faker::{lorem::en as lorem, name::en as name, phone_number::en as phone};
use rand::RngExt;
use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// What kind of fake value.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeKind {
    Name,
    FirstName,
    LastName,
    CompanyName,
    Buzzword,
    Industry,
    Email,
    FreeEmail,
    Username,
    Url,
    Word,
    Sentence,
    Paragraph,
    City,
    CountryCode,
    CountryName,
    StreetName,
    ZipCode,
    PhoneNumber,
}

/// `kind = "fake"`: `fake = "<what>"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fake {
    pub fake: FakeKind,
    /// Words of a sentence, sentences of a paragraph: `[min, max]`, default `[4, 10]`.
    pub words: Option<[usize; 2]>,
    #[serde(default)]
    pub unique: bool,
    /// Distinct values a column draws from (not with `unique`), default 4,096.
    pub pool: Option<usize>,
    #[serde(skip)]
    seen: HashSet<String>,
    #[serde(skip)]
    drawn: Vec<String>,
}

/// The default pool size.
const POOL: usize = 4096;

impl ColumnGenerator for Fake {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        match self.pool {
            Some(_) if self.unique => {
                return Err(
                    "pool and unique exclude each other: unique values are never drawn from a pool"
                        .into(),
                );
            }
            Some(pool) if !(1..=1_000_000).contains(&pool) => {
                return Err(format!("pool = {pool} is outside 1..=1000000"));
            }
            _ => {}
        }
        if let Some([min, max]) = self.words {
            if min == 0 || min > max {
                return Err(format!(
                    "words = [{min}, {max}] must be [min, max] with 1 <= min <= max"
                ));
            }
            if !matches!(self.fake, FakeKind::Sentence | FakeKind::Paragraph) {
                return Err("words applies to fake = \"sentence\" and \"paragraph\"".into());
            }
        }
        Ok(ValueKind::Text)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        if self.unique {
            return Value::Text(self.fresh_unique(rng));
        }
        if self.drawn.is_empty() {
            let size = self.pool.unwrap_or(POOL);
            self.drawn = (0..size).map(|_| self.fresh(rng)).collect();
        }
        Value::Text(self.drawn[rng.random_range(0..self.drawn.len())].clone())
    }
}

impl Fake {
    fn fresh_unique(&mut self, rng: &mut SeededRng) -> String {
        let mut text = self.fresh(rng);
        let base = text.clone();
        let mut attempt = 2;
        while !self.seen.insert(text.clone()) {
            text = format!("{base} {attempt}");
            attempt += 1;
        }
        text
    }

    fn fresh(&self, rng: &mut SeededRng) -> String {
        let [min, max] = self.words.unwrap_or([4, 10]);
        match self.fake {
            FakeKind::Name => name::Name().fake_with_rng(rng),
            FakeKind::FirstName => name::FirstName().fake_with_rng(rng),
            FakeKind::LastName => name::LastName().fake_with_rng(rng),
            FakeKind::CompanyName => company::CompanyName().fake_with_rng(rng),
            FakeKind::Buzzword => company::Buzzword().fake_with_rng(rng),
            FakeKind::Industry => company::Industry().fake_with_rng(rng),
            FakeKind::Email => internet::SafeEmail().fake_with_rng(rng),
            FakeKind::FreeEmail => internet::FreeEmail().fake_with_rng(rng),
            FakeKind::Username => internet::Username().fake_with_rng(rng),
            FakeKind::Url => {
                let host: String = lorem::Word().fake_with_rng(rng);
                let suffix: String = internet::DomainSuffix().fake_with_rng(rng);
                let path: String = lorem::Word().fake_with_rng(rng);
                format!("https://www.{host}.{suffix}/{path}")
            }
            FakeKind::Word => lorem::Word().fake_with_rng(rng),
            FakeKind::Sentence => lorem::Sentence(min..max + 1).fake_with_rng(rng),
            FakeKind::Paragraph => lorem::Paragraph(min..max + 1).fake_with_rng(rng),
            FakeKind::City => address::CityName().fake_with_rng(rng),
            FakeKind::CountryCode => address::CountryCode().fake_with_rng(rng),
            FakeKind::CountryName => address::CountryName().fake_with_rng(rng),
            FakeKind::StreetName => address::StreetName().fake_with_rng(rng),
            FakeKind::ZipCode => address::ZipCode().fake_with_rng(rng),
            FakeKind::PhoneNumber => phone::PhoneNumber().fake_with_rng(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    fn draws(kind: &str, unique: bool, count: usize) -> Vec<String> {
        let mut generator: Fake =
            toml::from_str(&format!("fake = \"{kind}\"\nunique = {unique}")).unwrap();
        resolve_alone(&mut generator).unwrap();
        let mut rng = stream(3, "t", "c");
        (0..count)
            .map(|_| generate_alone(&mut generator, &mut rng).to_string())
            .collect()
    }

    #[test]
    fn same_seed_same_values_and_unique_means_unique() {
        assert_eq!(
            draws("company_name", false, 50),
            draws("company_name", false, 50)
        );
        let names = draws("company_name", true, 2000);
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 2000);
        assert!(
            draws("email", false, 20)
                .iter()
                .all(|email| email.contains('@'))
        );
        assert!(
            draws("url", false, 20)
                .iter()
                .all(|url| url.starts_with("https://"))
        );
    }

    #[test]
    fn words_only_for_prose() {
        let mut generator: Fake = toml::from_str("fake = \"email\"\nwords = [1, 3]").unwrap();
        assert!(resolve_alone(&mut generator).is_err());
        assert!(toml::from_str::<Fake>("fake = \"astrology\"").is_err());
    }
}
