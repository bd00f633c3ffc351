//! An arbitrary batch of view data built from fuzzer bytes, shared by the
//! encoder targets: any view names, descriptions, tag keys and values that
//! validation lets through, every aggregation over i64 and f64 measures,
//! any numbers (NaN, infinities, extremes), overflow rows, delta
//! temporality, rows whose data does not fit their view, and times before
//! the epoch. Producer bugs are fair game: an encoder must never panic or
//! write malformed output, whatever the batch holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census::{
    Aggregation, AggregationData, Bounds, DistributionData, MeasureF64, MeasureI64, Number, Row,
    TagKey, TagValue, Temporality, View, ViewData,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// Up to four views of up to four rows each.
pub fn batch(u: &mut Unstructured) -> Result<Vec<ViewData>> {
    let views = u.int_in_range(0..=4)?;
    let mut out = Vec::with_capacity(views);
    for _ in 0..views {
        if let Some(data) = view_data(u)? {
            out.push(data);
        }
    }
    Ok(out)
}

/// Printable ASCII, the alphabet validation accepts for tag values, with
/// the characters that need escaping as likely as any.
pub fn printable(u: &mut Unstructured, min: usize) -> Result<String> {
    let len = u.int_in_range(min..=12)?;
    (0..len)
        .map(|_| {
            Ok(match u.int_in_range(0..=99u8)? {
                95 => '\\',
                96 => '"',
                97 => ' ',
                98 => '.',
                99 => '/',
                n => char::from(b' ' + n),
            })
        })
        .collect()
}

/// A name: mostly from the accepted alphabet, sometimes any string (which
/// validation will usually refuse).
pub fn name(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    Ok(printable(u, 1)?.replace(' ', "_"))
}

/// Free text (descriptions, constant label values): any Unicode, line
/// feeds and carriage returns included, half the time.
pub fn text(u: &mut Unstructured) -> Result<String> {
    if u.arbitrary()? {
        u.arbitrary()
    } else {
        printable(u, 0)
    }
}

fn time(u: &mut Unstructured) -> Result<SystemTime> {
    let nanos = Duration::from_nanos(u.arbitrary()?);
    Ok(if u.ratio(1, 16)? {
        UNIX_EPOCH.checked_sub(nanos).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH + nanos
    })
}

fn view_data(u: &mut Unstructured) -> Result<Option<ViewData>> {
    let integer: bool = u.arbitrary()?;
    let mut keys = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        if let Ok(key) = TagKey::new(name(u)?) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut bounds: Vec<f64> = Vec::new();
    let aggregation = match u.int_in_range(0..=4)? {
        0 => Aggregation::Count,
        1 => Aggregation::Sum,
        2 => Aggregation::LastValue,
        4 => Aggregation::UpDownSum,
        _ => {
            for _ in 0..u.int_in_range(0..=4)? {
                bounds.push(u.arbitrary()?);
            }
            bounds.retain(|b| b.is_finite());
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            match Bounds::new(bounds.clone()) {
                Ok(b) => Aggregation::Distribution(b),
                Err(_) => return Ok(None),
            }
        }
    };
    let (view_name, description) = (name(u)?, text(u)?);
    let builder = if integer {
        match MeasureI64::new("m", "", "1") {
            Ok(m) => View::builder(view_name, &m),
            Err(_) => return Ok(None),
        }
    } else {
        match MeasureF64::new("m", "", "1") {
            Ok(m) => View::builder(view_name, &m),
            Err(_) => return Ok(None),
        }
    };
    let Ok(view) = builder
        .description(description)
        .tag_keys(keys.clone())
        .aggregation(aggregation.clone())
        .build()
    else {
        return Ok(None);
    };
    let bounds: Arc<[f64]> = Arc::from(bounds);
    let mut rows = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let start = time(u)?;
        // Now and then a row whose data belongs to another aggregation.
        let kind = if u.ratio(1, 16)? {
            u.int_in_range(0..=3)?
        } else {
            match aggregation {
                Aggregation::Count => 0,
                Aggregation::Sum | Aggregation::UpDownSum => 1,
                Aggregation::LastValue => 2,
                Aggregation::Distribution(_) => 3,
            }
        };
        let data = match kind {
            0 => AggregationData::Count(u.arbitrary()?),
            1 => AggregationData::Sum(number(u, integer)?),
            2 => AggregationData::LastValue(number(u, integer)?),
            _ => AggregationData::Distribution(distribution(u, &bounds)?),
        };
        let row = if u.ratio(1, 6)? {
            Row::overflow(keys.len(), data, start)
        } else {
            let mut tags = Vec::with_capacity(keys.len());
            for _ in &keys {
                tags.push(if u.ratio(1, 4)? {
                    None
                } else {
                    TagValue::new(printable(u, 0)?).ok()
                });
            }
            Row::new(tags, data, start)
        };
        rows.push(row);
    }
    let mut data = ViewData::new(view, time(u)?, time(u)?, rows);
    data.folded = u.arbitrary()?;
    if u.ratio(1, 8)? {
        data.temporality = Temporality::Delta;
    }
    Ok(Some(data))
}

fn number(u: &mut Unstructured, integer: bool) -> Result<Number> {
    Ok(if integer {
        Number::Int(u.arbitrary()?)
    } else {
        Number::Float(u.arbitrary()?)
    })
}

fn distribution(u: &mut Unstructured, bounds: &Arc<[f64]>) -> Result<DistributionData> {
    // Usually one count per bucket; sometimes one too few or too many.
    let buckets = match u.int_in_range(0..=15u8)? {
        0 => bounds.len(),
        1 => bounds.len() + 2,
        _ => bounds.len() + 1,
    };
    let mut bucket_counts = Vec::with_capacity(buckets);
    for _ in 0..buckets {
        // Small counts mostly, so sums stay meaningful; any u64 sometimes.
        bucket_counts.push(if u.ratio(1, 8)? {
            u.arbitrary()?
        } else {
            u64::from(u.arbitrary::<u16>()?)
        });
    }
    let count = bucket_counts
        .iter()
        .fold(0u64, |total, n| total.saturating_add(*n));
    Ok(DistributionData {
        count,
        sum: u.arbitrary()?,
        mean: u.arbitrary()?,
        min: u.arbitrary()?,
        max: u.arbitrary()?,
        sum_of_squared_deviation: u.arbitrary()?,
        bounds: Arc::clone(bounds),
        bucket_counts,
    })
}
