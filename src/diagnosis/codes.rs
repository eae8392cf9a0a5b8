//! Protocol code tables, kept as data.
//!
//! Each table is a static slice of [`CodeInfo`] rows: the numeric code, the official symbolic
//! name, a short plain-English meaning and the specification section or public document the
//! row comes from. Rows whose name or value could not be confirmed against a public source are
//! marked `uncertain`.
//!
//! Tables:
//! - [`ERRINFO`]: `errorInfo` codes of the Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1).
//! - [`NEG_FAILURE`]: `failureCode` values of RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2).
//! - [`NTSTATUS`]: NTSTATUS and SSPI `SEC_E_*` codes seen in NLA / CredSSP failures (MS-ERREF).
//! - [`DISCONNECT_REASON`]: reasons of the MCS Disconnect Provider Ultimatum (T.125).
//! - [`MSTSC_DISCONNECT`]: `discReason` codes the Remote Desktop ActiveX control (mstsc) reports
//!   through `IMsTscAxEvents::OnDisconnected`.
//! - [`EXTENDED_DISCONNECT`]: the mstsc `ExtendedDisconnectReasonCode` ("extended error code").
//!
//! Most mstsc codes have a Microsoft symbolic name (`disconnectReason*`, `SSL_ERR_*`). Codes that
//! Microsoft only describes in prose get a descriptive `DISCONNECT_*` name of our own; their
//! `source` says so.

use serde::Serialize;

/// One row of a code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    /// The numeric code as it appears on the wire.
    pub code: u32,
    /// The official symbolic name, e.g. `ERRINFO_SERVER_DENIED_CONNECTION`.
    pub name: &'static str,
    /// A one-sentence plain-English meaning.
    pub meaning: &'static str,
    /// The specification section or public documentation the row comes from.
    pub source: &'static str,
    /// True when the name or value could not be confirmed against a public source.
    pub uncertain: bool,
}

/// A confirmed row.
const fn row(
    code: u32,
    name: &'static str,
    meaning: &'static str,
    source: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        name,
        meaning,
        source,
        uncertain: false,
    }
}

/// A row whose name or value could not be fully confirmed.
const fn uncertain_row(
    code: u32,
    name: &'static str,
    meaning: &'static str,
    source: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        name,
        meaning,
        source,
        uncertain: true,
    }
}

const BCGR_ERRINFO: &str = "MS-RDPBCGR 2.2.5.1.1 Set Error Info PDU Data (TS_SET_ERROR_INFO_PDU)";
const BCGR_NEG_FAILURE: &str = "MS-RDPBCGR 2.2.1.2.2 RDP Negotiation Failure (RDP_NEG_FAILURE)";
const ERREF_NTSTATUS: &str = "MS-ERREF 2.3.1 NTSTATUS Values";
const ERREF_HRESULT: &str = "MS-ERREF 2.1.1 HRESULT Values (winerror.h SEC_E_*)";
const T125_REASON: &str =
    "ITU-T T.125 section 7 part 4 (Reason); MS-RDPBCGR 2.2.2.3 MCS Disconnect Provider Ultimatum PDU";
const MSTSC_ONDISCONNECTED: &str =
    "Microsoft Learn: IMsTscAxEvents::OnDisconnected, discReason list (MsTscAx.dll)";
const MSTSC_WIKI: &str = "TechNet Wiki 37870 \"Remote Desktop Client Troubleshooting: Disconnect Codes and Reasons\" (mstscax GetErrorDescription text, mirrored in Xpra xpra/platform/win32/desktoplogon_lib.py); Microsoft publishes no symbolic name, the DISCONNECT_* name is descriptive (ours)";
const MSTSC_EXTENDED: &str =
    "Microsoft Learn: ExtendedDisconnectReasonCode enumeration (MsTscAx.dll type library)";
const MSTSC_EXTENDED_12: &str = "Microsoft Learn: ExtendedDisconnectReasonCode enumeration; value 12 also in the mstscax.dll type library import MSTSCLib_TLB.pas (adaloveless/commonx), one MicrosoftDocs/win32 revision misprints it as 2";

/// `errorInfo` codes of the Set Error Info PDU (MS-RDPBCGR 2.2.5.1.1), including `ERRINFO_NONE`.
#[rustfmt::skip]
pub static ERRINFO: &[CodeInfo] = &[
    // Protocol-independent codes.
    row(0x0000_0000, "ERRINFO_NONE", "no error; the code carries no information and should be ignored", BCGR_ERRINFO),
    row(0x0000_0001, "ERRINFO_RPC_INITIATED_DISCONNECT", "an administrative tool running in another session disconnected this session", BCGR_ERRINFO),
    row(0x0000_0002, "ERRINFO_RPC_INITIATED_LOGOFF", "an administrative tool running in another session forcibly logged this session off", BCGR_ERRINFO),
    row(0x0000_0003, "ERRINFO_IDLE_TIMEOUT", "the server's idle-session time limit expired", BCGR_ERRINFO),
    row(0x0000_0004, "ERRINFO_LOGON_TIMEOUT", "the server's active-session time limit expired", BCGR_ERRINFO),
    row(0x0000_0005, "ERRINFO_DISCONNECTED_BY_OTHERCONNECTION", "another connection took over the session, so this one was dropped", BCGR_ERRINFO),
    row(0x0000_0006, "ERRINFO_OUT_OF_MEMORY", "the server ran out of memory", BCGR_ERRINFO),
    row(0x0000_0007, "ERRINFO_SERVER_DENIED_CONNECTION", "the server refused the connection", BCGR_ERRINFO),
    row(0x0000_0009, "ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES", "the user lacks the access rights needed to connect to this server", BCGR_ERRINFO),
    row(0x0000_000A, "ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED", "the server does not accept saved credentials and wants them typed in for every connection", BCGR_ERRINFO),
    row(0x0000_000B, "ERRINFO_RPC_INITIATED_DISCONNECT_BYUSER", "an administrative tool running inside the user's own session disconnected it", BCGR_ERRINFO),
    row(0x0000_000C, "ERRINFO_LOGOFF_BY_USER", "the user logged off the remote session", BCGR_ERRINFO),
    row(0x0000_000F, "ERRINFO_CLOSE_STACK_ON_DRIVER_NOT_READY", "the remote session's display driver did not report its status in time during startup", BCGR_ERRINFO),
    row(0x0000_0010, "ERRINFO_SERVER_DWM_CRASH", "the Desktop Window Manager in the remote session terminated unexpectedly", BCGR_ERRINFO),
    row(0x0000_0011, "ERRINFO_CLOSE_STACK_ON_DRIVER_FAILURE", "the remote session's display driver could not finish starting up", BCGR_ERRINFO),
    row(0x0000_0012, "ERRINFO_CLOSE_STACK_ON_DRIVER_IFACE_FAILURE", "the remote session's display driver started but the remoting stack could not use it", BCGR_ERRINFO),
    row(0x0000_0017, "ERRINFO_SERVER_WINLOGON_CRASH", "the Winlogon process in the remote session terminated unexpectedly", BCGR_ERRINFO),
    row(0x0000_0018, "ERRINFO_SERVER_CSRSS_CRASH", "the CSRSS process in the remote session terminated unexpectedly", BCGR_ERRINFO),
    row(0x0000_0019, "ERRINFO_SERVER_SHUTDOWN", "the server is shutting down", BCGR_ERRINFO),
    row(0x0000_001A, "ERRINFO_SERVER_REBOOT", "the server is restarting", BCGR_ERRINFO),
    // Protocol-independent licensing codes.
    row(0x0000_0100, "ERRINFO_LICENSE_INTERNAL", "the server's licensing component hit an internal error", BCGR_ERRINFO),
    row(0x0000_0101, "ERRINFO_LICENSE_NO_LICENSE_SERVER", "no Remote Desktop license server could be found to issue a license", BCGR_ERRINFO),
    row(0x0000_0102, "ERRINFO_LICENSE_NO_LICENSE", "no client access licenses are available for this server", BCGR_ERRINFO),
    row(0x0000_0103, "ERRINFO_LICENSE_BAD_CLIENT_MSG", "the server received an invalid licensing message from the client", BCGR_ERRINFO),
    row(0x0000_0104, "ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE", "the client's stored license has been modified and no longer matches", BCGR_ERRINFO),
    row(0x0000_0105, "ERRINFO_LICENSE_BAD_CLIENT_LICENSE", "the client's stored license is in an invalid format", BCGR_ERRINFO),
    row(0x0000_0106, "ERRINFO_LICENSE_CANT_FINISH_PROTOCOL", "network problems cut the licensing exchange short", BCGR_ERRINFO),
    row(0x0000_0107, "ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL", "the client ended the licensing exchange early", BCGR_ERRINFO),
    row(0x0000_0108, "ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION", "a licensing message was encrypted incorrectly", BCGR_ERRINFO),
    row(0x0000_0109, "ERRINFO_LICENSE_CANT_UPGRADE_LICENSE", "the client's stored license could not be upgraded or renewed", BCGR_ERRINFO),
    row(0x0000_010A, "ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS", "the server is not licensed to accept remote connections", BCGR_ERRINFO),
    // Protocol-independent codes generated by the Connection Broker.
    row(0x0000_0400, "ERRINFO_CB_DESTINATION_NOT_FOUND", "the connection broker could not find the target endpoint", BCGR_ERRINFO),
    row(0x0000_0402, "ERRINFO_CB_LOADING_DESTINATION", "the target endpoint is disconnecting from the connection broker", BCGR_ERRINFO),
    row(0x0000_0404, "ERRINFO_CB_REDIRECTING_TO_DESTINATION", "redirecting the connection to the target endpoint failed", BCGR_ERRINFO),
    row(0x0000_0405, "ERRINFO_CB_SESSION_ONLINE_VM_WAKE", "waking the target virtual machine failed", BCGR_ERRINFO),
    row(0x0000_0406, "ERRINFO_CB_SESSION_ONLINE_VM_BOOT", "starting the target virtual machine failed", BCGR_ERRINFO),
    row(0x0000_0407, "ERRINFO_CB_SESSION_ONLINE_VM_NO_DNS", "the IP address of the target virtual machine could not be determined", BCGR_ERRINFO),
    row(0x0000_0408, "ERRINFO_CB_DESTINATION_POOL_NOT_FREE", "the broker's pool has no free endpoint", BCGR_ERRINFO),
    row(0x0000_0409, "ERRINFO_CB_CONNECTION_CANCELLED", "processing of the connection was cancelled", BCGR_ERRINFO),
    row(0x0000_0410, "ERRINFO_CB_CONNECTION_ERROR_INVALID_SETTINGS", "the routing token in the X.224 Connection Request could not be validated", BCGR_ERRINFO),
    row(0x0000_0411, "ERRINFO_CB_SESSION_ONLINE_VM_BOOT_TIMEOUT", "the target virtual machine took too long to start", BCGR_ERRINFO),
    row(0x0000_0412, "ERRINFO_CB_SESSION_ONLINE_VM_SESSMON_FAILED", "session monitoring failed while the target virtual machine was starting", BCGR_ERRINFO),
    // RDP-specific codes.
    row(0x0000_10C9, "ERRINFO_UNKNOWNPDUTYPE2", "a Share Data Header carried an unknown pduType2 value", BCGR_ERRINFO),
    row(0x0000_10CA, "ERRINFO_UNKNOWNPDUTYPE", "a Share Control Header carried an unknown pduType value", BCGR_ERRINFO),
    row(0x0000_10CB, "ERRINFO_DATAPDUSEQUENCE", "a slow-path data PDU arrived out of sequence", BCGR_ERRINFO),
    row(0x0000_10CD, "ERRINFO_CONTROLPDUSEQUENCE", "a slow-path non-data PDU arrived out of sequence", BCGR_ERRINFO),
    row(0x0000_10CE, "ERRINFO_INVALIDCONTROLPDUACTION", "a Control PDU had an invalid action field", BCGR_ERRINFO),
    row(0x0000_10CF, "ERRINFO_INVALIDINPUTPDUTYPE", "an input event had an invalid message type or event code", BCGR_ERRINFO),
    row(0x0000_10D0, "ERRINFO_INVALIDINPUTPDUMOUSE", "a mouse input event had invalid pointer flags", BCGR_ERRINFO),
    row(0x0000_10D1, "ERRINFO_INVALIDREFRESHRECTPDU", "the server received an invalid Refresh Rect PDU", BCGR_ERRINFO),
    row(0x0000_10D2, "ERRINFO_CREATEUSERDATAFAILED", "the server could not build the GCC Conference Create Response user data", BCGR_ERRINFO),
    row(0x0000_10D3, "ERRINFO_CONNECTFAILED", "the channel connection phase of the connection sequence failed", BCGR_ERRINFO),
    row(0x0000_10D4, "ERRINFO_CONFIRMACTIVEWRONGSHAREID", "the client's Confirm Active PDU had a wrong share ID", BCGR_ERRINFO),
    row(0x0000_10D5, "ERRINFO_CONFIRMACTIVEWRONGORIGINATOR", "the client's Confirm Active PDU had a wrong originator ID", BCGR_ERRINFO),
    row(0x0000_10DA, "ERRINFO_PERSISTENTKEYPDUBADLENGTH", "a Persistent Key List PDU was too short to process", BCGR_ERRINFO),
    row(0x0000_10DB, "ERRINFO_PERSISTENTKEYPDUILLEGALFIRST", "a later Persistent Key List PDU was again flagged as the first one", BCGR_ERRINFO),
    row(0x0000_10DC, "ERRINFO_PERSISTENTKEYPDUTOOMANYTOTALKEYS", "a Persistent Key List PDU announced more than 262144 bitmap cache entries in total", BCGR_ERRINFO),
    row(0x0000_10DD, "ERRINFO_PERSISTENTKEYPDUTOOMANYCACHEKEYS", "a Persistent Key List PDU announced more keys than a bitmap cache can hold", BCGR_ERRINFO),
    row(0x0000_10DE, "ERRINFO_INPUTPDUBADLENGTH", "an input event PDU was too short to process", BCGR_ERRINFO),
    row(0x0000_10DF, "ERRINFO_BITMAPCACHEERRORPDUBADLENGTH", "a Bitmap Cache Error PDU was too short to read its header fields", BCGR_ERRINFO),
    row(0x0000_10E0, "ERRINFO_SECURITYDATATOOSHORT", "a fast-path input PDU was too short for its signature or FIPS fields", BCGR_ERRINFO),
    row(0x0000_10E1, "ERRINFO_VCHANNELDATATOOSHORT", "virtual channel data in the client network data or a channel PDU header was truncated", BCGR_ERRINFO),
    row(0x0000_10E2, "ERRINFO_SHAREDATATOOSHORT", "a Control PDU, share header or Font List PDU was truncated", BCGR_ERRINFO),
    row(0x0000_10E3, "ERRINFO_BADSUPRESSOUTPUTPDU", "a Suppress Output PDU was truncated or had an invalid allowDisplayUpdates value", BCGR_ERRINFO),
    row(0x0000_10E5, "ERRINFO_CONFIRMACTIVEPDUTOOSHORT", "the client's Confirm Active PDU was truncated", BCGR_ERRINFO),
    row(0x0000_10E7, "ERRINFO_CAPABILITYSETTOOSMALL", "a capability set was too short to read its type and length", BCGR_ERRINFO),
    row(0x0000_10E8, "ERRINFO_CAPABILITYSETTOOLARGE", "a capability set claimed a length beyond the data received", BCGR_ERRINFO),
    row(0x0000_10E9, "ERRINFO_NOCURSORCACHE", "the client's Pointer Capability Set announced no pointer cache", BCGR_ERRINFO),
    row(0x0000_10EA, "ERRINFO_BADCAPABILITIES", "the server did not accept the capabilities in the client's Confirm Active PDU", BCGR_ERRINFO),
    row(0x0000_10EC, "ERRINFO_VIRTUALCHANNELDECOMPRESSIONERR", "bulk decompression of a virtual channel PDU failed", BCGR_ERRINFO),
    row(0x0000_10ED, "ERRINFO_INVALIDVCCOMPRESSIONTYPE", "a Channel PDU Header named an invalid bulk compression package", BCGR_ERRINFO),
    row(0x0000_10EF, "ERRINFO_INVALIDCHANNELID", "a virtual channel PDU used an invalid MCS channel ID", BCGR_ERRINFO),
    row(0x0000_10F0, "ERRINFO_VCHANNELSTOOMANY", "the client asked for more than the 31 allowed static virtual channels", BCGR_ERRINFO),
    row(0x0000_10F3, "ERRINFO_REMOTEAPPSNOTENABLED", "the server only hosts RemoteApp programs but the client did not set INFO_RAIL", BCGR_ERRINFO),
    row(0x0000_10F4, "ERRINFO_CACHECAPNOTSET", "the client sent a Persistent Key List PDU without the Revision 2 Bitmap Cache Capability Set", BCGR_ERRINFO),
    row(0x0000_10F5, "ERRINFO_BITMAPCACHEERRORPDUBADLENGTH2", "a Bitmap Cache Error PDU's block count did not match its data", BCGR_ERRINFO),
    row(0x0000_10F6, "ERRINFO_OFFSCRCACHEERRORPDUBADLENGTH", "an Offscreen Bitmap Cache Error PDU was too short to process", BCGR_ERRINFO),
    row(0x0000_10F7, "ERRINFO_DNGCACHEERRORPDUBADLENGTH", "a DrawNineGrid Cache Error PDU was too short to process", BCGR_ERRINFO),
    row(0x0000_10F8, "ERRINFO_GDIPLUSPDUBADLENGTH", "a GDI+ Error PDU was too short to process", BCGR_ERRINFO),
    row(0x0000_1111, "ERRINFO_SECURITYDATATOOSHORT2", "a Basic Security Header was truncated", BCGR_ERRINFO),
    row(0x0000_1112, "ERRINFO_SECURITYDATATOOSHORT3", "a Non-FIPS or FIPS Security Header was truncated", BCGR_ERRINFO),
    row(0x0000_1113, "ERRINFO_SECURITYDATATOOSHORT4", "the Security Exchange PDU was too short for its header and length fields", BCGR_ERRINFO),
    row(0x0000_1114, "ERRINFO_SECURITYDATATOOSHORT5", "the Info Packet was too short for its fixed fields and strings", BCGR_ERRINFO),
    row(0x0000_1115, "ERRINFO_SECURITYDATATOOSHORT6", "the Info Packet was too short for its fixed fields", BCGR_ERRINFO),
    row(0x0000_1116, "ERRINFO_SECURITYDATATOOSHORT7", "the Extended Info Packet was too short for clientAddressFamily and cbClientAddress", BCGR_ERRINFO),
    row(0x0000_1117, "ERRINFO_SECURITYDATATOOSHORT8", "the Extended Info Packet was too short for clientAddress", BCGR_ERRINFO),
    row(0x0000_1118, "ERRINFO_SECURITYDATATOOSHORT9", "the Extended Info Packet was too short for cbClientDir", BCGR_ERRINFO),
    row(0x0000_1119, "ERRINFO_SECURITYDATATOOSHORT10", "the Extended Info Packet was too short for clientDir", BCGR_ERRINFO),
    row(0x0000_111A, "ERRINFO_SECURITYDATATOOSHORT11", "the Extended Info Packet was too short for clientTimeZone", BCGR_ERRINFO),
    row(0x0000_111B, "ERRINFO_SECURITYDATATOOSHORT12", "the Extended Info Packet was too short for clientSessionId", BCGR_ERRINFO),
    row(0x0000_111C, "ERRINFO_SECURITYDATATOOSHORT13", "the Extended Info Packet was too short for performanceFlags", BCGR_ERRINFO),
    row(0x0000_111D, "ERRINFO_SECURITYDATATOOSHORT14", "the Extended Info Packet was too short for cbAutoReconnectLen", BCGR_ERRINFO),
    row(0x0000_111E, "ERRINFO_SECURITYDATATOOSHORT15", "the Extended Info Packet was too short for autoReconnectCookie", BCGR_ERRINFO),
    row(0x0000_111F, "ERRINFO_SECURITYDATATOOSHORT16", "the Extended Info Packet's cbAutoReconnectLen exceeds the 128-byte maximum", BCGR_ERRINFO),
    row(0x0000_1120, "ERRINFO_SECURITYDATATOOSHORT17", "a second check found the Extended Info Packet too short for clientAddressFamily and cbClientAddress", BCGR_ERRINFO),
    row(0x0000_1121, "ERRINFO_SECURITYDATATOOSHORT18", "a second check found the Extended Info Packet too short for clientAddress", BCGR_ERRINFO),
    row(0x0000_1122, "ERRINFO_SECURITYDATATOOSHORT19", "a second check found the Extended Info Packet too short for cbClientDir", BCGR_ERRINFO),
    row(0x0000_1123, "ERRINFO_SECURITYDATATOOSHORT20", "a second check found the Extended Info Packet too short for clientDir", BCGR_ERRINFO),
    row(0x0000_1124, "ERRINFO_SECURITYDATATOOSHORT21", "a second check found the Extended Info Packet too short for clientTimeZone", BCGR_ERRINFO),
    row(0x0000_1125, "ERRINFO_SECURITYDATATOOSHORT22", "a second check found the Extended Info Packet too short for clientSessionId", BCGR_ERRINFO),
    row(0x0000_1126, "ERRINFO_SECURITYDATATOOSHORT23", "the Client Info PDU data was truncated", BCGR_ERRINFO),
    row(0x0000_1129, "ERRINFO_BADMONITORDATA", "the Client Monitor Data holds fewer monitor definitions than its monitorCount says", BCGR_ERRINFO),
    row(0x0000_112A, "ERRINFO_VCDECOMPRESSEDREASSEMBLEFAILED", "the server's decompression buffer was invalid or decompressed channel data exceeded the chunk size", BCGR_ERRINFO),
    row(0x0000_112B, "ERRINFO_VCDATATOOLONG", "a virtual channel PDU exceeded the negotiated chunk size", BCGR_ERRINFO),
    row(0x0000_112C, "ERRINFO_BAD_FRAME_ACK_DATA", "a Frame Acknowledge PDU was truncated", BCGR_ERRINFO),
    row(0x0000_112D, "ERRINFO_GRAPHICSMODENOTSUPPORTED", "the server does not support the graphics mode the client asked for", BCGR_ERRINFO),
    row(0x0000_112E, "ERRINFO_GRAPHICSSUBSYSTEMRESETFAILED", "the server's graphics subsystem failed to reset", BCGR_ERRINFO),
    row(0x0000_112F, "ERRINFO_GRAPHICSSUBSYSTEMFAILED", "the server's graphics subsystem is in an error state and cannot keep encoding", BCGR_ERRINFO),
    row(0x0000_1130, "ERRINFO_TIMEZONEKEYNAMELENGTHTOOSHORT", "the Extended Info Packet was too short for cbDynamicDSTTimeZoneKeyName", BCGR_ERRINFO),
    row(0x0000_1131, "ERRINFO_TIMEZONEKEYNAMELENGTHTOOLONG", "the Extended Info Packet's dynamic DST time zone key name length is too long", BCGR_ERRINFO),
    row(0x0000_1132, "ERRINFO_DYNAMICDSTDISABLEDFIELDMISSING", "the Extended Info Packet lacks the dynamicDaylightTimeDisabled field", BCGR_ERRINFO),
    row(0x0000_1133, "ERRINFO_VCDECODINGERROR", "processing dynamic virtual channel data failed", BCGR_ERRINFO),
    row(0x0000_1134, "ERRINFO_VIRTUALDESKTOPTOOLARGE", "the monitor layout makes the virtual desktop wider or taller than 32766 pixels", BCGR_ERRINFO),
    row(0x0000_1135, "ERRINFO_MONITORGEOMETRYVALIDATIONFAILED", "the monitor geometry in the Client Monitor Data is invalid", BCGR_ERRINFO),
    row(0x0000_1136, "ERRINFO_INVALIDMONITORCOUNT", "the Client Monitor Data announces too many monitors", BCGR_ERRINFO),
    row(0x0000_1191, "ERRINFO_UPDATESESSIONKEYFAILED", "updating the Standard RDP Security session keys failed", BCGR_ERRINFO),
    row(0x0000_1192, "ERRINFO_DECRYPTFAILED", "Standard RDP Security decryption or session key creation failed", BCGR_ERRINFO),
    row(0x0000_1193, "ERRINFO_ENCRYPTFAILED", "Standard RDP Security encryption failed", BCGR_ERRINFO),
    row(0x0000_1194, "ERRINFO_ENCPKGMISMATCH", "none of the encryption methods the client offered is usable by the server", BCGR_ERRINFO),
    row(0x0000_1195, "ERRINFO_DECRYPTFAILED2", "unencrypted data arrived on a stream that Standard RDP Security should encrypt", BCGR_ERRINFO),
];

/// `failureCode` values of RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2).
#[rustfmt::skip]
pub static NEG_FAILURE: &[CodeInfo] = &[
    row(0x0000_0001, "SSL_REQUIRED_BY_SERVER", "the server requires TLS or CredSSP; if only CredSSP was offered, the server supports TLS only", BCGR_NEG_FAILURE),
    row(0x0000_0002, "SSL_NOT_ALLOWED_BY_SERVER", "the server only allows Standard RDP Security, not TLS or CredSSP", BCGR_NEG_FAILURE),
    row(0x0000_0003, "SSL_CERT_NOT_ON_SERVER", "the server has no valid certificate, so it cannot start TLS", BCGR_NEG_FAILURE),
    row(0x0000_0004, "INCONSISTENT_FLAGS", "the requested protocols contradict the security protocol already in effect (Direct Approach only)", BCGR_NEG_FAILURE),
    row(0x0000_0005, "HYBRID_REQUIRED_BY_SERVER", "the server requires CredSSP, i.e. Network Level Authentication", BCGR_NEG_FAILURE),
    row(0x0000_0006, "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER", "the server requires TLS with certificate-based client authentication", BCGR_NEG_FAILURE),
    uncertain_row(0x0000_0007, "ENTRA_AUTH_REQUIRED_BY_SERVER", "the server requires RDS AAD authentication with Microsoft Entra ID", "IronRDP ironrdp-pdu 0.11 nego.rs FailureCode::ENTRA_AUTH_REQUIRED_BY_SERVER (spec name unconfirmed)"),
];

/// NTSTATUS and SSPI `SEC_E_*` codes seen in NLA / CredSSP failures (MS-ERREF).
#[rustfmt::skip]
pub static NTSTATUS: &[CodeInfo] = &[
    // NTSTATUS values.
    row(0xC000_0022, "STATUS_ACCESS_DENIED", "the account was refused access to the requested object or operation", ERREF_NTSTATUS),
    row(0xC000_005E, "STATUS_NO_LOGON_SERVERS", "no domain controller was available to check the logon", ERREF_NTSTATUS),
    row(0xC000_0062, "STATUS_INVALID_ACCOUNT_NAME", "the account name is malformed", ERREF_NTSTATUS),
    row(0xC000_0064, "STATUS_NO_SUCH_USER", "the user name does not exist", ERREF_NTSTATUS),
    row(0xC000_006A, "STATUS_WRONG_PASSWORD", "the user name exists but the password is wrong", ERREF_NTSTATUS),
    row(0xC000_006C, "STATUS_PASSWORD_RESTRICTION", "a password change was refused by the password policy", ERREF_NTSTATUS),
    row(0xC000_006D, "STATUS_LOGON_FAILURE", "the user name or password is wrong (deliberately unspecific)", ERREF_NTSTATUS),
    row(0xC000_006E, "STATUS_ACCOUNT_RESTRICTION", "an account restriction blocks this logon, such as a blank password over the network", ERREF_NTSTATUS),
    row(0xC000_006F, "STATUS_INVALID_LOGON_HOURS", "the account may not log on at this time of day", ERREF_NTSTATUS),
    row(0xC000_0070, "STATUS_INVALID_WORKSTATION", "the account may not log on from this computer", ERREF_NTSTATUS),
    row(0xC000_0071, "STATUS_PASSWORD_EXPIRED", "the account's password has expired", ERREF_NTSTATUS),
    row(0xC000_0072, "STATUS_ACCOUNT_DISABLED", "the account is disabled", ERREF_NTSTATUS),
    row(0xC000_0133, "STATUS_TIME_DIFFERENCE_AT_DC", "the clocks of this machine and the domain controller differ too much", ERREF_NTSTATUS),
    row(0xC000_0155, "STATUS_LOGON_NOT_GRANTED", "the account has not been granted the kind of logon that was requested", ERREF_NTSTATUS),
    row(0xC000_015B, "STATUS_LOGON_TYPE_NOT_GRANTED", "the account lacks the right to log on this way, e.g. through Remote Desktop Services", ERREF_NTSTATUS),
    row(0xC000_018B, "STATUS_NO_TRUST_SAM_ACCOUNT", "the domain has no computer account for this machine's trust relationship", ERREF_NTSTATUS),
    row(0xC000_018C, "STATUS_TRUSTED_DOMAIN_FAILURE", "the trust between the primary domain and the trusted domain failed", ERREF_NTSTATUS),
    row(0xC000_018D, "STATUS_TRUSTED_RELATIONSHIP_FAILURE", "the trust between this computer and its domain is broken", ERREF_NTSTATUS),
    row(0xC000_0192, "STATUS_NETLOGON_NOT_STARTED", "the Netlogon service is not running", ERREF_NTSTATUS),
    row(0xC000_0193, "STATUS_ACCOUNT_EXPIRED", "the account has expired", ERREF_NTSTATUS),
    row(0xC000_0224, "STATUS_PASSWORD_MUST_CHANGE", "the password must be changed before logging on", ERREF_NTSTATUS),
    row(0xC000_0234, "STATUS_ACCOUNT_LOCKED_OUT", "the account is locked out, usually after too many failed logons", ERREF_NTSTATUS),
    row(0xC000_02FA, "STATUS_SMARTCARD_LOGON_REQUIRED", "the account must log on with a smart card", ERREF_NTSTATUS),
    row(0xC000_0388, "STATUS_DOWNGRADE_DETECTED", "a possible attempt to weaken the authentication was detected", ERREF_NTSTATUS),
    row(0xC000_0413, "STATUS_AUTHENTICATION_FIREWALL_FAILED", "the account may not authenticate to this machine (selective trust or authentication policy)", ERREF_NTSTATUS),
    row(0xC00A_0037, "STATUS_CTX_LOGON_DISABLED", "the user's interactive logon privilege has been disabled", ERREF_NTSTATUS),
    // SSPI HRESULT values.
    row(0x8009_0302, "SEC_E_UNSUPPORTED_FUNCTION", "the security package does not support the requested function, often a TLS version or option mismatch", ERREF_HRESULT),
    row(0x8009_0303, "SEC_E_TARGET_UNKNOWN", "the security package does not know the target server", ERREF_HRESULT),
    row(0x8009_0304, "SEC_E_INTERNAL_ERROR", "the Local Security Authority could not be contacted or failed internally", ERREF_HRESULT),
    row(0x8009_0305, "SEC_E_SECPKG_NOT_FOUND", "the requested security package does not exist", ERREF_HRESULT),
    row(0x8009_0308, "SEC_E_INVALID_TOKEN", "the authentication token handed to the security package was invalid", ERREF_HRESULT),
    row(0x8009_030C, "SEC_E_LOGON_DENIED", "the logon attempt was rejected", ERREF_HRESULT),
    row(0x8009_030D, "SEC_E_UNKNOWN_CREDENTIALS", "the security package did not recognise the supplied credentials", ERREF_HRESULT),
    row(0x8009_030E, "SEC_E_NO_CREDENTIALS", "no credentials are available to the security package", ERREF_HRESULT),
    row(0x8009_030F, "SEC_E_MESSAGE_ALTERED", "a message failed its integrity check, so it was altered or signed with another key", ERREF_HRESULT),
    row(0x8009_0310, "SEC_E_OUT_OF_SEQUENCE", "a message arrived out of sequence", ERREF_HRESULT),
    row(0x8009_0311, "SEC_E_NO_AUTHENTICATING_AUTHORITY", "no authority such as a domain controller could be contacted to authenticate", ERREF_HRESULT),
    row(0x8009_0317, "SEC_E_CONTEXT_EXPIRED", "the security context has expired", ERREF_HRESULT),
    row(0x8009_0322, "SEC_E_WRONG_PRINCIPAL", "the target principal name is wrong, e.g. an SPN mismatch", ERREF_HRESULT),
    row(0x8009_0324, "SEC_E_TIME_SKEW", "the client and server clocks are too far apart", ERREF_HRESULT),
    row(0x8009_0325, "SEC_E_UNTRUSTED_ROOT", "the certificate chain ends at a root that is not trusted", ERREF_HRESULT),
    row(0x8009_0326, "SEC_E_ILLEGAL_MESSAGE", "the peer sent a malformed message, often a TLS alert", ERREF_HRESULT),
    row(0x8009_0327, "SEC_E_CERT_UNKNOWN", "an unknown error occurred while processing the certificate", ERREF_HRESULT),
    row(0x8009_0328, "SEC_E_CERT_EXPIRED", "the certificate has expired or is not yet valid", ERREF_HRESULT),
    row(0x8009_0331, "SEC_E_ALGORITHM_MISMATCH", "client and server share no common algorithm, such as a TLS cipher suite", ERREF_HRESULT),
    row(0x8009_033E, "SEC_E_SMARTCARD_LOGON_REQUIRED", "the account must log on with a smart card", ERREF_HRESULT),
    row(0x8009_0340, "SEC_E_KDC_INVALID_REQUEST", "the Kerberos KDC rejected the request as invalid", ERREF_HRESULT),
    row(0x8009_0346, "SEC_E_BAD_BINDINGS", "the channel bindings did not match", ERREF_HRESULT),
    row(0x8009_0350, "SEC_E_DOWNGRADE_DETECTED", "a possible attempt to weaken the authentication was detected", ERREF_HRESULT),
    row(0x8009_035E, "SEC_E_DELEGATION_POLICY", "the client's policy does not allow delegating credentials to this server", ERREF_HRESULT),
    row(0x8009_035F, "SEC_E_POLICY_NLTM_ONLY", "the client's policy does not allow delegating credentials when only NTLM is possible", ERREF_HRESULT),
    row(0x8009_0363, "SEC_E_MUTUAL_AUTH_FAILED", "the server's identity could not be verified", ERREF_HRESULT),
];

/// Reasons of the MCS Disconnect Provider Ultimatum (T.125 `Reason`).
#[rustfmt::skip]
pub static DISCONNECT_REASON: &[CodeInfo] = &[
    row(0, "rn-domain-disconnected", "the MCS domain was torn down", T125_REASON),
    row(1, "rn-provider-initiated", "the MCS provider ended the connection; RDP servers use it for administrator-initiated disconnects", T125_REASON),
    row(2, "rn-token-purged", "a token held by the user was purged", T125_REASON),
    row(3, "rn-user-requested", "the user asked to disconnect; RDP uses it for user-initiated disconnects on either side", T125_REASON),
    row(4, "rn-channel-purged", "a channel the user had joined was purged", T125_REASON),
];

/// `discReason` codes of `IMsTscAxEvents::OnDisconnected`, as reported by mstsc and the Remote
/// Desktop ActiveX control.
///
/// The low byte groups the codes: 0x04 socket/network, 0x06 memory or security data, 0x07 the
/// security layer (NLA / CredSSP account and credential failures), 0x08 internal, licensing and
/// decompression errors, 0x09 / 0x0A client-side policy and smart card problems.
#[rustfmt::skip]
pub static MSTSC_DISCONNECT: &[CodeInfo] = &[
    row(0x0000, "disconnectReasonNoInfo", "no information about the disconnect is available", MSTSC_ONDISCONNECTED),
    row(0x0001, "disconnectReasonLocalNotError", "the local side disconnected, e.g. the user closed the client; not an error", MSTSC_ONDISCONNECTED),
    row(0x0002, "disconnectReasonRemoteByUser", "the user disconnected or logged off in the remote session; not an error", MSTSC_ONDISCONNECTED),
    row(0x0003, "disconnectReasonByServer", "the server ended the connection, e.g. an administrator ended the session; not an error code by itself", MSTSC_ONDISCONNECTED),
    row(0x0104, "disconnectReasonDNSLookupFailed", "the server name could not be resolved through DNS", MSTSC_ONDISCONNECTED),
    row(0x0106, "disconnectReasonOutOfMemory", "the client ran out of memory", MSTSC_ONDISCONNECTED),
    row(0x0108, "disconnectReasonConnectionTimedOut", "the connection could not be set up within the allotted time", MSTSC_ONDISCONNECTED),
    row(0x010A, "DISCONNECT_SMARTCARD_SERVICE_NOT_RUNNING", "the local smart card service is not running", MSTSC_WIKI),
    row(0x0204, "disconnectReasonSocketConnectFailed", "the TCP connect to the server failed: remote access off, host down or unreachable, or port blocked", MSTSC_ONDISCONNECTED),
    row(0x0206, "disconnectReasonOutOfMemory2", "the client ran out of memory", MSTSC_ONDISCONNECTED),
    row(0x0208, "disconnectReasonHostNotFound", "the host was not found", MSTSC_ONDISCONNECTED),
    row(0x020A, "DISCONNECT_SMARTCARD_READER_NOT_FOUND", "no smart card reader was detected", MSTSC_WIKI),
    row(0x0304, "disconnectReasonWinsockSendFailed", "sending on the socket failed, so the connection was lost to a network error", MSTSC_ONDISCONNECTED),
    row(0x0306, "disconnectReasonOutOfMemory3", "the client ran out of memory", MSTSC_ONDISCONNECTED),
    row(0x0308, "disconnectReasonInvalidIPAddr", "the IP address given is not valid", MSTSC_ONDISCONNECTED),
    row(0x030A, "DISCONNECT_SMARTCARD_NOT_INSERTED", "no card is inserted in the smart card reader", MSTSC_WIKI),
    row(0x0404, "disconnectReasonSocketRecvFailed", "receiving on the socket failed", MSTSC_ONDISCONNECTED),
    row(0x0406, "disconnectReasonInvalidSecurityData", "the security data was invalid, so a security error stopped the connection", MSTSC_ONDISCONNECTED),
    uncertain_row(0x0408, "disconnectReasonInternalError", "documented as an internal client error, but mstsc's message for this code says the computer name has invalid characters", "Microsoft Learn: IMsTscAxEvents::OnDisconnected (internal error); TechNet Wiki 37870 / Xpra desktoplogon_lib.py give mstsc's text (invalid characters in the computer name); the two disagree"),
    row(0x040A, "DISCONNECT_SMARTCARD_SUBSYSTEM_ERROR", "the smart card subsystem reported an error", MSTSC_WIKI),
    row(0x0506, "disconnectReasonInvalidEncryption", "the encryption method given is not valid", MSTSC_ONDISCONNECTED),
    row(0x0508, "disconnectReasonDNSLookupFailed2", "a DNS lookup failed", MSTSC_ONDISCONNECTED),
    row(0x0604, "disconnectReasonGetHostByNameFailed", "resolving the server name with gethostbyname failed", MSTSC_ONDISCONNECTED),
    row(0x0606, "disconnectReasonInvalidServerSecurityInfo", "the server's security data is not valid", MSTSC_ONDISCONNECTED),
    row(0x0608, "disconnectReasonTimerError", "an internal timer failed", MSTSC_ONDISCONNECTED),
    row(0x0704, "disconnectReasonTimeoutOccurred", "a timeout occurred while connecting", MSTSC_ONDISCONNECTED),
    row(0x0706, "disconnectReasonServerCertificateUnpackErr", "the server certificate could not be unpacked", MSTSC_ONDISCONNECTED),
    row(0x0708, "DISCONNECT_CONSOLE_SESSION_IN_PROGRESS", "the client already has a console session in progress, so it cannot connect to another console session", MSTSC_WIKI),
    row(0x0804, "disconnectReasonInvalidIP", "the IP address given is bad", MSTSC_ONDISCONNECTED),
    row(0x0807, "SSL_ERR_LOGON_FAILURE", "the logon failed: wrong user name or password", MSTSC_ONDISCONNECTED),
    row(0x0808, "disconnectReasonLicensingFailed", "license negotiation with the server failed", MSTSC_ONDISCONNECTED),
    row(0x0904, "disconnectReasonAtClientWinsockFDCLOSE", "the socket was closed: the connection to the server was lost, possibly to a network problem", MSTSC_ONDISCONNECTED),
    row(0x0906, "disconnectReasonInternalSecurityError", "an internal security error occurred", MSTSC_ONDISCONNECTED),
    row(0x0907, "DISCONNECT_UNEXPECTED_SERVER_CERT", "the server presented an unexpected authentication certificate", MSTSC_WIKI),
    row(0x0908, "disconnectReasonLicensingTimeout", "licensing timed out", MSTSC_ONDISCONNECTED),
    row(0x0A06, "disconnectReasonInternalSecurityError2", "an internal security error occurred", MSTSC_ONDISCONNECTED),
    row(0x0A07, "SSL_ERR_NO_SUCH_USER", "the user name has no account", MSTSC_ONDISCONNECTED),
    row(0x0B04, "DISCONNECT_CONNECTION_ERROR", "an unspecified error prevented the connection", MSTSC_WIKI),
    row(0x0B06, "disconnectReasonEncryptionError", "encrypting data failed, so the session ended", MSTSC_ONDISCONNECTED),
    row(0x0B07, "SSL_ERR_ACCOUNT_DISABLED", "the account is disabled", MSTSC_ONDISCONNECTED),
    row(0x0B09, "DISCONNECT_NLA_REQUIRED", "the server requires Network Level Authentication, which this client does not offer", MSTSC_WIKI),
    row(0x0C06, "disconnectReasonDecryptionError", "decrypting data failed", MSTSC_ONDISCONNECTED),
    row(0x0C07, "SSL_ERR_ACCOUNT_RESTRICTION", "an account restriction, such as a time-of-day limit, blocks the logon", MSTSC_ONDISCONNECTED),
    row(0x0C08, "disconnectReasonClientDecompressionError", "the client failed to decompress data from the server", MSTSC_ONDISCONNECTED),
    row(0x0D07, "SSL_ERR_ACCOUNT_LOCKED_OUT", "the account is locked out", MSTSC_ONDISCONNECTED),
    row(0x0D09, "DISCONNECT_SECURE_DESKTOP_CREDS_UNSUPPORTED", "local policy requires typing the password in the Windows Security dialog, which the server cannot accept", MSTSC_WIKI),
    row(0x0E06, "DISCONNECT_FIPS_NOT_SUPPORTED", "the server requires FIPS encryption, which the client does not support", MSTSC_WIKI),
    row(0x0E07, "SSL_ERR_ACCOUNT_EXPIRED", "the account has expired", MSTSC_ONDISCONNECTED),
    row(0x0E08, "DISCONNECT_RECONNECT_FAILED", "reconnecting to the remote session failed", MSTSC_WIKI),
    row(0x0E09, "DISCONNECT_RESTRICTED_ADMIN_NOT_SUPPORTED", "the server does not support Restricted Administration mode", MSTSC_WIKI),
    row(0x0F07, "SSL_ERR_PASSWORD_EXPIRED", "the password has expired", MSTSC_ONDISCONNECTED),
    row(0x0F08, "DISCONNECT_CREDENTIALS_NOT_SENDABLE", "the client's policy does not allow sending credentials to this server", MSTSC_WIKI),
    row(0x1007, "DISCONNECT_INVALID_LOGON_HOURS", "the account may not log on at this time of day", MSTSC_WIKI),
    row(0x1008, "DISCONNECT_LOW_VIDEO_RESOURCES", "the client ran low on video resources", MSTSC_WIKI),
    row(0x1107, "DISCONNECT_INVALID_WORKSTATION", "the account may not log on from this computer", MSTSC_WIKI),
    row(0x1207, "SSL_ERR_PASSWORD_MUST_CHANGE", "the password must be changed before the first logon", MSTSC_ONDISCONNECTED),
    row(0x1307, "DISCONNECT_LOGON_TYPE_NOT_GRANTED", "the account is not allowed this type of logon (network or interactive)", MSTSC_WIKI),
    row(0x1407, "DISCONNECT_KERBEROS_USER2USER_REQUIRED", "the Kerberos User2User sub-protocol is required", MSTSC_WIKI),
    row(0x1607, "SSL_ERR_DELEGATION_POLICY", "the client's policy does not allow delegating credentials to this server", MSTSC_ONDISCONNECTED),
    row(0x1707, "SSL_ERR_POLICY_NTLM_ONLY", "the client's policy forbids delegating credentials without mutual authentication, e.g. when only NTLM is possible", MSTSC_ONDISCONNECTED),
    row(0x1807, "SSL_ERR_NO_AUTHENTICATING_AUTHORITY", "no authority such as a domain controller could be contacted to authenticate", MSTSC_ONDISCONNECTED),
    row(0x1B07, "SSL_ERR_CERT_EXPIRED", "the server's certificate has expired or is invalid; a large clock difference can also cause this", MSTSC_ONDISCONNECTED),
    row(0x1C07, "SSL_ERR_SMARTCARD_WRONG_PIN", "a wrong smart card PIN was entered", MSTSC_ONDISCONNECTED),
    row(0x1D07, "DISCONNECT_TIME_SKEW", "the client and server clocks differ too much to verify the server", MSTSC_WIKI),
    row(0x2107, "SSL_ERR_FRESH_CRED_REQUIRED_BY_SERVER", "the server does not accept saved credentials; they must be typed in", MSTSC_ONDISCONNECTED),
    row(0x2207, "SSL_ERR_SMARTCARD_CARD_BLOCKED", "the smart card is blocked", MSTSC_ONDISCONNECTED),
    row(0x2507, "DISCONNECT_APP_AUTO_RECONNECT_FAILED", "automatic reconnection to the remote applications failed", MSTSC_WIKI),
    row(0x2604, "DISCONNECT_VERSION_MISMATCH", "the client and server versions do not match", MSTSC_WIKI),
];

/// The protocol range of [`EXTENDED_DISCONNECT`]: `exDiscReasonProtocolRangeStart` (0x1000) to
/// `exDiscReasonProtocolRangeEnd` (0x7FFF), inclusive.
pub const EXTENDED_PROTOCOL_RANGE: std::ops::RangeInclusive<u32> = 0x1000..=0x7FFF;

/// The mstsc `ExtendedDisconnectReasonCode` enumeration (the client's "extended error code").
///
/// Codes 0..=12 and 256..=266 carry the same numbers as the corresponding `ERRINFO_*` codes of
/// [`ERRINFO`]. [`extended_disconnect`] maps any code inside [`EXTENDED_PROTOCOL_RANGE`] to the
/// range-start row.
#[rustfmt::skip]
pub static EXTENDED_DISCONNECT: &[CodeInfo] = &[
    row(0, "exDiscReasonNoInfo", "no extended information is available", MSTSC_EXTENDED),
    row(1, "exDiscReasonAPIInitiatedDisconnect", "an application or administrative tool disconnected the session (as ERRINFO_RPC_INITIATED_DISCONNECT)", MSTSC_EXTENDED),
    row(2, "exDiscReasonAPIInitiatedLogoff", "an application or administrative tool logged the session off (as ERRINFO_RPC_INITIATED_LOGOFF)", MSTSC_EXTENDED),
    row(3, "exDiscReasonServerIdleTimeout", "the server's idle-session time limit expired (as ERRINFO_IDLE_TIMEOUT)", MSTSC_EXTENDED),
    row(4, "exDiscReasonServerLogonTimeout", "the server's connection time limit expired (as ERRINFO_LOGON_TIMEOUT)", MSTSC_EXTENDED),
    row(5, "exDiscReasonReplacedByOtherConnection", "another connection took over the session (as ERRINFO_DISCONNECTED_BY_OTHERCONNECTION)", MSTSC_EXTENDED),
    row(6, "exDiscReasonOutOfMemory", "the server ran out of memory (as ERRINFO_OUT_OF_MEMORY)", MSTSC_EXTENDED),
    row(7, "exDiscReasonServerDeniedConnection", "the server refused the connection (as ERRINFO_SERVER_DENIED_CONNECTION)", MSTSC_EXTENDED),
    row(8, "exDiscReasonServerDeniedConnectionFips", "the server refused the connection for security reasons, by its FIPS setting; no ERRINFO code 8 exists", MSTSC_EXTENDED),
    row(9, "exDiscReasonServerInsufficientPrivileges", "the user lacks the rights to connect to this server (as ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES)", MSTSC_EXTENDED),
    row(10, "exDiscReasonServerFreshCredsRequired", "the server wants credentials typed in, not saved ones (as ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED)", MSTSC_EXTENDED),
    row(11, "exDiscReasonRpcInitiatedDisconnectByUser", "a tool in the user's own session disconnected it (as ERRINFO_RPC_INITIATED_DISCONNECT_BYUSER)", MSTSC_EXTENDED),
    row(12, "exDiscReasonLogoffByUser", "the user logged off the remote session (as ERRINFO_LOGOFF_BY_USER)", MSTSC_EXTENDED_12),
    row(256, "exDiscReasonLicenseInternal", "the server's licensing component hit an internal error (as ERRINFO_LICENSE_INTERNAL)", MSTSC_EXTENDED),
    row(257, "exDiscReasonLicenseNoLicenseServer", "no license server was available (as ERRINFO_LICENSE_NO_LICENSE_SERVER)", MSTSC_EXTENDED),
    row(258, "exDiscReasonLicenseNoLicense", "no valid client access license was available (as ERRINFO_LICENSE_NO_LICENSE)", MSTSC_EXTENDED),
    row(259, "exDiscReasonLicenseErrClientMsg", "the server received an invalid licensing message (as ERRINFO_LICENSE_BAD_CLIENT_MSG)", MSTSC_EXTENDED),
    row(260, "exDiscReasonLicenseHwidDoesntMatchLicense", "the hardware ID does not match the stored license (as ERRINFO_LICENSE_HWID_DOESNT_MATCH_LICENSE)", MSTSC_EXTENDED),
    row(261, "exDiscReasonLicenseErrClientLicense", "the client's stored license is bad (as ERRINFO_LICENSE_BAD_CLIENT_LICENSE)", MSTSC_EXTENDED),
    row(262, "exDiscReasonLicenseCantFinishProtocol", "network problems cut the licensing exchange short (as ERRINFO_LICENSE_CANT_FINISH_PROTOCOL)", MSTSC_EXTENDED),
    row(263, "exDiscReasonLicenseClientEndedProtocol", "the client ended the licensing exchange early (as ERRINFO_LICENSE_CLIENT_ENDED_PROTOCOL)", MSTSC_EXTENDED),
    row(264, "exDiscReasonLicenseErrClientEncryption", "a licensing message was encrypted incorrectly (as ERRINFO_LICENSE_BAD_CLIENT_ENCRYPTION)", MSTSC_EXTENDED),
    row(265, "exDiscReasonLicenseCantUpgradeLicense", "the client's license could not be upgraded or renewed (as ERRINFO_LICENSE_CANT_UPGRADE_LICENSE)", MSTSC_EXTENDED),
    row(266, "exDiscReasonLicenseNoRemoteConnections", "the server is not licensed to accept remote connections (as ERRINFO_LICENSE_NO_REMOTE_CONNECTIONS)", MSTSC_EXTENDED),
    row(267, "exDiscReasonLicenseCreatingLicStoreAccDenied", "access was denied while creating the registry key of the client's license store", MSTSC_EXTENDED),
    row(768, "exDiscReasonRdpEncInvalidCredentials", "invalid credentials were encountered", MSTSC_EXTENDED),
    row(0x1000, "exDiscReasonProtocolRangeStart", "start of the range (4096..=32767) of internal protocol errors; the server's event log has details", MSTSC_EXTENDED),
    row(0x7FFF, "exDiscReasonProtocolRangeEnd", "end of the range (4096..=32767) of internal protocol errors", MSTSC_EXTENDED),
];

const BCGR_LICENSE_ERROR: &str =
    "MS-RDPBCGR 2.2.1.12.1.3 Licensing Error Message (LICENSE_ERROR_MESSAGE) dwErrorCode";

/// Licensing Error Message codes (`dwErrorCode`), as a server sends them in an Error Alert.
pub static LICENSE_ERROR: &[CodeInfo] = &[
    row(0x01, "ERR_INVALID_SERVER_CERTIFICATE", "the client could not validate the server's licensing certificate (sent by clients)", BCGR_LICENSE_ERROR),
    row(0x02, "ERR_NO_LICENSE", "the client has no license to present (sent by clients)", BCGR_LICENSE_ERROR),
    row(0x03, "ERR_INVALID_MAC", "a licensing message failed its integrity check", BCGR_LICENSE_ERROR),
    row(0x04, "ERR_INVALID_SCOPE", "the client asked for a license of a scope the server does not serve", BCGR_LICENSE_ERROR),
    row(0x06, "ERR_NO_LICENSE_SERVER", "the session host could not reach an RD license server (or none is configured, or the grace period ended)", BCGR_LICENSE_ERROR),
    row(0x07, "STATUS_VALID_CLIENT", "no licensing needed: the client is valid and licensing is over", BCGR_LICENSE_ERROR),
    row(0x08, "ERR_INVALID_CLIENT", "the server does not accept the client's license information", BCGR_LICENSE_ERROR),
    row(0x0B, "ERR_INVALID_PRODUCTID", "the client's product id is not one the server licenses", BCGR_LICENSE_ERROR),
    row(0x0C, "ERR_INVALID_MESSAGE_LEN", "a licensing message had an invalid length", BCGR_LICENSE_ERROR),
];

/// The few words a CredSSP failure's message starts with, per NTSTATUS (the table row has
/// the full meaning); any other status is "the server rejected the authentication".
static NTSTATUS_SUMMARY: &[(u32, &str)] = &[
    (0xC000_006D, "logon failure"),
    (0xC000_006A, "logon failure"),
    (0xC000_0064, "logon failure"),
    (0xC000_0234, "account locked out"),
    (0xC000_0072, "account disabled"),
    (0xC000_0193, "account expired"),
    (0xC000_0071, "password expired"),
    (0xC000_0224, "password must be changed"),
    (0xC000_015B, "logon type not granted"),
    (0xC000_006F, "logon outside allowed hours"),
    (0xC000_0070, "logon not allowed from this workstation"),
    (0xC000_006E, "account restriction"),
];

/// The few words a CredSSP failure's message starts with for `status`.
pub fn ntstatus_summary(status: u32) -> &'static str {
    NTSTATUS_SUMMARY
        .iter()
        .find(|(code, _)| *code == status)
        .map_or("the server rejected the authentication", |(_, summary)| {
            summary
        })
}

/// The Licensing Error Message row for a `dwErrorCode`.
pub fn license_error(code: u32) -> Option<&'static CodeInfo> {
    find(LICENSE_ERROR, code)
}

/// The code tables, by what they are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeTable {
    /// Set Error Info PDU codes ([`ERRINFO`]).
    Errinfo,
    /// RDP_NEG_FAILURE codes ([`NEG_FAILURE`]).
    NegFailure,
    /// NTSTATUS and `SEC_E_*` codes of CredSSP failures ([`NTSTATUS`]).
    Ntstatus,
    /// MCS Disconnect Provider Ultimatum reasons ([`DISCONNECT_REASON`]).
    DisconnectReason,
    /// mstsc disconnect reasons, the "error code" ([`MSTSC_DISCONNECT`]).
    MstscDisconnect,
    /// mstsc extended disconnect reasons, the "extended error code"
    /// ([`EXTENDED_DISCONNECT`]).
    ExtendedDisconnect,
}

impl CodeTable {
    /// The stable name (JSON `table`).
    pub const fn name(self) -> &'static str {
        match self {
            CodeTable::Errinfo => "errinfo",
            CodeTable::NegFailure => "neg_failure",
            CodeTable::Ntstatus => "ntstatus",
            CodeTable::DisconnectReason => "disconnect_reason",
            CodeTable::MstscDisconnect => "mstsc_disconnect",
            CodeTable::ExtendedDisconnect => "extended_disconnect",
        }
    }

    /// What the table is, for people.
    pub const fn title(self) -> &'static str {
        match self {
            CodeTable::MstscDisconnect => "mstsc disconnect reason (\"error code\")",
            CodeTable::ExtendedDisconnect => {
                "mstsc extended disconnect reason (\"extended error code\")"
            }
            CodeTable::Errinfo => "Set Error Info PDU code (ERRINFO, MS-RDPBCGR 2.2.5.1.1)",
            CodeTable::Ntstatus => "NTSTATUS / SEC_E code of an NLA (CredSSP) failure",
            CodeTable::NegFailure => "RDP_NEG_FAILURE code (MS-RDPBCGR 2.2.1.2.2)",
            CodeTable::DisconnectReason => "MCS Disconnect Provider Ultimatum reason (T.125)",
        }
    }

    /// The table's rows.
    pub fn rows(self) -> &'static [CodeInfo] {
        match self {
            CodeTable::Errinfo => ERRINFO,
            CodeTable::NegFailure => NEG_FAILURE,
            CodeTable::Ntstatus => NTSTATUS,
            CodeTable::DisconnectReason => DISCONNECT_REASON,
            CodeTable::MstscDisconnect => MSTSC_DISCONNECT,
            CodeTable::ExtendedDisconnect => EXTENDED_DISCONNECT,
        }
    }

    /// The row for `code` (for extended disconnect reasons, see [`extended_disconnect`]).
    pub fn find(self, code: u32) -> Option<&'static CodeInfo> {
        match self {
            CodeTable::ExtendedDisconnect => extended_disconnect(code),
            _ => find(self.rows(), code),
        }
    }
}

named!(CodeTable);

/// Every table with its rows, in the order [`lookup_name`] searches them.
pub static TABLES: &[(CodeTable, &[CodeInfo])] = &[
    (CodeTable::Errinfo, ERRINFO),
    (CodeTable::NegFailure, NEG_FAILURE),
    (CodeTable::Ntstatus, NTSTATUS),
    (CodeTable::DisconnectReason, DISCONNECT_REASON),
    (CodeTable::MstscDisconnect, MSTSC_DISCONNECT),
    (CodeTable::ExtendedDisconnect, EXTENDED_DISCONNECT),
];

/// Prefixes that [`lookup_name`] accepts as omitted, tried in this order.
const PREFIXES: &[&str] = &[
    "ERRINFO_",
    "STATUS_",
    "SEC_E_",
    "rn-",
    "SSL_ERR_",
    "disconnectReason",
    "DISCONNECT_",
    "exDiscReason",
];

fn find(table: &'static [CodeInfo], code: u32) -> Option<&'static CodeInfo> {
    table.iter().find(|row| row.code == code)
}

/// The Set Error Info row for an `errorInfo` code.
pub fn errinfo(code: u32) -> Option<&'static CodeInfo> {
    find(ERRINFO, code)
}

/// The RDP_NEG_FAILURE row for a `failureCode`.
pub fn neg_failure(code: u32) -> Option<&'static CodeInfo> {
    find(NEG_FAILURE, code)
}

/// The NTSTATUS or `SEC_E_*` row for a status code.
pub fn ntstatus(code: u32) -> Option<&'static CodeInfo> {
    find(NTSTATUS, code)
}

/// The MCS Disconnect Provider Ultimatum row for a reason code.
pub fn disconnect_reason(code: u32) -> Option<&'static CodeInfo> {
    find(DISCONNECT_REASON, code)
}

/// The mstsc `discReason` row for an `IMsTscAxEvents::OnDisconnected` code.
pub fn mstsc_disconnect(code: u32) -> Option<&'static CodeInfo> {
    find(MSTSC_DISCONNECT, code)
}

/// The `ExtendedDisconnectReasonCode` row for an extended disconnect reason.
///
/// An exact row wins; any other code inside [`EXTENDED_PROTOCOL_RANGE`] returns the
/// `exDiscReasonProtocolRangeStart` row, which stands for the whole range.
pub fn extended_disconnect(code: u32) -> Option<&'static CodeInfo> {
    find(EXTENDED_DISCONNECT, code).or_else(|| {
        if EXTENDED_PROTOCOL_RANGE.contains(&code) {
            find(EXTENDED_DISCONNECT, *EXTENDED_PROTOCOL_RANGE.start())
        } else {
            None
        }
    })
}

/// True when `name` equals `prefix` followed by `query`, ignoring ASCII case.
fn eq_with_prefix(name: &str, prefix: &str, query: &str) -> bool {
    name.len() == prefix.len() + query.len()
        && name.is_char_boundary(prefix.len())
        && name[..prefix.len()].eq_ignore_ascii_case(prefix)
        && name[prefix.len()..].eq_ignore_ascii_case(query)
}

/// Finds a row by symbolic name, returning its table and the row.
///
/// The match ignores ASCII case and surrounding whitespace. An exact name is tried first in
/// every table; then the name with one of the prefixes `ERRINFO_`, `STATUS_`, `SEC_E_`, `rn-`,
/// `SSL_ERR_`, `disconnectReason`, `DISCONNECT_` or `exDiscReason` omitted (so
/// `server_denied_connection`, `logon_failure`, `user-requested` and `SocketConnectFailed` all
/// resolve). Prefixes are tried in that order, so where an unprefixed name fits several rows the
/// earlier prefix wins: `DOWNGRADE_DETECTED` gives the `STATUS_` row, `LOGON_FAILURE` the
/// `STATUS_` row rather than `SSL_ERR_LOGON_FAILURE`, and `OutOfMemory` the `disconnectReason`
/// row rather than the `exDiscReason` one.
pub fn lookup_name(name: &str) -> Option<(CodeTable, &'static CodeInfo)> {
    let query = name.trim();
    if query.is_empty() {
        return None;
    }
    let exact = TABLES.iter().find_map(|&(table, rows)| {
        rows.iter()
            .find(|row| row.name.eq_ignore_ascii_case(query))
            .map(|row| (table, row))
    });
    exact.or_else(|| {
        PREFIXES.iter().find_map(|prefix| {
            TABLES.iter().find_map(|&(table, rows)| {
                rows.iter()
                    .find(|row| eq_with_prefix(row.name, prefix, query))
                    .map(|row| (table, row))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_summarised_ntstatus_is_in_the_table() {
        for (code, _) in NTSTATUS_SUMMARY {
            assert!(ntstatus(*code).is_some(), "{code:#x}");
        }
        assert_eq!(ntstatus_summary(0xC000_0234), "account locked out");
        assert_eq!(
            ntstatus_summary(1),
            "the server rejected the authentication"
        );
        assert_eq!(
            license_error(0x06).map(|r| r.name),
            Some("ERR_NO_LICENSE_SERVER")
        );
    }

    #[test]
    fn codes_and_names_are_unique_within_each_table() {
        for &(table, rows) in TABLES {
            let mut codes = HashSet::new();
            let mut names = HashSet::new();
            for row in rows {
                assert!(
                    codes.insert(row.code),
                    "{table}: duplicate code {:#x}",
                    row.code
                );
                assert!(
                    names.insert(row.name.to_ascii_uppercase()),
                    "{table}: duplicate name {}",
                    row.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique_across_tables() {
        let mut names = HashSet::new();
        for &(_, rows) in TABLES {
            for row in rows {
                assert!(names.insert(row.name.to_ascii_uppercase()), "{}", row.name);
            }
        }
    }

    #[test]
    fn tables_are_sorted_by_code_within_each_group() {
        // ERRINFO, NEG_FAILURE, DISCONNECT_REASON, MSTSC_DISCONNECT and EXTENDED_DISCONNECT are
        // fully ascending; NTSTATUS is two ascending runs (STATUS_* then SEC_E_*).
        for rows in [
            ERRINFO,
            NEG_FAILURE,
            DISCONNECT_REASON,
            MSTSC_DISCONNECT,
            EXTENDED_DISCONNECT,
        ] {
            assert!(rows.windows(2).all(|w| w[0].code < w[1].code));
        }
        let (status, sec): (Vec<&CodeInfo>, Vec<&CodeInfo>) = NTSTATUS
            .iter()
            .partition(|row| row.name.starts_with("STATUS_"));
        assert!(status.windows(2).all(|w| w[0].code < w[1].code));
        assert!(sec.windows(2).all(|w| w[0].code < w[1].code));
        assert!(sec.iter().all(|row| row.name.starts_with("SEC_E_")));
    }

    #[test]
    fn every_row_has_meaning_and_source() {
        for &(table, rows) in TABLES {
            assert!(!rows.is_empty(), "{table} is empty");
            for row in rows {
                assert!(
                    !row.name.trim().is_empty(),
                    "{table}: {:#x} has no name",
                    row.code
                );
                assert!(
                    !row.meaning.trim().is_empty(),
                    "{table}: {} has no meaning",
                    row.name
                );
                assert!(
                    !row.source.trim().is_empty(),
                    "{table}: {} has no source",
                    row.name
                );
                assert!(
                    !row.meaning.ends_with('.'),
                    "{table}: {} meaning ends in '.'",
                    row.name
                );
            }
        }
    }

    #[test]
    fn name_prefixes_match_their_table() {
        assert!(ERRINFO.iter().all(|row| row.name.starts_with("ERRINFO_")));
        assert!(NTSTATUS
            .iter()
            .all(|row| row.name.starts_with("STATUS_") || row.name.starts_with("SEC_E_")));
        assert!(DISCONNECT_REASON
            .iter()
            .all(|row| row.name.starts_with("rn-")));
        assert!(MSTSC_DISCONNECT.iter().all(|row| {
            row.name.starts_with("disconnectReason")
                || row.name.starts_with("SSL_ERR_")
                || row.name.starts_with("DISCONNECT_")
        }));
        assert!(EXTENDED_DISCONNECT
            .iter()
            .all(|row| row.name.starts_with("exDiscReason")));
    }

    #[test]
    fn mstsc_names_say_where_they_come_from() {
        // Microsoft's symbolic names cite the OnDisconnected reference; our descriptive
        // DISCONNECT_* names say in their source that they are ours.
        for row in MSTSC_DISCONNECT {
            if row.name.starts_with("DISCONNECT_") {
                assert!(row.source.contains("descriptive (ours)"), "{}", row.name);
            } else {
                assert!(row.source.contains("OnDisconnected"), "{}", row.name);
            }
        }
    }

    #[test]
    fn mstsc_security_layer_codes_have_low_byte_7() {
        for row in MSTSC_DISCONNECT {
            if row.name.starts_with("SSL_ERR_") {
                assert_eq!(row.code & 0xFF, 0x07, "{}", row.name);
            }
        }
    }

    #[test]
    fn extended_codes_mirror_errinfo() {
        // 0..=12 and 256..=266 share their numbers with ERRINFO (8 has no ERRINFO code).
        for row in EXTENDED_DISCONNECT
            .iter()
            .filter(|r| r.code <= 12 || (256..=266).contains(&r.code))
        {
            let mirrored = errinfo(row.code);
            if row.code == 8 {
                assert_eq!(mirrored, None);
            } else {
                let mirrored = mirrored.unwrap();
                assert!(
                    row.meaning.contains(mirrored.name) || row.code == 0,
                    "{}",
                    row.name
                );
            }
        }
    }

    #[test]
    fn errinfo_ranges_are_complete() {
        let count = |lo: u32, hi: u32| {
            ERRINFO
                .iter()
                .filter(|r| (lo..=hi).contains(&r.code))
                .count()
        };
        assert_eq!(count(0x0, 0x1A), 20);
        assert_eq!(count(0x100, 0x10A), 11);
        assert_eq!(count(0x400, 0x412), 11);
        assert_eq!(count(0x1111, 0x1126), 22);
        assert_eq!(count(0x1191, 0x1195), 5);
    }

    #[test]
    fn spot_checks() {
        assert_eq!(
            errinfo(0x7).unwrap().name,
            "ERRINFO_SERVER_DENIED_CONNECTION"
        );
        assert_eq!(errinfo(0x0).unwrap().name, "ERRINFO_NONE");
        assert_eq!(
            errinfo(0x9).unwrap().name,
            "ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES"
        );
        assert_eq!(
            errinfo(0xA).unwrap().name,
            "ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED"
        );
        assert_eq!(errinfo(0x10C9).unwrap().name, "ERRINFO_UNKNOWNPDUTYPE2");
        assert_eq!(errinfo(0x1A).unwrap().name, "ERRINFO_SERVER_REBOOT");
        assert_eq!(errinfo(0x8), None);
        assert_eq!(ntstatus(0xC000_006D).unwrap().name, "STATUS_LOGON_FAILURE");
        assert_eq!(
            ntstatus(0xC000_0234).unwrap().name,
            "STATUS_ACCOUNT_LOCKED_OUT"
        );
        assert_eq!(ntstatus(0x8009_0324).unwrap().name, "SEC_E_TIME_SKEW");
        assert_eq!(ntstatus(0x8009_030C).unwrap().name, "SEC_E_LOGON_DENIED");
        assert_eq!(neg_failure(5).unwrap().name, "HYBRID_REQUIRED_BY_SERVER");
        assert_eq!(neg_failure(0), None);
        assert!(neg_failure(7).unwrap().uncertain);
        assert!(!neg_failure(6).unwrap().uncertain);
        assert_eq!(disconnect_reason(3).unwrap().name, "rn-user-requested");
        assert_eq!(disconnect_reason(5), None);
        assert_eq!(
            mstsc_disconnect(0x904).unwrap().name,
            "disconnectReasonAtClientWinsockFDCLOSE"
        );
        assert_eq!(
            mstsc_disconnect(0x204).unwrap().name,
            "disconnectReasonSocketConnectFailed"
        );
        assert_eq!(
            mstsc_disconnect(0x807).unwrap().name,
            "SSL_ERR_LOGON_FAILURE"
        );
        assert_eq!(
            mstsc_disconnect(0x1B07).unwrap().name,
            "SSL_ERR_CERT_EXPIRED"
        );
        assert_eq!(
            mstsc_disconnect(0x2107).unwrap().name,
            "SSL_ERR_FRESH_CRED_REQUIRED_BY_SERVER"
        );
        assert!(mstsc_disconnect(0x408).unwrap().uncertain);
        assert!(!mstsc_disconnect(0x904).unwrap().uncertain);
        assert_eq!(mstsc_disconnect(0x1A07), None);
        assert_eq!(
            extended_disconnect(7).unwrap().name,
            "exDiscReasonServerDeniedConnection"
        );
        assert_eq!(
            extended_disconnect(12).unwrap().name,
            "exDiscReasonLogoffByUser"
        );
        assert_eq!(
            extended_disconnect(267).unwrap().name,
            "exDiscReasonLicenseCreatingLicStoreAccDenied"
        );
        assert_eq!(
            extended_disconnect(768).unwrap().name,
            "exDiscReasonRdpEncInvalidCredentials"
        );
        assert_eq!(
            extended_disconnect(5000).unwrap().name,
            "exDiscReasonProtocolRangeStart"
        );
        assert_eq!(
            extended_disconnect(0x10C9).unwrap().name,
            "exDiscReasonProtocolRangeStart"
        );
        assert_eq!(
            extended_disconnect(0x7FFF).unwrap().name,
            "exDiscReasonProtocolRangeEnd"
        );
        assert_eq!(extended_disconnect(0x0FFF), None);
        assert_eq!(extended_disconnect(0x8000), None);
        assert_eq!(extended_disconnect(13), None);
    }

    #[test]
    fn lookup_by_name() {
        let (table, row) = lookup_name("ERRINFO_SERVER_DENIED_CONNECTION").unwrap();
        assert_eq!((table.name(), row.code), ("errinfo", 0x7));
        let (table, row) = lookup_name("errinfo_server_denied_connection").unwrap();
        assert_eq!((table.name(), row.code), ("errinfo", 0x7));
        let (table, row) = lookup_name("server_denied_connection").unwrap();
        assert_eq!((table.name(), row.code), ("errinfo", 0x7));
        let (table, row) = lookup_name(" hybrid_required_by_server ").unwrap();
        assert_eq!((table.name(), row.code), ("neg_failure", 5));
        let (table, row) = lookup_name("LOGON_FAILURE").unwrap();
        assert_eq!((table.name(), row.code), ("ntstatus", 0xC000_006D));
        let (table, row) = lookup_name("time_skew").unwrap();
        assert_eq!((table.name(), row.code), ("ntstatus", 0x8009_0324));
        let (table, row) = lookup_name("DOWNGRADE_DETECTED").unwrap();
        assert_eq!((table.name(), row.code), ("ntstatus", 0xC000_0388));
        let (table, row) = lookup_name("RN-USER-REQUESTED").unwrap();
        assert_eq!((table.name(), row.code), ("disconnect_reason", 3));
        let (table, row) = lookup_name("provider-initiated").unwrap();
        assert_eq!((table.name(), row.code), ("disconnect_reason", 1));
        let (table, row) = lookup_name("SocketConnectFailed").unwrap();
        assert_eq!((table.name(), row.code), ("mstsc_disconnect", 0x204));
        let (table, row) = lookup_name("ssl_err_logon_failure").unwrap();
        assert_eq!((table.name(), row.code), ("mstsc_disconnect", 0x807));
        // SEC_E_ is tried before SSL_ERR_.
        let (table, row) = lookup_name("cert_expired").unwrap();
        assert_eq!((table.name(), row.code), ("ntstatus", 0x8009_0328));
        let (table, row) = lookup_name("smartcard_wrong_pin").unwrap();
        assert_eq!((table.name(), row.code), ("mstsc_disconnect", 0x1C07));
        let (table, row) = lookup_name("OutOfMemory").unwrap();
        assert_eq!((table.name(), row.code), ("mstsc_disconnect", 0x106));
        let (table, row) = lookup_name("ServerDeniedConnectionFips").unwrap();
        assert_eq!((table.name(), row.code), ("extended_disconnect", 8));
        let (table, row) = lookup_name("EXDISCREASONLOGOFFBYUSER").unwrap();
        assert_eq!((table.name(), row.code), ("extended_disconnect", 12));
        assert_eq!(lookup_name(""), None);
        assert_eq!(lookup_name("NO_SUCH_CODE_NAME"), None);
        assert_eq!(lookup_name("ERRINFO_"), None);
    }

    #[test]
    fn every_name_round_trips_through_lookup() {
        for &(table, rows) in TABLES {
            for row in rows {
                let (found_table, found) = lookup_name(row.name).unwrap();
                assert_eq!((found_table, found), (table, row));
            }
        }
    }

    #[test]
    fn rows_serialize() {
        let json = serde_json::to_value(errinfo(0x7).unwrap()).unwrap();
        assert_eq!(json["code"], 7);
        assert_eq!(json["name"], "ERRINFO_SERVER_DENIED_CONNECTION");
        assert_eq!(json["uncertain"], false);
    }
}
