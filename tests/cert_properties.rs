//! Certificate analysis never panics, whatever bytes a server presents: proptest over
//! mutated certificates and chains.

use std::sync::OnceLock;

use proptest::prelude::*;
use rdpscope::cert::{analyze, AnalysisOptions, CertPolicy, TrustStore};
use rustls::pki_types::CertificateDer;

/// A CA, a leaf it signed, and a self-signed certificate, as DER.
fn base() -> &'static [Vec<u8>; 3] {
    static BASE: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    BASE.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "property CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let own =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed");
        [
            leaf.der().to_vec(),
            ca.der().to_vec(),
            own.cert.der().to_vec(),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Set { at: usize, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (
            any::<usize>(),
            prop_oneof![Just(0x00u8), Just(0x80), Just(0xff), Just(0x30), Just(0x06)]
        )
            .prop_map(|(at, byte)| Mutation::Set { at, byte }),
    ]
}

fn apply(mut der: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if der.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip { at, mask } => {
                let i = at % der.len();
                der[i] ^= mask;
            }
            Mutation::Truncate { at } => der.truncate(at % der.len()),
            Mutation::Insert { at, byte } => {
                let i = at % der.len();
                der.insert(i, byte);
            }
            Mutation::Set { at, byte } => {
                let i = at % der.len();
                der[i] = byte;
            }
        }
    }
    der
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_chains_never_panic(
        which in prop::collection::vec(0..3usize, 1..4),
        mutations in prop::collection::vec(prop::collection::vec(mutation(), 0..4), 4),
        name in prop_oneof![Just("localhost"), Just("127.0.0.1"), Just("*.x"), Just("")],
    ) {
        let chain: Vec<CertificateDer<'static>> = which
            .iter()
            .zip(&mutations)
            .map(|(&i, m)| CertificateDer::from(apply(base()[i].clone(), m)))
            .collect();
        let trust = TrustStore::with_extra(&[CertificateDer::from(base()[1].clone())]);
        for policy in [CertPolicy::Strict, CertPolicy::Default] {
            let info = analyze(&chain, &AnalysisOptions {
                server_name: name,
                trust: &trust,
                policy,
                now: time::OffsetDateTime::now_utc(),
                expiry_warning_days: 30,
                pin: None,
            });
            prop_assert_eq!(info.chain.len(), chain.len());
            prop_assert_eq!(info.sha256.len(), 64);
        }
    }
}

#[test]
fn the_unmutated_chain_is_trusted_with_no_findings() {
    let trust = TrustStore::with_extra(&[CertificateDer::from(base()[1].clone())]);
    let chain = [CertificateDer::from(base()[0].clone())];
    let info = analyze(
        &chain,
        &AnalysisOptions {
            server_name: "localhost",
            trust: &trust,
            policy: CertPolicy::Strict,
            now: time::OffsetDateTime::now_utc(),
            expiry_warning_days: 30,
            pin: None,
        },
    );
    assert!(info.trusted, "{:?}", info.findings);
    assert!(info.findings.is_empty(), "{:?}", info.findings);
}
