//! The common number of a feature file, a plain decimal such as `-0.5227484414807474`, read
//! with AVX-512 and correctly rounded, for the CSV parse's fast path.
//!
//! `fast_float2` reads such a number digit by digit. Here one load takes up to 32 bytes of
//! the field; compares find its run of digits and its point, a byte permutation right-aligns
//! the digits, and three multiply-adds fold them into an integer `w`. The value is
//! `w / 10^k`, `k` the digits after the point, rounded to the nearest `f64` ([`to_f64`]):
//! `w` times a 128-bit truncation of `5^-k` gives the leading bits of the value within two
//! units of its 128th bit (the Eisel-Lemire method), enough to round, except when those two
//! units might straddle a rounding boundary. Then, if `5^k` divides `w`, the value is a
//! double or a tie, read exactly from `w / 5^k`; otherwise the number is left to
//! `fast_float2` (about one in 2^70).
//!
//! Every number that is not a plain decimal (an exponent, more than 19 significant digits,
//! `inf`, ...) is left to `fast_float2` ([`read`] returns `None`). The values read are
//! always `fast_float2`'s, the correctly rounded ones; the tests hold them to the standard
//! library's parse. On the benchmark's file a field takes 21 ns here against `fast_float2`'s
//! 29 ns (`docs/benchmarks.md`).

use std::arch::x86_64::*;

/// Digits a number may have, leading zeros included: one load right-aligns them in three
/// groups of eight.
const MAX_DIGITS: u32 = 24;

/// A CPU with AVX-512 F, BW, VL and VBMI (and the bit instructions every such CPU has:
/// POPCNT, LZCNT, BMI1 and BMI2), made only by [`Avx512::detect`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The token, if this CPU has the instructions [`read`] needs and the environment
    /// variable `VERDICT_NO_AVX512` is not set (which leaves every number to `fast_float2`).
    pub(super) fn detect() -> Option<Avx512> {
        (std::env::var_os("VERDICT_NO_AVX512").is_none()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("popcnt")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2"))
        .then_some(Avx512(()))
    }

    /// Runs `work` compiled for AVX-512, so that the [`read`]s it makes are inlined into it:
    /// a call and a return for each number cost a tenth of the read.
    #[inline]
    pub(super) fn run<T>(self, work: impl FnOnce() -> T) -> T {
        // SAFETY: the token exists only on a CPU with the features `enabled` enables.
        unsafe { enabled(work) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,popcnt,lzcnt,bmi1,bmi2")]
fn enabled<T>(work: impl FnOnce() -> T) -> T {
    work()
}

/// The plain decimal at the start of `bytes` and the bytes it takes, or `None` when `bytes`
/// does not start with one this reader takes.
///
/// A plain decimal is an optional `-`, then at most 24 digits (at most 19 after any leading
/// zeros) with at most one `.` among or after them (`12`, `-0.5`, `.5`, `5.`), followed by
/// the end of `bytes` or a byte that is neither a digit, nor a `.`, nor an exponent's `e` or
/// `E`. The caller checks that byte.
#[inline]
pub(super) fn read(_: Avx512, bytes: &[u8]) -> Option<(f64, usize)> {
    // SAFETY: the token exists only on a CPU with the features `scan` enables.
    unsafe { scan(bytes) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,popcnt,lzcnt,bmi1,bmi2")]
#[inline]
fn scan(bytes: &[u8]) -> Option<(f64, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let start = usize::from(negative);
    let rest = bytes.get(start..)?;
    let load_mask = u32::MAX
        .checked_shr(32 - rest.len().min(32) as u32)
        .unwrap_or(0);
    // SAFETY: the mask loads only the bytes of `rest`, and masked-off lanes do not fault.
    let text = unsafe { _mm256_maskz_loadu_epi8(load_mask, rest.as_ptr().cast()) };
    let digits = _mm256_sub_epi8(text, _mm256_set1_epi8(b'0' as i8));
    let is_digit = _mm256_cmplt_epu8_mask(digits, _mm256_set1_epi8(10));
    let is_point = _mm256_cmpeq_epi8_mask(text, _mm256_set1_epi8(b'.' as i8));
    // Lanes past the end of `rest` hold zeros, neither digits nor points.
    let end = (!(is_digit | is_point)).trailing_zeros();
    if end == 32 || matches!(rest.get(end as usize), Some(b'e' | b'E')) {
        return None;
    }
    let points = is_point & ((1u64 << end) - 1) as u32;
    let count = end - points.count_ones();
    if points.count_ones() > 1 || count == 0 || count > MAX_DIGITS {
        return None;
    }
    let (point, after_point) = if points == 0 {
        (end, 0)
    } else {
        let point = points.trailing_zeros();
        (point, end - point - 1)
    };
    // Lane `j` of the last `MAX_DIGITS` takes digit `i = j - (MAX_DIGITS - count)`, found at
    // `i`, or at `i + 1` from the point on: from lane `point + MAX_DIGITS - count`.
    let first = MAX_DIGITS - count;
    // SAFETY: `count` is at most `MAX_DIGITS`.
    let index = unsafe { _mm256_loadu_si256(DIGIT_INDEX[count as usize].0.as_ptr().cast()) };
    let past_point = u32::MAX.checked_shl(point + first).unwrap_or(0);
    let index = _mm256_mask_add_epi8(index, past_point, index, _mm256_set1_epi8(1));
    let used = ((1u32 << MAX_DIGITS) - 1) & !((1u32 << first) - 1);
    let aligned = _mm256_maskz_permutexvar_epi8(used, index, digits);
    // Pairs of digits, then groups of four, then of eight: lanes 0, 1 and 4 of `eights`.
    let pairs = _mm256_maddubs_epi16(aligned, _mm256_set1_epi16(0x010A));
    let fours = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_0064));
    let fours = _mm256_packus_epi32(fours, fours);
    let eights = _mm256_madd_epi16(fours, _mm256_set1_epi32(0x0001_2710));
    let low = _mm_cvtsi128_si64(_mm256_castsi256_si128(eights)) as u64;
    let last = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(eights)) as u64;
    let leading = low & 0xFFFF_FFFF;
    // Digits past the 19th fit only as leading zeros: then `w < 10^19 < 2^64`.
    if leading >= 1000 {
        return None;
    }
    let w = leading * 10u64.pow(16) + (low >> 32) * 10u64.pow(8) + last;
    let magnitude = to_f64(w, after_point)?;
    let value = if negative { -magnitude } else { magnitude };
    Some((value, start + end as usize))
}

/// 32 lanes, aligned as a register.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Lanes([i8; 32]);

/// For each count of digits, the lane each of the last [`MAX_DIGITS`] lanes takes its digit
/// from if the number has no point: `j - (MAX_DIGITS - count)`, negative (and unused) before
/// the digits.
static DIGIT_INDEX: [Lanes; MAX_DIGITS as usize + 1] = {
    let mut table = [Lanes([0; 32]); MAX_DIGITS as usize + 1];
    let mut count = 0;
    while count <= MAX_DIGITS as usize {
        let mut lane = 0;
        while lane < 32 {
            table[count].0[lane] = (lane + count) as i8 - MAX_DIGITS as i8;
            lane += 1;
        }
        count += 1;
    }
    table
};

/// `w / 10^k`, rounded to the nearest `f64` (ties to even), or `None` when the 128 bits of
/// `5^-k` used leave the rounding in doubt. `k` is at most [`MAX_DIGITS`].
///
/// Every number with a point takes the one path: a branch on the size of `w` (as in Clinger's
/// fast path, exact below `2^53`) goes either way at random on a feature file, and its
/// mispredictions cost more than the path saves.
#[inline]
fn to_f64(w: u64, k: u32) -> Option<f64> {
    const EXACT: u64 = 1 << 53;
    if k == 0 || w == 0 {
        // The conversion of an integer rounds to nearest, ties to even.
        return Some(w as f64);
    }
    let Reciprocal { bits, shift } = RECIPROCALS[k as usize];
    // w = normalized * 2^-zeros, 5^-k = bits * 2^-shift (bits truncated: below the exact
    // value by less than one unit).
    let zeros = w.leading_zeros();
    let normalized = w << zeros;
    let (high_bits, low_bits) = ((bits >> 64) as u64, bits as u64);
    // The product's 192 bits, less the last 64: exact, since it is below 2^192.
    let product = u128::from(normalized) * u128::from(high_bits)
        + ((u128::from(normalized) * u128::from(low_bits)) >> 64);
    let (high, low) = ((product >> 64) as u64, product as u64);
    // The exact product lies in (product, product + 2): `high` has 63 or 64 significant
    // bits, of which the first 54 are the significand and the rounding bit.
    let upper = (high >> 63) as u32;
    let dropped = 9 + upper;
    let dropped_mask = (1u64 << dropped) - 1;
    if high & dropped_mask == dropped_mask && low == u64::MAX {
        // The exact product may reach the next 54-bit value. It does when the number is a
        // double or a tie between two: then 5^k divides `w`, and `w / 10^k` is exactly
        // `(w / 5^k) * 2^-k`, rounded as the integer converts.
        let five = 5u64.pow(k);
        return w
            .is_multiple_of(five)
            .then(|| (w / five) as f64 / (1u64 << k) as f64);
    }
    // Below the rounding bit the exact product is never zero here: the truncated reciprocal
    // is below the exact one, so round half up.
    let with_rounding_bit = high >> dropped;
    let mut significand = (with_rounding_bit >> 1) + (with_rounding_bit & 1);
    // value = significand * 2^(exponent - 52)
    let mut exponent = 63 + upper as i32 - zeros as i32 - shift as i32 + 127 - k as i32;
    if significand == EXACT {
        significand = EXACT >> 1;
        exponent += 1;
    }
    let biased = exponent + 1023;
    if !(1..=2046).contains(&biased) {
        return None;
    }
    Some(f64::from_bits(
        (biased as u64) << 52 | (significand & (EXACT / 2 - 1)),
    ))
}

/// `5^-k` as `bits * 2^-shift`, `bits` truncated to 128 significant bits.
#[derive(Debug, Clone, Copy)]
struct Reciprocal {
    bits: u128,
    shift: u32,
}

/// [`Reciprocal`] of `5^-k` for `k` from 1 to [`MAX_DIGITS`] (entry 0 is unused).
static RECIPROCALS: [Reciprocal; MAX_DIGITS as usize + 1] = {
    let mut table = [Reciprocal { bits: 0, shift: 0 }; MAX_DIGITS as usize + 1];
    let mut k = 1;
    while k <= MAX_DIGITS {
        table[k as usize] = reciprocal(k);
        k += 1;
    }
    table
};

/// `floor(2^shift / 5^k)` with `shift = 127 + bits(5^k)`, so that the quotient has 128
/// bits (for `k >= 1`), by long division: the dividend is a one followed by `shift` zeros.
const fn reciprocal(k: u32) -> Reciprocal {
    let divisor = 5u64.pow(k);
    let shift = 127 + (64 - divisor.leading_zeros());
    let mut remainder = 1u64;
    let mut quotient = 0u128;
    let mut step = 0;
    while step < shift {
        remainder *= 2;
        quotient *= 2;
        if remainder >= divisor {
            remainder -= divisor;
            quotient += 1;
        }
        step += 1;
    }
    Reciprocal {
        bits: quotient,
        shift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader, or `None` on a CPU without AVX-512 (where the tests have nothing to test).
    fn reader() -> Option<Avx512> {
        let token = Avx512::detect();
        if token.is_none() {
            eprintln!(
                "no AVX-512 here (or VERDICT_NO_AVX512 set): the plain decimal reader is unused"
            );
        }
        token
    }

    /// `text` read here, checked against the standard library's correctly rounded parse of
    /// the same number; `None` when the reader leaves it to `fast_float2`.
    fn read_checked(token: Avx512, text: &str) -> Option<f64> {
        let field = format!("{text},");
        let (value, used) = read(token, field.as_bytes())?;
        assert_eq!(used, text.len(), "{text:?} read as {used} bytes");
        let expected: f64 = text.parse().expect("a number");
        assert_eq!(
            value.to_bits(),
            expected.to_bits(),
            "{text:?} read as {value:e}, not {expected:e}"
        );
        Some(value)
    }

    /// A small deterministic generator (SplitMix64).
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn shortest_representations_of_random_doubles_read_exactly_and_all_take_the_fast_path() {
        let Some(token) = reader() else { return };
        let mut random = Random(7);
        let mut read = 0;
        while read < 200_000 {
            // Doubles of every magnitude a feature has, as Python and Rust print them.
            let scale = 10f64.powi(random.below(12) as i32 - 6);
            let value = (random.next() as f64 / u64::MAX as f64 - 0.5) * scale;
            let text = value.to_string();
            if text.contains('e') || text.len() > 20 {
                continue;
            }
            assert!(
                read_checked(token, &text).is_some(),
                "{text:?} was left to fast_float2"
            );
            read += 1;
        }
    }

    #[test]
    fn random_decimals_of_every_length_and_point_read_exactly() {
        let Some(token) = reader() else { return };
        let mut random = Random(11);
        let mut left = 0;
        let total = 300_000;
        for _ in 0..total {
            let count = 1 + random.below(MAX_DIGITS as u64) as usize;
            let mut text = String::new();
            if random.below(2) == 0 {
                text.push('-');
            }
            let point = random.below(count as u64 + 2) as usize;
            for i in 0..count {
                if i == point {
                    text.push('.');
                }
                // Runs of nines and zeros find the carries.
                let digit = match random.below(4) {
                    0 => 9,
                    1 => 0,
                    _ => random.below(10) as u8,
                };
                text.push(char::from(b'0' + digit));
            }
            let significant = text
                .trim_start_matches(['-', '0', '.'])
                .replace('.', "")
                .len();
            match read_checked(token, &text) {
                Some(_) => assert!(significant <= 19, "{text:?} read"),
                // A number is left only when its rounding is in doubt, about once in 2^70.
                None if significant <= 19 => left += 1,
                None => {}
            }
        }
        assert_eq!(left, 0, "of {total}");
    }

    #[test]
    fn exact_ties_round_to_even() {
        let Some(token) = reader() else { return };
        // 2^53 + 1 is halfway between two doubles.
        assert_eq!(
            read_checked(token, "9007199254740993"),
            Some(9007199254740992.0)
        );
        assert_eq!(
            read_checked(token, "9007199254740995"),
            Some(9007199254740996.0)
        );
        // m / 2^k with m odd of 54 bits is a tie; written with k decimals it is m * 5^k.
        let mut random = Random(3);
        for k in 1..=4u32 {
            for _ in 0..2_000 {
                let m = (1u64 << 53) | random.next() >> 11 | 1;
                let Some(w) = m.checked_mul(5u64.pow(k)) else {
                    continue;
                };
                let digits = w.to_string();
                if digits.len() > 19 {
                    continue;
                }
                let (whole, fraction) = digits.split_at(digits.len() - k as usize);
                read_checked(token, &format!("{whole}.{fraction}"));
            }
        }
    }

    #[test]
    fn the_plain_decimal_forms_are_read() {
        let Some(token) = reader() else { return };
        for (text, value) in [
            ("0", 0.0f64),
            ("-0", -0.0),
            ("-0.0", -0.0),
            ("0.5", 0.5),
            (".5", 0.5),
            ("-.25", -0.25),
            ("5.", 5.0),
            ("007", 7.0),
            ("1234567890123456789", 1234567890123456789.0),
            ("0.123456789012345678", 0.123_456_789_012_345_68),
            // Leading zeros are not among the 19 significant digits.
            ("-0.00042766296619950705", -0.00042766296619950705),
            ("0.00000000000000000000001", 1e-23),
            // Exact, with more than 53 bits of digits: 2^50 + 2^-1.
            ("1125899906842624.5", 1125899906842624.5),
            ("2076792090790396.50", 2076792090790396.5),
            ("-2.4414673826398556", -2.4414673826398556),
        ] {
            let read = read_checked(token, text).unwrap_or_else(|| panic!("{text:?} left"));
            assert_eq!(read.to_bits(), value.to_bits(), "{text:?}");
        }
    }

    #[test]
    fn everything_else_is_left_to_fast_float2() {
        let Some(token) = reader() else { return };
        for text in [
            "",
            "-",
            ".",
            "-.",
            "+1",
            "1e5",
            "1.5E-3",
            "1.2.3",
            "inf",
            "nan",
            " 1",
            "\"1\"",
            // 20 significant digits, 25 digits, and a run longer than one load.
            "12345678901234567890",
            "0.00000012345678901234567890",
            "0.0000000000000000000000001",
            "1234567890123456789012345678901234",
        ] {
            assert_eq!(read(token, text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn a_number_ends_at_the_first_byte_that_is_not_its_own() {
        let Some(token) = reader() else { return };
        assert_eq!(read(token, b"-1.5"), Some((-1.5, 4)));
        assert_eq!(read(token, b"2.5\r\n"), Some((2.5, 3)));
        assert_eq!(read(token, b"2.5x"), Some((2.5, 3)));
        assert_eq!(read(token, b"12\t3"), Some((12.0, 2)));
        // The load stops at the slice's end, whatever follows in memory.
        let line = b"0.125,9";
        assert_eq!(read(token, &line[..3]), Some((0.1, 3)));
    }
}
