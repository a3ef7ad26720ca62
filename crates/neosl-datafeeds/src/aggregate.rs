//! One pair's price from its sources' quotes, in integers: the fresh quotes, the outliers
//! removed by their distance from the median (in scaled median absolute deviations, with a
//! floor in basis points so that identical quotes do not make every other quote an outlier),
//! and the median of the rest. Pure, and independent of the order of the quotes.

use serde::{Deserialize, Serialize};

/// One source's quote as the aggregation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The source's name.
    pub source: String,
    /// The price, fixed-point.
    pub price: i64,
    /// When it held, Unix milliseconds.
    pub time_ms: i64,
}

/// How quotes are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Fresh quotes needed, before and after outliers are removed.
    pub quorum: usize,
    /// A quote older than this is stale, milliseconds.
    pub max_age_ms: i64,
    /// A quote further in the future than this is refused, milliseconds (clock skew).
    pub max_skew_ms: i64,
    /// Outliers are further from the median than this many scaled MADs, in tenths (30 = 3.0).
    pub mad_tenths: i64,
    /// …and further than this many basis points of the median.
    pub min_band_bps: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            quorum: 3,
            max_age_ms: 60_000,
            max_skew_ms: 5_000,
            mad_tenths: 30,
            min_band_bps: 50,
        }
    }
}

/// A quote left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The source.
    pub source: String,
    /// `stale`, `future_time` or `outlier`.
    pub reason: String,
    /// The price it gave.
    pub price: i64,
}

/// The pair's price and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The median of the quotes used.
    pub price: i64,
    /// The sources used, by name, sorted.
    pub used: Vec<String>,
    /// The quotes left out.
    pub dropped: Vec<Dropped>,
}

/// Why there is no price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quorum lost: {usable} usable quotes of {needed} needed")]
pub struct QuorumLost {
    /// Quotes left after the rules.
    pub usable: usize,
    /// The quorum.
    pub needed: usize,
    /// The quotes left out.
    pub dropped: Vec<Dropped>,
}

/// The scale that makes a MAD estimate a standard deviation for normal data (1.4826), in
/// ten-thousandths.
const MAD_SCALE: i128 = 14_826;

/// Combines `quotes` at `now_ms` under `rules`.
pub fn aggregate(
    quotes: &[Observation],
    now_ms: i64,
    rules: &Rules,
) -> Result<Aggregate, QuorumLost> {
    let quorum = rules.quorum.max(1);
    let mut dropped = Vec::new();
    let mut fresh: Vec<&Observation> = Vec::with_capacity(quotes.len());
    for q in quotes {
        let reason = if q.time_ms > now_ms.saturating_add(rules.max_skew_ms) {
            Some("future_time")
        } else if now_ms.saturating_sub(q.time_ms) > rules.max_age_ms {
            Some("stale")
        } else {
            None
        };
        match reason {
            Some(reason) => dropped.push(Dropped {
                source: q.source.clone(),
                reason: reason.into(),
                price: q.price,
            }),
            None => fresh.push(q),
        }
    }
    // Sorted by price, then source, so that the result is the same in any order.
    fresh.sort_by(|a, b| (a.price, &a.source).cmp(&(b.price, &b.source)));
    if fresh.len() < quorum {
        return Err(lost(fresh.len(), quorum, dropped));
    }
    let prices: Vec<i64> = fresh.iter().map(|q| q.price).collect();
    let center = median_sorted(&prices);
    let mut distances: Vec<i64> = prices.iter().map(|p| (p - center).abs()).collect();
    distances.sort_unstable();
    let mad = i128::from(median_sorted(&distances));
    let by_mad = mad * MAD_SCALE * i128::from(rules.mad_tenths.max(0)) / 100_000;
    let by_bps = i128::from(center) * i128::from(rules.min_band_bps.max(0)) / 10_000;
    let band = by_mad.max(by_bps);
    let mut kept = Vec::with_capacity(fresh.len());
    for q in fresh {
        if i128::from((q.price - center).abs()) > band {
            dropped.push(Dropped {
                source: q.source.clone(),
                reason: "outlier".into(),
                price: q.price,
            });
        } else {
            kept.push(q);
        }
    }
    if kept.len() < quorum {
        return Err(lost(kept.len(), quorum, dropped));
    }
    let prices: Vec<i64> = kept.iter().map(|q| q.price).collect();
    let mut used: Vec<String> = kept.iter().map(|q| q.source.clone()).collect();
    used.sort();
    dropped.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(Aggregate {
        price: median_sorted(&prices),
        used,
        dropped,
    })
}

fn lost(usable: usize, needed: usize, mut dropped: Vec<Dropped>) -> QuorumLost {
    dropped.sort_by(|a, b| a.source.cmp(&b.source));
    QuorumLost {
        usable,
        needed,
        dropped,
    }
}

/// The median of sorted, non-empty values; of an even count, the mean of the middle two
/// rounded down.
pub fn median_sorted(values: &[i64]) -> i64 {
    let n = values.len();
    if n == 0 {
        return 0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        let sum = i128::from(values[n / 2 - 1]) + i128::from(values[n / 2]);
        i64::try_from(sum.div_euclid(2)).unwrap_or(i64::MAX)
    }
}

/// How far `new` is from `old`, in basis points of `old` (rounded down).
pub fn deviation_bps(old: i64, new: i64) -> i64 {
    if old <= 0 {
        return i64::MAX;
    }
    let d = (i128::from(new) - i128::from(old)).abs() * 10_000 / i128::from(old);
    i64::try_from(d).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(source: &str, price: i64, time_ms: i64) -> Observation {
        Observation {
            source: source.into(),
            price,
            time_ms,
        }
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn an_outlier_is_dropped_and_the_median_stays() {
        let quotes = [
            q("a", 100_000, NOW),
            q("b", 100_100, NOW),
            q("c", 99_900, NOW),
            q("d", 150_000, NOW),
            q("e", 100_050, NOW),
        ];
        let a = aggregate(&quotes, NOW, &Rules::default()).expect("ok");
        assert_eq!(a.price, 100_025);
        assert_eq!(a.used, ["a", "b", "c", "e"]);
        assert_eq!(a.dropped.len(), 1);
        assert_eq!(a.dropped[0].source, "d");
        assert_eq!(a.dropped[0].reason, "outlier");
    }

    #[test]
    fn identical_quotes_do_not_make_near_ones_outliers() {
        let quotes = [
            q("a", 100_000, NOW),
            q("b", 100_000, NOW),
            q("c", 100_000, NOW),
            q("d", 100_200, NOW),
        ];
        let a = aggregate(&quotes, NOW, &Rules::default()).expect("ok");
        assert_eq!(a.used.len(), 4, "0.2 % is inside the 0.5 % floor");
        assert_eq!(a.price, 100_000);
    }

    #[test]
    fn stale_and_future_quotes_do_not_count_towards_the_quorum() {
        let quotes = [
            q("a", 100, NOW),
            q("b", 100, NOW - 60_001),
            q("c", 100, NOW + 5_001),
            q("d", 100, NOW - 60_000),
        ];
        let lost = aggregate(&quotes, NOW, &Rules::default()).expect_err("no quorum");
        assert_eq!((lost.usable, lost.needed), (2, 3));
        let reasons: Vec<_> = lost.dropped.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(reasons, ["stale", "future_time"]);
    }

    #[test]
    fn deviation_is_in_basis_points_of_the_old_price() {
        assert_eq!(deviation_bps(10_000, 10_050), 50);
        assert_eq!(deviation_bps(10_000, 9_949), 51);
        assert_eq!(deviation_bps(0, 1), i64::MAX);
    }

    fn quotes() -> impl Strategy<Value = Vec<Observation>> {
        prop::collection::vec((1i64..=i64::MAX / 4, -70_000i64..10_000), 0..12).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (price, age))| q(&format!("s{i}"), price, NOW - age))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_order_of_the_quotes_does_not_matter(mut quotes in quotes(), seed in any::<u64>()) {
            let first = aggregate(&quotes, NOW, &Rules::default());
            // A deterministic shuffle.
            let n = quotes.len();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let j = usize::try_from(s >> 33).unwrap_or(0) % (i + 1);
                quotes.swap(i, j);
            }
            prop_assert_eq!(first, aggregate(&quotes, NOW, &Rules::default()));
        }

        #[test]
        fn the_price_lies_within_the_quotes_used(quotes in quotes()) {
            if let Ok(a) = aggregate(&quotes, NOW, &Rules::default()) {
                let used: Vec<i64> = quotes.iter().filter(|q| a.used.contains(&q.source)).map(|q| q.price).collect();
                prop_assert!(used.len() >= 3);
                prop_assert!(*used.iter().min().expect("some") <= a.price);
                prop_assert!(a.price <= *used.iter().max().expect("some"));
                prop_assert_eq!(a.used.len() + a.dropped.len(), quotes.len());
            }
        }

        #[test]
        fn a_minority_of_wild_quotes_cannot_move_the_price_far(
            base in 1_000_000i64..1_000_000_000_000,
            honest in prop::collection::vec(-20i64..=20, 5..9),
            wild in prop::collection::vec(0i64..1_000_000_000_000_000, 0..3),
        ) {
            // Honest quotes within ±0.2 % of base; fewer wild ones than honest ones.
            let mut quotes: Vec<Observation> = honest.iter().enumerate()
                .map(|(i, d)| q(&format!("h{i}"), base + base * d / 10_000, NOW)).collect();
            quotes.extend(wild.iter().enumerate().map(|(i, p)| q(&format!("w{i}"), (*p).max(1), NOW)));
            let a = aggregate(&quotes, NOW, &Rules::default()).expect("ok");
            prop_assert!(deviation_bps(base, a.price) <= 20, "{} vs {}", a.price, base);
        }

        #[test]
        fn the_median_of_sorted_values_is_between_the_middle_ones(mut v in prop::collection::vec(any::<i64>(), 1..20)) {
            v.sort_unstable();
            let m = median_sorted(&v);
            let n = v.len();
            prop_assert!(v[(n - 1) / 2] <= m && m <= v[n / 2]);
        }
    }
}
