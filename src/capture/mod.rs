//! The capture of one probe (`rdpscope probe --pcap FILE`): a pcapng file that Wireshark and
//! tshark open without any other file.
//!
//! The packets are the real bytes of the connection as the client's socket saw them, with
//! their real times, framed as TCP segments of one connection (the handshake and the close
//! are synthesized: the probe sees the byte stream, not the packets). The TLS records stay
//! as they went over the wire; the TLS secrets travel in a Decryption Secrets Block, so
//! Wireshark decrypts them and dissects CredSSP and the RDP PDUs inside. Before the secrets
//! go in, the records that carry password material (the NTLM AUTHENTICATE message's
//! responses, session key and MIC; the TSCredentials) are decrypted, blanked and encrypted
//! again with the same keys (see `tls`); when that cannot be done for every such record,
//! the secrets stay out. [`Capture::pcapng`] with `Credentials::Keep` keeps them as they
//! were: a file that lets anyone crack the password offline.

mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::blocks::unknown::UnknownBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use crate::probe::trail::Chunk;
use crate::report::Direction;

pub(crate) use tls::KeyLine;

/// What to do with the password material in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Blank it (the default): the capture cannot crack or replay the password.
    Redact,
    /// Keep it as it was sent: the NTLM AUTHENTICATE response in the capture can be
    /// cracked offline.
    Keep,
}

/// Everything a capture is made of, kept by [`crate::probe_with_capture`].
#[derive(Debug, Clone)]
pub struct Capture {
    pub(crate) started: Instant,
    pub(crate) started_wall: SystemTime,
    pub(crate) connected: Option<(Instant, SocketAddr, SocketAddr)>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) keys: Vec<KeyLine>,
    pub(crate) ended: Instant,
    /// Whether the server ended the connection (a FIN from it), else the client did.
    pub(crate) server_closed: bool,
    pub(crate) comment: String,
}

/// A capture written, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The pcapng file.
    pub bytes: Vec<u8>,
    /// Packets in it.
    pub packets: usize,
    /// Whether the TLS secrets are embedded (the TLS records decrypt in Wireshark).
    pub secrets_embedded: bool,
    /// How many pieces of password material were blanked.
    pub redacted: usize,
    /// Why the secrets were left out, when they were.
    pub secrets_left_out: Option<String>,
}

/// pcapng Decryption Secrets Block type and its TLS key log secrets type.
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;
const TLS_KEY_LOG: u32 = 0x544C_534B;
/// The port Wireshark dissects RDP on: the capture shows the server there, whatever port
/// it listened on (the section header's comment says which).
const RDP_PORT: u16 = 3389;
/// The largest TCP payload per synthesized segment.
const SEGMENT: usize = 16 * 1024;
/// Initial sequence numbers of the synthesized connection.
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 2_000_000;

impl Capture {
    /// The TLS secrets in SSLKEYLOGFILE format (`--keylog`): decrypts the real session,
    /// credentials included, for whoever also has its packets.
    pub fn keylog(&self) -> String {
        self.keys.iter().map(KeyLine::to_line).collect()
    }

    /// Whether the probe reached TCP: without a connection there is nothing to capture.
    pub fn connected(&self) -> bool {
        self.connected.is_some()
    }

    /// The pcapng file.
    pub fn pcapng(&self, credentials: Credentials) -> Written {
        let mut chunks = self.chunks.clone();
        let mut left_out = None;
        let mut redacted = 0;
        if !self.keys.is_empty() && credentials == Credentials::Redact {
            match self.redact(&mut chunks) {
                Ok(count) => redacted = count,
                Err(why) => left_out = Some(why),
            }
        }
        let secrets_embedded = !self.keys.is_empty() && left_out.is_none();
        let mut packets = Vec::new();
        if let Some((at, client, mut server)) = self.connected {
            // Wireshark dissects RDP (TPKT, and the TLS inside) on its port only.
            server.set_port(RDP_PORT);
            packets = self.packets(at, client, server, &chunks);
        }
        let bytes = self.write(&packets, secrets_embedded).unwrap_or_default();
        Written {
            bytes,
            packets: packets.len(),
            secrets_embedded,
            redacted,
            secrets_left_out: left_out,
        }
    }

    /// Blanks the password material in the client's records, in place.
    fn redact(&self, chunks: &mut [Chunk]) -> Result<usize, String> {
        let stream = |direction: Direction| -> Vec<u8> {
            chunks
                .iter()
                .filter(|c| c.direction == direction)
                .flat_map(|c| c.bytes.iter().copied())
                .collect()
        };
        let mut client = stream(Direction::Sent);
        let server = stream(Direction::Received);
        let count = tls::redact_client_records(&mut client, &server, &self.keys)?;
        // Put the redacted stream back into the chunks it came in.
        let mut at = 0;
        for chunk in chunks.iter_mut().filter(|c| c.direction == Direction::Sent) {
            let len = chunk.bytes.len();
            chunk.bytes.copy_from_slice(&client[at..at + len]);
            at += len;
        }
        Ok(count)
    }

    /// The section's comment: what the file is and what was synthesized.
    fn describe(&self) -> String {
        let server = self.connected.map_or_else(
            || "no connection".to_owned(),
            |(_, _, server)| server.to_string(),
        );
        format!(
            "rdpscope probe of {server}: the bytes the client sent and received, with their times; \
             the TCP handshake and close are synthesized, and the server is shown on port {RDP_PORT} \
             so that Wireshark dissects RDP"
        )
    }

    fn wall(&self, at: Instant) -> Duration {
        let since = at.saturating_duration_since(self.started);
        (self.started_wall + since)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// The connection as IP packets: handshake, data segments, close.
    fn packets(
        &self,
        connected: Instant,
        client: SocketAddr,
        server: SocketAddr,
        chunks: &[Chunk],
    ) -> Vec<(Duration, Vec<u8>)> {
        let mut out = Vec::new();
        let (mut client_seq, mut server_seq) = (CLIENT_ISN, SERVER_ISN);
        let t = self.wall(connected);
        let segment =
            |from_client: bool, seq: u32, ack: Option<u32>, flags: Flags, payload: &[u8]| {
                build(client, server, from_client, seq, ack, flags, payload)
            };
        out.push((t, segment(true, client_seq, None, Flags::Syn, &[])));
        out.push((
            t,
            segment(false, server_seq, Some(client_seq + 1), Flags::Syn, &[]),
        ));
        client_seq += 1;
        server_seq += 1;
        out.push((
            t,
            segment(true, client_seq, Some(server_seq), Flags::Ack, &[]),
        ));
        for chunk in chunks {
            let from_client = chunk.direction == Direction::Sent;
            for piece in chunk.bytes.chunks(SEGMENT) {
                let (seq, ack) = if from_client {
                    (&mut client_seq, server_seq)
                } else {
                    (&mut server_seq, client_seq)
                };
                let packet = segment(from_client, *seq, Some(ack), Flags::Push, piece);
                *seq = seq.wrapping_add(piece.len() as u32);
                out.push((self.wall(chunk.at), packet));
            }
        }
        let t = self.wall(self.ended);
        if self.server_closed {
            out.push((
                t,
                segment(false, server_seq, Some(client_seq), Flags::Fin, &[]),
            ));
        } else {
            out.push((
                t,
                segment(true, client_seq, Some(server_seq), Flags::Fin, &[]),
            ));
        }
        out
    }

    fn write(
        &self,
        packets: &[(Duration, Vec<u8>)],
        secrets: bool,
    ) -> pcap_file::PcapResult<Vec<u8>> {
        let section = SectionHeaderBlock {
            endianness: Endianness::Big,
            options: vec![
                SectionHeaderOption::UserApplication(
                    format!("rdpscope {}", env!("CARGO_PKG_VERSION")).into(),
                ),
                SectionHeaderOption::Comment(self.describe().into()),
            ],
            ..SectionHeaderBlock::default()
        };
        let mut writer = PcapNgWriter::with_section_header(Vec::new(), section)?;
        if secrets {
            let log = self.keylog().into_bytes();
            let mut body = Vec::with_capacity(8 + log.len() + 3);
            body.extend_from_slice(&TLS_KEY_LOG.to_be_bytes());
            body.extend_from_slice(&(log.len() as u32).to_be_bytes());
            body.extend_from_slice(&log);
            body.resize(body.len().next_multiple_of(4), 0);
            let length = 12 + body.len() as u32;
            writer.write_pcapng_block(UnknownBlock::new(
                DECRYPTION_SECRETS_BLOCK,
                length,
                &body,
            ))?;
        }
        writer.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![],
        })?;
        for (index, (timestamp, data)) in packets.iter().enumerate() {
            let mut options = Vec::new();
            if index + 1 == packets.len() && !self.comment.is_empty() {
                options.push(EnhancedPacketOption::Comment(self.comment.clone().into()));
            }
            writer.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: *timestamp,
                original_len: data.len() as u32,
                data: data.as_slice().into(),
                options,
            })?;
        }
        Ok(writer.into_inner())
    }
}

#[derive(Clone, Copy)]
enum Flags {
    Syn,
    Ack,
    Push,
    Fin,
}

/// One IPv4 or IPv6 TCP segment between the two ends.
fn build(
    client: SocketAddr,
    server: SocketAddr,
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let (src, dst) = if from_client {
        (client, server)
    } else {
        (server, client)
    };
    let ip = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            PacketBuilder::ipv4(s.ip().octets(), d.ip().octets(), 64)
        }
        (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), seq, 65_535);
    if let Some(ack) = ack {
        tcp = tcp.ack(ack);
    }
    tcp = match flags {
        Flags::Syn => tcp.syn(),
        Flags::Ack => tcp,
        Flags::Push => tcp.psh(),
        Flags::Fin => tcp.fin(),
    };
    let mut packet = Vec::with_capacity(tcp.size(payload.len()));
    // Writing into a Vec fails only for a payload too big for one IP packet, which
    // SEGMENT rules out.
    let _ = tcp.write(&mut packet, payload);
    packet
}

fn v6(addr: SocketAddr) -> [u8; 16] {
    match addr {
        SocketAddr::V6(a) => a.ip().octets(),
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
    }
}
