//! CatBoost's hashes for categorical features: the 32-bit hash of a category value, and the
//! 64-bit mixing step that hashes a feature combination into a CTR table key.
//!
//! A CatBoost model never stores category strings for its CTRs: its tables are keyed by hashes.
//! To score a raw string column exactly as CatBoost does, Verdict must compute the same hashes,
//! bit for bit. `docs/formats/catboost-categorical.md` says where each rule comes from; in short:
//!
//! - a category value is hashed as `CityHash64(utf8_bytes) & 0xffff_ffff`
//!   (`CalcCatFeatureHash` in `catboost/libs/cat_feature/cat_feature.cpp`), with the
//!   **version 1.0** CityHash64 of Arcadia's `util/digest/city.cpp`; later CityHash releases
//!   (Google's current one and most ports) changed several length ranges, so no library is used;
//! - an integer category (a pandas `int64` column) is hashed as its decimal text, `-` for
//!   negative values, no leading `+` or zeros;
//! - a CTR key starts at 0 and folds in each categorical hash (sign-extended from 32 to 64 bits)
//!   and then each binary split of the combination (0 or 1) with [`combine`].
//!
//! The tests check every string of `tests/fixtures/catboost/cat_hash.json` against the hashes
//! CatBoost 1.2.10 itself wrote.

/// CityHash's constants: primes between 2^63 and 2^64.
const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;
const K3: u64 = 0xc949_d7c7_509e_6557;

/// The multiplier of `Hash128to64`, CityHash's 128-to-64-bit reduction.
const K_MUL: u64 = 0x9ddf_ea08_eb38_2d69;

/// The multiplier of CatBoost's `CalcHash(a, b)` in `catboost/libs/model/hash.h`.
const MAGIC_MULT: u64 = 0x4906_ba49_4954_cb65;

/// The 32-bit hash CatBoost gives a category value (`CalcCatFeatureHash`): the low half of
/// CityHash64 (v1.0) of its bytes. Strings are hashed as UTF-8.
pub(crate) fn cat_feature_hash(value: &[u8]) -> u32 {
    // Truncation is the rule: CatBoost keeps the low 32 bits.
    city_hash64(value) as u32
}

/// The hash of an integer category, as CatBoost's Python package gives it: the integer is
/// first written in decimal (`ToString<i64>`), then hashed like a string.
pub(crate) fn cat_feature_hash_i64(value: i64) -> u32 {
    cat_feature_hash(value.to_string().as_bytes())
}

/// One step of a CTR key (`CalcHash(a, b)`): `MAGIC_MULT * (a + MAGIC_MULT * b)`, wrapping.
pub(crate) fn combine(accumulated: u64, value: u64) -> u64 {
    MAGIC_MULT.wrapping_mul(accumulated.wrapping_add(MAGIC_MULT.wrapping_mul(value)))
}

/// A categorical hash as the CTR key step takes it: CatBoost casts the `u32` hash to `int` and
/// then to `u64` (`(ui64)(int)hash` in `CalcHashes`, `ctr_provider.h`), so hashes with the top
/// bit set are sign-extended.
pub(crate) fn cat_hash_for_key(hash: u32) -> u64 {
    hash as i32 as i64 as u64
}

/// The CTR table key of one row: categorical hashes in the combination's order, then the binary
/// splits (float splits, then one-hot splits) as 0 or 1. The step folds the same values in as
/// it reads them; this form checks the rule against CatBoost's own keys.
#[cfg(test)]
pub(crate) fn ctr_key(cat_hashes: &[u32], split_bits: &[bool]) -> u64 {
    let mut key = 0u64;
    for &hash in cat_hashes {
        key = combine(key, cat_hash_for_key(hash));
    }
    for &bit in split_bits {
        key = combine(key, u64::from(bit));
    }
    key
}

/// CityHash64, version 1.0 (the one in Arcadia's `util/digest/city.cpp`, which CatBoost links).
pub(crate) fn city_hash64(s: &[u8]) -> u64 {
    let len = s.len();
    if len <= 16 {
        return hash_len_0_to_16(s);
    }
    if len <= 32 {
        return hash_len_17_to_32(s);
    }
    if len <= 64 {
        return hash_len_33_to_64(s);
    }

    // Over 64 bytes: the last 64 bytes seed 56 bytes of state, then every 64-byte chunk from
    // the start (the last, partial one excluded) is folded in.
    let mut x = load64(s, 0);
    let mut y = load64(s, len - 16) ^ K1;
    let mut z = load64(s, len - 56) ^ K0;
    let mut v = weak_hash_len_32_with_seeds(s, len - 64, len as u64, y);
    let mut w = weak_hash_len_32_with_seeds(s, len - 32, (len as u64).wrapping_mul(K1), K0);
    z = z.wrapping_add(shift_mix(v.1).wrapping_mul(K1));
    x = z.wrapping_add(x).rotate_right(39).wrapping_mul(K1);
    y = y.rotate_right(33).wrapping_mul(K1);

    let chunks = (len - 1) & !63;
    let mut at = 0;
    while at < chunks {
        x = x
            .wrapping_add(y)
            .wrapping_add(v.0)
            .wrapping_add(load64(s, at + 16))
            .rotate_right(37)
            .wrapping_mul(K1);
        y = y
            .wrapping_add(v.1)
            .wrapping_add(load64(s, at + 48))
            .rotate_right(42)
            .wrapping_mul(K1);
        x ^= w.1;
        y ^= v.0;
        z = (z ^ w.0).rotate_right(33);
        v = weak_hash_len_32_with_seeds(s, at, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
        w = weak_hash_len_32_with_seeds(s, at + 32, z.wrapping_add(w.1), y);
        std::mem::swap(&mut z, &mut x);
        at += 64;
    }
    hash_len_16(
        hash_len_16(v.0, w.0)
            .wrapping_add(shift_mix(y).wrapping_mul(K1))
            .wrapping_add(z),
        hash_len_16(v.1, w.1).wrapping_add(x),
    )
}

/// A little-endian 64-bit load at `at` (CityHash reads unaligned little-endian words).
fn load64(s: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A little-endian 32-bit load at `at`.
fn load32(s: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&s[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

fn shift_mix(value: u64) -> u64 {
    value ^ (value >> 47)
}

/// `Hash128to64(u, v)`: a Murmur-like reduction of two words to one.
fn hash_len_16(u: u64, v: u64) -> u64 {
    let mut a = (u ^ v).wrapping_mul(K_MUL);
    a ^= a >> 47;
    let mut b = (v ^ a).wrapping_mul(K_MUL);
    b ^= b >> 47;
    b.wrapping_mul(K_MUL)
}

/// Version 1.0's short-input hash (1.1 changed all three branches).
fn hash_len_0_to_16(s: &[u8]) -> u64 {
    let len = s.len();
    if len > 8 {
        let a = load64(s, 0);
        let b = load64(s, len - 8);
        // `RotateByAtLeast1(b + len, len)`: len is 9..=16 here, never 0.
        return hash_len_16(a, b.wrapping_add(len as u64).rotate_right(len as u32)) ^ b;
    }
    if len >= 4 {
        let a = load32(s, 0);
        return hash_len_16((len as u64).wrapping_add(a << 3), load32(s, len - 4));
    }
    if len > 0 {
        let a = u32::from(s[0]);
        let b = u32::from(s[len >> 1]);
        let c = u32::from(s[len - 1]);
        // The mixing is done in 32 bits first, as in the C++ (`uint32 y, z`), then widened.
        let y = a.wrapping_add(b << 8);
        let z = (len as u32).wrapping_add(c << 2);
        return shift_mix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K3))
            .wrapping_mul(K2);
    }
    K2
}

fn hash_len_17_to_32(s: &[u8]) -> u64 {
    let len = s.len();
    let a = load64(s, 0).wrapping_mul(K1);
    let b = load64(s, 8);
    let c = load64(s, len - 8).wrapping_mul(K2);
    let d = load64(s, len - 16).wrapping_mul(K0);
    hash_len_16(
        a.wrapping_sub(b)
            .rotate_right(43)
            .wrapping_add(c.rotate_right(30))
            .wrapping_add(d),
        a.wrapping_add((b ^ K3).rotate_right(20))
            .wrapping_sub(c)
            .wrapping_add(len as u64),
    )
}

fn hash_len_33_to_64(s: &[u8]) -> u64 {
    let len = s.len();
    let mut z = load64(s, 24);
    let mut a = load64(s, 0).wrapping_add(
        (len as u64)
            .wrapping_add(load64(s, len - 16))
            .wrapping_mul(K0),
    );
    let mut b = a.wrapping_add(z).rotate_right(52);
    let mut c = a.rotate_right(37);
    a = a.wrapping_add(load64(s, 8));
    c = c.wrapping_add(a.rotate_right(7));
    a = a.wrapping_add(load64(s, 16));
    let vf = a.wrapping_add(z);
    let vs = b.wrapping_add(a.rotate_right(31)).wrapping_add(c);
    a = load64(s, 16).wrapping_add(load64(s, len - 32));
    z = load64(s, len - 8);
    b = a.wrapping_add(z).rotate_right(52);
    c = a.rotate_right(37);
    a = a.wrapping_add(load64(s, len - 24));
    c = c.wrapping_add(a.rotate_right(7));
    a = a.wrapping_add(load64(s, len - 16));
    let wf = a.wrapping_add(z);
    let ws = b.wrapping_add(a.rotate_right(31)).wrapping_add(c);
    let r = shift_mix(
        vf.wrapping_add(ws)
            .wrapping_mul(K2)
            .wrapping_add(wf.wrapping_add(vs).wrapping_mul(K0)),
    );
    shift_mix(r.wrapping_mul(K0).wrapping_add(vs)).wrapping_mul(K2)
}

/// A 16-byte hash of the 32 bytes at `at` and two seeds (`WeakHashLen32WithSeeds`).
fn weak_hash_len_32_with_seeds(s: &[u8], at: usize, a: u64, b: u64) -> (u64, u64) {
    let (w, x, y, z) = (
        load64(s, at),
        load64(s, at + 8),
        load64(s, at + 16),
        load64(s, at + 24),
    );
    let mut a = a.wrapping_add(w);
    let mut b = b.wrapping_add(a).wrapping_add(z).rotate_right(21);
    let c = a;
    a = a.wrapping_add(x).wrapping_add(y);
    b = b.wrapping_add(a.rotate_right(44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The fixture CatBoost wrote: each string with the 32-bit hash from a JSON export's
    /// `cat_features_hash` and, where CatBoost exposes it, the full 64-bit CityHash.
    fn fixture() -> serde_json::Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/catboost/cat_hash.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn category_hashes_match_catboost() {
        let fixture = fixture();
        let cases = fixture["strings"].as_array().unwrap();
        assert!(
            cases.len() >= 30,
            "the fixture lists {} strings",
            cases.len()
        );
        for case in cases {
            let value = case["value"].as_str().unwrap();
            let expected = case["hash"].as_u64().unwrap();
            assert_eq!(
                u64::from(cat_feature_hash(value.as_bytes())),
                expected,
                "hash of {value:?} ({} bytes)",
                value.len()
            );
        }
    }

    #[test]
    fn city_hash64_matches_catboost_where_exposed() {
        let fixture = fixture();
        let mut checked = 0;
        for case in fixture["strings"].as_array().unwrap() {
            let Some(expected) = case["city_hash64"].as_u64() else {
                continue;
            };
            let value = case["value"].as_str().unwrap();
            assert_eq!(
                city_hash64(value.as_bytes()),
                expected,
                "CityHash64 of {value:?}"
            );
            checked += 1;
        }
        // Every length branch (0-16, 17-32, 33-64, over 64 and over 128) has strings here.
        assert!(checked >= 20, "only {checked} strings carry a 64-bit hash");
    }

    #[test]
    fn integer_categories_hash_as_their_decimal_text() {
        let fixture = fixture();
        let cases = fixture["integers"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let value = case["value"].as_i64().unwrap();
            let expected = case["hash"].as_u64().unwrap();
            assert_eq!(
                u64::from(cat_feature_hash_i64(value)),
                expected,
                "hash of {value}"
            );
        }
    }

    /// Every CTR table of a model CatBoost trained holds exactly the keys of its training rows:
    /// this checks the key's mixing function, its order (categories, then float splits, then
    /// one-hot splits), the sign extension and the float split rule against CatBoost itself.
    #[test]
    fn ctr_keys_of_training_rows_are_the_tables_keys() {
        let fixture = fixture();
        let data = &fixture["ctr_tables"];
        let cat_rows = data["cat_rows"].as_array().unwrap();
        let float_rows = data["float_rows"].as_array().unwrap();
        let tables = data["tables"].as_array().unwrap();
        assert!(tables.len() >= 5);
        let mut combined = 0;
        for table in tables {
            let elements = table["identifier"].as_array().unwrap();
            let kind =
                |e: &serde_json::Value| e["combination_element"].as_str().unwrap().to_owned();
            let cats: Vec<usize> = elements
                .iter()
                .filter(|e| kind(e) == "cat_feature_value")
                .map(|e| e["cat_feature_index"].as_u64().unwrap() as usize)
                .collect();
            let floats: Vec<(usize, f32)> = elements
                .iter()
                .filter(|e| kind(e) == "float_feature")
                .map(|e| {
                    (
                        e["float_feature_index"].as_u64().unwrap() as usize,
                        e["border"].as_f64().unwrap() as f32,
                    )
                })
                .collect();
            let one_hot: Vec<(usize, i64)> = elements
                .iter()
                .filter(|e| kind(e) == "cat_feature_exact_value")
                .map(|e| {
                    (
                        e["cat_feature_index"].as_u64().unwrap() as usize,
                        e["value"].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(cats.len() + floats.len() + one_hot.len(), elements.len());
            if elements.len() > 1 {
                combined += 1;
            }
            let mut keys: Vec<u64> = cat_rows
                .iter()
                .zip(float_rows)
                .map(|(cat_row, float_row)| {
                    let hash_of =
                        |i: usize| cat_feature_hash(cat_row[i].as_str().unwrap().as_bytes());
                    let hashes: Vec<u32> = cats.iter().map(|&i| hash_of(i)).collect();
                    let mut bits: Vec<bool> = floats
                        .iter()
                        .map(|&(i, border)| (float_row[i].as_f64().unwrap() as f32) > border)
                        .collect();
                    bits.extend(
                        one_hot
                            .iter()
                            .map(|&(i, value)| i64::from(hash_of(i) as i32) == value),
                    );
                    ctr_key(&hashes, &bits)
                })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let expected: Vec<u64> = table["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_u64().unwrap())
                .collect();
            assert_eq!(keys, expected, "table {}", table["identifier"]);
        }
        assert!(combined > 0, "no table combines features");
    }

    #[test]
    fn ctr_key_sign_extends_category_hashes() {
        // A hash with its top bit set enters the key as a negative `int` widened to 64 bits.
        assert_eq!(cat_hash_for_key(0x8000_0001), 0xffff_ffff_8000_0001);
        assert_eq!(cat_hash_for_key(0x7fff_ffff), 0x7fff_ffff);
        // The key of one category is one step from 0: MAGIC * (0 + MAGIC * h).
        let h = 0x8000_0001u32;
        assert_eq!(
            ctr_key(&[h], &[]),
            MAGIC_MULT.wrapping_mul(MAGIC_MULT.wrapping_mul(0xffff_ffff_8000_0001))
        );
        // Splits come after the categories, each as 0 or 1.
        assert_eq!(
            ctr_key(&[h], &[true, false]),
            combine(combine(ctr_key(&[h], &[]), 1), 0)
        );
    }
}
