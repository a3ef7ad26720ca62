//! How a funded request's GAS moves: deposit accounts → hop accounts → one move between the
//! hops → the targets, at random times inside the mix window, with random splits. Pure: the
//! randomness comes in as a function.
//!
//! Each transaction's sender pays its fees from what it holds; the plan leaves every sender
//! `allowance` per transfer for that, so the amounts are fixed in advance and replicas, restarts and
//! retries send exactly the planned transfers. What the allowances do not use, and the service
//! fee, stay in the hop accounts: the pool keeps the fee, and no transfer goes to any address
//! known as the platform's.

use neosl_neo::UInt160;

/// What a transaction of the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    /// Between the Mixer's accounts.
    Mix,
    /// To the targets.
    Deliver,
    /// Back to the user (a request that cannot be mixed).
    Refund,
    /// Back to whoever sent a deposit the request could not take (late, foreign).
    Return,
}

impl LegKind {
    /// Its name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mix => "mix",
            Self::Deliver => "deliver",
            Self::Refund => "refund",
            Self::Return => "return",
        }
    }
}

/// One transaction of a plan: one sender, one or more GAS transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Legs of a stage wait for every leg of the stages before.
    pub stage: i64,
    /// What it is for.
    pub kind: LegKind,
    /// The sending account.
    pub from: UInt160,
    /// Recipients and amounts (10⁻⁸ GAS).
    pub transfers: Vec<(UInt160, i64)>,
    /// Not sent before this time (Unix ms).
    pub not_before: i64,
}

/// A number in `lo..hi` (`lo` when the range is empty).
fn between(random: &mut dyn FnMut() -> u64, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    lo + (random() % (hi - lo) as u64) as i64
}

/// Splits `amount` into a deposit plan over `accounts` (random shares of at least a fifth
/// each).
pub fn deposit_plan(
    amount: i64,
    accounts: &[UInt160],
    random: &mut dyn FnMut() -> u64,
) -> Vec<(UInt160, i64)> {
    match accounts {
        [] => vec![],
        [only] => vec![(*only, amount)],
        [first, rest @ ..] => {
            let share = between(random, amount / 5, amount - amount / 5);
            let mut plan = vec![(*first, share)];
            plan.extend(deposit_plan(amount - share, rest, random));
            plan
        }
    }
}

/// The mix of a funded request: `deposits` (its accounts and what each holds), `hops`, the
/// `targets`, the fee `allowance` per GAS transfer, and the window `[start, start + window)`.
/// A leg's sender keeps `allowance` for each transfer it makes; the plan needs at most
/// [`crate::terms::transfer_budget`] allowances beyond the targets' amounts.
pub fn mix_plan(
    deposits: &[(UInt160, i64)],
    hops: &[UInt160],
    targets: &[(UInt160, i64)],
    allowance: i64,
    start: i64,
    window: i64,
    random: &mut dyn FnMut() -> u64,
) -> Vec<Leg> {
    let at = |random: &mut dyn FnMut() -> u64, from: i64, to: i64| {
        start + between(random, window * from / 100, window * to / 100)
    };
    let mut legs = Vec::new();
    let mut held: Vec<i64> = vec![0; hops.len()];
    if hops.is_empty() {
        return legs;
    }
    // Stage 1: every deposit account empties itself into the hops, split or whole.
    for (account, amount) in deposits {
        let first = (random() % hops.len() as u64) as usize;
        let split =
            hops.len() > 1 && amount - 2 * allowance >= 2 * allowance && random().is_multiple_of(2);
        let mut transfers = Vec::new();
        if split {
            let send = amount - 2 * allowance;
            let second = (first + 1) % hops.len();
            let part = between(random, send / 5, send - send / 5);
            transfers.push((hops[first], part));
            transfers.push((hops[second], send - part));
            held[first] += part;
            held[second] += send - part;
        } else {
            let send = amount - allowance;
            if send <= 0 {
                continue;
            }
            transfers.push((hops[first], send));
            held[first] += send;
        }
        legs.push(Leg {
            stage: 1,
            kind: LegKind::Mix,
            from: *account,
            transfers,
            not_before: at(random, 0, 30),
        });
    }
    // Stage 2: the fuller hop moves a random part of what it holds beyond the targets' fees to
    // the other.
    if hops.len() > 1 {
        let (from, to) = if held[0] >= held[1] { (0, 1) } else { (1, 0) };
        let movable = held[from] - allowance * (targets.len() as i64 + 2);
        if movable > 0 {
            let part = between(random, movable / 10 + 1, movable / 2 + 2).min(movable);
            held[from] -= part + allowance;
            held[to] += part;
            legs.push(Leg {
                stage: 2,
                kind: LegKind::Mix,
                from: hops[from],
                transfers: vec![(hops[to], part)],
                not_before: at(random, 30, 60),
            });
        }
    }
    // Stage 3: the targets in random order, each paid by the hops from a random one on, split
    // over two when the first runs short; every transfer costs its sender an allowance.
    let mut payments: Vec<Vec<(UInt160, i64)>> = vec![Vec::new(); hops.len()];
    let mut order: Vec<usize> = (0..targets.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (random() % (i as u64 + 1)) as usize);
    }
    for i in order {
        let (target, mut owed) = targets[i];
        let first = (random() % hops.len() as u64) as usize;
        for k in 0..hops.len() {
            let j = (first + k) % hops.len();
            if owed == 0 {
                break;
            }
            if held[j] > allowance {
                let pay = owed.min(held[j] - allowance);
                payments[j].push((target, pay));
                held[j] -= pay + allowance;
                owed -= pay;
            }
        }
    }
    for (j, transfers) in payments.into_iter().enumerate() {
        if !transfers.is_empty() {
            legs.push(Leg {
                stage: 3,
                kind: LegKind::Deliver,
                from: hops[j],
                transfers,
                not_before: at(random, 60, 95),
            });
        }
    }
    legs
}

/// What each target is paid in `legs`.
pub fn delivered(legs: &[Leg]) -> Vec<(UInt160, i64)> {
    let mut paid: Vec<(UInt160, i64)> = Vec::new();
    for leg in legs.iter().filter(|l| l.kind == LegKind::Deliver) {
        for (to, amount) in &leg.transfers {
            match paid.iter_mut().find(|(t, _)| t == to) {
                Some((_, a)) => *a += amount,
                None => paid.push((*to, *amount)),
            }
        }
    }
    paid
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(n: u8) -> UInt160 {
        UInt160::from_be_bytes([n; 20])
    }

    proptest! {
        /// Every target is paid exactly, no sender spends more than it holds less an allowance
        /// per transaction it sends, nothing is delivered from a deposit account, and the
        /// stages come in order.
        #[test]
        fn plans_pay_exactly_and_stay_funded(
            seed in any::<u64>(),
            amounts in proptest::collection::vec(1i64..2_000_000_000_000, 1..8),
            service_fee in 0i64..100_000_000,
            allowance in 1_000_000i64..30_000_000,
            split in any::<bool>(),
        ) {
            let mut state = seed;
            let mut random = move || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                state >> 11
            };
            let targets: Vec<(UInt160, i64)> =
                amounts.iter().enumerate().map(|(i, a)| (h(100 + i as u8), *a)).collect();
            let net: i64 = amounts.iter().sum();
            let deposit_accounts = if split { vec![h(1), h(2)] } else { vec![h(1)] };
            let budget = crate::terms::transfer_budget(deposit_accounts.len(), targets.len()) as i64;
            let total = net + service_fee + budget * allowance;
            let deposits = deposit_plan(total, &deposit_accounts, &mut random);
            prop_assert_eq!(deposits.iter().map(|d| d.1).sum::<i64>(), total);
            let hops = [h(10), h(11)];
            let legs = mix_plan(&deposits, &hops, &targets, allowance, 1_000, 60_000, &mut random);
            let mut paid = delivered(&legs);
            paid.sort();
            let mut expected = targets.clone();
            expected.sort();
            prop_assert_eq!(paid, expected);
            // Balances never go below what the fees need.
            let mut balance: std::collections::HashMap<UInt160, i64> =
                deposits.iter().copied().collect();
            let mut sorted = legs.clone();
            sorted.sort_by_key(|l| l.stage);
            for leg in &sorted {
                prop_assert!(leg.not_before >= 1_000 && leg.not_before < 61_000);
                let out: i64 = leg.transfers.iter().map(|t| t.1).sum();
                let fees = allowance * leg.transfers.len() as i64;
                let b = balance.entry(leg.from).or_default();
                prop_assert!(*b - out >= fees, "{:?} overspends", leg);
                *b -= out + fees;
                prop_assert!(leg.transfers.iter().all(|t| t.1 > 0), "{:?} sends nothing", leg);
                for (to, a) in &leg.transfers {
                    *balance.entry(*to).or_default() += a;
                }
                if leg.kind == LegKind::Deliver {
                    prop_assert!(hops.contains(&leg.from));
                }
            }
        }
    }
}
