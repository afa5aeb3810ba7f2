//! The experiment page's statistics (issue 35), in one place, from the
//! module's per-arm sums (`HANOI.EXPERIMENT key RESULTS`): exposures, and
//! per metric the units that converted, the sum of their totals and of
//! their squares.
//!
//! - A **conversion** metric (every unit's total is 0 or 1: `sum ==
//!   converted == sum_squares` in every arm) is a proportion: the rate is
//!   `converted / exposures`; the uplift over control a difference of
//!   proportions with its normal (Wald) 95 % interval; the chance to beat
//!   control Bayesian, Beta(1 + c, 1 + n − c) posteriors, P(B > A) exactly
//!   (Evan Miller's closed form for integer parameters).
//! - Any other metric is a **mean per exposed unit** (`sum / exposures`,
//!   units that never converted count as 0); the uplift a Welch difference
//!   of means with a normal 95 % interval (variance `(Q − S²/n)/(n − 1)`);
//!   the chance to beat control `Φ((μB − μA) / sqrt(σA²/nA + σB²/nB))`.
//! - The **sample ratio mismatch** check: a chi-square goodness of fit of
//!   the exposures per arm against the configured split, k − 1 degrees of
//!   freedom.
//!
//! No dependency: the log-gamma (Lanczos) and the regularized incomplete
//! gamma (series and continued fraction) are here, and give the normal
//! distribution and the chi-square survival function. Every number is
//! checked against scipy in the tests (`tests/stats_check.py`).

/// The 97.5th percentile of the standard normal: a 95 % two-sided interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The p-value under which exposures are said to depart from the split.
pub const SRM_P: f64 = 0.001;

/// Above this many terms the chance to beat control of a conversion metric
/// is computed with normal approximations of the two Beta posteriors (then
/// each has more than this many successes and failures: the approximation
/// is exact to far below what the page shows). Bounds a page's work.
const MAX_TERMS: u64 = 200_000;

/// ln Γ(x) for x > 0: Stirling's series from 15 on, Lanczos (g = 7, n = 9)
/// below; relative error about 1e-15.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x >= 15.0 {
        let r = 1.0 / x;
        let r2 = r * r;
        let series = r
            * (1.0 / 12.0
                - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))));
        return (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series;
    }
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    const G: f64 = 7.0;
    const P: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = P[0];
    for (i, p) in P.iter().enumerate().skip(1) {
        a += p / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln B(a, b).
fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma, for
/// a > 0, x ≥ 0: the series for P below a + 1, Lentz's continued fraction
/// for Q above (Numerical Recipes' `gser`/`gcf`).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..100_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        (1.0 - sum * front).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..100_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (front * h).clamp(0.0, 1.0)
    }
}

/// Φ(z), the standard normal's distribution function (through
/// erfc(t) = Q(1/2, t²)).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let half_tail = 0.5 * gamma_q(0.5, z * z / 2.0);
    if z < 0.0 {
        half_tail
    } else {
        1.0 - half_tail
    }
}

/// The chi-square distribution's survival function: P(X ≥ x) with `df`
/// degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// P(X2 > X1), X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), integer a2 (Evan
/// Miller's sum: a2 terms).
fn miller(a1: f64, b1: f64, a2: f64, b2: f64) -> f64 {
    let base = ln_beta(a1, b1);
    let mut sum = 0.0;
    let mut i = 0.0;
    while i < a2 {
        sum += (ln_beta(a1 + i, b1 + b2) - (b2 + i).ln() - ln_beta(1.0 + i, b2) - base).exp();
        i += 1.0;
    }
    sum
}

/// The chance that arm B's conversion rate is above arm A's, after
/// observing `c` conversions of `n` exposures in each, from uniform priors:
/// P(pB > pA), pA ~ Beta(1 + cA, 1 + nA − cA), pB likewise. Exact (the
/// shortest of Evan Miller's four equivalent sums) up to [`MAX_TERMS`]
/// terms, the normal approximation of both posteriors beyond.
pub fn chance_to_beat_beta(n_a: u64, c_a: u64, n_b: u64, c_b: u64) -> f64 {
    let c_a = c_a.min(n_a);
    let c_b = c_b.min(n_b);
    let (aa, ba) = ((1 + c_a) as f64, (1 + n_a - c_a) as f64);
    let (ab, bb) = ((1 + c_b) as f64, (1 + n_b - c_b) as f64);
    let shortest = [ab, aa, ba, bb]
        .into_iter()
        .enumerate()
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map_or(0, |(i, _)| i);
    if [ab, aa, ba, bb][shortest] > MAX_TERMS as f64 {
        let mean = |a: f64, b: f64| a / (a + b);
        let var = |a: f64, b: f64| a * b / ((a + b) * (a + b) * (a + b + 1.0));
        let z = (mean(ab, bb) - mean(aa, ba)) / (var(aa, ba) + var(ab, bb)).sqrt();
        return normal_cdf(z);
    }
    // With q = 1 − p: qA ~ Beta(bA, aA), and pB > pA is qA > qB.
    let p = match shortest {
        0 => miller(aa, ba, ab, bb),
        1 => 1.0 - miller(ab, bb, aa, ba),
        2 => miller(bb, ab, ba, aa),
        _ => 1.0 - miller(ba, aa, bb, ab),
    };
    p.clamp(0.0, 1.0)
}

/// One arm's summary for one metric, as the module gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub exposures: u64,
    pub converted: u64,
    pub sum: u128,
    pub sum_squares: u128,
}

impl Sample {
    /// Whether every unit's total is 0 or 1 (then a conversion metric).
    pub fn binary(&self) -> bool {
        self.sum == u128::from(self.converted) && self.sum_squares == self.sum
    }

    /// converted / exposures; none without exposures.
    pub fn rate(&self) -> Option<f64> {
        (self.exposures > 0)
            .then(|| self.converted.min(self.exposures) as f64 / self.exposures as f64)
    }

    /// sum / exposures; none without exposures.
    pub fn mean(&self) -> Option<f64> {
        (self.exposures > 0).then(|| self.sum as f64 / self.exposures as f64)
    }

    /// The unbiased variance of the per-unit totals, `(Q − S²/n) / (n − 1)`:
    /// exactly `(nQ − S²) / (n(n − 1))` in integers when that fits, else in
    /// floating point; none below 2 exposures.
    pub fn variance(&self) -> Option<f64> {
        let n = u128::from(self.exposures);
        if n < 2 {
            return None;
        }
        let exact = n
            .checked_mul(self.sum_squares)
            .zip(self.sum.checked_mul(self.sum))
            .map(|(nq, s2)| nq.saturating_sub(s2));
        let v = match exact {
            Some(num) => num as f64 / (n as f64 * (n - 1) as f64),
            None => {
                let (nf, s, q) = (n as f64, self.sum as f64, self.sum_squares as f64);
                ((q - s * s / nf) / (nf - 1.0)).max(0.0)
            }
        };
        Some(v)
    }
}

/// An arm's comparison with control on one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// B − A: in rate (a fraction) or in the mean's unit.
    pub diff: f64,
    /// The 95 % interval of `diff`.
    pub low: f64,
    pub high: f64,
    /// diff / A's rate or mean; none when that is 0.
    pub relative: Option<f64>,
    /// P(B > A), Bayesian.
    pub chance_to_beat: f64,
}

/// A conversion metric's arm `b` against control `a`; none without
/// exposures on either side.
pub fn compare_rates(a: &Sample, b: &Sample) -> Option<Comparison> {
    let (pa, pb) = (a.rate()?, b.rate()?);
    let se = (pa * (1.0 - pa) / a.exposures as f64 + pb * (1.0 - pb) / b.exposures as f64).sqrt();
    let diff = pb - pa;
    Some(Comparison {
        diff,
        low: diff - Z95 * se,
        high: diff + Z95 * se,
        relative: (pa > 0.0).then(|| diff / pa),
        chance_to_beat: chance_to_beat_beta(a.exposures, a.converted, b.exposures, b.converted),
    })
}

/// A mean metric's arm `b` against control `a` (Welch, normal
/// approximation); none below 2 exposures on either side.
pub fn compare_means(a: &Sample, b: &Sample) -> Option<Comparison> {
    let (ma, mb) = (a.mean()?, b.mean()?);
    let (va, vb) = (a.variance()?, b.variance()?);
    let se = (va / a.exposures as f64 + vb / b.exposures as f64).sqrt();
    let diff = mb - ma;
    let chance = if se > 0.0 {
        normal_cdf(diff / se)
    } else if diff > 0.0 {
        1.0
    } else if diff < 0.0 {
        0.0
    } else {
        0.5
    };
    Some(Comparison {
        diff,
        low: diff - Z95 * se,
        high: diff + Z95 * se,
        relative: (ma > 0.0).then(|| diff / ma),
        chance_to_beat: chance,
    })
}

/// The sample-ratio-mismatch test's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Srm {
    pub chi2: f64,
    pub df: usize,
    pub p: f64,
    /// Each arm's expected exposures.
    pub expected: Vec<f64>,
}

impl Srm {
    pub fn mismatch(&self) -> bool {
        self.p < SRM_P
    }
}

/// Why the split could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrmSkip {
    /// Fewer than 5 exposures expected in an arm: too few to test.
    TooFew,
    /// Fewer than two arms with a share.
    OneArm,
}

/// Chi-square goodness of fit of `observed` exposures per arm against
/// `shares` (weights, any scale; an arm with no share expects none: any
/// exposure there is a mismatch, p = 0).
pub fn srm(observed: &[u64], shares: &[f64]) -> Result<Srm, SrmSkip> {
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    let weight: f64 = shares.iter().filter(|s| s.is_finite() && **s > 0.0).sum();
    if observed.len() != shares.len() || weight <= 0.0 {
        return Err(SrmSkip::OneArm);
    }
    let expected: Vec<f64> = shares
        .iter()
        .map(|&s| {
            if s.is_finite() && s > 0.0 {
                total * s / weight
            } else {
                0.0
            }
        })
        .collect();
    if observed
        .iter()
        .zip(&expected)
        .any(|(&o, &e)| e == 0.0 && o > 0)
    {
        return Ok(Srm {
            chi2: f64::INFINITY,
            df: expected.len().saturating_sub(1),
            p: 0.0,
            expected,
        });
    }
    let live: Vec<(f64, f64)> = observed
        .iter()
        .zip(&expected)
        .filter(|(_, &e)| e > 0.0)
        .map(|(&o, &e)| (o as f64, e))
        .collect();
    if live.len() < 2 {
        return Err(SrmSkip::OneArm);
    }
    if live.iter().any(|(_, e)| *e < 5.0) {
        return Err(SrmSkip::TooFew);
    }
    let chi2: f64 = live.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    let df = live.len() - 1;
    Ok(Srm {
        chi2,
        df,
        p: chi2_sf(chi2, df as f64),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn special_functions_known_values() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-14));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-14
        ));
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-14));
        assert!(close(ln_gamma(20.0), 39.339_884_187_199_49, 1e-14));
        assert!(close(normal_cdf(0.0), 0.5, 1e-15));
        assert!(close(normal_cdf(Z95), 0.975, 1e-12));
        assert!(close(normal_cdf(-Z95), 0.025, 1e-12));
        // chi2.sf(3.841458820694124, 1) = 0.05; (13.815510557964274, 2) = 0.001.
        assert!(close(chi2_sf(3.841_458_820_694_124, 1.0), 0.05, 1e-12));
        assert!(close(chi2_sf(13.815_510_557_964_274, 2.0), 0.001, 1e-12));
    }

    #[test]
    fn beta_chance_is_symmetric_and_exact_on_small_cases() {
        // Equal data: one half.
        assert!(close(chance_to_beat_beta(100, 10, 100, 10), 0.5, 1e-12));
        // 0/1 against 1/1: P(Beta(2,1) > Beta(1,2)) = 5/6.
        assert!(close(chance_to_beat_beta(1, 0, 1, 1), 5.0 / 6.0, 1e-12));
        let p = chance_to_beat_beta(1000, 100, 1200, 150);
        let q = chance_to_beat_beta(1200, 150, 1000, 100);
        assert!(close(p + q, 1.0, 1e-12), "{p} {q}");
        // Past MAX_TERMS the normal approximation agrees with the sum.
        let big = chance_to_beat_beta(2_000_000, 400_000, 2_000_000, 401_000);
        // 20 % against 20.05 %, se 4e-4: z = 1.25, Φ = 0.894.
        assert!(big > 0.89 && big < 0.9, "{big}");
    }

    #[test]
    fn variance_is_exact_in_integers() {
        // Totals 0, 0, 2, 4: mean 1.5, variance 11/3.
        let s = Sample {
            exposures: 4,
            converted: 2,
            sum: 6,
            sum_squares: 20,
        };
        assert!(close(s.variance().unwrap(), 11.0 / 3.0, 1e-15));
        assert!(!s.binary());
        let huge = Sample {
            exposures: 10_000_000,
            converted: 10_000_000,
            sum: 10_000_000 << 53,
            sum_squares: 10_000_000 << 106,
        };
        assert!(huge.variance().unwrap().abs() < 1.0);
    }

    #[test]
    fn srm_edges() {
        assert_eq!(srm(&[3, 2], &[1.0, 1.0]), Err(SrmSkip::TooFew));
        assert_eq!(srm(&[10, 0], &[1.0, 0.0]), Err(SrmSkip::OneArm));
        assert!(srm(&[10, 1], &[1.0, 0.0]).unwrap().mismatch());
        assert!(!srm(&[500, 510], &[1.0, 1.0]).unwrap().mismatch());
        assert!(srm(&[500, 700], &[1.0, 1.0]).unwrap().mismatch());
    }

    /// The fixed data sets: per arm, each unit's total for one metric
    /// (units not listed have 0), and the exposures.
    fn data_sets() -> Vec<(Vec<u64>, u64, Vec<u64>, u64)> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let ones = |k: usize| vec![1u64; k];
        let mut values = |k: usize, m: u64| (0..k).map(|_| 1 + next(m)).collect::<Vec<u64>>();
        vec![
            (ones(100), 1000, ones(120), 1000),
            (ones(3), 40, ones(9), 38),
            (ones(480), 5000, ones(430), 5100),
            (ones(0), 50, ones(2), 50),
            (values(300, 5000), 2000, values(340, 5000), 2100),
            (values(40, 100), 200, values(25, 300), 180),
            (values(2000, 3), 2500, values(2100, 3), 2500),
        ]
    }

    fn sample(units: &[u64], n: u64) -> Sample {
        Sample {
            exposures: n,
            converted: units.iter().filter(|&&v| v > 0).count() as u64,
            sum: units.iter().map(|&v| u128::from(v)).sum(),
            sum_squares: units.iter().map(|&v| u128::from(v) * u128::from(v)).sum(),
        }
    }

    /// Every comparison and SRM test here, against scipy's (run by
    /// `tests/stats_check.py` in `$HANOI_PYTHON`): skipped with a note
    /// without scipy, except under CI.
    #[test]
    fn statistics_agree_with_scipy() {
        use std::process::Command;
        let python = std::env::var("HANOI_PYTHON").ok();
        let has = python.as_ref().is_some_and(|p| {
            Command::new(p)
                .args(["-c", "import scipy, numpy"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !has {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the scipy check: HANOI_PYTHON set to a venv with scipy (make pyenv)"
            );
            eprintln!("SKIPPED statistics_agree_with_scipy: HANOI_PYTHON unset or without scipy");
            return;
        }
        let sets = data_sets();
        let srm_cases: Vec<(Vec<u64>, Vec<f64>)> = vec![
            (vec![5000, 5100], vec![1.0, 1.0]),
            (vec![5000, 5400], vec![1.0, 1.0]),
            (vec![1000, 2100, 2900], vec![1.0, 2.0, 3.0]),
            (vec![700, 300], vec![70.0, 30.0]),
            (vec![640, 360], vec![70.0, 30.0]),
            (vec![100, 130, 95, 90], vec![1.0, 1.0, 1.0, 1.0]),
        ];
        let input = serde_json::json!({
            "sets": sets.iter().map(|(a, na, b, nb)| serde_json::json!({"a": a, "na": na, "b": b, "nb": nb})).collect::<Vec<_>>(),
            "srm": srm_cases.iter().map(|(o, s)| serde_json::json!({"observed": o, "shares": s})).collect::<Vec<_>>(),
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stats_check.py");
        let out = Command::new(python.unwrap())
            .args([script, &input.to_string()])
            .output()
            .expect("run stats_check.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let num = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let mut checked = 0;
        for ((a, na, b, nb), w) in sets.iter().zip(want["sets"].as_array().unwrap()) {
            let (sa, sb) = (sample(a, *na), sample(b, *nb));
            let rates = compare_rates(&sa, &sb).unwrap();
            let r = &w["rates"];
            for (got, key, tol) in [
                (rates.diff, "diff", 1e-12),
                (rates.low, "low", 1e-12),
                (rates.high, "high", 1e-12),
                (rates.chance_to_beat, "chance", 1e-7),
            ] {
                assert!(
                    close(got, num(r, key), tol),
                    "rates {key}: {got} vs scipy {} ({a:?})",
                    num(r, key)
                );
                checked += 1;
            }
            let means = compare_means(&sa, &sb).unwrap();
            let m = &w["means"];
            for (got, key) in [
                (means.diff, "diff"),
                (means.low, "low"),
                (means.high, "high"),
                (means.chance_to_beat, "chance"),
                (sa.variance().unwrap(), "var_a"),
                (sb.variance().unwrap(), "var_b"),
            ] {
                assert!(
                    close(got, num(m, key), 1e-10),
                    "means {key}: {got} vs scipy {}",
                    num(m, key)
                );
                checked += 1;
            }
        }
        for ((o, s), w) in srm_cases.iter().zip(want["srm"].as_array().unwrap()) {
            let got = srm(o, s).unwrap();
            assert!(close(got.chi2, num(w, "chi2"), 1e-10), "{o:?}");
            assert!(
                (got.p - num(w, "p")).abs() <= 1e-12 + 1e-9 * num(w, "p"),
                "srm p {o:?}: {} vs scipy {}",
                got.p,
                num(w, "p")
            );
            checked += 2;
        }
        eprintln!("statistics_agree_with_scipy: {checked} numbers agree with scipy");
    }
}
