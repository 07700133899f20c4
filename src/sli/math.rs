//! SLI math, pure: minute counts → availability, error budget and burn rates; rolling
//! windows split over the minute / hour / day buckets; daily figures for the page's bars.
//!
//! The formula, as printed on the page:
//!
//! ```text
//! availability = good minutes / (good minutes + bad minutes)
//! ```
//!
//! A minute is *good* when the component was `operational` in every evaluation of that
//! minute, *bad* when it was `degraded_performance`, `partial_outage` or `major_outage` in
//! any, *maintenance* (excluded) when it was under maintenance in any, and *no data* when
//! fedimeter recorded nothing (it was not running, or no signal had data). With no good and
//! no bad minute the availability is undefined (`None`, shown as "no data"), never 100 %.

use super::ComponentStatus;

/// Minutes per hour / per day, for bucket arithmetic on unix minutes.
pub const MINUTES_PER_HOUR: i64 = 60;
pub const MINUTES_PER_DAY: i64 = 1440;
pub const HOURS_PER_DAY: i64 = 24;

/// Classified minutes over some span of time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MinuteCounts {
    pub good: i64,
    pub bad: i64,
    pub maintenance: i64,
}

impl MinuteCounts {
    pub const fn new(good: i64, bad: i64, maintenance: i64) -> Self {
        MinuteCounts {
            good,
            bad,
            maintenance,
        }
    }

    /// Counts one minute whose (worst) state was `status`.
    pub fn add(&mut self, status: ComponentStatus) {
        match status {
            ComponentStatus::Operational => self.good += 1,
            ComponentStatus::UnderMaintenance => self.maintenance += 1,
            _ => self.bad += 1,
        }
    }

    pub fn merge(self, other: MinuteCounts) -> MinuteCounts {
        MinuteCounts {
            good: self.good + other.good,
            bad: self.bad + other.bad,
            maintenance: self.maintenance + other.maintenance,
        }
    }

    /// Minutes with a recorded state.
    pub fn recorded(&self) -> i64 {
        self.good + self.bad + self.maintenance
    }

    /// Minutes of a `window_minutes`-long window without any recorded state.
    pub fn no_data(&self, window_minutes: i64) -> i64 {
        (window_minutes - self.recorded()).max(0)
    }

    /// good / (good + bad); `None` when neither was recorded.
    pub fn availability(&self) -> Option<f64> {
        let counted = self.good + self.bad;
        (counted > 0).then(|| self.good as f64 / counted as f64)
    }

    /// bad / (good + bad); `None` when neither was recorded.
    pub fn error_ratio(&self) -> Option<f64> {
        let counted = self.good + self.bad;
        (counted > 0).then(|| self.bad as f64 / counted as f64)
    }
}

/// Share of the error budget (`1 − objective`) left: `1 − error_ratio / (1 − objective)`.
/// 1 = untouched, 0 = spent, negative = overspent. `None` without data or with an
/// objective of 100 % (no budget to divide by).
pub fn error_budget_remaining(counts: MinuteCounts, objective: f64) -> Option<f64> {
    burn_rate(counts, objective).map(|burn| 1.0 - burn)
}

/// Burn rate over a window: `error_ratio / (1 − objective)`. 1 spends the budget exactly
/// over the SLO period; 14.4 spends 2 % of a 30-day budget in one hour.
pub fn burn_rate(counts: MinuteCounts, objective: f64) -> Option<f64> {
    // Rounded to 1e-9 so that 1 − 0.995 is exactly 0.005 and the exposed rates are clean.
    let budget = ((1.0 - objective) * 1e9).round() / 1e9;
    if budget <= 0.0 || !budget.is_finite() {
        return None;
    }
    counts.error_ratio().map(|ratio| ratio / budget)
}

/// A rolling window ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The `window` label value.
    pub label: &'static str,
    pub minutes: i64,
}

const fn window(label: &'static str, minutes: i64) -> Window {
    Window { label, minutes }
}

pub const W5M: Window = window("5m", 5);
pub const W30M: Window = window("30m", 30);
pub const W1H: Window = window("1h", 60);
pub const W2H: Window = window("2h", 120);
pub const W6H: Window = window("6h", 360);
pub const W1D: Window = window("1d", MINUTES_PER_DAY);
pub const W3D: Window = window("3d", 3 * MINUTES_PER_DAY);
pub const W7D: Window = window("7d", 7 * MINUTES_PER_DAY);
pub const W30D: Window = window("30d", 30 * MINUTES_PER_DAY);
pub const W90D: Window = window("90d", 90 * MINUTES_PER_DAY);

/// Windows of `fedimeter_sli_ratio` (the page shows 1d as "24 h", 7d, 30d and 90d).
pub const RATIO_WINDOWS: [Window; 5] = [W1H, W1D, W7D, W30D, W90D];
/// Windows of `fedimeter_burn_rate`: both sides of every pair in [`BURN_RATE_PAIRS`].
pub const BURN_WINDOWS: [Window; 7] = [W5M, W30M, W1H, W2H, W6H, W1D, W3D];
/// The SLO period the error budget is measured over.
pub const BUDGET_WINDOW: Window = W30D;

/// Every distinct window the recorder computes, ratio and burn windows together.
pub const ALL_WINDOWS: [Window; 9] = [W5M, W30M, W1H, W2H, W6H, W1D, W3D, W7D, W30D];

/// One multi-window burn-rate alert condition (SRE workbook, 30-day SLO).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRatePair {
    pub long: Window,
    pub short: Window,
    pub factor: f64,
    /// `page` or `ticket`.
    pub severity: &'static str,
}

/// The SRE workbook's recommended pairs: 14.4× over 1 h/5 m and 6× over 6 h/30 m page;
/// 3× over 1 d/2 h and 1× over 3 d/6 h open a ticket.
pub const BURN_RATE_PAIRS: [BurnRatePair; 4] = [
    BurnRatePair {
        long: W1H,
        short: W5M,
        factor: 14.4,
        severity: "page",
    },
    BurnRatePair {
        long: W6H,
        short: W30M,
        factor: 6.0,
        severity: "page",
    },
    BurnRatePair {
        long: W1D,
        short: W2H,
        factor: 3.0,
        severity: "ticket",
    },
    BurnRatePair {
        long: W3D,
        short: W6H,
        factor: 1.0,
        severity: "ticket",
    },
];

/// A pair's evaluation: both rates and whether the alert condition holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRateCondition {
    pub pair: BurnRatePair,
    pub long_rate: Option<f64>,
    pub short_rate: Option<f64>,
    /// Both windows burn faster than the factor (a window without data never fires).
    pub firing: bool,
}

/// Evaluates every pair of [`BURN_RATE_PAIRS`] from the burn rate of each window label.
pub fn burn_rate_conditions(rate_of: impl Fn(&str) -> Option<f64>) -> Vec<BurnRateCondition> {
    BURN_RATE_PAIRS
        .iter()
        .map(|&pair| {
            let long_rate = rate_of(pair.long.label);
            let short_rate = rate_of(pair.short.label);
            let firing = matches!((long_rate, short_rate), (Some(l), Some(s)) if l > pair.factor && s > pair.factor);
            BurnRateCondition {
                pair,
                long_rate,
                short_rate,
                firing,
            }
        })
        .collect()
}

/// Bucket granularity of a [`Span`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `sli_minutes`, indexed by unix minute.
    Minute,
    /// `sli_hours`, indexed by unix hour.
    Hour,
    /// `sli_days`, indexed by unix day (UTC).
    Day,
}

/// `[from, to)` in units of `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub level: Level,
    pub from: i64,
    pub to: i64,
}

/// Splits the minute range `[from_minute, to_minute)` into at most five spans: minutes up
/// to the first full hour, hours up to the first full day, whole days, hours, minutes. A
/// 90-day window then reads at most 59 + 23 + 90 + 23 + 59 rows per SLI.
pub fn split_window(from_minute: i64, to_minute: i64) -> Vec<Span> {
    let mut spans = Vec::new();
    if to_minute <= from_minute {
        return spans;
    }
    let first_hour = ceil_div(from_minute, MINUTES_PER_HOUR);
    let end_hour = to_minute.div_euclid(MINUTES_PER_HOUR);
    if first_hour >= end_hour {
        spans.push(span(Level::Minute, from_minute, to_minute));
        return spans;
    }
    push_nonempty(
        &mut spans,
        Level::Minute,
        from_minute,
        first_hour * MINUTES_PER_HOUR,
    );
    let first_day = ceil_div(first_hour, HOURS_PER_DAY);
    let end_day = end_hour.div_euclid(HOURS_PER_DAY);
    if first_day >= end_day {
        spans.push(span(Level::Hour, first_hour, end_hour));
    } else {
        push_nonempty(
            &mut spans,
            Level::Hour,
            first_hour,
            first_day * HOURS_PER_DAY,
        );
        spans.push(span(Level::Day, first_day, end_day));
        push_nonempty(&mut spans, Level::Hour, end_day * HOURS_PER_DAY, end_hour);
    }
    push_nonempty(
        &mut spans,
        Level::Minute,
        end_hour * MINUTES_PER_HOUR,
        to_minute,
    );
    spans
}

fn span(level: Level, from: i64, to: i64) -> Span {
    Span { level, from, to }
}

fn push_nonempty(spans: &mut Vec<Span>, level: Level, from: i64, to: i64) {
    if from < to {
        spans.push(span(level, from, to));
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// Counts per-minute states (unix minute, state) that fall in `[from_minute, to_minute)`.
/// The in-memory equivalent of the store's window query, used by tests and simulations.
pub fn count_minutes(
    minutes: &[(i64, ComponentStatus)],
    from_minute: i64,
    to_minute: i64,
) -> MinuteCounts {
    let mut counts = MinuteCounts::default();
    for &(minute, status) in minutes {
        if minute >= from_minute && minute < to_minute {
            counts.add(status);
        }
    }
    counts
}

/// One day of the page's 90-day bars; serializes for the JSON API as
/// `{"date":"2026-11-22","day":20779,"counts":{"good":…,"bad":…,"maintenance":…},
/// "no_data_minutes":…,"availability":0.99|null,"worst":"major_outage"|null}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DailyFigure {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    /// Unix day (days since 1970-01-01).
    pub day: i64,
    pub counts: MinuteCounts,
    /// Minutes of the day (up to now for today) without any record.
    pub no_data_minutes: i64,
    /// good / (good + bad); `None` = "no data" on the bar.
    pub availability: Option<f64>,
    /// The worst state of a recorded minute that day: an outage state if there was one,
    /// else `under_maintenance` if only maintenance, else `operational`; `None` = no data.
    pub worst: Option<ComponentStatus>,
}

/// How many of the latest minutes may not be written yet: the minute in progress and the
/// finished one waiting for the next batch (`[sli] flush_every`, default 60 s). They are
/// pending, not missing, so the page does not count them as "no data".
pub const UNWRITTEN_MINUTES: i64 = 2;

/// Builds the bars for `days` consecutive UTC days ending with the day of `now_minute`,
/// oldest first, from daily rollups `(day, counts, worst outage rank)`; days without a
/// rollup are "no data". Today's `no_data_minutes` counts only the minutes already past,
/// less the [`UNWRITTEN_MINUTES`] that may still be on their way to the store.
pub fn daily_figures(
    rollups: &[(i64, MinuteCounts, Option<ComponentStatus>)],
    now_minute: i64,
    days: i64,
) -> Vec<DailyFigure> {
    let today = now_minute.div_euclid(MINUTES_PER_DAY);
    (today - days + 1..=today)
        .map(|day| {
            let found = rollups.iter().find(|(d, _, _)| *d == day);
            let counts = found.map(|(_, c, _)| *c).unwrap_or_default();
            let day_minutes = if day == today {
                (now_minute - today * MINUTES_PER_DAY - UNWRITTEN_MINUTES).max(0)
            } else {
                MINUTES_PER_DAY
            };
            let worst = match found {
                None => None,
                Some((_, c, worst)) => {
                    if c.bad > 0 {
                        *worst
                    } else if c.good > 0 {
                        Some(ComponentStatus::Operational)
                    } else if c.maintenance > 0 {
                        Some(ComponentStatus::UnderMaintenance)
                    } else {
                        None
                    }
                }
            };
            DailyFigure {
                date: civil_date(day),
                day,
                counts,
                no_data_minutes: counts.no_data(day_minutes),
                availability: counts.availability(),
                worst,
            }
        })
        .collect()
}

/// `YYYY-MM-DD` of a unix day (Howard Hinnant's `civil_from_days`).
pub fn civil_date(unix_day: i64) -> String {
    let z = unix_day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        }
    }

    /// (good, bad, maintenance or objective)
    type Counts3<T> = (i64, i64, T);

    #[test]
    fn availability_table() {
        // (good, bad, maintenance) → availability
        let table: &[(Counts3<i64>, Option<f64>)] = &[
            ((0, 0, 0), None),
            ((0, 0, 30), None),
            ((1440, 0, 0), Some(1.0)),
            ((0, 10, 0), Some(0.0)),
            ((1433, 7, 0), Some(1433.0 / 1440.0)),
            // maintenance is excluded, not good: 990 / (990 + 10)
            ((990, 10, 440), Some(0.99)),
            ((3, 1, 0), Some(0.75)),
        ];
        for &((good, bad, maintenance), expected) in table {
            let c = MinuteCounts::new(good, bad, maintenance);
            assert!(
                close(c.availability(), expected),
                "{c:?}: {:?} != {expected:?}",
                c.availability()
            );
        }
    }

    #[test]
    fn no_data_is_what_is_left_of_the_window() {
        assert_eq!(MinuteCounts::new(100, 20, 10).no_data(1440), 1310);
        assert_eq!(MinuteCounts::new(1440, 0, 0).no_data(1440), 0);
        assert_eq!(MinuteCounts::new(0, 0, 0).no_data(60), 60);
    }

    #[test]
    fn error_budget_and_burn_rate_table() {
        // objective 99.5 % → budget 0.5 % of the minutes.
        // (good, bad, objective) → (burn rate, budget remaining)
        let table: &[(Counts3<f64>, Option<f64>, Option<f64>)] = &[
            ((1000, 0, 0.995), Some(0.0), Some(1.0)),
            // 5 bad of 1000 = 0.5 % = exactly the budget
            ((995, 5, 0.995), Some(1.0), Some(0.0)),
            // 1 bad of 400 = 0.25 % → half the budget spent
            ((399, 1, 0.995), Some(0.5), Some(0.5)),
            // 30-day budget at 99.5 %: 216 bad minutes of 43200
            ((43_200 - 216, 216, 0.995), Some(1.0), Some(0.0)),
            // 432 bad of 43200 = 1 % → burn 2, budget overspent by one budget
            ((43_200 - 432, 432, 0.995), Some(2.0), Some(-1.0)),
            // one hour fully down at 99.9 %: error ratio 1 / 0.001 = 1000
            ((0, 60, 0.999), Some(1000.0), Some(-999.0)),
            ((0, 0, 0.995), None, None),
            ((10, 1, 1.0), None, None),
        ];
        for &((good, bad, objective), burn, remaining) in table {
            let c = MinuteCounts::new(good, bad, 0);
            assert!(
                close(burn_rate(c, objective), burn),
                "{c:?} {objective}: burn {:?}",
                burn_rate(c, objective)
            );
            assert!(
                close(error_budget_remaining(c, objective), remaining),
                "{c:?} {objective}: remaining {:?}",
                error_budget_remaining(c, objective)
            );
        }
    }

    #[test]
    fn burn_rate_pairs_need_both_windows_above_the_factor() {
        let rates = |pairs: &[(&'static str, f64)]| {
            let pairs = pairs.to_vec();
            move |w: &str| pairs.iter().find(|(l, _)| *l == w).map(|(_, r)| *r)
        };
        // 1h at 20×, 5m at 20× → page; 6h at 4× (< 6) → not firing
        let c = burn_rate_conditions(rates(&[
            ("1h", 20.0),
            ("5m", 20.0),
            ("6h", 4.0),
            ("30m", 10.0),
        ]));
        let firing: Vec<(&str, bool)> = c.iter().map(|c| (c.pair.long.label, c.firing)).collect();
        assert_eq!(
            firing,
            vec![("1h", true), ("6h", false), ("1d", false), ("3d", false)]
        );
        // long above, short back below (fast reset)
        let c = burn_rate_conditions(rates(&[("1h", 20.0), ("5m", 0.0)]));
        assert!(!c[0].firing);
        // equal to the factor is not above it
        let c = burn_rate_conditions(rates(&[("3d", 1.0), ("6h", 1.5)]));
        assert!(!c[3].firing);
        let c = burn_rate_conditions(rates(&[
            ("3d", 1.01),
            ("6h", 1.5),
            ("1d", 3.5),
            ("2h", 3.1),
        ]));
        assert!(c[2].firing && c[3].firing);
        // no data never fires
        let c = burn_rate_conditions(|_| None);
        assert!(c.iter().all(|c| !c.firing && c.long_rate.is_none()));
    }

    #[test]
    fn split_window_table() {
        use Level::*;
        let s = |level, from, to| Span { level, from, to };
        let day = MINUTES_PER_DAY;
        let table: Vec<((i64, i64), Vec<Span>)> = vec![
            ((10, 10), vec![]),
            ((10, 5), vec![]),
            ((10, 50), vec![s(Minute, 10, 50)]),
            ((10, 70), vec![s(Minute, 10, 70)]),
            ((60, 120), vec![s(Hour, 1, 2)]),
            (
                (50, 130),
                vec![s(Minute, 50, 60), s(Hour, 1, 2), s(Minute, 120, 130)],
            ),
            ((0, day), vec![s(Day, 0, 1)]),
            // a 24 h window ending at 00:30 on day 10
            (
                (10 * day + 30 - day, 10 * day + 30),
                vec![
                    s(Minute, 9 * day + 30, 9 * day + 60),
                    s(Hour, 9 * 24 + 1, 10 * 24),
                    s(Minute, 10 * day, 10 * day + 30),
                ],
            ),
            // 90 days ending at 12:34 on day 200
            (
                (200 * day + 754 - 90 * day, 200 * day + 754),
                vec![
                    s(Minute, 110 * day + 754, 110 * day + 780),
                    s(Hour, 110 * 24 + 13, 111 * 24),
                    s(Day, 111, 200),
                    s(Hour, 200 * 24, 200 * 24 + 12),
                    s(Minute, 200 * day + 720, 200 * day + 754),
                ],
            ),
        ];
        for ((from, to), expected) in table {
            let spans = split_window(from, to);
            assert_eq!(spans, expected, "split_window({from}, {to})");
            // the spans cover exactly the window
            let covered: i64 = spans
                .iter()
                .map(|sp| {
                    (sp.to - sp.from)
                        * match sp.level {
                            Minute => 1,
                            Hour => MINUTES_PER_HOUR,
                            Day => MINUTES_PER_DAY,
                        }
                })
                .sum();
            assert_eq!(covered, (to - from).max(0));
        }
    }

    #[test]
    fn count_minutes_honours_the_window() {
        let minutes = [
            (0, Operational),
            (1, MajorOutage),
            (2, UnderMaintenance),
            (3, DegradedPerformance),
            (5, Operational),
        ];
        assert_eq!(count_minutes(&minutes, 0, 6), MinuteCounts::new(2, 2, 1));
        assert_eq!(count_minutes(&minutes, 1, 5), MinuteCounts::new(0, 2, 1));
        assert_eq!(count_minutes(&minutes, 4, 5), MinuteCounts::new(0, 0, 0));
    }

    #[test]
    fn daily_figure_json() {
        let figures = daily_figures(
            &[(20_779, MinuteCounts::new(3, 1, 0), Some(MajorOutage))],
            20_779 * MINUTES_PER_DAY + 4,
            1,
        );
        let json = serde_json::to_string(&figures[0]).expect("serializes");
        assert_eq!(
            json,
            r#"{"date":"2026-11-22","day":20779,"counts":{"good":3,"bad":1,"maintenance":0},"no_data_minutes":0,"availability":0.75,"worst":"major_outage"}"#
        );
    }

    #[test]
    fn civil_date_table() {
        for (day, date) in [
            (0, "1970-01-01"),
            (59, "1970-03-01"),
            (11_016, "2000-02-29"),
            (20_454, "2026-01-01"),
            (20_779, "2026-11-22"),
        ] {
            assert_eq!(civil_date(day), date);
        }
    }

    #[test]
    fn daily_figures_fill_missing_days_with_no_data() {
        let today = 20_779;
        let now_minute = today * MINUTES_PER_DAY + 600; // 10:00 UTC
        let rollups = vec![
            (today - 2, MinuteCounts::new(1430, 10, 0), Some(MajorOutage)),
            (today - 1, MinuteCounts::new(0, 0, 120), None),
            (today, MinuteCounts::new(590, 0, 0), None),
        ];
        let figures = daily_figures(&rollups, now_minute, 4);
        assert_eq!(figures.len(), 4);
        assert_eq!(figures[0].date, "2026-11-19");
        assert_eq!(
            (
                figures[0].availability,
                figures[0].worst,
                figures[0].no_data_minutes
            ),
            (None, None, 1440)
        );
        assert!(close(figures[1].availability, Some(1430.0 / 1440.0)));
        assert_eq!(figures[1].worst, Some(MajorOutage));
        assert_eq!(
            (
                figures[2].availability,
                figures[2].worst,
                figures[2].no_data_minutes
            ),
            (None, Some(UnderMaintenance), 1320)
        );
        assert_eq!(
            (
                figures[3].availability,
                figures[3].worst,
                figures[3].no_data_minutes
            ),
            // 600 minutes past, less the 2 that may not be written yet, less 590 recorded.
            (Some(1.0), Some(Operational), 8)
        );
        assert_eq!(figures[3].date, "2026-11-22");
    }
}
