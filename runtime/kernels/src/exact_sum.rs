//! Exact, order-independent summation of `float64` values (lang-spec/builtins.md, `sum` and `avg`).
//!
//! Every finite `f64` is an integer multiple of 2^-1074 below 2^1024, so the exact sum of any set of
//! them is an integer multiple of 2^-1074 that a fixed-point accumulator holds without loss. The
//! accumulator stores it as 67 signed 32-bit "digits" in `i64` slots with lazy carries (the digits
//! may run past 32 bits between normalisations), like Radford Neal's xsum "small accumulator".
//! Addition and merging are integer additions, hence associative and commutative: any order, any
//! split into partial accumulators, and any merge tree give the same state after normalisation, and
//! [`ExactSum::round`] rounds that exact value once, to nearest, ties to even. Intermediate overflow
//! cannot happen (unlike Shewchuk's partials), so `[1e308, 1e308, -1e308]` sums to `1e308`.

/// Digits of 32 bits; digit 0 is the 2^-1074 place. 2098 bits hold every finite `f64`; the top digit
/// takes the carries of sums beyond the `f64` range.
const DIGIT_BITS: u32 = 32;
const DIGITS: usize = 67;
const DIGIT_MASK: i64 = (1 << DIGIT_BITS) - 1;
/// A normalised digit is in `0..2^32` and each addition moves a digit by less than 2^32, so after
/// fewer than 2^30 additions every digit is below 2^62 in magnitude: far from overflowing `i64`.
const NORMALIZE_EVERY: u32 = 1 << 30;
/// The position of the lowest bit of `f64::MAX + ulp`: sums at or above 2^1024 round to infinity.
const OVERFLOW_BIT: u32 = 1024 + 1074;

/// The exact real sum of `f64` values, with the special-value flags of lang-spec (NaN, +inf, -inf).
#[derive(Clone, Debug)]
pub struct ExactSum {
    /// The value is `Σ digits[i] · 2^(32·i − 1074)`.
    digits: [i64; DIGITS],
    /// Additions since the last normalisation (bounds every digit's magnitude, see above).
    pending: u32,
    nan: bool,
    positive_infinity: bool,
    negative_infinity: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum::new()
    }
}

impl ExactSum {
    pub fn new() -> Self {
        ExactSum {
            digits: [0; DIGITS],
            pending: 0,
            nan: false,
            positive_infinity: false,
            negative_infinity: false,
        }
    }

    /// Adds one value exactly. NaN and infinities only set flags.
    pub fn add(&mut self, value: f64) {
        if value.is_nan() {
            self.nan = true;
            return;
        }
        if value.is_infinite() {
            if value > 0.0 {
                self.positive_infinity = true;
            } else {
                self.negative_infinity = true;
            }
            return;
        }
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7FF) as u32;
        let fraction = bits & ((1 << 52) - 1);
        // value = ±mantissa · 2^(position − 1074), position in 0..=2045.
        let (mantissa, position) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), exponent - 1)
        };
        if mantissa == 0 {
            return;
        }
        let index = (position / DIGIT_BITS) as usize;
        let wide = u128::from(mantissa) << (position % DIGIT_BITS);
        let pieces = [
            (wide & DIGIT_MASK as u128) as i64,
            ((wide >> DIGIT_BITS) & DIGIT_MASK as u128) as i64,
            (wide >> (2 * DIGIT_BITS)) as i64,
        ];
        let negative = value.is_sign_negative();
        // index <= 63, so index + 2 < DIGITS.
        for (offset, piece) in pieces.into_iter().enumerate() {
            let digit = &mut self.digits[index + offset];
            *digit = if negative { *digit - piece } else { *digit + piece };
        }
        self.pending += 1;
        if self.pending >= NORMALIZE_EVERY {
            self.normalize();
        }
    }

    /// Adds everything `other` has added. Exact, so merging partial sums in any grouping gives the
    /// same result as adding every value to one accumulator.
    pub fn merge(&mut self, other: &ExactSum) {
        self.nan |= other.nan;
        self.positive_infinity |= other.positive_infinity;
        self.negative_infinity |= other.negative_infinity;
        if self.pending + other.pending + 1 >= NORMALIZE_EVERY {
            self.normalize();
        }
        // Both bounds are below 2^62 (see NORMALIZE_EVERY), so the sums fit; the top digit holds
        // carries only and wraps rather than panicking in the (unreachable) case it fills.
        for (digit, other_digit) in self.digits.iter_mut().zip(&other.digits) {
            *digit = digit.wrapping_add(*other_digit);
        }
        self.pending += other.pending + 1;
        if self.pending >= NORMALIZE_EVERY {
            self.normalize();
        }
    }

    /// The exact sum rounded once to `f64` (nearest, ties to even), with lang-spec's special values:
    /// any NaN, or both infinities, give NaN; otherwise an infinity gives that infinity; an exact
    /// zero is `+0.0`; an exact sum of magnitude at least 2^1024 (after rounding) is ±inf.
    pub fn round(&self) -> f64 {
        if self.nan || (self.positive_infinity && self.negative_infinity) {
            return f64::NAN;
        }
        if self.positive_infinity {
            return f64::INFINITY;
        }
        if self.negative_infinity {
            return f64::NEG_INFINITY;
        }
        let mut digits = self.digits;
        normalize(&mut digits);
        let negative = digits[DIGITS - 1] < 0;
        if negative {
            for digit in &mut digits {
                *digit = digit.wrapping_neg();
            }
            normalize(&mut digits);
        }
        let magnitude = round_magnitude(&digits);
        if negative { -magnitude } else { magnitude }
    }

    fn normalize(&mut self) {
        normalize(&mut self.digits);
        self.pending = 0;
    }
}

/// Propagates carries so that every digit but the top one is in `0..2^32`; the top digit keeps the
/// sign of the whole value.
fn normalize(digits: &mut [i64; DIGITS]) {
    for index in 0..DIGITS - 1 {
        let carry = digits[index] >> DIGIT_BITS;
        digits[index] &= DIGIT_MASK;
        digits[index + 1] = digits[index + 1].wrapping_add(carry);
    }
}

/// Rounds a normalised non-negative digit array to the nearest `f64`, ties to even.
fn round_magnitude(digits: &[i64; DIGITS]) -> f64 {
    let Some(highest) = digits.iter().rposition(|digit| *digit != 0) else {
        return 0.0;
    };
    // Normalised and non-negative: the digit is positive here.
    let top_bit = highest as u32 * DIGIT_BITS + (63 - (digits[highest] as u64).leading_zeros());
    if top_bit >= OVERFLOW_BIT {
        return f64::INFINITY;
    }
    if top_bit < 53 {
        // Below 2^53 units of 2^-1074 the value is exact, and its bit pattern is the integer itself
        // (subnormals, and the first binade of normals whose exponent field is 1).
        return f64::from_bits(bits_from(digits, 0));
    }
    // value = N · 2^-1074 with N = mantissa · 2^shift + remainder, mantissa in [2^52, 2^53).
    let shift = top_bit - 52;
    let mut mantissa = bits_from(digits, shift) & ((1 << 53) - 1);
    let round_bit = bits_from(digits, shift - 1) & 1 == 1;
    let sticky = any_bits_below(digits, shift - 1);
    if round_bit && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
    }
    // mantissa · 2^(shift − 1074) has the bit pattern (shift << 52) + mantissa: the hidden bit adds 1
    // to the exponent field, and a rounding carry to 2^53 moves to the next binade by itself.
    let bits = (u64::from(shift) << 52) + mantissa;
    if bits >= f64::INFINITY.to_bits() {
        f64::INFINITY
    } else {
        f64::from_bits(bits)
    }
}

/// 64 bits of the normalised number starting at bit `start` (bits beyond the array are zero).
fn bits_from(digits: &[i64; DIGITS], start: u32) -> u64 {
    let index = (start / DIGIT_BITS) as usize;
    let mut window: u128 = 0;
    for offset in 0..3 {
        if let Some(digit) = digits.get(index + offset) {
            window |= ((*digit & DIGIT_MASK) as u128) << (DIGIT_BITS as usize * offset);
        }
    }
    (window >> (start % DIGIT_BITS)) as u64
}

/// Whether any bit below position `end` is set.
fn any_bits_below(digits: &[i64; DIGITS], end: u32) -> bool {
    let index = (end / DIGIT_BITS) as usize;
    let partial_mask = (1i64 << (end % DIGIT_BITS)) - 1;
    digits[..index].iter().any(|digit| *digit != 0) || digits.get(index).is_some_and(|digit| digit & partial_mask != 0)
}

/// The exactly rounded sum of `values` (an empty slice sums to `+0.0`).
pub fn exact_sum(values: &[f64]) -> f64 {
    let mut sum = ExactSum::new();
    for value in values {
        sum.add(*value);
    }
    sum.round()
}
