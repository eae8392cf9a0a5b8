//! Analyses of recently seen chains, shared by every probe of the process.
//!
//! A server presents the same chain on every connection, and its analysis (parsing, path
//! building, signature checks, names) gives the same result until the clock crosses one of
//! the chain's validity boundaries. A cached result is only returned while `now` is between
//! the time it was computed and the next such boundary, so it is always exactly what a fresh
//! [`analyze`](super::analyze) would return.

use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::X509Certificate;

use super::{AnalysisOptions, CertPolicy, Pin, TrustStore};
use crate::report::CertificateInfo;

/// How many distinct chains (and option sets) are kept.
const CAPACITY: usize = 32;

struct Entry {
    hash: u64,
    chain: Vec<CertificateDer<'static>>,
    server_name: String,
    trust: TrustStore,
    policy: CertPolicy,
    expiry_warning_days: i64,
    pin: Option<Pin>,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    info: Arc<CertificateInfo>,
}

impl Entry {
    fn matches(
        &self,
        hash: u64,
        chain: &[CertificateDer<'_>],
        options: &AnalysisOptions<'_>,
    ) -> bool {
        self.hash == hash
            && (self.valid_from..self.valid_until).contains(&options.now)
            && self.server_name == options.server_name
            && self.policy == options.policy
            && self.expiry_warning_days == options.expiry_warning_days
            && self.pin.as_ref() == options.pin
            && self.trust.same_as(options.trust)
            && self.chain.len() == chain.len()
            && self
                .chain
                .iter()
                .zip(chain)
                .all(|(a, b)| a.as_ref() == b.as_ref())
    }
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn chain_hash(chain: &[CertificateDer<'_>]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for cert in chain {
        cert.as_ref().hash(&mut hasher);
    }
    hasher.finish()
}

/// [`analyze`](super::analyze), answered from the cache when the same chain was analysed
/// with the same options and no validity boundary has passed since.
pub fn analyze(
    chain: &[CertificateDer<'_>],
    options: &AnalysisOptions<'_>,
) -> Arc<CertificateInfo> {
    let hash = chain_hash(chain);
    if let Ok(entries) = ENTRIES.lock() {
        if let Some(entry) = entries.iter().find(|e| e.matches(hash, chain, options)) {
            return entry.info.clone();
        }
    }
    let (info, valid_until) = super::analyze_until(chain, options);
    let info = Arc::new(info);
    if let Ok(mut entries) = ENTRIES.lock() {
        if entries.len() >= CAPACITY {
            entries.remove(0);
        }
        entries.push(Entry {
            hash,
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
            server_name: options.server_name.to_owned(),
            trust: options.trust.clone(),
            policy: options.policy,
            expiry_warning_days: options.expiry_warning_days,
            pin: options.pin.cloned(),
            valid_from: options.now,
            valid_until,
            info: info.clone(),
        });
    }
    info
}

/// The first instant after `now` at which a validity finding or a day count about `certs`
/// could read differently: a `notBefore` still ahead, `notAfter` itself, and each whole-day
/// step of the time to (or since) `notAfter`.
pub(super) fn stable_until<'a>(
    certs: impl IntoIterator<Item = &'a X509Certificate<'a>>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    let mut until = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
    for cert in certs {
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        if now < not_before {
            until = until.min(not_before);
        }
        let boundary = if now <= not_after {
            // (not_after - now).whole_days() == k until now passes not_after - k days.
            not_after - Duration::days((not_after - now).whole_days())
        } else {
            // (now - not_after).whole_days() == m until now reaches not_after + (m + 1) days.
            not_after
                .checked_add(Duration::days((now - not_after).whole_days() + 1))
                .unwrap_or(until)
        };
        until = until.min(boundary);
    }
    until
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer as _;

    fn certificate(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Vec<u8> {
        crate::cert::tests::self_signed(&["localhost"], not_before, not_after)
    }

    fn until(der: &[u8], now: OffsetDateTime) -> OffsetDateTime {
        let (_, cert) = X509Certificate::from_der(der).expect("parses");
        stable_until([&cert], now)
    }

    #[test]
    fn boundaries_are_the_next_whole_day_step_and_the_validity_edges() {
        let t = rcgen::date_time_ymd(2030, 6, 15);
        let der = certificate(t - Duration::days(400), t);
        // 2.5 days before expiry: the day count drops from 2 to 1 two days before expiry.
        let now = t - Duration::hours(60);
        assert_eq!(until(&der, now), t - Duration::days(2));
        // Less than a day before expiry: expiry itself.
        assert_eq!(until(&der, t - Duration::hours(3)), t);
        // Expired 2.5 days ago: the count of days since expiry goes to 3.
        assert_eq!(until(&der, t + Duration::hours(60)), t + Duration::days(3));
        // Not yet valid, and valid in 5 hours: notBefore comes before the next day step.
        let later = certificate(t + Duration::hours(6), t + Duration::days(1000));
        assert_eq!(
            until(&later, t + Duration::hours(1)),
            t + Duration::hours(6)
        );
        // A whole number of days before expiry: the count changes right away.
        assert_eq!(until(&der, t - Duration::days(5)), t - Duration::days(5));
    }

    #[test]
    fn a_cached_analysis_is_the_fresh_one_and_expires_at_a_boundary() {
        let t = time::OffsetDateTime::now_utc();
        let der =
            CertificateDer::from(certificate(t - Duration::days(10), t + Duration::hours(60)));
        let trust = TrustStore::empty();
        let mut options = AnalysisOptions {
            server_name: "localhost",
            trust: &trust,
            policy: CertPolicy::Default,
            now: t,
            expiry_warning_days: 30,
            pin: None,
        };
        let chain = [der];
        let first = analyze(&chain, &options);
        assert_eq!(*first, super::super::analyze(&chain, &options));
        assert!(
            Arc::ptr_eq(&first, &analyze(&chain, &options)),
            "served from the cache"
        );
        // Other options are other entries.
        options.server_name = "other.example";
        assert_ne!(analyze(&chain, &options).findings, first.findings);
        options.server_name = "localhost";
        // Past the boundary (the day count changes), the analysis is fresh again.
        options.now = t + Duration::hours(13);
        let later = analyze(&chain, &options);
        assert!(!Arc::ptr_eq(&first, &later));
        assert_eq!(*later, super::super::analyze(&chain, &options));
        assert_ne!(later.days_remaining, first.days_remaining);
    }
}
