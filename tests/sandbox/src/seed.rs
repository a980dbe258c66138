//! Deterministic randomness for seeding: the same seed number gives the same
//! records on every run and every machine.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A generator for one named stream of a seed (e.g. `"salesforce.lead"`), so
/// adding records of one kind does not shift those of another.
pub fn rng(seed: u64, stream: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // FNV-1a of the stream name: stable across Rust versions, unlike `Hash`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    rng.set_stream(h);
    rng
}

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Radia",
    "Linus",
    "Frances",
    "John",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
    "Shafi",
    "Niklaus",
    "Adele",
    "Robin",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Torvalds",
    "Allen",
    "McCarthy",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Goldwasser",
    "Wirth",
    "Goldberg",
    "Milner",
];
const COMPANY: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Vandelay",
    "Pied Piper",
    "Dunder Mifflin",
];

/// A person's first name, last name and the shared email pool entry for index
/// `n`: both fake CRMs use [`email`] so seeded data sets overlap on purpose.
pub fn first_name(n: u64) -> &'static str {
    FIRST[(n % FIRST.len() as u64) as usize]
}

pub fn last_name(n: u64) -> &'static str {
    LAST[(n / FIRST.len() as u64 % LAST.len() as u64) as usize]
}

pub fn company(n: u64) -> &'static str {
    COMPANY[(n % COMPANY.len() as u64) as usize]
}

/// The email of person `n` in the shared pool (`person{n}@example.com`).
pub fn email(n: u64) -> String {
    format!("person{n}@example.com")
}
