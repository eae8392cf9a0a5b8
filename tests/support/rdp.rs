//! RDP messages the tests send themselves.

/// An X.224 Connection Request offering TLS, CredSSP and CredSSP with EUA.
pub fn connection_request() -> Vec<u8> {
    use ironrdp_pdu::nego::{ConnectionRequest, RequestFlags, SecurityProtocol};
    let request = ConnectionRequest {
        nego_data: None,
        flags: RequestFlags::empty(),
        protocol: SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
        correlation_info: None,
    };
    ironrdp_core::encode_vec(&ironrdp_pdu::x224::X224(request)).expect("encode")
}
